"""Merging before and beside the coordinator: a node's workers summed once, and off the watching thread.

Why (issue 19 item 3): merging one worker's interval record into `RunMetrics` re-packs every
histogram of every cell it touches (`core.metrics.Packed`: unpack, add, pack, zlib), about 4 ms of
coordinator CPU a worker-second, so one coordinator thread saturated at ~200 workers sending one
record a second. Histograms add exactly (bucket by bucket), so they may be summed anywhere before
the coordinator and in any grouping: the figures are the same as merging each worker's.

Two places do it here:

* `NodeMerge`, in each node's aggregator (`scale.ray`): the records of that node's workers that
  arrived since the coordinator last asked become one batch: each worker's record stripped of its
  histograms (its light part: counters, kinds, in-flight, CPU, what per-worker accounting needs,
  so a worker lost later is still booked exactly, `RunMetrics.worker_gone`), plus one `HistSum` of
  all their histograms by (interval, variant), plus which workers pulsed. One Ray call a node a
  second carries what W calls a worker did.
* `Merger`, the coordinator's merging thread: records (and node sums) are merged there, never on
  the thread that watches the run (signals, deadlines, progress); their histograms are summed into
  one `HistSum` and folded into `RunMetrics` every `HOLD` s, so `Packed` is re-packed once per cell
  a fold instead of once per record. The watching thread hands records over in arrival order; a
  worker's loss waits for what it sent before (`sync`), so its in-flight count is exact.

Histograms are summed bucket by bucket (never averaged), in the sparse form records carry.

One inexactness is left, and bounded: a worker the coordinator declares lost (silent past its
deadline) in the instant a batch holding its next record is on the way has that record's
counts dropped (nothing a lost worker sends counts) while its histograms are already in the
node's sum: the latency histograms may then hold one interval of that worker's answers more
than the OK count. The counts and the accounting identity stay exact.
"""

from __future__ import annotations

import pickle
import queue
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from stinger.core.records import CellRecord, IntervalRecord, Kind
from stinger.scale.base import Alive, WorkerFailed, WorkerLost

HOLD = 0.5          # s the coordinator's merger sums histograms before folding them into the metrics
BATCH_VERSION = 2   # a node batch's layout (2: the workers' latest pulse marks, for the achieved-now rate) (`NodeMerge.take`), checked by `decode_batch`
_NO_KINDS = (0,) * len(Kind)


@dataclass(frozen=True, slots=True)
class NodeHists:
    """Histograms summed over several workers' cells (a node's aggregator): merged as they are,
    beside those workers' light records, which carry every count."""

    cells: tuple[CellRecord, ...]
    worker: int = -1     # of no one worker


def _accumulate(into: dict[str, list], sparses: dict) -> None:
    for name, (idx, counts) in sparses.items():
        if len(idx):
            into.setdefault(name, []).append((idx, counts))


def _sum(parts: list) -> tuple[np.ndarray, np.ndarray]:
    """Sparse histograms added bucket by bucket. `bincount` sums in float64, exact for integers below
    2**53 (no fold comes near); the dense array lives for this call only, so what a sum holds between
    folds is its parts, the size of the records themselves."""
    if len(parts) == 1:
        idx, counts = parts[0]
        return np.asarray(idx, dtype=np.int32), np.asarray(counts, dtype=np.int64)
    idx = np.concatenate([np.asarray(p[0], dtype=np.intp) for p in parts])
    counts = np.concatenate([np.asarray(p[1], dtype=np.float64) for p in parts])
    dense = np.bincount(idx, weights=counts)
    nz = np.flatnonzero(dense)
    return nz.astype(np.int32), dense[nz].astype(np.int64)


class HistSum:
    """Histograms of (interval, variant) cells summed exactly; `take` adds up and empties it."""

    def __init__(self) -> None:
        self.cells: dict[tuple[int, str], tuple[dict[str, list], dict[str, list]]] = {}

    def add(self, cell: CellRecord) -> None:
        if not cell.hists and not cell.server_metrics:
            return
        hists, server = self.cells.setdefault((cell.interval, cell.variant), ({}, {}))
        _accumulate(hists, cell.hists)
        _accumulate(server, cell.server_metrics)

    def __bool__(self) -> bool:
        return bool(self.cells)

    def take(self) -> tuple[CellRecord, ...]:
        out = tuple(CellRecord(interval=i, variant=v, kinds=_NO_KINDS,
                               hists={k: _sum(parts) for k, parts in hists.items()},
                               server_metrics={k: _sum(parts) for k, parts in server.items()})
                    for (i, v), (hists, server) in sorted(self.cells.items()))
        self.cells = {}
        return out


def light(rec: IntervalRecord) -> IntervalRecord:
    """`rec` without its histograms: every count, for per-worker accounting."""
    if not any(c.hists or c.server_metrics for c in rec.cells):
        return rec
    return replace(rec, cells=tuple(replace(c, hists={}, server_metrics={}) for c in rec.cells))


