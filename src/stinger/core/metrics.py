"""Per-variant, per-interval aggregates merged from every worker's messages.

Pure: fed the interval records workers send (`stinger.core.records`), it
merges histograms by adding counts (never averaging percentiles) and produces
the run summary (the `summary.json` schema, documented in docs/summary.md) and
the per-interval series.

Accounting (per variant, measured window only):
    scheduled = ok + failed (by kind) + dropped + in_flight_at_stop
Requests intended during the warm-up are counted apart as `warmup`. A worker
lost mid-run sends no final record: what it had scheduled but not ended by its
last record (in flight then) is booked as failed, kind `lost`
(`RunMetrics.worker_gone`), so the identity holds in every run.
"""

from __future__ import annotations

import json
import math
import zlib
from array import array
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stinger.core.breakdown import Breakdown
from stinger.core.catalogue import METRICS, NAMES
from stinger.core.catalogue import SUMMARY_KEYS as CATALOGUE_SUMMARY_KEYS
from stinger.core.cellstore import CellStore, SpillFile
from stinger.core.format import ms
from stinger.core.histogram import Histogram
from stinger.core.origins import OriginBook
from stinger.core.records import COUNTERS, ERROR_KINDS, IntervalRecord, Kind, add_sparse, pack_sparse, unpack_sparse
from stinger.core.secrets import redact_text
from stinger.core.sessions import session_block

# every histogram metric, from the one catalogue (kept under these names for callers)
HISTS = NAMES
SUMMARY_KEYS = CATALOGUE_SUMMARY_KEYS
_COUNTERS = COUNTERS
_RECENT_LAGS = 4096   # records' worst loop lags kept (a minute of 64 workers' records)


def _add(h: Histogram, sparse) -> None:
    idx, counts = sparse
    if len(idx):
        h.counts[np.asarray(idx)] += np.asarray(counts)


def histogram_from_sparse(sparse) -> Histogram:
    h = Histogram()
    _add(h, sparse)
    return h


class Packed:
    """One metric's histogram in one cell, merged over workers as records arrive, kept packed.

    A run keeps a cell per variant per interval for its whole length (the
    per-second series, the HDR log, A/B statistics read them), so this is what
    grows with a run's length: packed (delta-encoded bucket indices and counts
    in their narrowest dtypes, `core.records.pack_sparse`, then zlib) it takes a
    tenth of the int32/int64 pairs or less, and merging on arrival keeps one copy
    per cell instead of one per worker.
    """

    __slots__ = ("data", "buckets")

    def __init__(self, sparse) -> None:
        self.data = zlib.compress(pack_sparse(sparse), 1)
        self.buckets = len(sparse[0])

    def add(self, sparse) -> None:
        merged = add_sparse(self.sparse(), sparse)
        self.data = zlib.compress(pack_sparse(merged), 1)
        self.buckets = len(merged[0])

    @classmethod
    def from_packed(cls, data: bytes, buckets: int) -> Packed:
        p = cls.__new__(cls)
        p.data = data
        p.buckets = buckets
        return p

    def sparse(self):
        return unpack_sparse(zlib.decompress(self.data))

    def __len__(self) -> int:   # truthy when something was recorded
        return self.buckets


@dataclass
class Cell:
    """One variant in one interval, merged over workers."""

    kinds: np.ndarray = field(default_factory=lambda: np.zeros(len(Kind), dtype=np.int64))
    hists: dict = field(default_factory=dict)       # name -> Packed (only metrics that recorded something)
    bytes_in: int = 0
    ok_window: int = 0
    warmup: int = 0
    scheduled: int = 0
    dropped: int = 0

    def histogram(self, name: str) -> Histogram:
        h = Histogram()
        packed = self.hists.get(name)
        if packed:
            _add(h, packed.sparse())
        return h

    def add_hist(self, name: str, sparse) -> None:
        packed = self.hists.get(name)
        if packed is None:
            self.hists[name] = Packed(sparse)
        else:
            packed.add(sparse)


