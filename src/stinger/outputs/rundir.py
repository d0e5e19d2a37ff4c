"""The run directory: every file a run, a capacity search or an A/B test leaves behind,
and reading them back. No other module writes into a run directory.

    RUN_DIR/
      spec.yaml          the resolved spec (secret header values redacted)
      summary.json       the results (schema: docs/summary.md)
      intervals.csv      one row per (interval, variant): rates, percentiles, errors
      histograms.hlog    HDR histogram log: one interval histogram per (interval, variant,
                         metric), tags "latency/<variant>", "service/<variant>", "server/<variant>",
                         and every metric the A/B verdict compares ("ttft/<variant>", "itl/...",
                         `core.catalogue.LOGGED`), so `stinger compare` reads what the live verdict read
      series.csv         monitor series (endpoint CPU/memory, Prometheus, generator), if any
      predictions.jsonl  per-request predictions and labels, when a prediction path is set
      capacity.json      a capacity search's report (steps, bracket, knee, cost)
      verdict.json/.md   an A/B verdict: the rows as data, and the Markdown table
      report.html        the self-contained HTML report of all the above (`outputs/report.py`),
                         re-rendered after each of them is written
      .cells.spill       scratch, during a run and while its metrics live: per-interval cells past
                         the coordinator's horizon (`core.cellstore`); removed when they are closed
                         or at exit, never read back from the directory

Each file is written whole or not at all (`core.atomic`: a temporary file beside it, fsync,
rename), summary.json first: a disk that fills while a run is written keeps its results, and
the run ends with exit code 3 and one line naming the file that could not be written.

`RunDirOutput` writes them as an output (see `outputs/base.py`); `stinger report
RUN_DIR` and `stinger.read_run` re-read them from these files alone.
"""

from __future__ import annotations

import csv
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from stinger.core.atomic import WriteFailed, is_disk_full, replacing, write_text
from stinger.core.catalogue import LOGGED
from stinger.core.histogram import Histogram, HistogramLogWriter, read_histogram_log
from stinger.core.metrics import RunMetrics
from stinger.core.secrets import scrub, scrub_data
from stinger.errors import UsageError

SUMMARY = "summary.json"
INTERVALS = "intervals.csv"
HLOG = "histograms.hlog"
SPEC = "spec.yaml"
EVENTS = "events.jsonl"   # the run's load changes, one JSON object a line (also summary.json `events`)
SERIES = "series.csv"
PREDICTIONS = "predictions.jsonl"
CAPACITY = "capacity.json"
VERDICT_JSON = "verdict.json"
VERDICT_MD = "verdict.md"
SPILL = ".cells.spill"


def spill_path(run_dir: Path | None) -> Path | None:
    """Where a run's metrics spill old cells: in its run directory (on the disk the user chose
    for results, not a RAM-backed /tmp), else None for a temporary file."""
    return None if run_dir is None else Path(run_dir) / SPILL


