"""A variant's per-interval cells: recent ones in memory, older ones in an append-only spill file.

A run keeps one `Cell` per variant per interval for its whole length (the
per-second series, the HDR log, A/B statistics, capacity steps read them after
the run), ~20 KB an interval at a wide latency spread even packed: ~3.5 GB in
a 24 h run at 2 variants. So the coordinator keeps in memory only the cells
that can still change: `RunMetrics` moves every cell older than its horizon
(the last interval every live worker has reported, minus what can still
arrive late: the request timeout and one interval) to a `SpillFile`, and
keeps of it only where it is (offset and length, 12 bytes, in typed arrays
indexed by interval).

A late record for a spilled cell still merges exactly: `cell(i)` reads the
spilled version back into memory, the record merges into it, and the next
spill appends the new version (the old bytes stay in the file, unread).

Readers see a mapping `interval -> Cell` (`get`, `[]`, `in`, `len`, sorted
iteration, `items`); a spilled cell is decoded on each read into a fresh
`Cell` (a copy: changing it changes nothing stored).

The spill file belongs to this process only (no format version): written with
`os.write` at its end, read with `os.pread`; removed when the metrics are
closed or garbage-collected, or at interpreter exit.
"""

from __future__ import annotations

import operator
import os
import struct
import tempfile
import weakref
from array import array
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from stinger.core.catalogue import NAMES
from stinger.core.records import Kind

_HEAD = struct.Struct("<5qB")     # bytes_in, ok_window, warmup, scheduled, dropped, number of histograms
_HIST = struct.Struct("<BII")     # catalogue index, buckets, length of the packed bytes
_KINDS = len(Kind) * 8
_NAME_INDEX = {n: k for k, n in enumerate(NAMES)}


def encode_cell(cell) -> bytes:
    parts = [_HEAD.pack(cell.bytes_in, cell.ok_window, cell.warmup, cell.scheduled, cell.dropped, len(cell.hists)),
             np.ascontiguousarray(cell.kinds, dtype="<i8").tobytes()]
    for name, packed in cell.hists.items():
        parts.append(_HIST.pack(_NAME_INDEX[name], packed.buckets, len(packed.data)))
        parts.append(packed.data)
    return b"".join(parts)


def decode_cell(data: bytes):
    from stinger.core.metrics import Cell, Packed

    bytes_in, ok_window, warmup, scheduled, dropped, n = _HEAD.unpack_from(data)
    pos = _HEAD.size
    kinds = np.frombuffer(data, dtype="<i8", count=len(Kind), offset=pos).astype(np.int64)
    pos += _KINDS
    hists = {}
    for _ in range(n):
        k, buckets, length = _HIST.unpack_from(data, pos)
        pos += _HIST.size
        hists[NAMES[k]] = Packed.from_packed(bytes(data[pos:pos + length]), buckets)
        pos += length
    return Cell(kinds=kinds, hists=hists, bytes_in=bytes_in, ok_window=ok_window, warmup=warmup,
                scheduled=scheduled, dropped=dropped)


def _remove(fd: int, path: str) -> None:
    try:
        os.close(fd)
    except OSError:
        pass
    try:
        os.unlink(path)
    except OSError:
        pass