class NodeMerge:
    """What one node's aggregator holds between two takes of the coordinator (see the module doc)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []               # light records' wire forms, in arrival order
        self.sums = HistSum()
        self.pulsed: set[int] = set()
        self.marks: dict[int, tuple[float, int]] = {}   # worker -> its latest pulse mark (`scale.pulse.Mark`)
        self.events: list[tuple[int, str, str]] = []   # (worker, "failed" | "lost", one line)
        self.urgent = False                        # a final record, a loss or a failure: take it now

    def record(self, worker: int, data: bytes) -> bool:
        """Take one record's wire form; True when it was the worker's final one."""
        rec = IntervalRecord.from_bytes(data)
        for cell in rec.cells:
            self.sums.add(cell)
        self.parts.append(light(rec).to_bytes())
        self.pulsed.add(worker)
        self.urgent = self.urgent or rec.final
        return rec.final

    def alive(self, worker: int, mark: tuple[float, int] | None = None) -> None:
        self.pulsed.add(worker)
        if mark is not None:   # the latest (stamp, ended so far): `scale.now_rate` rates between batches
            self.marks[worker] = mark

    def ended(self, worker: int, kind: str, text: str) -> None:
        self.events.append((worker, kind, text))
        self.urgent = True

    def __bool__(self) -> bool:
        return bool(self.parts or self.pulsed or self.events)

    def take(self) -> bytes:
        """The batch since the last take (pickled plain values: lists, ints, the records' wire bytes)."""
        hists = IntervalRecord(worker=-1, t=0.0, interval=0, cells=self.sums.take()).to_bytes() if self.sums else b""
        batch = (BATCH_VERSION, self.parts, hists, sorted(self.pulsed), self.events, self.marks)
        self.parts, self.pulsed, self.events, self.urgent, self.marks = [], set(), [], False, {}
        return pickle.dumps(batch, protocol=4)

    @staticmethod
    def pulse(workers: Iterable[int]) -> bytes:
        """A batch saying only that `workers` pulsed."""
        return pickle.dumps((BATCH_VERSION, [], b"", sorted(workers), [], {}), protocol=4)


def decode_batch(data: bytes) -> list[Any]:
    """A node batch as coordinator events: light records (in arrival order), `NodeHists` before them
    (so a final record never precedes its own histograms), `Alive`s, then losses and failures."""
    version, *rest = pickle.loads(data)   # our own aggregator's bytes (Ray pickles every value anyway)
    if version != BATCH_VERSION:
        raise ValueError(f"node batch version {version}; this build reads {BATCH_VERSION}")
    parts, hists, pulsed, events, marks = rest
    out: list[Any] = []
    if hists:
        out.append(NodeHists(IntervalRecord.from_bytes(hists).cells))
    out.extend(IntervalRecord.from_bytes(p) for p in parts)
    out.extend(Alive(w, *marks[w]) if w in marks else Alive(w) for w in pulsed)
    for w, kind, text in events:
        out.append(WorkerFailed(w, text) if kind == "failed" else WorkerLost(w, text))
    return out


class Merger:
    """The coordinator's merging thread (see the module doc). `record`/`hists` hand work over;
    `sync()` returns once everything handed over before it is merged; `lock` is held while
    the merged metrics are read (progress, stop conditions) or changed from the watching thread."""

    def __init__(self, metrics: Any, hold: float = HOLD) -> None:
        self.metrics = metrics
        self.hold = hold
        self.lock = threading.Lock()
        self.q: queue.SimpleQueue = queue.SimpleQueue()
        self.sums = HistSum()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="stinger-merge", daemon=True)
        self._thread.start()

    def record(self, rec: IntervalRecord) -> None:
        self.q.put(rec)

    def hists(self, ev: NodeHists) -> None:
        self.q.put(ev)

    def sync(self) -> None:
        """Wait until everything handed over so far is merged, histograms folded in; re-raise a
        merging error on the caller's thread."""
        done = threading.Event()
        self.q.put(done)
        while not done.wait(0.5):
            if not self._thread.is_alive():
                break
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        """Merge what is left (a merging error is raised here) and end the thread."""
        if self._thread.is_alive():
            self.sync()
        self.stop()

    def stop(self) -> None:
        """End the thread without waiting for what is left (the run failed). Idempotent."""
        if self._thread.is_alive():
            self.q.put(None)
            self._thread.join(timeout=5.0)

    def _fold(self) -> None:
        if self.sums:
            cells = self.sums.take()
            with self.lock:
                self.metrics.add_hists(cells)

    def _run(self) -> None:
        folded = time.perf_counter()
        try:
            while True:
                try:
                    item = self.q.get(timeout=self.hold)
                except queue.Empty:
                    item = False
                if item is None:
                    self._fold()
                    return
                if isinstance(item, threading.Event):
                    self._fold()
                    folded = time.perf_counter()
                    item.set()
                    continue
                if isinstance(item, IntervalRecord):
                    for cell in item.cells:
                        self.sums.add(cell)
                    with self.lock:
                        self.metrics.add(item, hists=False)
                elif isinstance(item, NodeHists):
                    for cell in item.cells:
                        self.sums.add(cell)
                if time.perf_counter() - folded >= self.hold:
                    self._fold()
                    folded = time.perf_counter()
        except BaseException as exc:   # handed to the watching thread at its next sync
            self.error = exc
            while True:   # release every waiter: nothing more is merged
                item = self.q.get()
                if isinstance(item, threading.Event):
                    item.set()
                elif item is None:
                    return
