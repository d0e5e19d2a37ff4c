"""The record index of a text file (JSONL, CSV): one vectorised pass over an mmap, byte spans in numpy.

JSONL and CSV are *indexed*, not loaded: one streaming, vectorised pass over an mmap of
the file records the byte span of every record in int64 numpy arrays, and records are
read back through the mmap. Blank lines are skipped and not counted; with
``quote_aware`` (CSV) a newline inside a quoted field does not end a record.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

import numpy as np

from stinger.datasets import base
from stinger.datasets.base import dataset_error, mib

_SCAN_CHUNK = 4 * 1024 * 1024    # bytes per step of the index scan (bounds its temporary arrays)
_BOM = b"\xef\xbb\xbf"

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


def _drop_pages(mm, a: int, b: int) -> None:
    """Let the kernel drop the scanned pages of [a, b) from this process's RSS (they are the
    file's, read again on demand): indexing a 2 GB file must not hold 2 GB."""
    advise = getattr(mm, "madvise", None)
    flag = getattr(mmap, "MADV_DONTNEED", None)
    if advise is None or flag is None:
        return
    a -= a % mmap.PAGESIZE
    try:
        advise(flag, a, min(b, len(mm)) - a)
    except (OSError, ValueError):
        pass


def _scan_records(view: np.ndarray, begin: int, quote_aware: bool, mm=None) -> tuple[np.ndarray, np.ndarray, int]:
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
            if mm is not None:
                _drop_pages(mm, a, a + _SCAN_CHUNK)
            continue
        seg_starts = np.concatenate((np.array([prev_end + 1], dtype=np.int64), bounds[:-1] + 1))
        keep = _nonblank(view, seg_starts, bounds)
        starts.append(seg_starts[keep])
        ends.append(bounds[keep])
        prev_end = int(bounds[-1])
        if mm is not None:
            _drop_pages(mm, a, a + _SCAN_CHUNK)
    last_start, last_end = np.array([prev_end + 1], dtype=np.int64), np.array([size], dtype=np.int64)
    if _nonblank(view, last_start, last_end)[0]:  # a last record without a trailing newline
        starts.append(last_start)
        ends.append(last_end)
    unclosed = prev_end + 1 if quote_aware and quotes_before % 2 else -1
    if not starts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy(), unclosed
    return np.concatenate(starts), np.concatenate(ends), unclosed


class RecordIndex:
    """A read-only mmap of a text file and the byte span of each of its non-blank records."""

    def __init__(self, path: Path, shown: str, *, quote_aware: bool) -> None:
        self.shown = shown
        try:
            with open(path, "rb") as f:
                self.size = os.fstat(f.fileno()).st_size
                if self.size == 0:
                    raise dataset_error(shown, "empty dataset (the file is empty); expected at least one record")
                self._mm: mmap.mmap | None = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except OSError as exc:
            raise dataset_error(shown, f"cannot read the file ({exc.strerror or exc}); expected a readable dataset file") from None
        begin = len(_BOM) if self._mm[: len(_BOM)] == _BOM else 0
        view = np.frombuffer(self._mm, dtype=np.uint8)
        try:
            self.starts, self.ends, unclosed = _scan_records(view, begin, quote_aware, self._mm)
        finally:
            del view  # an exported buffer would keep the mmap from closing
        if unclosed >= 0:
            raise dataset_error(shown, f"line {self.line_at(unclosed)}: a quoted field is never closed; "
                                'expected quotes in pairs ("" for a literal quote)')
        if len(self.starts) and int((self.ends - self.starts).max()) > base.MAX_RECORD:
            k = int(np.argmax(self.ends - self.starts))
            raise dataset_error(shown, f"line {self.line_at(int(self.starts[k]))}: a record of "
                                f"{int(self.ends[k] - self.starts[k]):,} bytes; expected at most "
                                f"{mib(base.MAX_RECORD)} per record (one request body a line)")

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