class Predictions:
    """(variant, payload index, prediction, label) rows, kept as one compressed JSON blob per record.

    A run with a prediction path keeps every prediction until the end (A/B
    quality statistics, predictions.jsonl): as tuples of Python objects that was
    ~100 bytes a row; as compact JSON, the size of its text, still a few bytes a
    request. With a spill file each blob goes there as it arrives and only where
    it is stays in memory (12 bytes a record). Iterating yields the rows as
    tuples, in arrival order.
    """

    __slots__ = ("_blobs", "_off", "_len", "_n", "_spill")

    def __init__(self, spill: SpillFile | None = None) -> None:
        self._blobs: list[bytes] = []
        self._off = array("q")
        self._len = array("I")
        self._n = 0
        self._spill = spill

    def extend(self, rows) -> None:
        rows = [list(r) for r in rows]
        if rows:
            blob = zlib.compress(json.dumps(rows, separators=(",", ":"), default=str).encode(), 1)
            if self._spill is None:
                self._blobs.append(blob)
            else:
                self._off.append(self._spill.append(blob))
                self._len.append(len(blob))
            self._n += len(rows)

    def _all_blobs(self):
        yield from self._blobs
        for off, length in zip(self._off, self._len, strict=True):
            assert self._spill is not None
            yield self._spill.read(off, length)

    def __iter__(self):
        for blob in self._all_blobs():
            for row in json.loads(zlib.decompress(blob)):
                yield tuple(row)

    def __len__(self) -> int:
        return self._n


class VariantMetrics:
    def __init__(self, name: str, spill: SpillFile | None = None) -> None:
        self.name = name
        self.totals = {n: Histogram() for n in HISTS}
        self.server_metrics: dict[str, Histogram] = {}
        self.kinds = np.zeros(len(Kind), dtype=np.int64)
        self.status: dict[int, int] = {}
        self.counters = dict.fromkeys(_COUNTERS, 0)
        self.bytes_in = 0
        self.ok_window = 0
        self.warmup_done = 0
        self.good = 0          # requests that met every goodput objective, and their output tokens
        self.good_tokens = 0   # (core/goodput.py): counts, added across workers
        self.token_sources = [0, 0, 0]   # OK requests per records.TOKEN_SOURCES, added across workers
        self.in_flight_at_stop = 0
        # interval -> Cell; cells past the run's horizon live in the spill file (`core.cellstore`)
        self.cells = CellStore(spill)
        self.samples: dict[str, str] = {}   # status -> the first error body a worker kept

    def cell(self, i: int) -> Cell:
        """Interval `i`'s cell to merge into (read back into memory if it was spilled)."""
        return self.cells.cell(i)

    @property
    def ok(self) -> int:
        return int(self.kinds[Kind.OK])

    @property
    def failed(self) -> int:
        return int(self.kinds.sum() - self.kinds[Kind.OK])


