"""A response hook over a target: the user's `Response -> Reading` function reads every OK answer at
flush time (core/hooks.py says what a hook is).

`hooked(targets, ref, names)` wraps each distinct target of a worker once (a target shared by
variants stays shared). The wrapper keeps the target's hot-path attributes as they are (`request`,
`connect`, `endpoints`: the same bound methods, nothing added per request) and adds to `needs()` the
whole body. Its `interpret` runs the target's own first, then the hook on each row still OK, on the
flush thread: `Reading.ok=False` makes the row a failed check (`Kind.CHECK`), token counts become the
catalogue's `input_tokens`/`output_tokens`, a prediction goes where the `prediction:` path's go. A hook
that raises is the user's fault measured, not fatal: the row fails its check and the first message of
it is passed on (a note of the run).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from stinger.core.checks import MISSING
from stinger.core.hooks import Reading, Response, load_hook
from stinger.core.records import Kind
from stinger.targets.base import Interpretation, Needs, ResponseBatch, merge_needs

__all__ = ["HookedTarget", "hooked"]


class HookedTarget:
    """`target` whose answers `read` also reads (see the module docstring)."""

    def __init__(self, target: Any, read: Callable[[Response], Any], names: Sequence[str]) -> None:
        self.target = target
        self.read = read
        self.names = list(names)
        self.config = target.config
        self.request = target.request           # the same bound method: nothing on the per-request path
        self.endpoints = target.endpoints
        self.transport = target.transport      # the engine's transport the carrier names (engine.transport)

    def needs(self) -> Needs:
        return merge_needs(self.target.needs(), Needs(body=True))

    def interpret(self, batch: ResponseBatch) -> Interpretation:
        got = self.target.interpret(batch)
        if batch.bodies is None:
            return got
        kind = (batch.kind if got.kind is None else got.kind).copy()
        n = len(batch)
        tokens_in = np.full(n, np.nan)
        tokens_out = np.full(n, np.nan)
        predictions: list[tuple[Any, Any] | None] = [None] * n
        problem = None
        names, read, bodies = self.names, self.read, batch.bodies
        headers = batch.headers.items()
        ok = np.flatnonzero(kind == Kind.OK)
        # the per-row fields as Python lists, taken once (a numpy scalar per row costs more than the hook call)
        columns_ok = zip(ok.tolist(), batch.status[ok].tolist(), ((batch.done - batch.intended)[ok] * 1e3).tolist(),
                         batch.variant[ok].tolist(), batch.payload[ok].tolist(), strict=True)
        for i, status, latency_ms, v, p in columns_ok:
            response = Response(status, bodies[i], {h: vals[i] for h, vals in headers}, latency_ms, names[v], p)
            try:
                reading = read(response)
            except Exception as exc:   # the user's code failed on this answer: a failed check, said once
                kind[i] = Kind.CHECK
                problem = problem or f"response hook: {type(exc).__name__}: {exc}"
                continue
            if reading is None:
                continue
            if not isinstance(reading, Reading):
                reading = Reading(prediction=reading)   # a bare value is the prediction
            if reading.ok is False:
                kind[i] = Kind.CHECK
            if reading.input_tokens is not None:
                tokens_in[i] = reading.input_tokens
            if reading.output_tokens is not None:
                tokens_out[i] = reading.output_tokens
            if reading.prediction is not MISSING:
                predictions[i] = (reading.prediction, reading.label)
        columns = dict(got.columns)
        for name, col in (("input_tokens", tokens_in), ("output_tokens", tokens_out)):
            if not np.isnan(col).all():   # the hook's count where it gave one, the target's elsewhere
                own = columns.get(name)
                columns[name] = col if own is None else np.where(np.isnan(col), own, col)
        messages = dict(got.messages or {})
        if problem is not None:
            messages.setdefault(int(Kind.CHECK), problem)
        return replace(got, kind=kind, columns=columns, messages=messages or None,
                       predictions=predictions if any(p is not None for p in predictions) else None)


def hooked(targets: Sequence[Any], ref: str, names: Sequence[str]) -> list[Any]:
    """Each distinct target of `targets` wrapped once with the response hook `ref` ("module:function")."""
    read = load_hook(ref, "response")
    made: dict[int, HookedTarget] = {}
    return [made.setdefault(id(t), HookedTarget(t, read, names)) for t in targets]
