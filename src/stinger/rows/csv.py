"""requests.csv: the per-request rows as CSV, one row per request sent, sorted by intended time.

Columns (`core.rows.ROW_COLUMNS`): `intended_s`, `sent_s`, `first_byte_s`, `done_s` in seconds from
t = 0; `latency_ms` = done - intended and `service_ms` = done - sent, exactly as the summary's histograms
count them; `server_ms` (empty when none); the variant's name; the HTTP status; the kind; bytes; the
payload index; the queue state; the worker; the `request_id` the request carried (its X-Request-Id and its
traceparent's trace id, core/correlation.py; empty where the variant sent none: plain HTTP by default); for
an LLM api, the request's `ttft_ms`, `input_tokens` and `output_tokens` as it read them (empty elsewhere). A request that never got a byte has an empty `first_byte_s`;
one never sent (its host did not resolve, it could not be built, it was still queued) an empty `sent_s`.
Requests dropped at the in-flight bound were never sent and have no row (the summary counts them);
warm-up requests have rows. A stopped run's requests counted as in flight have kind `in_flight`, no
`done_s`. The file is written whole or not at all (`core.atomic`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from stinger.core.atomic import replacing
from stinger.core.rows import ROW_COLUMNS
from stinger.rows.base import RowsFile
from stinger.rows.spill import SpillWriter, kind_labels, read, request_ids

__all__ = ["CsvRows"]

_CHUNK = 65536


def _num(x: float, digits: int) -> str:
    return "" if x != x else f"{x:.{digits}f}"   # NaN (never sent, never done): empty


def _quoted(name: str) -> str:
    return f'"{name.replace(chr(34), chr(34) * 2)}"' if any(c in name for c in ',"\n') else name


class CsvRows:
    name: ClassVar[str] = "csv"
    file: ClassVar[str] = "requests.csv"
    local_files: ClassVar[bool] = True

    def check(self) -> None:
        return None   # the standard library writes it

    def writer(self, path: str, worker: int) -> SpillWriter:
        return SpillWriter(path, worker)

    def collect(self, parts: Sequence[Path], out_dir: Path, variants: Sequence[str], t0_unix: float,
                trace_hi: int = 0) -> RowsFile:
        rows = read(parts)
        labels = kind_labels()
        names = [_quoted(v) for v in variants]
        with replacing(out_dir / self.file) as tmp, open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(",".join(ROW_COLUMNS) + "\n")
            for start in range(0, len(rows), _CHUNK):
                chunk = rows[start:start + _CHUNK]
                lat = (chunk["done"] - chunk["intended"]) * 1e3
                svc = (chunk["done"] - chunk["sent"]) * 1e3
                ids = request_ids(chunk, trace_hi)
                lines = []
                for r, la, sv, rid in zip(chunk.tolist(), lat.tolist(), svc.tolist(), ids, strict=True):
                    intended, sent, first, done, server, status, kind, variant, worker, queued, nbytes, payload = r[:12]
                    ttft, tin, tout = r[13:16]
                    lines.append(f"{intended:.6f},{_num(sent, 6)},{_num(first, 6)},{_num(done, 6)},"
                                 f"{_num(la, 3)},{_num(sv, 3)},{_num(server, 3)},{names[variant]},"
                                 f"{status},{labels.get(kind, kind)},{nbytes},{payload},{queued},{worker},{rid},"
                                 f"{_num(ttft / 1e3, 3)},{_num(tin, 0)},{_num(tout, 0)}\n")
                f.write("".join(lines))
        return RowsFile(self.name, self.file, len(rows), t0_unix)