class RunMetrics:
    """Everything measured in one run, merged across workers.

    Memory stays flat with a run's length: cells older than the horizon (the
    last interval every live worker has reported, minus `late_s`: what can still
    arrive late, by default a 30 s request timeout and one interval) go to a
    spill file (`core.cellstore`; at `spill_path`, else a temporary file), the
    event-loop lag probes to a histogram; what still grows per interval is 12
    bytes per variant (where a spilled cell is) and 8 per worker (its CPU
    sample). `spill=False` keeps every cell in memory.
    """

    def __init__(self, variants: list[str], interval: float = 1.0, *, late_s: float | None = None,
                 spill: bool = True, spill_path=None) -> None:
        self.spill_file = SpillFile(spill_path) if spill else None
        self.variants = {name: VariantMetrics(name, self.spill_file) for name in variants}
        self.interval = interval
        # worker -> CPU fraction of a core, one a record after its first (start-up) one: 8 bytes a sample
        self.worker_cpu: dict[int, array] = {}
        # every event-loop lag probe (10 a second per worker), in us: a histogram, fixed size
        self.loop_lag_probes = Histogram()
        # (t, a record's worst probe in ms), the recent ones only: the default abort rule holds
        # back while a worker's own loop lags (orchestrate.abort_watch.AbortWatch); bounded
        self.loop_lag_ms: deque[tuple[float, float]] = deque(maxlen=_RECENT_LAGS)
        self.first_intended: float | None = None
        self.last_done: float | None = None
        self.predictions = Predictions(self.spill_file)
        self.finals: set[int] = set()
        self._last_t: dict[int, float] = {}
        self._last_i: dict[int, int] = {}     # worker -> the last interval it reported (live workers only)
        # worker -> variant -> measured requests scheduled but not yet ended or dropped, as of its last
        # record (what is in flight there); 8 bytes a variant a worker
        self._open: dict[int, dict[str, int]] = {}
        self._at_i: dict[int, int] = {}       # worker -> the interval of its last record
        late = (30.0 if late_s is None else late_s) + interval
        self._late_intervals = math.ceil(late / interval)
        self._spilled_upto = 0
        self.notes: list[str] = []   # one-off worker messages (a TLS error), each once
        self.gone_workers: list[int] = []   # workers lost mid-run, in the order the coordinator learnt it
        self.goodput: tuple = ()   # the run's goodput objectives (core/goodput.Objective): the summary says them
        self.events: list = []     # live load changes (scale/control.py): the live outputs' snapshots show them
        self.now_rate: Any = None  # the live "achieved now" rate (scale/now_rate.py: `.read()`), set by the coordinator
        self.breakdown = Breakdown()   # per-backend and per-URL rows inside each variant (core/breakdown.py)
        self.origins = OriginBook()    # per-origin counts, set up with the workers' origins (core/origins.py)

    def close(self) -> None:
        """Remove the spill file (the metrics' cells before the horizon are gone with it)."""
        if self.spill_file is not None:
            self.spill_file.close()

    def worker_gone(self, worker: int) -> int:
        """A worker lost mid-run: the horizon stops waiting for it (and live views can say so), and the
        measured requests it had in flight at its last record are booked as failed, kind `lost`, in that
        record's interval. Returns how many (0 for a worker that already sent its final record)."""
        self._last_i.pop(worker, None)
        if worker not in self.gone_workers:
            self.gone_workers.append(worker)
        open_ = self._open.pop(worker, {})
        if worker in self.finals:
            return 0
        i = self._at_i.get(worker, 0)
        booked = 0
        for name, n in open_.items():
            if n > 0:
                vm = self.variants[name]
                vm.kinds[Kind.LOST] += n
                vm.cell(i).kinds[Kind.LOST] += n
                self.origins.lost(worker, name, n)
                booked += n
        return booked

    def worker_cpu_p90(self) -> float | None:
        """p90 of every worker's CPU samples (fraction of a core; start-up samples left out)."""
        cpu = [v for samples in self.worker_cpu.values() for v in samples]
        return float(np.percentile(cpu, 90)) if cpu else None

    def loop_lag_p90_ms(self) -> float | None:
        h = self.loop_lag_probes
        return h.value_at_percentile(90) / 1e3 if h.total_count else None

    def _spill(self) -> None:
        if self.spill_file is None or not self._last_i:
            return
        horizon = min(self._last_i.values()) - self._late_intervals
        if horizon > self._spilled_upto:
            for vm in self.variants.values():
                vm.cells.spill_before(horizon)
            self._spilled_upto = horizon

    # ----------------------------------------------------------------- feed
    def add(self, rec: IntervalRecord, *, hists: bool = True) -> None:
        """Merge one worker's interval record (see `stinger.core.records`). `hists=False`: its
        histograms are merged apart, summed with others' (`add_hists`, from `scale.aggregate`)."""
        w = rec.worker
        t = rec.t
        prev_t = self._last_t.get(w, 0.0)
        self._last_t[w] = t
        elapsed = t - prev_t
        if elapsed > 0.05:
            cpu = self.worker_cpu.get(w)
            if cpu is None:
                self.worker_cpu[w] = array("d")   # the first sample is start-up: left out
            else:
                cpu.append(rec.cpu_s / elapsed)
        self.loop_lag_ms.append((t, rec.loop_lag_ms))
        if rec.loop_lags_ms:
            self.loop_lag_probes.record_many(np.asarray(rec.loop_lags_ms, dtype=np.float64) * 1e3)
        i_now = rec.interval
        self._at_i[w] = i_now
        open_ = self._open.setdefault(w, {})
        for name, c in rec.counters.items():
            vm = self.variants[name]
            for k in COUNTERS:
                vm.counters[k] += c.get(k, 0)
            open_[name] = open_.get(name, 0) + c.get("scheduled", 0) - c.get("dropped", 0)
            cell = vm.cell(i_now)
            cell.scheduled += c["scheduled"]
            cell.dropped += c["dropped"]
        for name, by_status in rec.samples.items():
            samples = self.variants[name].samples
            for status_code, text in by_status.items():
                samples.setdefault(str(status_code), text)
        for note in rec.notes:
            if note not in self.notes:
                self.notes.append(note)
        if rec.groups:
            self.breakdown.add(rec.groups)
        if self.origins:
            self.origins.add(rec)
        for cr in rec.cells:
            vm = self.variants[cr.variant]
            cell = vm.cell(cr.interval)
            kinds = np.asarray(cr.kinds, dtype=np.int64)
            cell.kinds += kinds
            vm.kinds += kinds
            open_[cr.variant] = open_.get(cr.variant, 0) - int(kinds.sum())
            cell.bytes_in += cr.bytes_in
            vm.bytes_in += cr.bytes_in
            cell.ok_window += cr.ok_window
            vm.ok_window += cr.ok_window
            cell.warmup += cr.warmup
            vm.warmup_done += cr.warmup
            vm.good += cr.good
            vm.good_tokens += cr.good_tokens
            for at, count in enumerate(cr.token_sources):
                vm.token_sources[at] += count
            for code, n in cr.status.items():
                vm.status[code] = vm.status.get(code, 0) + n
            if hists:
                _merge_hists(vm, cell, cr)
        if rec.first_intended is not None:
            fi = rec.first_intended
            self.first_intended = fi if self.first_intended is None else min(self.first_intended, fi)
        if rec.last_done is not None:
            ld = rec.last_done
            self.last_done = ld if self.last_done is None else max(self.last_done, ld)
        if rec.predictions:
            self.predictions.extend(rec.predictions)
        if rec.final:
            self.finals.add(w)
            self._last_i.pop(w, None)
            self._open.pop(w, None)
            for name, n in (rec.in_flight_by_variant or {}).items():
                self.variants[name].in_flight_at_stop += n
        elif w not in self.finals:
            self._last_i[w] = max(i_now, self._last_i.get(w, i_now))
            self._spill()

    def add_hists(self, cells) -> None:
        """Merge histograms summed elsewhere (`CellRecord`s whose counts their workers' records carry,
        merged with `add(rec, hists=False)`): exact, a histogram is its bucket counts."""
        for cr in cells:
            vm = self.variants[cr.variant]
            _merge_hists(vm, vm.cell(cr.interval), cr)

    # -------------------------------------------------------------- results
    def window(self, warmup: float, duration: float | None, elapsed: float | None = None) -> tuple[float, float]:
        """The measured window [start, end) on the run clock."""
        start = warmup
        if duration is not None and (elapsed is None or elapsed >= duration - 1e-3):
            end = duration
        elif elapsed is not None:
            end = elapsed  # stopped early (Ctrl-C) or still running
        else:
            end = self.last_done if self.last_done is not None else warmup
        if duration is None and self.first_intended is not None:
            start = max(warmup, min(self.first_intended, end))
        return start, max(end, start)

    def summary(self, window: tuple[float, float]) -> dict:
        out = {name: summarize(vm, window, self.goodput) for name, vm in self.variants.items()}
        return out

    def overall(self, window: tuple[float, float]) -> dict:
        """All variants merged into one (the same shape as one variant's summary)."""
        merged = VariantMetrics("overall")
        for vm in self.variants.values():
            for metric_name in HISTS:
                merged.totals[metric_name].merge(vm.totals[metric_name])
            for name, h in vm.server_metrics.items():
                merged.server_metrics.setdefault(name, Histogram()).merge(h)
            merged.kinds += vm.kinds
            for code, n in vm.status.items():
                merged.status[code] = merged.status.get(code, 0) + n
            for k in _COUNTERS:
                merged.counters[k] += vm.counters[k]
            merged.bytes_in += vm.bytes_in
            merged.ok_window += vm.ok_window
            merged.warmup_done += vm.warmup_done
            merged.good += vm.good
            merged.good_tokens += vm.good_tokens
            merged.token_sources = [a + b for a, b in zip(merged.token_sources, vm.token_sources, strict=True)]
            merged.in_flight_at_stop += vm.in_flight_at_stop
        return summarize(merged, window, self.goodput)

    def interval_rows(self) -> list[dict]:
        """One row per (interval, variant): the per-second series."""
        rows = []
        for name, vm in self.variants.items():
            for i in sorted(vm.cells):
                c = vm.cells[i]
                lat = c.histogram("latency")
                srv = c.histogram("server") if "server" in c.hists else None
                p = lat.percentiles((50, 90, 95, 99, 99.9)) if lat.total_count else {}
                ok = int(c.kinds[Kind.OK])
                rows.append({
                    "t": round(i * self.interval, 3),
                    "variant": name,
                    "scheduled": c.scheduled,
                    "ok": ok,
                    "failed": int(c.kinds.sum()) - ok,
                    "dropped": c.dropped,
                    "achieved_rps": round(ok / self.interval, 3),
                    "offered_rps": round(c.scheduled / self.interval, 3),
                    "p50_ms": ms(p.get(50)), "p90_ms": ms(p.get(90)), "p95_ms": ms(p.get(95)),
                    "p99_ms": ms(p.get(99)), "p999_ms": ms(p.get(99.9)),
                    "max_ms": ms(lat.max) if lat.total_count else None,
                    "mean_ms": round(lat.mean / 1e3, 3) if lat.total_count else None,
                    "server_mean_ms": round(srv.mean / 1e3, 3) if srv is not None and srv.total_count else None,
                    "warmup": c.warmup,
                })
        rows.sort(key=lambda r: (r["t"], r["variant"]))
        return rows


