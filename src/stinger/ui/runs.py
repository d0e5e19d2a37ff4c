"""The runs directory as the page shows it: the runs listed (newest first, from their summary.json),
a run's files served by exact name (a run is a direct child folder, a file one of FILES: no path from
the request reaches the disk), and two runs compared by `compare`'s own verdict (`_api.compare`)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from stinger.core.secrets import scrub_data

# the files a page may open or download, and how they are served
FILES = {"report.html": "text/html; charset=utf-8", "summary.json": "application/json",
         "requests.csv": "text/csv; charset=utf-8", "spec.yaml": "text/plain; charset=utf-8",
         "events.jsonl": "application/x-ndjson"}
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")


def run_path(runs_dir: Path, name: str) -> Path | None:
    """The run folder `name` names, or None (not a plain name, not a folder of the runs directory)."""
    if not _NAME.match(name) or name in (".", ".."):
        return None
    path = runs_dir / name
    return path if path.is_dir() and path.resolve().parent == runs_dir.resolve() else None


def file_path(runs_dir: Path, name: str, file: str) -> Path | None:
    run = run_path(runs_dir, name)
    if run is None or file not in FILES:
        return None
    path = run / file
    return path if path.is_file() else None


def list_runs(runs_dir: Path, limit: int = 200) -> list[dict[str, Any]]:
    """The runs with a summary.json, newest first: name, when, variants, requests, the first variant's
    achieved rate and p99, the files present."""
    if not runs_dir.is_dir():
        return []
    rows = []
    for path in sorted((p for p in runs_dir.iterdir() if p.is_dir()), key=lambda p: p.name, reverse=True)[:limit]:
        try:
            summary = json.loads((path / "summary.json").read_text())
        except (OSError, ValueError):
            continue
        variants = summary.get("variants") or {}
        first: dict[str, Any] = next(iter(variants.values()), {}) if isinstance(variants, dict) else {}
        req = first.get("requests") or {}
        rows.append({"name": path.name, "variants": list(variants) if isinstance(variants, dict) else [],
                     "ok": req.get("ok"), "failed": req.get("failed"),
                     "achieved_rps": (first.get("throughput") or {}).get("achieved_rps"), "p99_ms": (first.get("latency_ms") or {}).get("p99"),
                     "files": [f for f in FILES if (path / f).is_file()]})
    return scrub_data(rows)


def compare_runs(runs_dir: Path, a: str, b: str) -> dict[str, Any]:
    """`stinger compare A B`'s verdict (exit code 1: the candidate regressed), or ValueError naming what is wrong."""
    from stinger import _api

    pa, pb = run_path(runs_dir, a), run_path(runs_dir, b)
    if pa is None or pb is None:
        raise ValueError(f"{a if pa is None else b}: not a run of this runs directory")
    result = _api.compare(pa, pb, outputs=())
    verdict = result.verdict
    return scrub_data({"baseline": a, "candidate": b, "exit_code": result.exit_code,
                       "regressions": list(result.regressions), "warnings": list(result.warnings),
                       "sentence": verdict.get("sentence"), "markdown": verdict.get("markdown") or verdict.get("table"),
                       "verdict": verdict})
