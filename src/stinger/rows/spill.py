"""The worker half every row sink shares: each worker's flush thread appends its interval's rows to its
own file of fixed-size binary records (one `write` per flush, nothing on the event loop); after the run
the coordinator reads the parts back as one array sorted by intended send time (`read`).

Times are seconds from the run's clock start (t = 0, whose wall-clock instant is `started_at` in
summary.json). A full disk costs the rows, never the run: a worker whose write fails stops writing rows
and says so once (`SpillWriter.write` returns the warning, which becomes one of the run's).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from stinger.core.records import Kind
from stinger.core.rows import IN_FLIGHT, LLM_COLUMNS, RowBatch

__all__ = ["DTYPE", "SpillWriter", "append", "kind_labels", "read", "request_ids"]

DTYPE = np.dtype([("intended", "<f8"), ("sent", "<f8"), ("first", "<f8"), ("done", "<f8"), ("server_ms", "<f8"),
                  ("status", "<i2"), ("kind", "<i1"), ("variant", "<i1"), ("worker", "<i2"), ("queued", "<i1"),
                  ("bytes", "<i8"), ("payload", "<i8"), ("rid", "<i8"),
                  ("ttft", "<f8"), ("input_tokens", "<f8"), ("output_tokens", "<f8")])


def append(fd: int, rows: RowBatch) -> None:
    """Append one flush's rows (perf_counter times, made relative to `rows.t0`) to an open file descriptor."""
    t0 = rows.t0
    out = np.empty(len(rows), dtype=DTYPE)
    out["intended"] = rows.intended - t0
    out["sent"] = rows.sent - t0
    out["first"] = np.where(rows.first > 0, rows.first - t0, np.nan)
    out["done"] = rows.done - t0
    out["server_ms"] = rows.server_ms
    out["status"] = rows.status
    out["kind"] = rows.kind
    out["variant"] = rows.variant
    out["worker"] = rows.worker
    out["queued"] = rows.queued
    out["bytes"] = rows.nbytes
    out["payload"] = rows.payload
    out["rid"] = -1 if rows.rid is None else rows.rid
    for name in LLM_COLUMNS:
        out[name] = np.nan if rows.llm is None or name not in rows.llm else rows.llm[name]
    view = memoryview(out.tobytes())
    while view:
        view = view[os.write(fd, view):]


class SpillWriter:
    """One worker's part, opened on first use; a write that fails stops the rows, not the run."""

    def __init__(self, path: str, worker: int) -> None:
        self.path = path
        self.worker = worker
        self.fd: int | None = None
        self.failed = False

    def write(self, rows: RowBatch) -> str | None:
        if self.failed:
            return None
        try:
            if self.fd is None:
                self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            append(self.fd, rows)
        except OSError as exc:
            self.failed = True
            self.close()
            return (f"--save-requests: worker {self.worker} stopped writing per-request rows "
                    f"({exc.strerror or exc}: {self.path}); the row files lack its later rows, the run's results "
                    "are complete")
        return None

    def close(self) -> None:
        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)


def read(parts: Sequence[Path]) -> np.ndarray:
    """The workers' parts as one array of DTYPE records sorted by intended time (stable: a worker's order
    is kept). A worker killed mid-write leaves a partial last record: dropped."""
    arrays = []
    for p in parts:
        if p.exists():
            data = p.read_bytes()
            arrays.append(np.frombuffer(data[:len(data) - len(data) % DTYPE.itemsize], dtype=DTYPE))
    rows = np.concatenate(arrays) if arrays else np.empty(0, dtype=DTYPE)
    return rows[np.argsort(rows["intended"], kind="stable")]


def request_ids(rows: np.ndarray, trace_hi: int) -> list[str]:
    """Each row's request ID (its X-Request-Id and trace id, core/correlation.py: the run's `trace_hi` and the
    row's request number), "" where none was sent."""
    prefix = f"{trace_hi:016x}"
    return ["" if rid < 0 else f"{prefix}{rid:016x}" for rid in rows["rid"].tolist()]


def kind_labels() -> dict[int, str]:
    """A row's kind number -> its label (`in_flight` for a request counted in flight at a stop)."""
    labels = {int(k): k.label for k in Kind}
    labels[IN_FLIGHT] = "in_flight"
    return labels