def _merge_hists(vm: VariantMetrics, cell: Cell, cr) -> None:
    for name, sparse in cr.hists.items():
        if len(sparse[0]):
            cell.add_hist(name, sparse)
            _add(vm.totals[name], sparse)
    for name, sparse in cr.server_metrics.items():
        h = vm.server_metrics.get(name)
        if h is None:
            h = vm.server_metrics[name] = Histogram()
        _add(h, sparse)


def _stats(h: Histogram, metric) -> dict:
    """The histogram's summary; with no successful request there is no such time: null, not 0.00."""
    out = h.summary(1.0 / metric.scale)
    if metric.of_ok and not h.total_count:
        out = {k: (v if k == "count" else None) for k, v in out.items()}
    return out




def summarize(vm: VariantMetrics, window: tuple[float, float], goodput: tuple = ()) -> dict:
    start, end = window
    length = max(end - start, 1e-9)
    scheduled = vm.counters["scheduled"]
    ok = vm.ok
    failed = vm.failed
    dropped = vm.counters["dropped"]
    ended = ok + failed + dropped
    offered = scheduled / length
    achieved = vm.ok_window / length
    out = {
        "requests": {
            "scheduled": scheduled,
            "ok": ok,
            "failed": failed,
            "dropped": dropped,
            "in_flight": vm.in_flight_at_stop,
            "unaccounted": scheduled - ended - vm.in_flight_at_stop,
            "warmup": vm.counters["scheduled_warm"],
        },
        "errors": {k.label: int(vm.kinds[k]) for k in ERROR_KINDS},
        "status_codes": {str(k): v for k, v in sorted(vm.status.items())},
        "error_rate": round((failed + dropped) / ended, 6) if ended else 0.0,
        "throughput": {
            "offered_rps": round(offered, 3),
            "achieved_rps": round(achieved, 3),
            "ratio": round(achieved / offered, 4) if offered > 0 else None,
            "window_s": round(length, 3),
        },
        "bytes": {"received": vm.bytes_in, "sent": vm.counters["bytes_out"]},
    }
    sessions = session_block(vm.counters, scheduled + vm.counters["scheduled_warm"])
    if sessions is not None:   # multi-turn sessions: how they ended, planned turns = scheduled + unsent
        out["sessions"] = sessions
    if vm.samples:
        # what an endpoint wrote: its secret-looking values masked before any surface shows it
        out["sample_responses"] = {code: redact_text(body) for code, body in sorted(vm.samples.items())}
    for metric in METRICS:
        h = vm.totals[metric.name]
        if not metric.always and not h.total_count:
            continue
        out[metric.summary_key] = _stats(h, metric)
    throughput: dict = out["throughput"]   # type: ignore[assignment]
    for metric in METRICS:   # the catalogue's derived rates (output tokens a second), over the measured window
        h = vm.totals[metric.name]
        if metric.rate_key and h.total_count:
            throughput[metric.rate_key] = round(h.mean / metric.scale * achieved, 3)
    if vm.server_metrics:
        out["server_metrics_ms"] = {k: h.summary() for k, h in sorted(vm.server_metrics.items())}
    if any(vm.token_sources):
        out.update(token_source_summary(vm.token_sources))
    if goodput:
        from stinger.core import goodput as gp

        out["goodput"] = gp.summarize(goodput, vm.good, vm.good_tokens, ok, failed, achieved)
    return out


def token_source_summary(counts: list[int]) -> dict:
    """`token_source`: where the variant's token counts came from (usage / tokenizer / chunks; "mixed" when
    from more than one, e.g. a server that sent usage on some answers only), and the count of each."""
    from stinger.core.records import TOKEN_SOURCES

    named = {name: n for name, n in zip(TOKEN_SOURCES, counts, strict=True) if n}
    return {"token_source": next(iter(named)) if len(named) == 1 else "mixed", "token_sources": named}
