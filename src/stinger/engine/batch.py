"""Turns one interval's raw columns into the `IntervalRecord` a worker sends to the coordinator.

Runs once per interval per worker on the flush thread, off the per-request
path: the rows become numpy columns (`engine.columns.to_batch`), each distinct
target interprets its variants' rows (`targets.base.Target.interpret`: refined
error kinds, server time, the variant that really served, extra metric
columns), the user's checks run over the kept bodies, and every metric of the
catalogue (`core.catalogue`) goes into an HDR histogram per (interval,
variant), shipped as sparse (bucket index, count) arrays that merge by
addition on the other side.

Which requests go where:
- latency, service time, time to first byte, and a target's extra columns:
  requests that ended OK, intended after the warm-up (a metric with many values
  per request, every inter-token gap, records each of them);
- schedule lag: every request sent at once on an open connection, after the
  warm-up; a request that waited in the in-flight queue or for a new
  connection records that wait as `queue` instead (the server's doing: slow
  answers or a slow accept, not the generator's);
- server time: OK requests with a value from the target (first) or the
  run's server-time header;
- `latency_ov`, `server_ov`: latency and server time again, of the OK requests
  sent while another variant's request was in flight (A/B interference; the
  ones sent alone are the difference);
- counts: every request that ended, by kind; requests intended during the
  warm-up are counted apart (`warmup`) and nowhere else.
A request belongs to the interval in which it *ended* (its `done`).
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from stinger.core.catalogue import BY_NAME, NAMES, metric
from stinger.core.histogram import sparse_counts
from stinger.core.records import MAX_VARIANTS, TOKEN_SOURCES, CellRecord, GroupRecord, IntervalRecord, Kind
from stinger.engine.columns import ENDPOINT_SHIFT, OVERLAPPED_BIT, QUEUE_STATE, id_variants, to_batch

if TYPE_CHECKING:
    from stinger.core.servertiming import ServerTimeSource
    from stinger.rows.base import RowWriter
from stinger.engine.plan import ATTRIBUTED, WorkerPlan

N_KINDS = len(Kind)
_MAX_VARIANTS = MAX_VARIANTS   # cells are keyed interval * 64 + variant; the spec refuses more (exit 2)
NOTES_PER_KIND = 5   # distinct error messages of one kind a worker passes on


def _urls(target) -> list[str]:
    """A variant's URLs, from its target's config (none for a target without sockets)."""
    urls = getattr(target, "all_urls", None)   # a test's stand-in config may have none
    return list(urls()) if urls is not None else []


def _take(batch, rows: np.ndarray):
    """The rows `rows` of a ResponseBatch, as a ResponseBatch (for a target serving some variants)."""
    from stinger.targets.base import ResponseBatch

    sel = rows.tolist()
    return ResponseBatch(
        intended=batch.intended[rows], sent=batch.sent[rows], first=batch.first[rows], done=batch.done[rows],
        kind=batch.kind[rows], status=batch.status[rows], variant=batch.variant[rows],
        nbytes=batch.nbytes[rows], payload=batch.payload[rows],
        headers={k: [v[i] for i in sel] for k, v in batch.headers.items()},
        bodies=None if batch.bodies is None else [batch.bodies[i] for i in sel],
        chunk_times=None if batch.chunk_times is None else [batch.chunk_times[i] for i in sel],
        payload_bytes=batch.payload_bytes)


TOKEN_SOURCE = "_token_source"   # the interpreted column of each row's token source (Interpretation.token_source)


def _token_sources(col: np.ndarray | None, rows: np.ndarray) -> tuple[int, ...]:
    """How many of `rows` had their token counts from each of TOKEN_SOURCES (NaN/0: none, or not OK)."""
    if col is None:
        return ()
    got = col[rows]
    return tuple(int(np.count_nonzero(got == k + 1)) for k in range(len(TOKEN_SOURCES)))


def _rewrite_bodies(batch, rows: np.ndarray | None, bodies: list[bytes]) -> None:
    """The batch's bodies as a target rewrote them (all rows, or `rows` of a target serving some variants)."""
    if rows is None:
        batch.bodies = list(bodies)
        return
    out = list(batch.bodies)
    for j, i in enumerate(rows.tolist()):
        out[i] = bodies[j]
    batch.bodies = out


