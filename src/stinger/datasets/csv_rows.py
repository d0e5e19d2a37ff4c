"""CSV datasets (``.csv``): one row a request, sent as the row's text (``text/csv``, as model containers take it).

A header row, if any, is never sent. With ``label_field`` the label column is removed
from what is sent; labels that look like numbers become numbers. Quoted fields may span
lines (RFC 4180 quoting). The file is indexed through an mmap (`stinger.datasets.index`).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from stinger.datasets import base
from stinger.datasets.base import ListBacked, dataset_error
from stinger.datasets.index import RecordIndex


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _cell_value(text: str) -> object:
    """A CSV label as the model would predict it: int, then float, else the text."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


class CsvDataset(ListBacked):
    """One CSV row a request, sent as the row's text (``text/csv``, no header line)."""

    content_type: str
    has_labels: bool
    description: str

    def __init__(self, path: Path, shown: str, *, label_field: str | int | None, header: bool | None,
                 content_type: str | None) -> None:
        self._index = RecordIndex(path, shown, quote_aware=True)
        self._shown = shown
        if len(self._index) == 0:
            raise dataset_error(shown, "empty dataset (only blank lines); expected one CSV row per request")
        first = self._fields(0)
        if header is None:
            # Feature rows are numbers; a header has at least one non-numeric name.
            header = any(f.strip() and not _is_number(f) for f in first)
        self._header = bool(header)
        self._skip = 1 if header else 0
        self._n = len(self._index) - self._skip
        if self._n == 0:
            raise dataset_error(shown, "empty dataset (only a header row); expected at least one data row")
        self._ncols = len(first)
        self._label_col = self._resolve_label(label_field, first if header else None)
        self.content_type = content_type or "text/csv"
        self.has_labels = self._label_col is not None
        small = self._index.size <= base.SMALL_BYTES
        checked = self._n if small else min(self._n, base.VALIDATE_LIMIT)
        label_text = ""
        if self._label_col is not None:
            name = f"{first[self._label_col]!r}" if header else f"{self._label_col}"
            label_text = f", labels from column {name}"
        partial = "" if small or checked == self._n else f", first {checked:,} validated"
        self.description = (f"{path.name}: {self._n:,} rows (CSV{', header' if header else ''}"
                            f"{label_text}{partial})")
        self._out = io.StringIO()
        # "\r\n" as terminator makes the writer quote fields holding either character;
        # the terminator itself is cut off again in `_prepare`.
        self._writer = csv.writer(self._out, lineterminator="\r\n")
        if small:
            pairs = [self._prepare(i, validate=True) for i in range(self._n)]
            self._freeze([b for b, _ in pairs], [lab for _, lab in pairs])
            self._index.close()
        else:
            for i in range(checked):
                self._prepare(i, validate=True)

    def __len__(self) -> int:
        return self._n

    def _resolve_label(self, label_field: str | int | None, names: list[str] | None) -> int | None:
        if label_field is None:
            return None
        if isinstance(label_field, str) and names is not None:
            # Exact name first; then forgive spaces around names ("a, b" headers).
            if label_field in names:
                return names.index(label_field)
            stripped = [n.strip() for n in names]
            if label_field.strip() in stripped:
                return stripped.index(label_field.strip())
        index: int | None = None
        if isinstance(label_field, int):
            index = label_field
        elif label_field.strip().lstrip("-").isdigit():
            index = int(label_field)
        if index is not None and -self._ncols <= index < self._ncols:
            return index % self._ncols
        if names is not None:
            available = ", ".join(repr(n) for n in names[:20]) + (", ..." if len(names) > 20 else "")
            raise dataset_error(self._shown, f"line 1: label column {label_field!r} not found; available columns: "
                                      f"{available} (or a 0-based index below {self._ncols})")
        raise dataset_error(self._shown, f"label column {label_field!r} not found: the CSV has no header and "
                                  f"{self._ncols} columns; expected a 0-based index from 0 to {self._ncols - 1}")

    def _text(self, j: int) -> str:
        raw = self._index.raw(j).rstrip(b"\r")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise dataset_error(self._shown, f"line {self._index.line(j)}: not UTF-8 (byte {raw[exc.start]:#04x}); "
                                      "expected UTF-8 text") from None

    def _fields(self, j: int) -> list[str]:
        try:
            return next(csv.reader([self._text(j)]))
        except csv.Error as exc:
            raise dataset_error(self._shown, f"line {self._index.line(j)}: malformed CSV row ({exc}); "
                                      "expected comma-separated fields") from None

    def _prepare(self, i: int, validate: bool = False) -> tuple[bytes, object | None]:
        j = i + self._skip
        if self._label_col is None and not validate:
            return self._index.raw(j).rstrip(b"\r"), None
        fields = self._fields(j)
        if len(fields) != self._ncols:
            raise dataset_error(self._shown, f"line {self._index.line(j)}: row has {len(fields)} fields; "
                                      f"expected {self._ncols} like the first row")
        if self._label_col is None:
            return self._index.raw(j).rstrip(b"\r"), None
        label = _cell_value(fields.pop(self._label_col))
        self._out.seek(0)
        self._out.truncate()
        self._writer.writerow(fields)
        return self._out.getvalue()[:-2].encode("utf-8"), label

    def body(self, i: int) -> bytes:
        return self._prepare(i)[0]

    def label(self, i: int) -> object | None:
        return None if self._label_col is None else self._prepare(i)[1]

    def close(self) -> None:
        self._index.close()
