"""Turns one interval's raw columns into the message a worker sends to the coordinator.

Runs once per interval per worker, off the per-request path: numpy does the
latency arithmetic, checks run over the kept bodies, server-time headers are
parsed, and the values go into HDR histograms per (interval, variant). The
histograms travel as sparse (bucket index, count) pairs, which are small and
merge by addition on the other side.

Which requests go where:
- latency, service time, time to first byte: requests that ended OK, intended
  after the warm-up;
- schedule lag: every request sent at once on an open connection, after the
  warm-up; a request that waited in the in-flight queue or for a new
  connection records that wait as `queue` instead (the server's doing: slow
  answers or a slow accept, not the generator's);
- counts: every request that ended, by kind; requests intended during the
  warm-up are counted apart (`warmup`) and nowhere else.
A request belongs to the interval in which it *ended* (its `done`).
"""

from __future__ import annotations

import math
import time

import numpy as np

from stinger.core.histogram import Histogram
from stinger.core.records import Kind
from stinger.engine.plan import WorkerPlan

HIST_NAMES = ("latency", "service", "ttfb", "lag", "queue", "server")
N_KINDS = len(Kind)


def to_sparse(h: Histogram) -> tuple[np.ndarray, np.ndarray]:
    idx = np.flatnonzero(h.counts)
    return idx.astype(np.int32), h.counts[idx].astype(np.int64)


def histogram_of(values_us: np.ndarray) -> Histogram:
    h = Histogram()
    if len(values_us):
        h.record_many(values_us)
    return h


_CONVERT_ROWS = 2048  # rows per numpy conversion: each holds the GIL, so keep it short for the event loop


def _as_table(rows: list[tuple]) -> np.ndarray:
    """Rows of `engine.loop.Columns` as a float64 table, converted in slices so the
    event loop (same process, same GIL) is never held up for long."""
    out = np.empty((len(rows), 10), dtype=np.float64)
    for i in range(0, len(rows), _CONVERT_ROWS):
        out[i:i + _CONVERT_ROWS] = rows[i:i + _CONVERT_ROWS]
    return out


