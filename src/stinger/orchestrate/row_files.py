"""--save-requests: each worker's own row file in the run directory, merged into requests.csv after the run."""

from __future__ import annotations

from pathlib import Path

from stinger.scale.coordinator import RunOutcome
from stinger.spec import Spec


def request_logs(spec: Spec, plans: list, run_dir) -> list:
    """--save-requests: each worker writes its own file in the run directory (merged after the run)."""
    if not spec.output.save_requests:
        return plans
    from stinger.errors import UsageError

    if run_dir is None:
        raise UsageError("save_requests needs a run directory (this run writes none); drop it or write the run")
    from dataclasses import replace

    return [replace(p, requests_path=str(Path(run_dir) / f".requests-w{p.worker}.bin")) for p in plans]


def merge_request_logs(plans: list, run_dir, summary: dict, outcome: RunOutcome) -> None:
    """The workers' row files -> requests.csv; a full disk costs the rows (a warning), never the run."""
    from stinger.core.atomic import WriteFailed
    from stinger.engine.requests_log import CSV_FILE, merge

    try:
        rows = merge([Path(p.requests_path) for p in plans if p.requests_path], Path(run_dir) / CSV_FILE,
                     [v.name for v in plans[0].variants])
    except WriteFailed as exc:
        summary["warnings"].append(f"--save-requests: requests.csv was not written ({exc}); the per-request rows "
                                   "are lost, the run's results are kept")
        return
    # the wall-clock instant of t = 0 to the microsecond, to join the rows with the endpoint's own logs
    summary["requests_file"] = {"path": CSV_FILE, "rows": rows, "t0_unix": round(outcome.started_at, 6)}


def drop_request_logs(plans: list) -> None:
    for p in plans:
        if getattr(p, "requests_path", None):
            Path(p.requests_path).unlink(missing_ok=True)
