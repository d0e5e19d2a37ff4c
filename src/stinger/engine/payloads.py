"""Request payloads: datasets of request bodies (and labels), and which record each request uses.

A dataset turns "the k-th record" into the exact bytes to send. Four formats:

- **JSONL** (``.jsonl``/``.ndjson``): one JSON record a line; blank lines are skipped and
  not counted. The body is the line itself; with ``label_field`` that key is removed from
  the body (re-serialised compactly) and returned by ``label(i)``; with ``body_field`` the
  body is the JSON of ``record[body_field]``. Whether a dataset *has* labels is decided by
  the first record: a ``label_field`` missing there is an error, missing in a later record
  gives ``label(i) is None``.
- **CSV** (``.csv``): one row a request, sent as the row's text without line terminator
  (SageMaker ``text/csv``); a header row, if any, is never sent. With ``label_field`` the
  label column is removed from what is sent; labels that look like numbers become numbers.
  Quoted fields may span lines (RFC 4180 quoting).
- **JSON** (``.json``): a top-level array, one element a request. It is loaded whole, so
  large datasets should be JSONL.
- **files** (a folder): every regular, non-hidden file, sorted by name, is one binary body.

JSONL and CSV are *indexed*, not loaded: one streaming, vectorised pass over an mmap of
the file records the byte span of every record in int64 numpy arrays, and records are
read back through the mmap. Datasets up to `SMALL_BYTES` are validated record by record
and their prepared bodies kept in a list, because ``body(i)`` sits next to the hot path:
there ``body`` *is* ``list.__getitem__``. Larger datasets validate only their first
`VALIDATE_LIMIT` records and prepare bodies on demand; a bad record further in surfaces
as a `DatasetError` when (and if) it is used, and a JSONL line that needs no rewriting is
sent as it is, unparsed.

`PayloadOrder` maps a global request id to a record index as a pure function of
(seed, id), so each worker process computes its own share without coordination.
"""

from __future__ import annotations

import csv
import io
import json
import mimetypes
import mmap
import os
from pathlib import Path
from typing import Callable, Protocol, Sequence, runtime_checkable

import numpy as np

from stinger.errors import DatasetError, UsageError

__all__ = [
    "SMALL_BYTES",
    "VALIDATE_LIMIT",
    "Dataset",
    "MemoryDataset",
    "PayloadOrder",
    "open_dataset",
]

SMALL_BYTES = 64 * 1024 * 1024   # up to this total size: validate everything, keep bodies in memory
VALIDATE_LIMIT = 10_000          # records validated up front in larger datasets
_SCAN_CHUNK = 4 * 1024 * 1024    # bytes per step of the index scan (bounds its temporary arrays)
_BOM = b"\xef\xbb\xbf"
_FORMATS = ("jsonl", "csv", "json", "files")
_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".json": "json"}


@runtime_checkable
class Dataset(Protocol):
    """What the engine needs from a dataset: bodies, labels, and how to describe them."""

    content_type: str
    has_labels: bool
    description: str

    def __len__(self) -> int: ...

    def body(self, i: int) -> bytes: ...

    def label(self, i: int) -> object | None: ...


def open_dataset(
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    label_field: str | int | None = None,
    body_field: str | None = None,
    csv_header: bool | None = None,
    content_type: str | None = None,
) -> Dataset:
    """Open a dataset of request bodies; `format` None infers it from the extension.

    `label_field` is a top-level key (JSONL, JSON) or a column name or 0-based index (CSV);
    `body_field` (JSONL, JSON) sends ``record[body_field]`` instead of the whole record;
    `csv_header` None means: a header if any non-empty field of the first row is not a number.
    """
    p = Path(path)
    shown = os.fspath(path)
    fmt = _resolve_format(p, shown, format)
    if fmt != "files" and p.is_dir():
        raise _error(shown, f"is a folder, but format is {fmt!r}; expected a {fmt.upper()} file or format 'files'")
    if fmt == "files":
        if label_field is not None or body_field is not None:
            raise _error(shown, "a folder of files carries no labels or fields; "
                                "expected label_field/body_field only with jsonl, json or csv")
        return FilesDataset(p, shown, content_type=content_type)
    if fmt == "csv":
        if body_field is not None:
            raise _error(shown, f"body_field {body_field!r} does not apply to CSV; expected it only with jsonl or json")
        return CsvDataset(p, shown, label_field=label_field, header=csv_header, content_type=content_type)
    key = None if label_field is None else str(label_field)
    if fmt == "jsonl":
        return JsonlDataset(p, shown, label_field=key, body_field=body_field, content_type=content_type)
    return JsonDataset(p, shown, label_field=key, body_field=body_field, content_type=content_type)