def new_run_dir(base: str | os.PathLike, name: str | None = None) -> Path:
    """A fresh directory under `base`, named by time (and the spec's name)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") if name else ""
    stem = f"{stamp}-{slug}" if slug else stamp
    base = Path(base)
    path = base / stem
    k = 1
    while path.exists():
        k += 1
        path = base / f"{stem}-{k}"
    try:
        path.mkdir(parents=True)
    except OSError as exc:
        if is_disk_full(exc):   # not the user's mistake: exit 3
            raise WriteFailed(path, exc) from None
        raise UsageError(f"cannot create run directory {path}: {exc.strerror or exc}") from None
    return path


def spec_yaml_data(spec) -> dict:
    """What spec.yaml holds: the validated spec as data, secrets redacted (`core.secrets.redacted`)."""
    from stinger.core.secrets import redacted

    return {} if spec is None else redacted(spec.model_dump(mode="json", by_alias=True, exclude_none=True))


def write_run(path: Path, *, summary: dict, spec_data: dict, metrics: RunMetrics, started_at: float,
              series_points=None) -> None:
    """Every file of a run, each written whole or not at all (`core.atomic`); summary.json first, so a
    disk that fills while the rest is written keeps the results (the failure: `WriteFailed`, exit 3)."""
    write_json(path / SUMMARY, summary)
    write_text(path / SPEC, scrub(yaml.safe_dump(spec_data, sort_keys=False)))
    rows = metrics.interval_rows()
    if rows:
        with replacing(path / INTERVALS) as tmp, open(tmp, "w", newline="") as fp:
            w = csv.DictWriter(fp, fieldnames=list(rows[0].keys()))
            w.writeheader()
            w.writerows(rows)
    with replacing(path / HLOG) as tmp, open(tmp, "w") as fp:
        writer = HistogramLogWriter(fp)
        writer.write_header(started_at, comment=f"stinger {summary.get('name') or ''} interval histograms (us)")
        for name, vm in metrics.variants.items():
            for i in sorted(vm.cells):
                cell = vm.cells[i]
                for metric in LOGGED:
                    if not cell.hists.get(metric):
                        continue
                    h = cell.histogram(metric)
                    writer.write_interval(h, i * metrics.interval, metrics.interval, tag=f"{metric}/{name}")
    if metrics.predictions:
        with replacing(path / PREDICTIONS) as tmp, open(tmp, "w") as fp:
            for variant, payload, pred, label in metrics.predictions:
                fp.write(json.dumps({"variant": variant, "payload": payload, "prediction": pred, "label": label},
                                    default=_json_default) + "\n")
    if series_points:
        write_series(series_points, path / SERIES)
    if summary.get("events"):   # live load changes (scale/control.py): one JSON object a line
        write_text(path / EVENTS, "".join(json.dumps(e, default=_json_default) + "\n" for e in summary["events"]))


def write_series(points, path: Path) -> None:
    """Monitor points as `series.csv` (the codec is the point record's: `monitors.base`)."""
    from stinger.monitors.base import write_series as write_points

    with replacing(path) as tmp:
        write_points(points, tmp)


def read_series(path: Path) -> list:
    from stinger.monitors.base import read_series as read_points

    try:
        return read_points(path)
    except ValueError as exc:
        raise UsageError(str(exc).splitlines()[0]) from None


def write_json(path: Path, data: dict) -> None:
    # strings scrubbed one by one: a remembered secret that is also a number never breaks the JSON
    write_text(path, json.dumps(scrub_data(data), indent=2, default=_json_default) + "\n")


def write_capacity(path: Path, report: dict) -> None:
    write_json(path / CAPACITY, report)
    if report.get("events"):   # an adaptive search's load changes (orchestrate/adaptive.py), as a run's
        write_text(path / EVENTS, "".join(json.dumps(e, default=_json_default) + "\n" for e in report["events"]))


def write_verdict(path: Path, verdict_data: dict, markdown: str) -> None:
    write_json(path / VERDICT_JSON, verdict_data)
    markdown = scrub(markdown)
    write_text(path / VERDICT_MD, markdown if markdown.endswith("\n") else markdown + "\n")


def _json_default(o):
    try:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:  # pragma: no cover
        pass
    return str(o)


@dataclass
class SavedRun:
    path: Path
    summary: dict
    intervals: list[dict]
    _hlog: dict | None = field(default=None, repr=False, compare=False)   # metric -> variant -> [...], read once

    def interval_histograms(self, metric: str = "latency") -> dict[str, list[tuple[float, Histogram]]]:
        """variant -> [(start_s, histogram)] from the HDR log (read once, for every metric it holds)."""
        if self._hlog is None:
            self._hlog = {}
            hlog = self.path / HLOG
            for item in read_histogram_log(hlog) if hlog.exists() else ():
                if not item.tag or "/" not in item.tag:
                    continue
                m, variant = item.tag.split("/", 1)
                self._hlog.setdefault(m, {}).setdefault(variant, []).append((item.start_s, item.hist))
        return {v: list(items) for v, items in self._hlog.get(metric, {}).items()}

    def predictions(self) -> list[dict]:
        p = self.path / PREDICTIONS
        if not p.exists():
            return []
        return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]

    def series(self):
        p = self.path / SERIES
        return read_series(p) if p.exists() else []

    def verdict(self) -> dict | None:
        return read_json(self.path / VERDICT_JSON)

    def capacity(self) -> dict | None:
        return read_json(self.path / CAPACITY)


