"""Per-request rows (`output.rows`, `--save-requests`): the row sinks' two halves around a run.

Before the run: each sink is checked (its optional package) and, for sinks whose coordinator half reads the
workers' files, the backend must share this machine's filesystem; each worker gets its part's path in the
run directory and the sink names. After the run, before the summary is finished: each sink collects the
parts into its file (rows/*.py), summary.json names them and their row counts, and the parts are removed.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from stinger.errors import UsageError
from stinger.scale.coordinator import RunOutcome
from stinger.spec import Spec


def row_sinks(spec: Spec) -> tuple[str, ...]:
    """The spec's row sinks, and csv when `--otlp` exports spans (outputs/otlp.py reads them from requests.csv)."""
    names = spec.output.row_sinks()
    if getattr(spec, "otlp", None) is not None and "csv" not in names:
        names = (*names, "csv")
    return names


def check_row_sinks(spec: Spec, backend) -> tuple[str, ...]:
    """The spec's row sinks, each checked, before any run directory exists (one-line errors, exit 2)."""
    from stinger.rows.base import sink

    names = row_sinks(spec)
    for name in names:
        s = sink(name)
        s.check()
        if s.local_files and not backend.traits.shared_filesystem:
            raise UsageError(f"--save-requests works with the local backend: {spec.load.backend} workers may run "
                             "on other machines, whose files the coordinator cannot read")
    return names


def request_logs(spec: Spec, plans: list, run_dir) -> list:
    """Each worker writes its own part in the run directory (collected after the run)."""
    names = row_sinks(spec)
    if not names:
        return plans
    if run_dir is None and not spec.output.row_sinks():   # only --otlp's csv: a run without a directory has no spans
        return plans
    if run_dir is None:
        raise UsageError("save_requests needs a run directory (this run writes none); drop it or write the run")
    return [replace(p, rows=names, requests_path=str(Path(run_dir) / f".requests-w{p.worker}.bin")) for p in plans]


def merge_request_logs(plans: list, run_dir, summary: dict, outcome: RunOutcome) -> None:
    """The workers' parts -> each sink's file; a full disk costs that file (a warning), never the run."""
    from stinger.core.atomic import WriteFailed
    from stinger.core.correlation import trace_hi
    from stinger.rows.base import sink

    parts = [Path(p.requests_path) for p in plans if p.requests_path]
    variants = [v.name for v in plans[0].variants]
    # the wall-clock instant of t = 0 to the microsecond, to join the rows with the endpoint's own logs
    t0_unix = round(outcome.started_at, 6)
    written = []
    try:
        for name in plans[0].rows:
            s = sink(name)
            try:
                written.append(s.collect(parts, Path(run_dir), variants, t0_unix, trace_hi=trace_hi(plans[0].seed)))
            except WriteFailed as exc:
                summary["warnings"].append(f"--save-requests: {s.file} was not written ({exc}); its per-request "
                                           "rows are lost, the run's results are kept")
    finally:
        drop_request_logs(plans)
    if written:
        summary["rows"] = [f.as_dict() for f in written]
    for f in written:
        if f.sink == "csv":   # its older name, kept for the readers of summary.json before `rows`
            summary["requests_file"] = {"path": f.path, "rows": f.rows, "t0_unix": f.t0_unix}


def drop_request_logs(plans: list) -> None:
    for p in plans:
        if getattr(p, "requests_path", None):
            Path(p.requests_path).unlink(missing_ok=True)
