"""Which request goes out when: arrival times, variant and payload per slot.

A *slot* is one scheduled request (open model) or one user iteration (closed
model), identified by a global request id. Worker w of W owns ids with
`id % W == w`, and every choice (payload index, variant) is a pure function of
(seed, id), so workers share one schedule without talking to each other.

Paired mode sends every payload to every variant, in one of two ways:

- `independent` (the default): each request at an instant of its own. The
  schedule runs at variants x rate (so `rate` stays requests per second per
  variant), and its slots are cut into blocks of `variants x PAIR_BLOCK`; in
  block b a seeded permutation (a pure function of (seed, b), like every other
  choice) places the `variants` requests of each of the block's PAIR_BLOCK
  payloads. Each payload still reaches every variant, within about one block's
  time, but no two requests of a pair leave at one instant, and which variant
  follows which is close to random, as in a split. Two variants that share a
  worker (two models in one inference process) then never wait for each other
  because of the schedule: sent at one instant, the second waits for the first,
  and the latency comparison measures the order, not the models (issue 15: p50
  B-A 0.1 ms against a server whose models differ by 18 ms). A trace keeps each
  captured arrival's payload within its own gap (blocks of one pair, the
  variants spread over the gap: `core.schedule.spread_trace`).
- `simultaneous`: a slot is one payload for every variant at one intended
  instant (variant -1 - r: every variant fired, starting with r, drawn per
  slot: the first one sent is otherwise always measured faster). Kept for the
  users who want it and because it is what proves interference detection.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from stinger.engine.plan import ATTRIBUTED, WorkerPlan

if TYPE_CHECKING:
    from stinger.datasets import Dataset

_CHUNK = 8192
_CACHE_LIMIT = 100_000  # datasets up to this many records keep their request bytes built
PAIR_BLOCK = 16         # independent pairing: payloads whose requests are shuffled together
_KEY_SPACE = 1 << 62    # the permutation's sort keys: a hash of (seed, slot id) in [0, 2^62)


def independent_pairs(ids: np.ndarray, nvar: int, keys, block_pairs: int = PAIR_BLOCK,
                      total: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(variant, pair) of each slot id of an independent paired schedule (see the module docstring).

    Block b holds slots [b*S, (b+1)*S), S = nvar * block_pairs; their order is the argsort of
    `keys.indices(slot ids)` (a seeded hash), so any worker computes any slot's place alone.
    Element e of the block's permutation is the request of pair `b * block_pairs + e // nvar` to
    variant `e % nvar`: every pair of the block reaches every variant exactly once. `total`: the
    schedule's slot count when it is known (a request count), so its last, shorter block is
    shuffled within itself and every pair is complete.
    """
    ids = np.asarray(ids, dtype=np.int64)
    size = nvar * block_pairs
    block = ids // size
    variant = np.empty(len(ids), dtype=np.int64)
    pair = np.empty(len(ids), dtype=np.int64)
    last = -1 if total is None or total % size == 0 else total // size
    for b_size, rows in ((size, np.flatnonzero(block != last)), (total % size if total else 0,
                                                                 np.flatnonzero(block == last))):
        if not len(rows):
            continue
        blocks = np.unique(block[rows])
        slots = blocks[:, None] * size + np.arange(b_size, dtype=np.int64)[None, :]
        perm = np.argsort(keys.indices(slots.ravel()).reshape(slots.shape), axis=1, kind="stable")
        element = perm[np.searchsorted(blocks, block[rows]), ids[rows] % size]
        variant[rows] = element % nvar
        pair[rows] = block[rows] * block_pairs + element // nvar
    return variant, pair


def _with_total(chunks: Iterator[tuple[np.ndarray, np.ndarray]], size: int = _CHUNK
                ) -> Iterator[tuple[np.ndarray, np.ndarray, int | None]]:
    """The schedule's chunks one behind, each with the schedule's slot count when it matters (else
    None), so the last, shorter block of an independent paired schedule is shuffled within itself and
    every pair is whole however the run is bounded (a duration, a count, a trace). Only a chunk that
    is the last, or whose next one is (shorter than `size`: every other chunk is full), can hold part
    of that block; a block is never longer than a chunk."""
    held = next(chunks, None)
    for nxt in chunks:
        assert held is not None
        yield held[0], held[1], int(nxt[0][-1]) + 1 if len(nxt[0]) < size else None
        held = nxt
    if held is not None and len(held[0]):
        yield held[0], held[1], int(held[0][-1]) + 1