def read_json(p: Path) -> dict | None:
    if not p.exists():
        return None
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise UsageError(f"{p}: invalid JSON ({exc.msg} at line {exc.lineno})") from None


def read_run(path: str | os.PathLike) -> SavedRun:
    p = Path(path)
    if not p.is_dir():
        raise UsageError(f"run directory {p} does not exist; expected a directory written by 'stinger run'")
    sp = p / SUMMARY
    if not sp.exists():
        raise UsageError(f"{p} is not a stinger run directory: no {SUMMARY}")
    summary = read_json(sp) or {}   # (it exists: checked above)
    intervals = []
    ip = p / INTERVALS
    if ip.exists():
        with open(ip, newline="") as fp:
            intervals = list(csv.DictReader(fp))
    return SavedRun(path=p, summary=summary, intervals=intervals)


class RunDirOutput:
    """The run directory as an output: created at `start` (so an unwritable `--out` is
    found before any load), written at `finish`; also keeps a capacity search's report
    and a verdict.

    `RunDirOutput()` makes its directory under the spec's `output.dir`; give `base`
    (and `name`) to put it elsewhere, or `path` to write into an existing directory.
    """

    name = "rundir"
    wants_intervals = False   # everything is written at the end, from the merged metrics

    def __init__(self, base: str | os.PathLike | None = None, name: str | None = None, *,
                 path: str | os.PathLike | None = None) -> None:
        self.base = base
        self.dir_name = name
        self.run_dir: Path | None = Path(path) if path is not None else None
        self._spec_data: dict = {}
        self.report_error: str | None = None

    def open(self, spec, default_name: str | None = None) -> Path:
        """Create the directory (once) from the spec's output settings."""
        if self.run_dir is None:
            base = self.base if self.base is not None else spec.output.dir
            self.run_dir = new_run_dir(base, self.dir_name or spec.output.name or spec.name or default_name)
        return self.run_dir

    def fresh(self, name: str | None = None) -> RunDirOutput:
        """Another run directory beside this one (an A/B capacity test keeps one per variant)."""
        return RunDirOutput(self.base, name)

    def start(self, info) -> None:
        self.open(info.spec)
        self._spec_data = spec_yaml_data(info.spec)

    def interval(self, snapshot) -> None:
        pass

    def _here(self) -> Path:
        """The run directory, opened by `start`/`capacity_start` before anything is written to it."""
        if self.run_dir is None:
            raise RuntimeError("the run directory is not open: start() comes before finish()")
        return self.run_dir

    def finish(self, result) -> None:
        write_run(self._here(), summary=result.summary, spec_data=self._spec_data, metrics=result.metrics,
                  started_at=result.started_at, series_points=result.series)
        self._report()

    def capacity_start(self, info: dict) -> None:
        self.open(info["spec"], "capacity")

    def capacity_step(self, row: dict) -> None:
        pass

    def capacity_finish(self, report: dict) -> None:
        write_capacity(self._here(), report)
        self._report()

    def verdict(self, verdict, extra: dict, run_dir=None) -> None:
        write_verdict(self._here(), verdict_dict(verdict, extra), verdict.to_markdown())
        self._report()

    def _report(self) -> None:
        """report.html from the files just written; a report that cannot be rendered costs the run
        nothing (its measurements are on disk): the reason goes to stderr and to `report_error`."""
        from stinger.outputs.report import write_report

        try:
            write_report(self._here())
            self.report_error = None
        except WriteFailed:
            raise   # a full disk is the run's failure (exit 3), not a report's
        except Exception as exc:
            why = scrub(str(exc)).splitlines()[0] if str(exc) else type(exc).__name__
            self.report_error = f"report.html was not written: {why}"
            print(f"stinger: warning: {self.report_error}", file=sys.stderr)


def verdict_dict(v, extra: dict) -> dict:
    """A verdict as `verdict.json` holds it."""
    return {
        "a": v.a_name,
        "b": v.b_name,
        "significant": v.significant,
        "sentence": v.sentence,
        "rows": [r.to_dict() for r in v.rows],
        "notes": list(getattr(v, "notes", []) or []),
        **extra,
    }
