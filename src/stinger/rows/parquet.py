"""requests.parquet: the per-request rows as one Parquet file (`--save-requests parquet`; pyarrow, the
`parquet` extra), the same rows and columns as requests.csv (`core.rows.ROW_COLUMNS`).

Types: times in float64 seconds from t = 0 and milliseconds, null where csv has an empty cell (never
sent, no byte, never done, no server time); `status` int16, `queued` int8, `worker` int16, `bytes` and
`payload` int64; `variant` and `kind` dictionary-encoded strings. The file's metadata holds `t0_unix`
(the wall-clock instant of t = 0) and the variants' names. pyarrow is imported only here, in `check` and
`collect`, so a run without this sink never loads it; without it the sink is refused before any run in
one line naming the extra. Written whole or not at all (`core.atomic`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from stinger.core.atomic import replacing
from stinger.rows.base import RowsFile
from stinger.rows.spill import SpillWriter, kind_labels, read, request_ids

__all__ = ["ParquetRows"]


def _pyarrow() -> Any:
    try:
        import pyarrow  # type: ignore[import-untyped]  # no stubs; the parquet extra
        import pyarrow.parquet  # type: ignore[import-untyped]
    except ImportError:
        from stinger.errors import UsageError

        raise UsageError("--save-requests parquet needs pyarrow, which is not installed; "
                         "pip install 'stinger[parquet]'") from None
    return pyarrow


class ParquetRows:
    name: ClassVar[str] = "parquet"
    file: ClassVar[str] = "requests.parquet"
    local_files: ClassVar[bool] = True

    def check(self) -> None:
        _pyarrow()

    def writer(self, path: str, worker: int) -> SpillWriter:
        return SpillWriter(path, worker)

    def collect(self, parts: Sequence[Path], out_dir: Path, variants: Sequence[str], t0_unix: float,
                trace_hi: int = 0) -> RowsFile:
        pa = _pyarrow()
        rows = read(parts)

        def seconds(x: np.ndarray) -> Any:
            return pa.array(x, type=pa.float64(), mask=np.isnan(x))

        def labelled(codes: np.ndarray, labels: Sequence[str]) -> Any:
            return pa.DictionaryArray.from_arrays(pa.array(codes, type=pa.int32()), pa.array(labels, pa.string()))

        kinds = kind_labels()
        kind_codes = sorted(kinds)
        columns = {
            "intended_s": seconds(rows["intended"]),
            "sent_s": seconds(rows["sent"]),
            "first_byte_s": seconds(rows["first"]),
            "done_s": seconds(rows["done"]),
            "latency_ms": seconds((rows["done"] - rows["intended"]) * 1e3),
            "service_ms": seconds((rows["done"] - rows["sent"]) * 1e3),
            "server_ms": seconds(rows["server_ms"]),
            "variant": labelled(rows["variant"].astype(np.int32), list(variants)),
            "status": pa.array(rows["status"], type=pa.int16()),
            "kind": labelled(np.searchsorted(kind_codes, rows["kind"]).astype(np.int32),
                             [kinds[k] for k in kind_codes]),
            "bytes": pa.array(rows["bytes"], type=pa.int64()),
            "payload": pa.array(rows["payload"], type=pa.int64()),
            "queued": pa.array(rows["queued"], type=pa.int8()),
            "worker": pa.array(rows["worker"], type=pa.int16()),
            "request_id": pa.array([i or None for i in request_ids(rows, trace_hi)], type=pa.string()),   # null: none sent
            "ttft_ms": seconds(rows["ttft"] / 1e3),   # null where the api read none
            "input_tokens": seconds(rows["input_tokens"]),
            "output_tokens": seconds(rows["output_tokens"]),
        }
        import json

        table = pa.table(columns).replace_schema_metadata(
            {"stinger.t0_unix": repr(t0_unix), "stinger.variants": json.dumps(list(variants))})
        with replacing(out_dir / self.file) as tmp:
            pa.parquet.write_table(table, tmp)
        return RowsFile(self.name, self.file, len(rows), t0_unix)