def _resolve_format(p: Path, shown: str, format: str | None) -> str:
    if not p.exists():
        raise _error(shown, "no such file or folder; expected a dataset file (.jsonl, .ndjson, .csv, .json) or a folder")
    if format is not None:
        fmt = format.lower()
        if fmt == "ndjson":
            fmt = "jsonl"
        if fmt not in _FORMATS:
            raise _error(shown, f"unknown dataset format {format!r}; expected one of {', '.join(_FORMATS)}")
        if fmt == "files" and not p.is_dir():
            raise _error(shown, "format 'files' needs a folder, but this is a file; expected a folder of request bodies")
        return fmt
    if p.is_dir():
        return "files"
    fmt = _SUFFIXES.get(p.suffix.lower())
    if fmt is None:
        raise _error(shown, f"cannot infer the dataset format from extension {p.suffix or '(none)'!r}; "
                            "expected .jsonl, .ndjson, .csv, .json, a folder, or an explicit format")
    return fmt


def _error(shown: str, what: str) -> DatasetError:
    """A one-line DatasetError: '<file>: <what>' (newlines in names or reasons escaped)."""
    text = f"{shown}: {what}"
    return DatasetError(text.replace("\r", "\\r").replace("\n", "\\n"))


def _dumps(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _json_reason(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at column {exc.colno}"
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 (byte {exc.object[exc.start]:#04x} at column {exc.start + 1})"
    return str(exc)


def _keys_hint(keys: Sequence[str]) -> str:
    shown = ", ".join(repr(k) for k in list(keys)[:20])
    more = f", ... ({len(keys)} in all)" if len(keys) > 20 else ""
    return f"available keys: {shown}{more}" if keys else "the record has no keys"


# ---------------------------------------------------------------------------
# The record index of a text file (JSONL, CSV)
# ---------------------------------------------------------------------------

_NOT_WS = np.ones(256, dtype=bool)
_NOT_WS[[9, 10, 13, 32]] = False  # JSON whitespace; a line of only these is blank
_WS_STEPS = 64                    # leading-whitespace bytes probed vectorised before a per-line look


def _nonblank(view: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Which spans [start, end) hold a non-whitespace byte.

    Most records start with a non-whitespace byte, so one gather decides nearly all of
    them; the rest (indented or blank lines) advance a probe byte by byte, vectorised
    over the undecided spans, and the few still undecided after `_WS_STEPS` bytes are
    looked at whole. Cost stays proportional to the file, with no Python per record.
    """
    keep = np.zeros(len(starts), dtype=bool)
    undecided = np.flatnonzero(ends > starts)
    for step in range(_WS_STEPS):
        if len(undecided) == 0:
            return keep
        pos = starts[undecided] + step
        inside = pos < ends[undecided]
        undecided = undecided[inside]
        found = _NOT_WS[view[pos[inside]]]
        keep[undecided[found]] = True
        undecided = undecided[~found]
    for k in undecided.tolist():
        keep[k] = bool(_NOT_WS[view[starts[k]:ends[k]]].any())
    return keep


def _scan_records(view: np.ndarray, begin: int, quote_aware: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """Byte spans [start, end) of the non-blank records of `view[begin:]`, and an unclosed-quote offset.

    A record ends at a newline; with `quote_aware` only at a newline preceded by an even
    number of '"' (RFC 4180 quoting, where '""' escapes count twice), so quoted fields
    may hold newlines. Newlines and quotes are found chunk by chunk (a compare and a
    `flatnonzero`: memory-bandwidth work, temporaries chunk-sized); the quotes before a
    newline are counted with `searchsorted`. Returns -1 as third item, or the start of
    the last record if its quotes never close.
    """
    size = len(view)
    starts: list[np.ndarray] = []
    ends: list[np.ndarray] = []
    prev_end = begin - 1        # the record boundary (newline) before the current record
    quotes_before = 0           # quotes seen in earlier chunks
    for a in range(begin, size, _SCAN_CHUNK):
        chunk = view[a:a + _SCAN_CHUNK]
        bounds = np.flatnonzero(chunk == 10).astype(np.int64) + a
        if quote_aware:
            quotes = np.flatnonzero(chunk == 34).astype(np.int64) + a
            if len(quotes) or quotes_before % 2:
                even = (np.searchsorted(quotes, bounds) + quotes_before) % 2 == 0
                bounds = bounds[even]
            quotes_before += len(quotes)
        if len(bounds) == 0:
            continue
        seg_starts = np.concatenate((np.array([prev_end + 1], dtype=np.int64), bounds[:-1] + 1))
        keep = _nonblank(view, seg_starts, bounds)
        starts.append(seg_starts[keep])
        ends.append(bounds[keep])
        prev_end = int(bounds[-1])
    last_start, last_end = np.array([prev_end + 1], dtype=np.int64), np.array([size], dtype=np.int64)
    if _nonblank(view, last_start, last_end)[0]:  # a last record without a trailing newline
        starts.append(last_start)
        ends.append(last_end)
    unclosed = prev_end + 1 if quote_aware and quotes_before % 2 else -1
    if not starts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy(), unclosed
    return np.concatenate(starts), np.concatenate(ends), unclosed


class _RecordIndex:
    """A read-only mmap of a text file and the byte span of each of its non-blank records."""

    def __init__(self, path: Path, shown: str, *, quote_aware: bool) -> None:
        self.shown = shown
        try:
            with open(path, "rb") as f:
                self.size = os.fstat(f.fileno()).st_size
                if self.size == 0:
                    raise _error(shown, "empty dataset (the file is empty); expected at least one record")
                self._mm: mmap.mmap | None = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except OSError as exc:
            raise _error(shown, f"cannot read the file ({exc.strerror or exc}); expected a readable dataset file") from None
        begin = len(_BOM) if self._mm[: len(_BOM)] == _BOM else 0
        view = np.frombuffer(self._mm, dtype=np.uint8)
        try:
            self.starts, self.ends, unclosed = _scan_records(view, begin, quote_aware)
        finally:
            del view  # an exported buffer would keep the mmap from closing
        if unclosed >= 0:
            raise _error(shown, f"line {self.line_at(unclosed)}: a quoted field is never closed; "
                                'expected quotes in pairs ("" for a literal quote)')

    def __len__(self) -> int:
        return len(self.starts)

    def raw(self, i: int) -> bytes:
        assert self._mm is not None, "record index used after close()"
        return self._mm[self.starts[i]:self.ends[i]]

    def line_at(self, offset: int) -> int:
        """The 1-based line number of a byte offset (error path only: counts newlines before it)."""
        assert self._mm is not None
        view = np.frombuffer(self._mm, dtype=np.uint8, count=int(offset))
        try:
            return int(np.count_nonzero(view == 10)) + 1
        finally:
            del view

    def line(self, i: int) -> int:
        return self.line_at(int(self.starts[i]))

    def close(self) -> None:
        if self._mm is not None:
            self._mm.close()
            self._mm = None


# ---------------------------------------------------------------------------
# JSON records (JSONL lines and JSON array elements share the shaping rules)
# ---------------------------------------------------------------------------


class _JsonShaper:
    """Turns a parsed JSON record into (body, label) under label_field/body_field."""

    def __init__(self, shown: str, label_field: str | None, body_field: str | None) -> None:
        self.shown = shown
        self.label_field = label_field
        self.body_field = body_field
        self.rewrites = label_field is not None or body_field is not None

    def check_first(self, record: object, where: str) -> None:
        """The first record decides: the named fields must be there."""
        for role, key in (("label_field", self.label_field), ("body_field", self.body_field)):
            if key is None:
                continue
            if not isinstance(record, dict):
                raise _error(self.shown, f"{where}: {role} {key!r} needs JSON objects, but the record is "
                                         f"{_json_type(record)}; expected one object per record")
            if key not in record:
                raise _error(self.shown, f"{where}: {role} {key!r} not found; {_keys_hint(list(record))}")

    def shape(self, record: object, raw: bytes | None, where: Callable[[], str]) -> tuple[bytes, object | None]:
        """(body, label) of one record; `raw` is its original compact-enough text, if any."""
        if not self.rewrites:
            return (raw if raw is not None else _dumps(record)), None
        if not isinstance(record, dict):
            raise _error(self.shown, f"{where()}: record is {_json_type(record)}; "
                                     "expected a JSON object (label_field/body_field need one)")
        label = None
        if self.label_field is not None:
            label = record.get(self.label_field)
        if self.body_field is not None:
            if self.body_field not in record:
                raise _error(self.shown, f"{where()}: body_field {self.body_field!r} not found; "
                                         f"{_keys_hint(list(record))}")
            return _dumps(record[self.body_field]), label
        if self.label_field in record:
            return _dumps({k: v for k, v in record.items() if k != self.label_field}), label
        return (raw if raw is not None else _dumps(record)), None

    def describe(self) -> str:
        parts = []
        if self.label_field is not None:
            parts.append(f"labels from {self.label_field!r}")
        if self.body_field is not None:
            parts.append(f"body from {self.body_field!r}")
        return "".join(f", {p}" for p in parts)


def _json_type(value: object) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), "a number")


class _ListBacked:
    """Small datasets: `body` and `label` become bound `list.__getitem__` (the hot path)."""

    body: Callable[[int], bytes]
    label: Callable[[int], object | None]

    def _freeze(self, bodies: list[bytes], labels: list[object | None]) -> None:
        self._bodies = bodies
        self._labels = labels
        # Instance attributes shadow the methods: one C call per lookup, no Python frame.
        self.body = bodies.__getitem__  # type: ignore[method-assign]
        self.label = labels.__getitem__  # type: ignore[method-assign]


class JsonlDataset(_ListBacked):
    """One JSON record a line; see the module docstring for labels and large files."""

    content_type: str
    has_labels: bool
    description: str

    def __init__(self, path: Path, shown: str, *, label_field: str | None, body_field: str | None,
                 content_type: str | None) -> None:
        self._index = _RecordIndex(path, shown, quote_aware=False)
        self._shaper = _JsonShaper(shown, label_field, body_field)
        n = len(self._index)
        if n == 0:
            raise _error(shown, "empty dataset (only blank lines); expected one JSON record per line")
        self._n = n
        self.content_type = content_type or "application/json"
        self.has_labels = label_field is not None
        self._shaper.check_first(self._parse(0), f"line {self._index.line(0)}")
        small = self._index.size <= SMALL_BYTES
        checked = n if small else min(n, VALIDATE_LIMIT)
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
            raise _error(self._index.shown, f"line {self._index.line(i)}: invalid JSON ({_json_reason(exc)}); "
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


class JsonDataset(_ListBacked):
    """A top-level JSON array, loaded whole: one element a request."""

    content_type: str
    has_labels: bool
    description: str

    def __init__(self, path: Path, shown: str, *, label_field: str | None, body_field: str | None,
                 content_type: str | None) -> None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise _error(shown, f"cannot read the file ({exc.strerror or exc}); expected a readable dataset file") from None
        if not data.strip():
            raise _error(shown, "empty dataset (the file is empty); expected a JSON array of records")
        try:
            records = json.loads(data)
        except json.JSONDecodeError as exc:
            raise _error(shown, f"line {exc.lineno}: invalid JSON ({exc.msg} at column {exc.colno}); "
                                "expected a JSON array of records") from None
        except ValueError as exc:
            raise _error(shown, f"invalid JSON ({_json_reason(exc)}); expected a UTF-8 JSON array of records") from None
        if not isinstance(records, list):
            raise _error(shown, f"the top-level value is {_json_type(records)}; expected a JSON array of records "
                                "(large datasets: JSONL, one record a line)")
        if not records:
            raise _error(shown, "empty dataset (the array has no elements); expected at least one record")
        self._records = records
        self._n = len(records)
        self._shaper = _JsonShaper(shown, label_field, body_field)
        self._shaper.check_first(records[0], "record 1")
        self.content_type = content_type or "application/json"
        self.has_labels = label_field is not None
        self.description = f"{path.name}: {len(records):,} records (JSON{self._shaper.describe()})"
        if len(data) <= SMALL_BYTES:
            pairs = [self._prepare(i) for i in range(len(records))]
            self._freeze([b for b, _ in pairs], [lab for _, lab in pairs])
            self._records = []
        else:
            for i in range(min(len(records), VALIDATE_LIMIT)):
                self._prepare(i)

    def __len__(self) -> int:
        return self._n

    def _prepare(self, i: int) -> tuple[bytes, object | None]:
        return self._shaper.shape(self._records[i], None, lambda: f"record {i + 1}")

    def body(self, i: int) -> bytes:
        return self._prepare(i)[0]

    def label(self, i: int) -> object | None:
        return self._prepare(i)[1]


# ---------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------


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


class CsvDataset(_ListBacked):
    """One CSV row a request, sent as the row's text (``text/csv``, no header line)."""

    content_type: str
    has_labels: bool
    description: str

    def __init__(self, path: Path, shown: str, *, label_field: str | int | None, header: bool | None,
                 content_type: str | None) -> None:
        self._index = _RecordIndex(path, shown, quote_aware=True)
        self._shown = shown
        if len(self._index) == 0:
            raise _error(shown, "empty dataset (only blank lines); expected one CSV row per request")
        first = self._fields(0)
        if header is None:
            # Feature rows are numbers; a header has at least one non-numeric name.
            header = any(f.strip() and not _is_number(f) for f in first)
        self._header = bool(header)
        self._skip = 1 if header else 0
        self._n = len(self._index) - self._skip
        if self._n == 0:
            raise _error(shown, "empty dataset (only a header row); expected at least one data row")
        self._ncols = len(first)
        self._label_col = self._resolve_label(label_field, first if header else None)
        self.content_type = content_type or "text/csv"
        self.has_labels = self._label_col is not None
        small = self._index.size <= SMALL_BYTES
        checked = self._n if small else min(self._n, VALIDATE_LIMIT)
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
            raise _error(self._shown, f"line 1: label column {label_field!r} not found; available columns: "
                                      f"{available} (or a 0-based index below {self._ncols})")
        raise _error(self._shown, f"label column {label_field!r} not found: the CSV has no header and "
                                  f"{self._ncols} columns; expected a 0-based index from 0 to {self._ncols - 1}")

    def _text(self, j: int) -> str:
        raw = self._index.raw(j).rstrip(b"\r")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _error(self._shown, f"line {self._index.line(j)}: not UTF-8 (byte {raw[exc.start]:#04x}); "
                                      "expected UTF-8 text") from None

    def _fields(self, j: int) -> list[str]:
        try:
            return next(csv.reader([self._text(j)]))
        except csv.Error as exc:
            raise _error(self._shown, f"line {self._index.line(j)}: malformed CSV row ({exc}); "
                                      "expected comma-separated fields") from None

    def _prepare(self, i: int, validate: bool = False) -> tuple[bytes, object | None]:
        j = i + self._skip
        if self._label_col is None and not validate:
            return self._index.raw(j).rstrip(b"\r"), None
        fields = self._fields(j)
        if len(fields) != self._ncols:
            raise _error(self._shown, f"line {self._index.line(j)}: row has {len(fields)} fields; "
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


# ---------------------------------------------------------------------------
# A folder of files, and an in-memory dataset
# ---------------------------------------------------------------------------


class FilesDataset(_ListBacked):
    """Every regular, non-hidden file of a folder, sorted by name, is one binary body."""

    content_type: str
    has_labels = False
    description: str

    def __init__(self, folder: Path, shown: str, *, content_type: str | None) -> None:
        self._shown = shown
        try:
            entries = sorted((e for e in os.scandir(folder) if not e.name.startswith(".") and e.is_file()),
                             key=lambda e: e.name)
        except OSError as exc:
            raise _error(shown, f"cannot list the folder ({exc.strerror or exc}); expected a readable folder") from None
        if not entries:
            raise _error(shown, "empty dataset (no regular, non-hidden files in the folder); "
                                "expected one file per request body")
        self._paths = [Path(e.path) for e in entries]
        total = sum(e.stat().st_size for e in entries)
        guesses = {mimetypes.guess_type(e.name)[0] for e in entries}
        guessed = guesses.pop() if len(guesses) == 1 else None
        self.content_type = content_type or guessed or "application/octet-stream"
        self.description = f"{folder.name or shown}/: {len(entries):,} files ({self.content_type})"
        if total <= SMALL_BYTES:
            self._freeze([self._read(i) for i in range(len(self._paths))], [None] * len(self._paths))
        else:
            for p in self._paths[:VALIDATE_LIMIT]:
                if not os.access(p, os.R_OK):
                    raise _error(shown, f"file {p.name!r} is not readable; expected readable files")

    def __len__(self) -> int:
        return len(self._paths)

    def _read(self, i: int) -> bytes:
        try:
            return self._paths[i].read_bytes()
        except OSError as exc:
            raise _error(self._shown, f"cannot read file {self._paths[i].name!r} ({exc.strerror or exc}); "
                                      "expected readable files") from None

    def body(self, i: int) -> bytes:
        return self._read(i)

    def label(self, i: int) -> object | None:
        return None


class MemoryDataset(_ListBacked):
    """Bodies (and labels) already in memory: inline payloads and tests."""

    def __init__(self, bodies: Sequence[bytes], *, content_type: str = "application/octet-stream",
                 labels: Sequence[object | None] | None = None, description: str = "inline") -> None:
        if not bodies:
            raise DatasetError(f"{description}: empty dataset; expected at least one body")
        if labels is not None and len(labels) != len(bodies):
            raise DatasetError(f"{description}: {len(labels)} labels for {len(bodies)} bodies; expected one each")
        self.content_type = content_type
        self.has_labels = labels is not None
        self.description = f"{description}: {len(bodies):,} bodies"
        self._freeze(list(bodies), list(labels) if labels is not None else [None] * len(bodies))

    def __len__(self) -> int:
        return len(self._bodies)


# ---------------------------------------------------------------------------
# Which record a request uses
# ---------------------------------------------------------------------------

_M64 = (1 << 64) - 1
_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser over a uint64 array (wrapping arithmetic, as intended)."""
    with np.errstate(over="ignore"):
        z = x.copy()
        z ^= z >> np.uint64(30)
        z *= _MIX1
        z ^= z >> np.uint64(27)
        z *= _MIX2
        z ^= z >> np.uint64(31)
    return z


class PayloadOrder:
    """Which record the k-th scheduled request (global id k, across all workers) uses.

    ``sequential``: ``k % n``. ``random``: a counter-based hash of (seed, k) mod n, so it
    needs no state and any worker can compute any id. ``weighted``: the same hash as a
    uniform in [0, 1), looked up in the normalised cumulative weights.
    """

    ORDERS = ("sequential", "random", "weighted")

    def __init__(self, n: int, order: str = "sequential", seed: int = 0,
                 weights: Sequence[float] | None = None) -> None:
        if n < 1:
            raise UsageError(f"payload order needs at least one record; got n={n}")
        if order not in self.ORDERS:
            raise UsageError(f"unknown payload order {order!r}; expected one of {', '.join(self.ORDERS)}")
        self.n = int(n)
        self.order = order
        # Hash the seed itself so that nearby seeds give unrelated streams.
        self._key = _splitmix64(np.array([int(seed) & _M64], dtype=np.uint64))[0]
        self._cumulative: np.ndarray | None = None
        if order == "weighted":
            self._cumulative = self._normalise(weights)
        elif weights is not None:
            raise UsageError(f"payload weights given, but order is {order!r}; expected order 'weighted'")

    def _normalise(self, weights: Sequence[float] | None) -> np.ndarray:
        if weights is None:
            raise UsageError("payload order 'weighted' needs weights; expected one non-negative weight per record")
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 1 or len(w) != self.n:
            raise UsageError(f"payload weights: got {w.size} weights for {self.n} records; expected one per record")
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            bad = int(np.flatnonzero(~np.isfinite(w) | (w < 0))[0])
            raise UsageError(f"payload weights: weight {bad} is {w[bad]}; expected finite, non-negative weights")
        total = float(w.sum())
        if not total > 0:
            raise UsageError("payload weights sum to 0; expected at least one positive weight")
        cumulative = np.cumsum(w) / total
        cumulative[-1] = 1.0  # rounding must not leave a sliver above the last record
        return cumulative

    def _hash(self, ids: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            state = ids.astype(np.int64).view(np.uint64) * _GAMMA + self._key
        return _splitmix64(state)

    def indices(self, request_ids: np.ndarray) -> np.ndarray:
        """Record index (int64) for each request id; a pure function of (seed, id)."""
        ids = np.asarray(request_ids, dtype=np.int64)
        if self.order == "sequential":
            return ids % self.n
        h = self._hash(ids)
        if self.order == "random":
            return (h % np.uint64(self.n)).astype(np.int64)
        assert self._cumulative is not None
        uniform = (h >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
        return np.searchsorted(self._cumulative, uniform, side="right").astype(np.int64)

    def index(self, request_id: int) -> int:
        """The record index of one request id (convenience; prefer `indices` in bulk)."""
        return int(self.indices(np.array([request_id], dtype=np.int64))[0])