class SpillFile:
    """An append-only file of encoded cells, shared by a run's variants; created on first use.

    `path`: where (a run directory's scratch file, `outputs.rundir.spill_path`);
    None for a temporary file. Either way the file is removed by `close()`, when
    this object is garbage-collected, or at interpreter exit.
    """

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path: str | None = None if path is None else str(path)
        self._fd = -1
        self._end = 0
        self._finalizer: weakref.finalize | None = None
        self.versions = 0          # cells written (a re-spilled cell counts again)

    def _open(self) -> None:
        if self.path is None:
            fd, self.path = tempfile.mkstemp(prefix="stinger-cells-", suffix=".spill")
        else:
            path = Path(self.path)
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:   # another live run's metrics spill into this directory: never theirs
                fd, self.path = tempfile.mkstemp(prefix=path.stem + "-", suffix=path.suffix, dir=path.parent)
        self._fd = fd
        self._finalizer = weakref.finalize(self, _remove, fd, self.path)

    def append(self, data: bytes) -> int:
        """Write `data` at the end; its offset."""
        if self._fd < 0:
            self._open()
        off = self._end
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        self._end += len(data)
        self.versions += 1
        return off

    def read(self, offset: int, length: int) -> bytes:
        data = os.pread(self._fd, length, offset)
        if len(data) != length:
            raise OSError(f"spill file {self.path}: short read at {offset} ({len(data)} of {length} bytes)")
        return data

    @property
    def size(self) -> int:
        return self._end

    def close(self) -> None:
        if self._finalizer is not None:
            self._finalizer()
        self._fd = -1


class CellStore:
    """interval -> Cell for one variant; cells before a horizon live in a `SpillFile`."""

    __slots__ = ("_live", "_off", "_len", "_n_spilled", "_spill")

    def __init__(self, spill: SpillFile | None = None) -> None:
        self._live: dict = {}
        self._off = array("q")     # by interval: offset in the spill file, -1 when not spilled
        self._len = array("I")
        self._n_spilled = 0
        self._spill = spill

    # ------------------------------------------------------------ writing
    def cell(self, i: int):
        """The cell of interval `i` to merge into: in memory (read back if it was spilled), created if new."""
        c = self._live.get(i)
        if c is None:
            c = self._take(i)
            if c is None:
                from stinger.core.metrics import Cell

                c = Cell()
            self._live[i] = c
        return c

    def spill_before(self, horizon: int) -> int:
        """Move every in-memory cell of an interval before `horizon` to the spill file; how many moved."""
        if self._spill is None:
            return 0
        old = [i for i in self._live if 0 <= i < horizon]
        if not old:
            return 0
        old.sort()
        if len(self._off) <= old[-1]:
            grow = old[-1] + 1 - len(self._off)
            self._off.extend([-1] * grow)
            self._len.extend([0] * grow)
        for i in old:
            data = encode_cell(self._live.pop(i))
            self._off[i] = self._spill.append(data)
            self._len[i] = len(data)
            self._n_spilled += 1
        return len(old)

    def _spilled(self, i: int) -> bool:
        return 0 <= i < len(self._off) and self._off[i] >= 0

    def _load(self, i: int):
        assert self._spill is not None
        return decode_cell(self._spill.read(self._off[i], self._len[i]))

    def _take(self, i: int):
        if not self._spilled(i):
            return None
        c = self._load(i)
        self._off[i] = -1
        self._n_spilled -= 1
        return c

    # ------------------------------------------------------------ reading
    def get(self, i: int, default=None):
        c = self._live.get(i)
        if c is not None:
            return c
        if self._spilled(i):
            return self._load(i)
        return default

    def __getitem__(self, i: int):
        c = self.get(i)
        if c is None:
            raise KeyError(i)
        return c

    def __contains__(self, i) -> bool:
        if i in self._live:
            return True
        try:
            return self._spilled(operator.index(i))
        except TypeError:   # not an interval number
            return False

    def __len__(self) -> int:
        return len(self._live) + self._n_spilled

    def keys(self) -> list[int]:
        """Every interval with a cell, ascending."""
        spilled = np.flatnonzero(np.frombuffer(self._off, dtype=np.int64) >= 0).tolist() if self._n_spilled else []
        return sorted(set(spilled).union(self._live))

    def __iter__(self) -> Iterator[int]:
        return iter(self.keys())

    def items(self) -> Iterator[tuple[int, object]]:
        for i in self.keys():
            yield i, self[i]

    def values(self) -> Iterator[object]:
        for _, c in self.items():
            yield c

    @property
    def in_memory(self) -> int:
        return len(self._live)
