"""JSON datasets (``.json``): a top-level array, one element a request, loaded whole.

Large datasets should be JSONL, which is indexed instead of loaded.
"""

from __future__ import annotations

import json
from pathlib import Path

from stinger.datasets import base
from stinger.datasets.base import ListBacked, dataset_error, mib
from stinger.datasets.json_records import JsonShaper, json_reason, json_type


class JsonDataset(ListBacked):
    """A top-level JSON array, loaded whole: one element a request."""

    content_type: str
    has_labels: bool
    description: str

    def __init__(self, path: Path, shown: str, *, label_field: str | None, body_field: str | None,
                 content_type: str | None) -> None:
        try:
            size = path.stat().st_size
            if size > base.MAX_JSON_ARRAY:   # parsed whole it would be: refused before reading
                raise dataset_error(shown, f"a JSON array of {mib(size)}; expected at most {mib(base.MAX_JSON_ARRAY)} "
                                    "(large datasets: JSONL, one record a line, indexed instead of loaded)")
            data = path.read_bytes()
        except OSError as exc:
            raise dataset_error(shown, f"cannot read the file ({exc.strerror or exc}); expected a readable dataset file") from None
        if not data.strip():
            raise dataset_error(shown, "empty dataset (the file is empty); expected a JSON array of records")
        try:
            records = json.loads(data)
        except json.JSONDecodeError as exc:
            raise dataset_error(shown, f"line {exc.lineno}: invalid JSON ({exc.msg} at column {exc.colno}); "
                                "expected a JSON array of records") from None
        except ValueError as exc:
            raise dataset_error(shown, f"invalid JSON ({json_reason(exc)}); expected a UTF-8 JSON array of records") from None
        if not isinstance(records, list):
            raise dataset_error(shown, f"the top-level value is {json_type(records)}; expected a JSON array of records "
                                "(large datasets: JSONL, one record a line)")
        if not records:
            raise dataset_error(shown, "empty dataset (the array has no elements); expected at least one record")
        self._records = records
        self._n = len(records)
        self._shaper = JsonShaper(shown, label_field, body_field)
        self._shaper.check_first(records[0], "record 1")
        self.content_type = content_type or "application/json"
        self.has_labels = label_field is not None
        self.description = f"{path.name}: {len(records):,} records (JSON{self._shaper.describe()})"
        if len(data) <= base.SMALL_BYTES:
            pairs = [self._prepare(i) for i in range(len(records))]
            self._freeze([b for b, _ in pairs], [lab for _, lab in pairs])
            self._records = []
        else:
            for i in range(min(len(records), base.VALIDATE_LIMIT)):
                self._prepare(i)

    def __len__(self) -> int:
        return self._n

    def _prepare(self, i: int) -> tuple[bytes, object | None]:
        return self._shaper.shape(self._records[i], None, lambda: f"record {i + 1}")

    def body(self, i: int) -> bytes:
        return self._prepare(i)[0]

    def label(self, i: int) -> object | None:
        return self._prepare(i)[1]
