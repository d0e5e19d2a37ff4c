"""The run directory: what a run leaves behind, and reading it back.

    RUN_DIR/
      spec.yaml          the resolved spec (secret header values redacted)
      summary.json       the results (schema: docs/summary.md)
      intervals.csv      one row per (interval, variant): rates, percentiles, errors
      histograms.hlog    HDR histogram log: one interval histogram per (interval, variant,
                         metric), tags "latency/<variant>", "service/<variant>", "server/<variant>"
      series.csv         monitor series (endpoint CPU/memory, Prometheus, generator), if any
      predictions.jsonl  per-request predictions and labels, when a prediction path is set

`stinger report RUN_DIR` re-renders from these files alone.
"""

from __future__ import annotations

import csv
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from stinger.core.histogram import Histogram, HistogramLogWriter, read_histogram_log
from stinger.core.metrics import RunMetrics
from stinger.errors import UsageError

SUMMARY = "summary.json"
INTERVALS = "intervals.csv"
HLOG = "histograms.hlog"
SPEC = "spec.yaml"
SERIES = "series.csv"
PREDICTIONS = "predictions.jsonl"
from stinger.core.catalogue import LOGGED  # noqa: E402


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
        raise UsageError(f"cannot create run directory {path}: {exc.strerror or exc}") from None
    return path


def write_run(path: Path, *, summary: dict, spec_data: dict, metrics: RunMetrics, started_at: float,
              series_points=None) -> None:
    (path / SPEC).write_text(yaml.safe_dump(spec_data, sort_keys=False))
    (path / SUMMARY).write_text(json.dumps(summary, indent=2, default=_json_default) + "\n")
    rows = metrics.interval_rows()
    if rows:
        with open(path / INTERVALS, "w", newline="") as fp:
            w = csv.DictWriter(fp, fieldnames=list(rows[0].keys()))
            w.writeheader()
            w.writerows(rows)
    with open(path / HLOG, "w") as fp:
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
        with open(path / PREDICTIONS, "w") as fp:
            for variant, payload, pred, label in metrics.predictions:
                fp.write(json.dumps({"variant": variant, "payload": payload, "prediction": pred, "label": label},
                                    default=_json_default) + "\n")
    if series_points:
        from stinger.monitors.base import write_series

        write_series(series_points, path / SERIES)


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

    def interval_histograms(self, metric: str = "latency") -> dict[str, list[tuple[float, Histogram]]]:
        """variant -> [(start_s, histogram)] from the HDR log."""
        out: dict[str, list[tuple[float, Histogram]]] = {}
        hlog = self.path / HLOG
        if not hlog.exists():
            return out
        for item in read_histogram_log(hlog):
            if not item.tag or "/" not in item.tag:
                continue
            m, variant = item.tag.split("/", 1)
            if m == metric:
                out.setdefault(variant, []).append((item.start_s, item.hist))
        return out

    def predictions(self) -> list[dict]:
        p = self.path / PREDICTIONS
        if not p.exists():
            return []
        return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]

    def series(self):
        p = self.path / SERIES
        if not p.exists():
            return []
        from stinger.monitors.base import read_series

        return read_series(p)


def read_run(path: str | os.PathLike) -> SavedRun:
    p = Path(path)
    if not p.is_dir():
        raise UsageError(f"run directory {p} does not exist; expected a directory written by 'stinger run'")
    sp = p / SUMMARY
    if not sp.exists():
        raise UsageError(f"{p} is not a stinger run directory: no {SUMMARY}")
    try:
        summary = json.loads(sp.read_text())
    except json.JSONDecodeError as exc:
        raise UsageError(f"{sp}: invalid JSON ({exc.msg} at line {exc.lineno})") from None
    intervals = []
    ip = p / INTERVALS
    if ip.exists():
        with open(ip, newline="") as fp:
            intervals = list(csv.DictReader(fp))
    return SavedRun(path=p, summary=summary, intervals=intervals)
