"""One interval's raw results on the event loop, and their conversion to a `ResponseBatch`.

The event loop appends one tuple per finished request to `Columns.rows` (about
100 ns, against 570 ns for ten typed-array appends, measured here); the flush
thread turns the rows into numpy columns with `to_batch`, in slices so the event
loop (same process, same GIL) is never held up for long. Response headers,
bodies and chunk times, needed only by some runs, go to lists of their own,
aligned with `rows`.

A row's fields, by position (the only place that knows them):
"""

from __future__ import annotations

import numpy as np

from stinger.targets.base import ResponseBatch

ROW_FIELDS = ("intended", "sent", "first", "done", "kind", "status", "variant", "nbytes", "payload", "queued", "rid")
INTENDED, SENT, FIRST, DONE, KIND, STATUS, VARIANT, NBYTES, PAYLOAD, QUEUED, RID = range(len(ROW_FIELDS))
# `rid`: the request's number in the run (core/correlation.py: its X-Request-Id / trace id), -1 for none
# `queued`: 0 sent at once, 1 waited in the in-flight queue, 2 waited for a new connection (bits 0-1),
# + 4 when sent while another variant's request was in flight (interference, engine/core.py),
# + the index of the variant's URL it went to << ENDPOINT_SHIFT (a variant of several URLs only)
QUEUE_STATE, OVERLAPPED_BIT, ENDPOINT_SHIFT = 3, 4, 3

_CONVERT_ROWS = 2048  # rows per numpy conversion: each holds the GIL, so keep it short for the event loop


class Columns:
    """Per-request results since the last flush (appended to on the event loop only)."""

    __slots__ = ("rows", "header_names", "hvals", "bodies", "chunks")

    def __init__(self, header_names: tuple[str, ...] = (), keep_bodies: bool = False,
                 keep_chunks: bool = False) -> None:
        self.rows: list[tuple] = []
        self.header_names = header_names
        # one entry per row: with one header name (the usual case: the server-time header)
        # its value, bytes or None, stored bare (no tuple per request); with several, a
        # sequence of their values (None where one did not come), or None when none came.
        # Read them through `to_batch`, which gives one list per name either way.
        self.hvals: list | None = [] if header_names else None
        self.bodies: list[bytes] | None = [] if keep_bodies else None
        self.chunks: list[list[tuple[float, int]]] | None = [] if keep_chunks else None

    def fresh(self) -> Columns:
        return Columns(self.header_names, self.bodies is not None, self.chunks is not None)

    def __len__(self) -> int:
        return len(self.rows)


def id_variants(plan, targets) -> list[bool]:
    """Per variant, whether its requests carry request IDs (core/correlation.py): asked for, something to
    send, and a transport writing HTTP/1.1 bytes (http1, fake; gRPC metadata not yet). The engine adds the
    lines to exactly these variants' requests and the row files keep exactly these variants' IDs."""
    on = plan.request_ids
    something = bool(plan.request_id_header) or plan.traceparent
    return [something and v < len(on) and bool(on[v]) and t.transport in ("http1", "fake")
            for v, t in enumerate(targets)]


def as_table(rows: list[tuple]) -> np.ndarray:
    out = np.empty((len(rows), len(ROW_FIELDS)), dtype=np.float64)
    for i in range(0, len(rows), _CONVERT_ROWS):
        out[i:i + _CONVERT_ROWS] = rows[i:i + _CONVERT_ROWS]
    return out


def to_batch(cols: Columns) -> tuple[ResponseBatch, np.ndarray]:
    """(the batch a target interprets, the table's last columns the recorder needs: `queued` (state and
    bits), then `rid`; `table[:, 0]` is `queued`, `[:, 1]` the request numbers)."""
    table = as_table(cols.rows)
    headers: dict[str, list] = {}
    if cols.hvals is not None:
        if len(cols.header_names) == 1:
            headers[cols.header_names[0]] = list(cols.hvals)
        else:
            for j, name in enumerate(cols.header_names):
                headers[name] = [None if h is None else h[j] for h in cols.hvals]
    batch = ResponseBatch(
        intended=table[:, INTENDED], sent=table[:, SENT], first=table[:, FIRST], done=table[:, DONE],
        kind=table[:, KIND].astype(np.int64), status=table[:, STATUS].astype(np.int64),
        variant=table[:, VARIANT].astype(np.int64), nbytes=table[:, NBYTES].astype(np.int64),
        payload=table[:, PAYLOAD].astype(np.int64), headers=headers, bodies=cols.bodies,
        chunk_times=cols.chunks)
    return batch, table[:, QUEUED:]
