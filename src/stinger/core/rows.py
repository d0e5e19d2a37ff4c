"""Per-request rows as data (pure): one flush interval's rows as numpy columns, and the names of the
columns a row file carries, in the order every row sink writes them.

Times in a `RowBatch` are the engine's `perf_counter` seconds; `t0` (the run's clock start on that
worker's clock) turns them into seconds from t = 0. A row of kind `IN_FLIGHT` was counted as in flight
when a run was stopped: it has no `done` (nor a latency).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["IN_FLIGHT", "LLM_COLUMNS", "ROW_COLUMNS", "RowBatch"]

IN_FLIGHT = -1   # a row's kind: counted as in flight at a stop (no Kind: it did not end)

# what each row file holds, in this order (requests.csv's header; requests.parquet's schema)
ROW_COLUMNS = ("intended_s", "sent_s", "first_byte_s", "done_s", "latency_ms", "service_ms", "server_ms", "variant",
               "status", "kind", "bytes", "payload", "queued", "worker", "request_id", "ttft_ms", "input_tokens",
               "output_tokens")
# the per-request figures an LLM api read (empty elsewhere): from the catalogue's columns of the same names
LLM_COLUMNS = ("ttft", "input_tokens", "output_tokens")


@dataclass(slots=True)
class RowBatch:
    """One flush's rows of one worker. `first` is 0 where no byte came; `sent` and `done` NaN where
    never sent or never done; `rid` -1 where the request carried no ID (`request_id` empty); `server_ms` NaN where the response named no server time; `variant` an
    index into the run's variants; `queued` the queue-state bits (engine/columns.py QUEUE_STATE)."""

    t0: float
    worker: int
    intended: np.ndarray
    sent: np.ndarray
    first: np.ndarray
    done: np.ndarray
    server_ms: np.ndarray
    status: np.ndarray
    kind: np.ndarray
    variant: np.ndarray
    nbytes: np.ndarray
    payload: np.ndarray
    queued: np.ndarray
    rid: np.ndarray | None = None   # the request's number (core/correlation.py), -1 where no ID was sent
    llm: dict[str, np.ndarray] | None = None   # LLM_COLUMNS' values in their stored units (ttft: us), NaN where none

    def __len__(self) -> int:
        return len(self.done)
