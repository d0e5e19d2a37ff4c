"""A JSON-lines output: one object a line, for CI logs and scripts that follow a run.

    {"event": "start", "variants": [...], "duration_s": 30.0, "mode": "open"}
    {"event": "interval", "t": 1.0, "variants": {"A": {"ok": 50, "failed": 0, "dropped": 0,
                                                       "p50_ms": 4.1, "p99_ms": 9.8, ...}}}
    {"event": "finish", "summary": {... summary.json ...}}
    {"event": "capacity_step", ...}, {"event": "capacity", ...}, {"event": "verdict", ...}

Writes to a path (appended, flushed each line) or, with none, to stdout.
"""

from __future__ import annotations

import json
import os
import sys
from typing import IO

from stinger.core.format import ms


class JsonLinesOutput:
    name = "jsonl"

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = path
        self._fp: IO[str] | None = None

    def _write(self, obj: dict) -> None:
        if self._fp is None:
            self._fp = open(self.path, "a", encoding="utf-8") if self.path is not None else sys.stdout
        self._fp.write(json.dumps(obj, default=str) + "\n")
        self._fp.flush()

    def close(self) -> None:
        if self._fp is not None and self._fp is not sys.stdout:
            self._fp.close()
        self._fp = None

    def start(self, info) -> None:
        self._write({"event": "start", "variants": list(info.variants), "duration_s": info.duration,
                     "requests": info.total, "mode": info.mode})

    def interval(self, snapshot) -> None:
        variants = {}
        for v in snapshot.variants:
            p = v.latency.percentiles((50, 99)) if v.latency.total_count else {}
            variants[v.name] = {"ok": v.ok, "failed": v.failed, "dropped": v.dropped,
                                "p50_ms": ms(p.get(50)), "p99_ms": ms(p.get(99)),
                                "last_offered_rps": v.last_offered_rps, "last_achieved_rps": v.last_achieved_rps}
        line = {"event": "interval", "t": round(snapshot.elapsed, 3), "variants": variants}
        if snapshot.achieved_now_rps is not None:   # requests ended per second over the last fraction of a second
            line["achieved_now_rps"] = snapshot.achieved_now_rps
            line["achieved_now_window_s"] = snapshot.achieved_now_window_s
        if snapshot.events:   # the live load changes so far (scale/control.py)
            line["events"] = list(snapshot.events)
        self._write(line)

    def finish(self, result) -> None:
        self._write({"event": "finish", "summary": result.summary})

    def capacity_start(self, info: dict) -> None:
        self._write({"event": "capacity_start", **{k: v for k, v in info.items() if k != "spec"}})

    def capacity_step(self, row: dict) -> None:
        self._write({"event": "capacity_step", **row})

    def capacity_finish(self, report: dict) -> None:
        self._write({"event": "capacity", **report})

    def verdict(self, verdict, extra: dict, run_dir=None) -> None:
        from stinger.outputs.rundir import verdict_dict

        self._write({"event": "verdict", **verdict_dict(verdict, extra)})