class Slots:
    def __init__(self, plan: WorkerPlan) -> None:
        from stinger.datasets import PayloadOrder, open_dataset

        self.plan = plan
        pp = plan.payload
        self.dataset: Dataset | None = None
        self._inline = b""
        self.content_type: str | None
        if pp.synthetic is not None:   # built from the seed: every worker holds the same prompts
            from stinger.datasets.synthetic import SyntheticPrompts

            isl, osl, count, ignore_eos = pp.synthetic
            self.dataset = SyntheticPrompts(isl, osl, count=count, seed=plan.seed, ignore_eos=ignore_eos)
            n = len(self.dataset)
            self.content_type = self.dataset.content_type
            self._types = None
        elif pp.sessions is not None:   # conversations: each turn's body is built when due (engine/sessions.py)
            from stinger.datasets.conversations import Conversations

            self.dataset = Conversations(pp.sessions)
            n = len(self.dataset)
            self.content_type = self.dataset.content_type
            self._types = None
        elif pp.path:
            self.dataset = open_dataset(pp.path, format=pp.format, label_field=pp.label_field,
                                        body_field=pp.body_field, csv_header=pp.csv_header,
                                        content_type=pp.content_type)
            n = len(self.dataset)
            self.content_type = pp.content_type or self.dataset.content_type
            # a dataset whose records carry their own content type (a Data Capture), unless one is given for all
            self._types = None if pp.content_type else getattr(self.dataset, "content_types", None)
        else:
            n = 1
            self._inline = pp.inline or b""
            self.content_type = pp.content_type if pp.inline else None
            self._types = None
        self.n = n
        # a dataset that builds each body when sent (a trace's long prompts, each sent once) is never cached
        self.cache_size = (n if n <= _CACHE_LIMIT and not getattr(self.dataset, "uncached", False)
                           and pp.sessions is None else 0)
        self.order = PayloadOrder(n, pp.order, seed=plan.seed, weights=pp.weights)
        nvar = len(plan.variants)
        self.variant_order = None
        self.pair_order = None
        self.pair_keys = None   # independent pairing: the per-block permutation's hash
        # attributed: every request leaves on the last variant (`unattributed`); the endpoint picks
        self.attributed_from = nvar - 1 if plan.split == ATTRIBUTED else None
        if plan.split == "split" and nvar > 1:
            self.variant_order = PayloadOrder(nvar, "weighted", seed=plan.seed + 7919,
                                              weights=[v.weight for v in plan.variants])
        elif plan.split == "paired" and nvar > 1 and plan.pairing == "independent":
            self.pair_keys = PayloadOrder(_KEY_SPACE, "random", seed=plan.seed + 104729)
        elif plan.split == "paired" and nvar > 1:
            # which variant of a pair is sent first: the variants' requests leave one after the
            # other at the same instant, and the one sent first is measured faster (a fixed A-first
            # order biased every paired A/A run against B). Uniform over rotations, a pure
            # function of (seed, id) like every other choice, so workers agree and the run's
            # seed reproduces it.
            self.pair_order = PayloadOrder(nvar, "random", seed=plan.seed + 15485863)
        self.check = None
        self.prediction = None
        if plan.check is not None or plan.prediction_path:
            from stinger.core.checks import ResponseCheck, compile_json_path
        if plan.prediction_path:
            self.prediction = compile_json_path(plan.prediction_path)
        if plan.check is not None:
            c = plan.check
            self.check = ResponseCheck(status=c.status, json_path=c.json_path, equals=c.equals, regex=c.regex)
        # sessions: each answer's text goes into the next turn's history
        self.keep_bodies = bool((self.check is not None and self.check.needs_body) or self.prediction
                                or pp.sessions is not None)

    def body(self, p: int) -> bytes:
        if self.dataset is None:
            return self._inline
        return self.dataset.body(p)

    def content_type_of(self, p: int) -> str | None:
        """Payload p's content type: its own record's when the dataset has them, else the one for all
        (read when p's request bytes are built, never per send)."""
        return self.content_type if self._types is None else self._types[p]

    def label(self, p: int):
        return None if self.dataset is None else self.dataset.label(p)

    def _variants(self, ids: np.ndarray) -> np.ndarray:
        """Variant per slot; paired: -1 - r, every variant fired, starting with variant r."""
        if self.pair_order is not None:
            return -1 - self.pair_order.indices(ids)
        if self.variant_order is not None:
            return self.variant_order.indices(ids)
        if self.attributed_from is not None:
            return np.full(len(ids), self.attributed_from, dtype=np.int64)
        return np.zeros(len(ids), dtype=np.int64)

    def open_chunks(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(intended offsets, variant per slot (< 0: every variant, see `_variants`), payload per slot)
        for this worker, with no load change (`OpenStream` is the changeable form the engine uses)."""
        stream = OpenStream(self)
        while (got := stream.next()) is not None:
            yield got[1], got[2], got[3]

    def _global(self, t: float, id0: int, rate: float | None, segment: int
                ) -> Iterator[tuple[np.ndarray, np.ndarray, int | None]]:
        """The global schedule's chunks (ids, run-clock offsets, the slot count when it matters) from
        `t` and id `id0`: the plan's own (`rate` None, from 0), else `rate` constant from `t` on."""
        from stinger.core.schedule import Schedule, constant

        plan = self.plan
        op = plan.open
        assert op is not None   # an open-model plan (once per run)
        profile, trace, max_requests = op.profile, op.trace, plan.max_requests
        nvar = len(plan.variants)
        block = PAIR_BLOCK
        duration = plan.duration
        if rate is not None:
            left = None if duration is None else duration - t
            if left is not None and left <= 0:
                return
            profile, trace = constant(rate, left), None
            duration = left
        if self.pair_keys is not None:
            # every variant's requests on one schedule of nvar x the rate (a count: of pairs, as before)
            if trace is not None:
                from stinger.core.schedule import spread_trace

                trace, block = spread_trace(trace, nvar), 1
            else:
                profile = profile.scaled(nvar)
            max_requests = None if max_requests is None else max_requests * nvar
        if max_requests is not None:
            max_requests -= id0
            if max_requests <= 0:
                return
        self._block = block
        # a segment's own Poisson stream, the same in every worker (the plan's seed for the plan's own)
        schedule = Schedule(profile, arrival=op.arrival, seed=plan.seed + 7919 * segment,
                            max_requests=max_requests, trace=trace, duration=duration)
        chunks: Iterator[tuple[Any, ...]] = schedule.chunks(_CHUNK)
        if self.pair_keys is not None:
            chunks = _with_total(chunks)
        for ids, times, *total in chunks:
            whole = total[0] if total else None
            yield ids + id0, times + t, (None if whole is None else whole + id0)

    def _open_slots(self, ids: np.ndarray, times: np.ndarray, total: int | None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(ids, times, variants, payloads) of this worker's slots of a global chunk already filtered."""
        if self.pair_keys is not None:
            variants, pairs = independent_pairs(ids, len(self.plan.variants), self.pair_keys, self._block, total)
            return ids, times, variants, self.order.indices(pairs)
        return ids, times, self._variants(ids), self.order.indices(ids)

    def closed_slots(self, start: int, n: int) -> list[tuple[int, int]]:
        """(variant, payload) for this worker's closed-model requests start..start+n."""
        ids = np.arange(start, start + n, dtype=np.int64) * self.plan.workers + self.plan.worker
        variants = self._variants(ids)
        variants[variants < 0] = 0  # paired needs an open schedule; validated upstream
        return list(zip(variants.tolist(), self.order.indices(ids).tolist()))


def build_slots(plan: WorkerPlan) -> Slots:
    return Slots(plan)


class OpenStream:
    """This worker's share of the open schedule, chunk by chunk, changeable mid-run (`engine/steer.py`).

    The global schedule is walked in segments: the plan's own, then one per rate change (a constant
    rate from its instant, ids continuing). A change is known before its instant (the coordinator
    names one ahead); `change` says whether arrivals already handed out at or past it must be taken
    back (the engine's pump then keeps only those before it, or already sent), and the rest of the
    schedule from the change's first id is handed out again under the new rate or owners."""

    def __init__(self, slots: Slots) -> None:
        from stinger.engine.steer import Ownership

        self.slots = slots
        self.worker = slots.plan.worker
        self.own = Ownership(slots.plan.workers)
        self._seg = (0.0, 0, None, 0)   # (start offset, first id, rate or None: the plan's, segment number)
        self._gen: Iterator | None = slots._global(0.0, 0, None, 0)
        self._last: tuple[np.ndarray, np.ndarray, int | None] | None = None   # the last global chunk read
        self._redo: list[tuple[np.ndarray, np.ndarray, int | None]] = []   # global chunks to hand out (again)
        self._cuts: list[tuple[float, float | None, int | None, tuple[int, ...]]] = []
        self._skip: tuple[int, int] | None = None   # (fired through id, losses then): own ids already sent

    def _mine(self, ids: np.ndarray) -> np.ndarray:
        keep = self.own.owner(ids) == self.worker
        if self._skip is not None:
            through, upto = self._skip
            keep &= ~((ids <= through) & (self.own.owner(ids, upto) == self.worker))
        return keep

    def next(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """(global ids, offsets, variants, payloads) of this worker's next non-empty chunk; None at the end."""
        while True:
            got: tuple[np.ndarray, np.ndarray, int | None] | None
            if self._redo:
                got = self._redo.pop(0)
            else:
                got = None if self._gen is None else next(self._gen, None)
            if got is None:
                if not self._cuts or not self._end_cut():
                    self._gen = None
                    return None
                continue
            ids, times, total = got
            if self._cuts and len(times) and times[-1] >= self._cuts[0][0]:
                k = int(np.searchsorted(times, self._cuts[0][0], side="left"))
                cut = self._cuts.pop(0)
                id_t = int(ids[0]) + k
                if k < len(ids):
                    self._redo.insert(0, (ids[k:], times[k:], total))
                ids, times, total = ids[:k], times[:k], None
                self._switch(cut, id_t)
            self._last = (ids, times, total) if len(ids) else self._last
            keep = self._mine(ids)
            if keep.any():
                return self.slots._open_slots(ids[keep], times[keep], total)

    def _end_cut(self) -> bool:
        """The segment ran out (its count) before a pending cut: the cut starts after its last id."""
        cut = self._cuts.pop(0)
        last = self._last
        id_t = self._seg[1] if last is None else int(last[0][-1]) + 1
        self._switch(cut, id_t)
        return self._gen is not None

    def _switch(self, cut, id_t: int) -> None:
        t, rate, lost, survivors = cut
        if lost is not None:
            self.own.lose(id_t, lost, survivors)
        if rate is not None:   # a new segment from t
            n = self._seg[3] + 1
            self._seg = (t, id_t, rate, n)
            self._gen = self.slots._global(t, id_t, rate, n)
            self._redo = []   # what was left of the old segment is not sent

    def change(self, t: float, rate: float | None = None, lost: int | None = None,
               survivors: tuple[int, ...] = (), fired_through: int = -1) -> bool:
        """Apply a change at run-clock offset `t`. True when arrivals handed out at or past `t` are
        void: the caller keeps those before `t` and the ones it sent (`fired_through`: the last global
        id it sent), and reads on with `next`."""
        cut = (t, rate, lost, tuple(survivors))
        last = self._last
        if last is None or t > float(last[1][-1]):
            self._cuts.append(cut)   # nothing handed out at or past t yet: cut when the walk gets there
            return False
        if t >= float(last[1][0]):
            k = int(np.searchsorted(last[1], t, side="left"))
            id_t = int(last[0][0]) + k
            self._redo = [(last[0][k:], last[1][k:], last[2]), *self._redo]
            self._last = (last[0][:k], last[1][:k], None) if k else None   # what stays handed out
        else:   # later than the chunk it falls in: walk the segment again (rare; exact in every worker)
            id_t = self._count_before(t)
            self._redo = []
            self._last = None
            self._regen_from(id_t)
        self._skip = (fired_through, len(self.own.losses))
        self._switch(cut, id_t)
        return True

    def _count_before(self, t: float) -> int:
        """The first id at or past `t` in the current segment, walking it again from its start (a
        change that came later than the chunk it falls in: rare, and exact in every worker)."""
        start, id0, rate, n = self._seg
        last_id = id0
        for ids, times, _ in self.slots._global(start, id0, rate, n):
            if len(times) and times[-1] >= t:
                return int(ids[0]) + int(np.searchsorted(times, t, side="left"))
            last_id = int(ids[-1]) + 1 if len(ids) else last_id
        return last_id

    def _regen_from(self, id_t: int) -> None:
        """The current segment's walk again, from id `id_t` on."""
        start, id0, rate, n = self._seg
        gen = self.slots._global(start, id0, rate, n)

        def skip() -> Iterator:
            for ids, times, total in gen:
                if len(ids) and ids[-1] < id_t:
                    continue
                k = int(np.searchsorted(ids, id_t))
                yield ids[k:], times[k:], total
        self._gen = skip()