def _overlapped(values: dict, overlapped: np.ndarray) -> None:
    """Latency and server time of the requests sent while another variant's was in flight, again."""
    values["latency_ov"] = np.where(overlapped, values["latency"], np.nan)
    values["server_ov"] = np.where(overlapped, values["server"], np.nan)


class Flusher:
    """One worker's interval recorder. `targets[v]`: variant v's `Target` (None: plain HTTP, no interpret)."""

    def __init__(self, plan: WorkerPlan, t0: float, slots, targets=None) -> None:
        self.plan = plan
        self.t0 = t0
        self.names = [v.name for v in plan.variants]
        self._ids_on = np.array(id_variants(plan, targets) if targets is not None else [False] * len(self.names),
                                dtype=bool)
        if len(self.names) > _MAX_VARIANTS:
            raise ValueError(f"at most {_MAX_VARIANTS} variants, got {len(self.names)}")
        self.interval = plan.interval
        self.warm_end = t0 + plan.warmup
        self.window_end = t0 + plan.duration if plan.duration else math.inf
        self.slots = slots
        self.check = slots.check
        self.prediction = slots.prediction
        self.targets = list(targets) if targets is not None else None
        self.server_time: ServerTimeSource | None = None
        self.st_header = plan.server_time_header.lower() if plan.server_time_header else None
        if self.st_header is not None:
            from stinger.core.servertiming import ServerTimeSource

            self.server_time = ServerTimeSource(header=self.st_header,
                                                metric=plan.server_time_metric, unit=plan.server_time_unit)
        self.last_cpu = time.process_time()
        self.noted: set[str] = set()        # error-message notes this worker has sent (each once)
        self.new_notes: list[str] = []      # ... and those to send with the next record
        self._check_problem: str | None = None   # the response check's last problem sent as a note
        self._rows: list[RowWriter] | None = None   # --save-requests: this worker's row writers, made on first use
        self.attribution = None   # an attributed split: counters settled to the variants rows ended in
        if plan.split == ATTRIBUTED:
            from stinger.engine.attribution import Attribution

            self.attribution = Attribution(len(self.names), self.warm_end)
        # big bodies to check or read a prediction from are judged in a helper process, their
        # rows carried from flush to flush meanwhile (engine/judge.py: the GIL stays free)
        self.carry = None
        self.interrupted = False   # set by the engine before the final flush of a run told to stop
        if (self.check is not None and self.check.needs_body) or self.prediction is not None:
            from stinger.engine.judge import Carry

            self.carry = Carry(self.check, self.prediction, plan.check, plan.prediction_path)
        self.first_intended = math.inf
        self.last_done = -math.inf
        # per-backend rows (a header's value) and per-URL rows (variants of several URLs): core/breakdown.py
        self.served_by = plan.served_by_header.lower() if plan.served_by_header else None
        self.multi_url = np.array([len(_urls(v.target)) > 1 for v in plan.variants] or [False])
        # multi-turn sessions (engine/sessions.py): per session, [first turn's intended, output tokens,
        # turns answered], kept from its first turn's row to its last's (`_session_values`)
        self.sessions = plan.payload.sessions is not None
        self._open_sessions: dict[int, list[float]] = {}
        self._seen: dict[tuple[str, int], set[str]] = {}   # (by, variant) -> labels kept (at most MAX_LABELS)
        self._warm()

    @staticmethod
    def _warm() -> None:
        """Pay the flush path's one-off costs now, before the run clock starts.

        numpy imports parts of itself on first use (`np.unique` loads numpy.ma:
        ~30 ms); in the first flush that would hold the GIL while the event loop
        is timing requests, and show in the run's tail latency.
        """
        np.unique(np.arange(4) % 2)   # the plain form is the one that reaches numpy.ma
        np.unique(np.arange(4) % 2, return_counts=True)
        sparse_counts(np.array([1.0, 2.0, np.nan]))

    def _carry_notes(self, carry, notes, in_flight_by_variant):
        """The final flush's word on big-body checks: a long wait, or (interrupted) the rows
        left unjudged, counted as in flight at the stop (measured ones, as the engine counts)."""
        if carry.abandoned:
            from stinger.engine.columns import INTENDED, VARIANT

            counts = list(in_flight_by_variant) if in_flight_by_variant is not None else [0] * len(self.names)
            for row in carry.abandoned:
                if row[INTENDED] >= self.warm_end:
                    counts[int(row[VARIANT])] += 1
            in_flight_by_variant = counts
            notes = (*notes, f"{len(carry.abandoned):,} responses were still being checked when the run was "
                             "stopped (big bodies); they are counted as in flight at the stop")
        elif carry.waited > 1.0:
            notes = (*notes, f"checking big response bodies delayed the end by {carry.waited:.1f} s "
                             "(every response was still checked and counted)")
        return notes, in_flight_by_variant

    # ------------------------------------------------------------------
    def _kinds(self, bodies, kind: np.ndarray, status: np.ndarray, verdicts=None) -> np.ndarray:
        """Apply the configured response checks (status set, body checks); `verdicts[i]`, when
        not None, is row i's body verdict already reached by the helper (engine/judge.py)."""
        check = self.check
        if check is None:
            return kind
        kind = kind.copy()
        answered = np.flatnonzero(status > 0)
        for i in answered.tolist():
            st = int(status[i])
            if not check.status_ok(st):
                kind[i] = Kind.HTTP_5XX if st >= 500 else Kind.HTTP_4XX if st >= 400 else Kind.CHECK
                continue
            if kind[i] in (Kind.HTTP_4XX, Kind.HTTP_5XX):
                kind[i] = Kind.OK  # an expected 4xx/5xx is OK by the user's word
            if check.needs_body and bodies is not None:
                got = None if verdicts is None else verdicts[i]
                if not (check.body_ok(bodies[i]) if got is None else got[0] == 1):
                    kind[i] = Kind.CHECK
        problem = check.problem
        if problem is not None and problem != self._check_problem:
            self._check_problem = problem
            self.new_notes.append(problem)
        return kind

    def _server_header(self, batch, rows: np.ndarray, server_ms: np.ndarray, extra_out: dict) -> None:
        """Fill `server_ms` (NaN so far) at `rows` from the server-time header; named entries to `extra_out[row]`."""
        values = batch.headers.get(self.st_header)
        if values is None:
            return
        src = self.server_time
        assert src is not None   # a header is named (the caller's check)
        for i in rows.tolist():
            value = values[i]
            if value is None:
                continue
            ms, named = src.extract(value)
            if ms is not None and math.isnan(server_ms[i]):
                server_ms[i] = ms
            if named:
                extra_out[i] = named

    def _interpret(self, batch):
        """Each distinct target reads the rows of its variants; returns (kind, server_ms, variant, columns,
        hook predictions), where a metric with many values per row is a column `(row of each value, values)`
        and the hook predictions are None or, per row, None or a response hook's (prediction, label)."""
        n = len(batch)
        kind, variant = batch.kind, batch.variant
        server_ms = np.full(n, np.nan)
        columns: dict[str, Any] = {}   # a value per row (ndarray), or (row of each value, values) for many per row
        many: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        hook_predictions: list | None = None   # a response hook's (prediction, label) per row (targets/hooks.py)
        if not self.targets:
            return kind, server_ms, variant, columns, hook_predictions
        groups: dict[int, tuple[Any, list[int]]] = {}
        for v, target in enumerate(self.targets):
            if target is not None:
                groups.setdefault(id(target), (target, []))[1].append(v)
        kind, variant = kind.copy(), variant.copy()
        # an api may read its prompt again (a tokenizer's input count); a test's stand-in slots may have no body
        batch.payload_bytes = getattr(self.slots, "body", None)
        for target, vs in groups.values():
            if len(vs) == len(self.names):
                rows = None  # the common case: one target serves every variant
                sub = batch
            else:
                rows = np.flatnonzero(np.isin(batch.variant, vs))
                if not len(rows):
                    continue
                sub = _take(batch, rows)
            got = target.interpret(sub)
            if got.messages:
                self._note_messages(got.messages, [self.names[v] for v in vs])
            at = slice(None) if rows is None else rows
            if got.kind is not None:
                kind[at] = got.kind
            if got.server_ms is not None:
                server_ms[at] = got.server_ms
            if got.variant is not None:
                variant[at] = got.variant
            if got.bodies is not None:   # a carrier's rewrite (gRPC -> V2 JSON): what checks and predictions read
                _rewrite_bodies(batch, rows, got.bodies)
            if got.predictions is not None:
                hook_predictions = hook_predictions or [None] * n
                for j, pred in zip(range(n) if rows is None else rows.tolist(), got.predictions, strict=True):
                    hook_predictions[j] = pred
            for name, values in got.columns.items():
                metric(name)  # a column must be a catalogue metric: KeyError naming the known ones
                col = columns.setdefault(name, np.full(n, np.nan))
                col[at] = values
            if got.token_source is not None:   # not a metric: counted per cell (`_cell`'s token_sources)
                col = columns.setdefault(TOKEN_SOURCE, np.full(n, np.nan))
                col[at] = got.token_source
            for name, (values, counts) in got.many.items():
                metric(name)
                owner = np.repeat(np.arange(len(sub)) if rows is None else rows, np.asarray(counts, dtype=np.int64))
                many.setdefault(name, []).append((owner, np.asarray(values, dtype=np.float64)))
        for name, parts in many.items():
            columns[name] = (np.concatenate([o for o, _ in parts]), np.concatenate([v for _, v in parts]))
        return kind, server_ms, variant, columns, hook_predictions

    def _note_messages(self, messages: dict[int, str], variants: list[str]) -> None:
        """Each distinct error message a target read, redacted and truncated, queued once as a note."""
        from stinger.core.error_notes import note

        for k, text in messages.items():
            try:
                label = Kind(k).label
            except ValueError:
                label = f"kind_{k}"
            line = note(label, variants, text)
            # a message that differs per request (a request id in it) must not flood the pipe
            if line not in self.noted and sum(n.startswith(label + " ") for n in self.noted) < NOTES_PER_KIND:
                self.noted.add(line)
                self.new_notes.append(line)

    def flush(self, cols, counters: dict, *, loop_lags: list[float], in_flight: int,
              in_flight_by_variant: list[int] | None, final: bool, cpu: float,
              samples: list[dict[int, str]] | None = None, notes: tuple[str, ...] = (),
              open_rows: list[tuple] | None = None, unfinished=None) -> IntervalRecord:
        """`unfinished`: (when, [[measured, warm-up] per variant]) of queued requests that ended
        `unfinished` at a run's normal end, given as counts (`EngineCore._unfinished_queue`)."""
        now = time.perf_counter()
        t0 = self.t0
        names = self.names
        verdicts = None
        carry = self.carry
        if carry is not None:
            carry.hold(cols)
            verdicts = carry.release(cols, final, interrupted=self.interrupted)
            if final:
                carry.close()
                notes, in_flight_by_variant = self._carry_notes(carry, notes, in_flight_by_variant)
        n = len(cols)
        cells: list[CellRecord] = []
        predictions = []
        ended = (np.empty(0), np.empty(0, dtype=np.int64))   # (intended, attributed variant) per row
        groups: list[GroupRecord] = []
        if n:
            batch, tail = to_batch(cols)
            queued_col, rid = tail[:, 0], tail[:, 1]
            intended, done = batch.intended, batch.done
            status = batch.status
            kind, server_ms, variant, extra_cols, hook_predictions = self._interpret(batch)
            ended = (intended, variant)
            kind = self._kinds(batch.bodies, kind, status, verdicts)
            nbytes = batch.nbytes
            bits = queued_col.astype(np.int64)
            queued_col = bits & QUEUE_STATE
            queued = queued_col != 0
            overlapped = (bits & OVERLAPPED_BIT) != 0
            measured = intended >= self.warm_end
            if measured.any():
                self.first_intended = min(self.first_intended, float(intended[measured].min()))
            self.last_done = max(self.last_done, float(done.max()))
            interval = np.floor((done - t0) / self.interval).astype(np.int64)
            in_window = (done >= self.warm_end) & (done < self.window_end)
            values = self._values(batch, kind, server_ms, extra_cols, queued)   # reads the server-time header
            if self.sessions:
                values.update(self._session_values(batch, kind, values))
            if overlapped.any():
                _overlapped(values, overlapped)
            if self.plan.rows:
                self._log(batch, server_ms, status, kind, variant, queued_col, rid, values)
            good = self._good(values, kind)
            if self.served_by is not None or self.multi_url.any() or self.sessions:
                groups = self._groups(batch, kind, status, variant, measured, values["latency"], bits)
            if self.plan.origin is not None:   # every measured row is this worker's origin's (core/breakdown.py)
                groups += self._origin_rows(kind, status, variant, measured, values["latency"])
            key = interval * _MAX_VARIANTS + variant
            for k in np.unique(key).tolist():
                i_idx, v = divmod(k, _MAX_VARIANTS)
                rows = np.flatnonzero(key == k)
                cells.append(self._cell(int(i_idx), names[v], rows, values, kind, status, nbytes,
                                        measured, in_window, good))
            if self.prediction is not None and batch.bodies is not None:
                from stinger.core.checks import MISSING, extract

                ok_rows = np.flatnonzero((kind == Kind.OK) & measured)
                for i in ok_rows.tolist():
                    if hook_predictions is not None and hook_predictions[i] is not None:
                        continue   # the response hook's reading of this answer wins
                    got = None if verdicts is None else verdicts[i]
                    pred = extract(batch.bodies[i], self.prediction) if got is None else got[1]
                    if pred is not MISSING:
                        p = int(batch.payload[i])
                        predictions.append((names[variant[i]], p, pred, self.slots.label(p)))
            if hook_predictions is not None:
                self._hook_predictions(hook_predictions, kind, measured, batch.payload, variant, predictions)
        if unfinished is not None:
            cells.extend(self._unfinished_cells(*unfinished))
        if final and self.plan.rows:
            self._log_open(open_rows, carry)
        if final and self._rows is not None:
            for w in self._rows:
                w.close()
        if self.attribution is not None:
            counters = self.attribution.settle(counters, *ended, final=final)
        # Counters cover the time since the last flush. A regular flush runs just
        # after an interval boundary, so they belong to the interval that ended.
        pos = (now - t0) / self.interval
        interval_now = math.floor(pos) if final else max(0, round(pos) - 1)
        cpu_delta = cpu - self.last_cpu
        self.last_cpu = cpu
        return IntervalRecord(
            worker=self.plan.worker,
            t=now - t0,
            interval=interval_now,
            final=final,
            cpu_s=cpu_delta,
            flush_ms=(time.perf_counter() - now) * 1e3,
            loop_lag_ms=max(loop_lags, default=0.0) * 1e3,
            loop_lags_ms=tuple(round(x * 1e3, 3) for x in loop_lags),
            in_flight=in_flight,
            counters={names[v]: {name: vals[v] for name, vals in counters.items()} for v in range(len(names))},
            cells=tuple(cells),
            first_intended=self.first_intended - t0 if self.first_intended != math.inf else None,
            last_done=self.last_done - t0 if self.last_done != -math.inf else None,
            predictions=tuple(predictions),
            in_flight_by_variant=(None if in_flight_by_variant is None else
                                  {names[v]: in_flight_by_variant[v] for v in range(len(names))}),
            samples={names[v]: {str(c): t for c, t in s.items()} for v, s in enumerate(samples or ()) if s},
            notes=self._notes(notes),
            checking=0 if carry is None else len(carry),
            groups=tuple(groups),
        )

    def _groups(self, batch, kind, status, variant, measured, latency, bits) -> list[GroupRecord]:
        """This flush's measured rows grouped by the backend that answered (the served-by header's
        value) and, in a variant of several URLs, by the URL's index; at most MAX_LABELS labels per
        (by, variant) over the run, the rest counted as `other`. One dict lookup a row, the rest numpy."""
        from stinger.core.breakdown import SERVED_BY, URL

        rows = np.flatnonzero(measured)
        out: list[GroupRecord] = []
        if not len(rows):
            return out
        if self.served_by is not None:
            values = batch.headers.get(self.served_by)
            got = [None] * len(rows) if values is None else [values[i] for i in rows.tolist()]
            index: dict = {}
            codes = np.fromiter((index.setdefault(x, len(index)) for x in got), dtype=np.int64, count=len(got))
            labels = [self._label(x) for x in index]
            out += self._grouped(SERVED_BY, rows, codes, labels, kind, status, variant, latency)
        if self.sessions:   # a row per turn (1-based), every session's k-th turn together
            from stinger.core.breakdown import TURN
            from stinger.core.sessions import turn_of

            turns = turn_of(batch.payload[rows])
            out += self._grouped(TURN, rows, turns, [str(i + 1) for i in range(int(turns.max()) + 1)],
                                 kind, status, variant, latency)
        multi = rows[self.multi_url[variant[rows]]] if self.multi_url.any() else rows[:0]
        if len(multi):
            at = bits[multi].astype(np.int64) >> ENDPOINT_SHIFT
            out += self._grouped(URL, multi, at, [str(i) for i in range(int(at.max()) + 1)],
                                 kind, status, variant, latency)
        return out

    def _session_values(self, batch, kind, values) -> dict[str, np.ndarray]:
        """The sessions' totals (catalogue `session`, `session_turns`, `session_tokens`) on the row of each
        session's last turn when every turn was answered OK, NaN elsewhere. Rows come in the order they
        ended and a session's turns one after the other, so its first turn's row is always seen first."""
        from stinger.core.sessions import unpack

        n = len(kind)
        dur, turns, tokens = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
        out_tokens = values.get("output_tokens")
        if isinstance(out_tokens, tuple):
            out_tokens = None
        sess, turn, last = unpack(batch.payload)
        state = self._open_sessions
        for i, (g, k, is_last, ok) in enumerate(zip(sess.tolist(), turn.tolist(), last.tolist(),
                                                   (kind == Kind.OK).tolist(), strict=True)):
            if k == 0:
                state[g] = [float(batch.intended[i]), 0.0, 0.0, 0.0]
            st = state.get(g)
            if st is None:
                continue
            if not ok:   # the session ends here (engine/sessions.py): no totals for it
                del state[g]
                continue
            st[2] += 1
            got = np.nan if out_tokens is None else out_tokens[i]
            if got == got:
                st[1] += got
                st[3] += 1
            if is_last:
                del state[g]
                dur[i] = (batch.done[i] - st[0]) * 1e6
                turns[i] = st[2]
                tokens[i] = st[1] if st[3] else np.nan
        return {"session": dur, "session_turns": turns, "session_tokens": tokens}

    def _origin_rows(self, kind, status, variant, measured, latency) -> list[GroupRecord]:
        """This flush's measured rows under the worker's origin, one row a variant: the origin's latency
        histogram (its counts come exact from the records themselves, `core.breakdown.OriginBook`)."""
        from stinger.core.breakdown import ORIGIN

        rows = np.flatnonzero(measured)
        if not len(rows):
            return []
        return self._grouped(ORIGIN, rows, np.zeros(len(rows), dtype=np.int64), [str(self.plan.origin)],
                             kind, status, variant, latency)

    def _label(self, value) -> str:
        """A header's value as a row label: text, stripped, at most 100 characters; `(none)` when absent."""
        from stinger.core.breakdown import NONE

        if value is None:
            return NONE
        return bytes(value).decode("latin-1").strip()[:100] or NONE

    def _grouped(self, by, rows, codes, labels, kind, status, variant, latency) -> list[GroupRecord]:
        """GroupRecords of `rows`, row j under `labels[codes[j]]` in its variant."""
        from stinger.core.breakdown import bounded

        v = variant[rows]
        key = v * len(labels) + codes
        keys, inverse = np.unique(key, return_inverse=True)
        merged: dict[tuple[int, str], list[int]] = {}   # two codes may share a label (b" a" and b"a"; `other`)
        for g, k in enumerate(keys.tolist()):
            vi, code = divmod(k, len(labels))
            label = bounded(labels[code], self._seen.setdefault((by, vi), set()))
            merged.setdefault((vi, label), []).append(g)
        out = []
        for (vi, label), gs in merged.items():
            at = rows[np.isin(inverse, gs)] if len(gs) > 1 else rows[inverse == gs[0]]
            lat = latency[at]
            out.append(GroupRecord(by=by, variant=self.names[vi], label=label,
                                   kinds=tuple(np.bincount(kind[at], minlength=N_KINDS).tolist()),
                                   responses=int(np.count_nonzero(status[at] > 0)),
                                   latency=sparse_counts(lat[~np.isnan(lat)])))
        return out

    def _log(self, batch, server_ms, status, kind, variant, queued, rid, values=None) -> None:
        """--save-requests: this flush's rows to the row sinks' worker halves (rows/base.py). A row's
        request number is kept where its variant sent request IDs (else -1: requests.csv leaves it empty)."""
        from stinger.core.rows import LLM_COLUMNS, RowBatch

        if self._rows is None:
            from stinger.rows.base import writers

            self._rows = writers(self.plan.rows, self.plan.requests_path, self.plan.worker)
        rows = RowBatch(self.t0, self.plan.worker, intended=batch.intended, sent=batch.sent, first=batch.first,
                        done=batch.done, server_ms=server_ms, status=status, kind=kind, variant=variant,
                        nbytes=batch.nbytes, payload=batch.payload, queued=queued,
                        rid=np.where(self._ids_on[batch.variant], rid, -1).astype(np.int64),
                        llm={k: values[k] for k in LLM_COLUMNS if isinstance(values.get(k), np.ndarray)} if values else None)
        for w in self._rows:
            failed = w.write(rows)
            if failed is not None:   # a full disk: the rows stop, the run goes on, and says so once
                self.new_notes.append(failed)

    def _hook_predictions(self, hook_predictions, kind, measured, payload, variant, out: list) -> None:
        """A response hook's predictions of the measured OK rows, judged against its label or the dataset's."""
        for i in np.flatnonzero((kind == Kind.OK) & measured).tolist():
            got = hook_predictions[i]
            if got is not None:
                p = int(payload[i])
                pred, label = got
                out.append((self.names[variant[i]], p, pred, self.slots.label(p) if label is None else label))

    def _unfinished_cells(self, when: float, counts: list[list[int]]) -> list[CellRecord]:
        """Cells for requests counted as `unfinished` without rows: a kind count (and the warm-up
        ones apart) in the interval they ended in, merged with that interval's other cells."""
        i_idx = math.floor((when - self.t0) / self.interval)
        self.last_done = max(self.last_done, when)
        out = []
        for v, (measured, warm) in enumerate(counts):
            if measured or warm:
                kinds = [0] * N_KINDS
                kinds[Kind.UNFINISHED] = measured
                out.append(CellRecord(interval=i_idx, variant=self.names[v], kinds=tuple(kinds), status={},
                                      bytes_in=0, ok_window=0, warmup=warm, hists={}))
        return out

    def _log_open(self, open_rows, carry) -> None:
        """--save-requests at the final flush of a stopped run: a row for each request counted as in
        flight at the stop (unanswered, or its big body still being checked), kind `in_flight`."""
        from stinger.core.rows import IN_FLIGHT
        from stinger.engine.columns import KIND, Columns

        rows = list(open_rows or ())
        if carry is not None and carry.abandoned:
            rows += [(*row[:KIND], IN_FLIGHT, *row[KIND + 1:]) for row in carry.abandoned]
        if not rows:
            return
        cols = Columns()
        cols.rows = rows
        batch, tail = to_batch(cols)
        self._log(batch, np.full(len(batch), np.nan), batch.status, batch.kind, batch.variant,
                  tail[:, 0].astype(np.int64) & QUEUE_STATE, tail[:, 1])

    def _notes(self, notes: tuple[str, ...]) -> tuple[str, ...]:
        if not self.new_notes:
            return notes
        out, self.new_notes = (*notes, *self.new_notes), []
        return out

    def _values(self, batch, kind, server_ms, extra_cols, queued) -> dict:
        """Per catalogue metric, the value of every row in its stored unit, NaN where the metric does not apply."""
        intended, sent, first, done = batch.intended, batch.sent, batch.first, batch.done
        ok = kind == Kind.OK
        nan = np.nan
        waited = np.maximum(sent - intended, 0.0) * 1e6     # NaN where never sent
        server_named: dict[int, dict] = {}
        if self.server_time is not None:
            self._server_header(batch, np.flatnonzero(ok), server_ms, server_named)
        values: dict[str, Any] = {
            "latency": np.where(ok, (done - intended) * 1e6, nan),
            "service": np.where(ok, (done - sent) * 1e6, nan),
            "ttfb": np.where(ok & (first > 0), (first - sent) * 1e6, nan),
            "lag": np.where(~queued, waited, nan),
            "queue": np.where(queued, waited, nan),
            "server": np.where(ok, server_ms * 1e3, nan),
        }
        for name, col in extra_cols.items():
            if isinstance(col, tuple):   # many values per row: (row of each value, values), OK rows' kept
                owner, vals = col
                keep = ok[owner]
                values[name] = (owner[keep], vals[keep])
            else:
                values[name] = np.where(ok, col, nan)
        values["_server_named"] = server_named
        return values

    def _good(self, values: dict, kind: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Goodput (core/goodput.py): (whether each row ended OK and met every objective on its own values,
        its output tokens, 0 where unknown); None when the run has no objectives."""
        if not self.plan.goodput:
            return None
        good = kind == Kind.OK
        with np.errstate(invalid="ignore"):
            for objective in self.plan.goodput:
                col = values.get(objective.metric)
                if col is None or isinstance(col, tuple):   # not measured: not met
                    return np.zeros(len(kind), dtype=bool), np.zeros(len(kind))
                good &= objective.holds(col)   # NaN (no value) never holds
        tokens = values.get("output_tokens")
        tokens = np.zeros(len(kind)) if tokens is None or isinstance(tokens, tuple) else np.nan_to_num(tokens)
        return good, tokens

    def _cell(self, i_idx, vname, rows, values, kind, status, nbytes, measured, in_window,
              good=None) -> CellRecord:
        mrows = rows[measured[rows]]
        k = kind[mrows]
        hists = {}
        for name in NAMES:
            col = values.get(name)
            if col is None:
                continue
            if isinstance(col, tuple):   # many values per row: those of this cell's measured rows
                owner, vals = col
                mine = np.zeros(len(kind), dtype=bool)
                mine[mrows] = True
                v = vals[mine[owner]]
            else:
                v = col[mrows]
            v = v[~np.isnan(v)]
            if len(v) or BY_NAME[name].always:
                hists[name] = sparse_counts(v)
        server_extra: dict[str, list[float]] = {}
        named = values["_server_named"]
        if named:
            for i in mrows[k == Kind.OK].tolist():
                for name, dur in named.get(i, {}).items():
                    server_extra.setdefault(name, []).append(dur)
        codes, code_counts = np.unique(status[mrows], return_counts=True)
        return CellRecord(
            interval=i_idx,
            variant=vname,
            kinds=tuple(np.bincount(k, minlength=N_KINDS).tolist()),
            status={int(c): int(n) for c, n in zip(codes.tolist(), code_counts.tolist()) if c > 0},
            bytes_in=int(nbytes[mrows].sum()),
            ok_window=int(np.count_nonzero((kind[rows] == Kind.OK) & in_window[rows])),
            warmup=int(len(rows) - len(mrows)),
            hists=hists,
            server_metrics={name: sparse_counts(np.asarray(v) * 1e3) for name, v in server_extra.items()},
            token_sources=_token_sources(values.get(TOKEN_SOURCE), mrows),
            good=0 if good is None else int(np.count_nonzero(good[0][mrows])),
            good_tokens=0 if good is None else int(good[1][mrows][good[0][mrows]].sum()),
        )
