"""Per-request results (`--save-requests`): one row per request that was sent, as vegeta keeps them.

Each worker's flush thread appends its interval's rows to its own binary file
(`append`: fixed-size records, one `write` per flush, nothing on the event loop);
after the run the coordinator merges the workers' files into the run directory's
`requests.csv`, sorted by intended send time (`merge`), and removes them.

Times are seconds from the run's clock start (t = 0, whose wall-clock instant
is `started_at` in summary.json): `intended` (when the schedule wanted it
sent), `sent`, `first_byte`, `done`; so latency is done - intended and service
time done - sent, exactly as the summary's histograms count them. A request
that never got a byte has an empty `first_byte`; one never sent (its host did not
resolve, it could not be built, it was still queued) an empty `sent`. `server_ms` is
the server time read from the response (empty when none). Requests dropped at the
in-flight bound were never sent and have no row (the summary counts them); warm-up
requests have rows (their `intended` is before the spec's warm-up end). A run that
was stopped (Ctrl-C, SIGTERM, an abort rule) gives each request it counts as in
flight at the stop a row of kind `in_flight`, with no `done` (nor latency).

A full disk costs the rows, never the run: a worker whose write fails stops writing
rows and says so once (`RowFile`, a note that becomes a warning of the run); a merge
that cannot write requests.csv leaves none (it is written whole or not at all,
`core.atomic`), and the run's other files are kept.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from stinger.core.atomic import replacing
from stinger.core.records import Kind

__all__ = ["CSV_FILE", "DTYPE", "IN_FLIGHT", "RowFile", "append", "merge"]

CSV_FILE = "requests.csv"
IN_FLIGHT = -1   # a row's kind: counted as in flight at a stop (no Kind: it did not end)
DTYPE = np.dtype([("intended", "<f8"), ("sent", "<f8"), ("first", "<f8"), ("done", "<f8"), ("server_ms", "<f8"),
                  ("status", "<i2"), ("kind", "<i1"), ("variant", "<i1"), ("worker", "<i2"), ("queued", "<i1"),
                  ("bytes", "<i8"), ("payload", "<i8")])
_COLUMNS = ("intended_s", "sent_s", "first_byte_s", "done_s", "latency_ms", "service_ms", "server_ms", "variant",
            "status", "kind", "bytes", "payload", "queued", "worker")


def append(fd: int, t0: float, worker: int, *, intended, sent, first, done, server_ms, status, kind, variant,
           nbytes, payload, queued) -> None:
    """Append one flush's rows (perf_counter times, made relative to `t0`) to an open file descriptor."""
    n = len(done)
    rows = np.empty(n, dtype=DTYPE)
    rows["intended"] = intended - t0
    rows["sent"] = sent - t0
    rows["first"] = np.where(first > 0, first - t0, np.nan)
    rows["done"] = done - t0
    rows["server_ms"] = server_ms
    rows["status"] = status
    rows["kind"] = kind
    rows["variant"] = variant
    rows["worker"] = worker
    rows["queued"] = queued
    rows["bytes"] = nbytes
    rows["payload"] = payload
    data = rows.tobytes()
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class RowFile:
    """One worker's file of rows, opened on first use; a write that fails stops the rows, not the run."""

    def __init__(self, path: str, worker: int) -> None:
        self.path = path
        self.worker = worker
        self.fd: int | None = None
        self.failed = False

    def append(self, t0: float, **columns) -> str | None:
        """Append one flush's rows; returns a warning the first time a write fails (then writes nothing more)."""
        if self.failed:
            return None
        try:
            if self.fd is None:
                self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            append(self.fd, t0, self.worker, **columns)
        except OSError as exc:
            self.failed = True
            self.close()
            return (f"--save-requests: worker {self.worker} stopped writing per-request rows "
                    f"({exc.strerror or exc}: {self.path}); requests.csv lacks its later rows, the run's results "
                    "are complete")
        return None

    def close(self) -> None:
        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)
def _num(x: float, digits: int) -> str:
    return "" if x != x else f"{x:.{digits}f}"   # NaN (never sent, never done): empty


def merge(paths: Sequence[Path], out: Path, variants: Sequence[str]) -> int:
    """The workers' files as one CSV sorted by intended time; the files are removed, whether or not the CSV
    could be written (`core.atomic.WriteFailed` when it could not). Returns the row count."""
    try:
        return _merge(paths, out, variants)
    finally:
        for p in paths:
            p.unlink(missing_ok=True)


def _merge(paths: Sequence[Path], out: Path, variants: Sequence[str]) -> int:
    parts = []
    for p in paths:
        if p.exists():
            data = p.read_bytes()   # a worker killed mid-write leaves a partial last row: dropped
            parts.append(np.frombuffer(data[:len(data) - len(data) % DTYPE.itemsize], dtype=DTYPE))
    rows = np.concatenate(parts) if parts else np.empty(0, dtype=DTYPE)
    rows = rows[np.argsort(rows["intended"], kind="stable")]
    labels = {int(k): k.label for k in Kind}
    labels[IN_FLIGHT] = "in_flight"
    names = [f'"{v.replace(chr(34), chr(34) * 2)}"' if any(c in v for c in ',"\n') else v for v in variants]
    with replacing(out) as tmp, open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(",".join(_COLUMNS) + "\n")
        for start in range(0, len(rows), 65536):
            chunk = rows[start:start + 65536]
            lat = (chunk["done"] - chunk["intended"]) * 1e3
            svc = (chunk["done"] - chunk["sent"]) * 1e3
            lines = []
            for r, la, sv in zip(chunk.tolist(), lat.tolist(), svc.tolist(), strict=True):
                intended, sent, first, done, server, status, kind, variant, worker, queued, nbytes, payload = r
                lines.append(f"{intended:.6f},{_num(sent, 6)},{_num(first, 6)},{_num(done, 6)},"
                             f"{_num(la, 3)},{_num(sv, 3)},{_num(server, 3)},{names[variant]},"
                             f"{status},{labels.get(kind, kind)},{nbytes},{payload},{queued},{worker}\n")
            f.write("".join(lines))
    return len(rows)
