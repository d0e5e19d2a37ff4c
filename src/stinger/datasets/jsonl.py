"""JSONL datasets (``.jsonl``/``.ndjson``): one JSON record a line, indexed through an mmap.

The body is the line itself unless label_field/body_field ask for a rewrite
(`stinger.datasets.json_records`); in a large dataset a line that needs no rewriting is
sent as it is, unparsed.
"""

from __future__ import annotations

import json
from pathlib import Path

from stinger.datasets import base
from stinger.datasets.base import ListBacked, dataset_error
from stinger.datasets.index import RecordIndex
from stinger.datasets.json_records import JsonShaper, json_reason


class JsonlDataset(ListBacked):
    """One JSON record a line; see the module docstring for labels and large files."""

    content_type: str
    has_labels: bool
    description: str

    def __init__(self, path: Path, shown: str, *, label_field: str | None, body_field: str | None,
                 content_type: str | None) -> None:
        self._index = RecordIndex(path, shown, quote_aware=False)
        self._shaper = JsonShaper(shown, label_field, body_field)
        n = len(self._index)
        if n == 0:
            raise dataset_error(shown, "empty dataset (only blank lines); expected one JSON record per line")
        self._n = n
        self.content_type = content_type or "application/json"
        self.has_labels = label_field is not None
        self._shaper.check_first(self._parse(0), f"line {self._index.line(0)}")
        small = self._index.size <= base.SMALL_BYTES
        checked = n if small else min(n, base.VALIDATE_LIMIT)
        partial = "" if small or checked == n else f", first {checked:,} validated"
        self.description = f"{path.name}: {n:,} records (JSONL{self._shaper.describe()}{partial})"
        if small:
            pairs = [self._prepare(i) for i in range(n)]
            self._freeze([b for b, _ in pairs], [lab for _, lab in pairs])
            self._index.close()
        else:
            for i in range(checked):
                self._prepare(i)

    def __len__(self) -> int:
        return self._n

    def _where(self, i: int) -> str:
        return f"line {self._index.line(i)}"

    def _parse(self, i: int, line: bytes | None = None) -> object:
        if line is None:
            line = self._index.raw(i)
        try:
            return json.loads(line)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            raise dataset_error(self._index.shown, f"line {self._index.line(i)}: invalid JSON ({json_reason(exc)}); "
                                            "expected one JSON record per line") from None

    def _prepare(self, i: int) -> tuple[bytes, object | None]:
        line = self._index.raw(i)
        record = self._parse(i, line)
        return self._shaper.shape(record, line.strip(), lambda: self._where(i))

    def body(self, i: int) -> bytes:
        if not self._shaper.rewrites:
            return self._index.raw(i).strip()  # sent as it is: no parse on the hot path
        return self._prepare(i)[0]

    def label(self, i: int) -> object | None:
        if self._shaper.label_field is None:
            return None
        return self._prepare(i)[1]

    def close(self) -> None:
        self._index.close()
