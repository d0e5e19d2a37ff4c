"""Which request goes out when: arrival times, variant and payload per slot.

A *slot* is one scheduled request (open model) or one user iteration (closed
model), identified by a global request id. Worker w of W owns ids with
`id % W == w`, and every choice (payload index, variant) is a pure function of
(seed, id), so workers share one schedule without talking to each other.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from stinger.engine.plan import WorkerPlan

_CHUNK = 8192
_CACHE_LIMIT = 100_000  # datasets up to this many records keep their request bytes built


class Slots:
    def __init__(self, plan: WorkerPlan) -> None:
        from stinger.datasets import PayloadOrder, open_dataset

        self.plan = plan
        pp = plan.payload
        self.dataset = None
        self._inline = b""
        if pp.path:
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
        self.cache_size = n if n <= _CACHE_LIMIT else 0
        self.order = PayloadOrder(n, pp.order, seed=plan.seed, weights=pp.weights)
        nvar = len(plan.variants)
        self.variant_order = None
        self.pair_order = None
        # sagemaker: every request leaves on the last variant (`unattributed`); the endpoint picks
        self.attributed_from = nvar - 1 if plan.split == "sagemaker" else None
        if plan.split == "split" and nvar > 1:
            self.variant_order = PayloadOrder(nvar, "weighted", seed=plan.seed + 7919,
                                              weights=[v.weight for v in plan.variants])
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
        self.keep_bodies = bool((self.check is not None and self.check.needs_body) or self.prediction)

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
        for this worker."""
        from stinger.core.schedule import Schedule

        plan = self.plan
        op = plan.open
        schedule = Schedule(op.profile, arrival=op.arrival, seed=plan.seed,
                            max_requests=plan.max_requests, trace=op.trace, duration=plan.duration)
        w, nw = plan.worker, plan.workers
        for ids, times in schedule.chunks(_CHUNK):
            if nw > 1:
                mine = ids % nw == w
                ids = ids[mine]
                times = times[mine]
            if len(ids) == 0:
                continue
            yield times, self._variants(ids), self.order.indices(ids)

    def closed_slots(self, start: int, n: int) -> list[tuple[int, int]]:
        """(variant, payload) for this worker's closed-model requests start..start+n."""
        ids = np.arange(start, start + n, dtype=np.int64) * self.plan.workers + self.plan.worker
        variants = self._variants(ids)
        variants[variants < 0] = 0  # paired needs an open schedule; validated upstream
        return list(zip(variants.tolist(), self.order.indices(ids).tolist()))


def build_slots(plan: WorkerPlan) -> Slots:
    return Slots(plan)