class Flusher:
    def __init__(self, plan: WorkerPlan, t0: float, slots, targets=None) -> None:
        self.plan = plan
        self.t0 = t0
        self.names = [v.name for v in plan.variants]
        self.interval = plan.interval
        self.warm_end = t0 + plan.warmup
        self.window_end = t0 + plan.duration if plan.duration else math.inf
        self.slots = slots
        self.check = slots.check
        self.prediction = slots.prediction
        self.server_time = None
        if plan.server_time_header:
            from stinger.core.servertiming import ServerTimeSource

            self.server_time = ServerTimeSource(header=plan.server_time_header.lower(),
                                                metric=plan.server_time_metric, unit=plan.server_time_unit)
        self.last_cpu = time.process_time()
        self.first_intended = math.inf
        self.last_done = -math.inf

    # ------------------------------------------------------------------
    def _kinds(self, cols, kind: np.ndarray, status: np.ndarray) -> np.ndarray:
        """Apply the configured response checks (status set, body checks)."""
        check = self.check
        if check is None:
            return kind
        kind = kind.copy()
        answered = np.flatnonzero(status > 0)
        bodies = cols.bodies
        for i in answered.tolist():
            st = int(status[i])
            if not check.status_ok(st):
                kind[i] = Kind.HTTP_5XX if st >= 500 else Kind.HTTP_4XX if st >= 400 else Kind.CHECK
                continue
            if kind[i] in (Kind.HTTP_4XX, Kind.HTTP_5XX):
                kind[i] = Kind.OK  # an expected 4xx/5xx is OK by the user's word
            if check.needs_body and bodies is not None and not check.body_ok(bodies[i]):
                kind[i] = Kind.CHECK
        return kind

    def _server_ms(self, cols, rows: np.ndarray) -> tuple[np.ndarray, dict[str, list[float]]]:
        out = np.full(len(rows), np.nan)
        extra: dict[str, list[float]] = {}
        # (helper "targets" stopgap until helper "records" lands batch.py on `to_batch`)
        st = cols.hvals
        if len(cols.header_names) > 1:  # several captured headers: take the server-time one's column
            col = cols.header_names.index(self.plan.server_time_header.lower())
            st = [None if h is None else h[col] for h in st]
        src = self.server_time
        for j, i in enumerate(rows.tolist()):
            value = st[i]
            if value is None:
                continue
            ms, named = src.extract(value)
            if ms is not None:
                out[j] = ms
            for name, dur in named.items():
                extra.setdefault(name, []).append(dur)
        return out, extra

    def flush(self, cols, counters: dict, *, loop_lags: list[float], in_flight: int,
              in_flight_by_variant: list[int] | None, final: bool, cpu: float) -> dict:
        now = time.perf_counter()
        t0 = self.t0
        names = self.names
        n = len(cols)
        cells = []
        predictions = []
        if n:
            table = _as_table(cols.rows)
            intended, sent, first, done = table[:, 0], table[:, 1], table[:, 2], table[:, 3]
            status = table[:, 5].astype(np.int64)
            kind = self._kinds(cols, table[:, 4].astype(np.int64), status)
            variant = table[:, 6].astype(np.int64)
            nbytes = table[:, 7].astype(np.int64)
            payload_col = table[:, 8].astype(np.int64)
            queued = table[:, 9] != 0
            measured = intended >= self.warm_end
            if measured.any():
                self.first_intended = min(self.first_intended, float(intended[measured].min()))
            self.last_done = max(self.last_done, float(done.max()))
            interval = np.floor((done - t0) / self.interval).astype(np.int64)
            in_window = (done >= self.warm_end) & (done < self.window_end)
            key = interval * 64 + variant
            for k in np.unique(key).tolist():
                i_idx, v = divmod(k, 64)
                rows = np.flatnonzero(key == k)
                cells.append(self._cell(cols, int(i_idx), names[v], rows, intended, sent, first, done,
                                        kind, status, nbytes, measured, in_window, queued))
            if self.prediction is not None and cols.bodies is not None:
                from stinger.engine.checks import MISSING, extract

                ok_rows = np.flatnonzero((kind == Kind.OK) & measured)
                for i in ok_rows.tolist():
                    pred = extract(cols.bodies[i], self.prediction)
                    if pred is not MISSING:
                        p = int(payload_col[i])
                        predictions.append((names[variant[i]], p, pred, self.slots.label(p)))
        # Counters cover the time since the last flush. A regular flush runs just
        # after an interval boundary, so they belong to the interval that ended.
        pos = (now - t0) / self.interval
        interval_now = math.floor(pos) if final else max(0, round(pos) - 1)
        cpu_delta = cpu - self.last_cpu
        self.last_cpu = cpu
        msg = {
            "type": "final" if final else "interval",
            "worker": self.plan.worker,
            "t": now - t0,
            "interval": interval_now,
            "cpu_s": cpu_delta,
            "flush_ms": (time.perf_counter() - now) * 1e3,
            "loop_lag_ms": max(loop_lags, default=0.0) * 1e3,
            "loop_lags_ms": [round(x * 1e3, 3) for x in loop_lags],
            "in_flight": in_flight,
            "counters": {
                names[v]: {name: vals[v] for name, vals in counters.items()} for v in range(len(names))
            },
            "cells": cells,
            "first_intended": self.first_intended - t0 if self.first_intended != math.inf else None,
            "last_done": self.last_done - t0 if self.last_done != -math.inf else None,
        }
        if predictions:
            msg["predictions"] = predictions
        if in_flight_by_variant is not None:
            msg["in_flight_by_variant"] = {names[v]: in_flight_by_variant[v] for v in range(len(names))}
        return msg

    def _cell(self, cols, i_idx, vname, rows, intended, sent, first, done, kind, status, nbytes,
              measured, in_window, queued) -> dict:
        m = measured[rows]
        mrows = rows[m]
        k = kind[mrows]
        ok_rows = mrows[k == Kind.OK]
        hists = {}
        hists["latency"] = to_sparse(histogram_of((done[ok_rows] - intended[ok_rows]) * 1e6))
        hists["service"] = to_sparse(histogram_of((done[ok_rows] - sent[ok_rows]) * 1e6))
        f = first[ok_rows]
        has_first = f > 0
        hists["ttfb"] = to_sparse(histogram_of((f[has_first] - sent[ok_rows][has_first]) * 1e6))
        s = sent[mrows]
        q = queued[mrows]
        waited = np.maximum(s - intended[mrows], 0.0) * 1e6
        direct = ~np.isnan(s) & ~q
        hists["lag"] = to_sparse(histogram_of(waited[direct]))
        via_queue = ~np.isnan(s) & q
        if via_queue.any():
            hists["queue"] = to_sparse(histogram_of(waited[via_queue]))
        server_extra = {}
        if self.server_time is not None and cols.hvals is not None and len(ok_rows):
            ms, extra = self._server_ms(cols, ok_rows)
            ms = ms[~np.isnan(ms)]
            if len(ms):
                hists["server"] = to_sparse(histogram_of(ms * 1e3))
            server_extra = {name: to_sparse(histogram_of(np.asarray(v) * 1e3)) for name, v in extra.items()}
        codes, code_counts = np.unique(status[mrows], return_counts=True)
        return {
            "i": i_idx,
            "v": vname,
            "kinds": np.bincount(k, minlength=N_KINDS).tolist(),
            "status": {int(c): int(n) for c, n in zip(codes.tolist(), code_counts.tolist()) if c > 0},
            "bytes_in": int(nbytes[mrows].sum()),
            "ok_window": int(np.count_nonzero((kind[rows] == Kind.OK) & in_window[rows])),
            "warmup": int(len(rows) - len(mrows)),
            "hists": hists,
            "server_metrics": server_extra,
        }
