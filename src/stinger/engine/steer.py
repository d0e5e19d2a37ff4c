"""A live load change: what the coordinator tells every worker mid-run, and who owns which request.

The coordinator names each change's instant as a wall-clock time a little in the future
(`LoadChange.at`, converted by each worker against the run's start, as `begin`'s start is), so
every worker applies it at the same run-clock instant and they keep computing one global
schedule without talking to each other:

- a new **rate** (open model): the global schedule is cut at that instant, at the id of its first
  arrival there (`id_T`, the same in every worker: it is computed from the same schedule), and
  goes on at the new constant rate with ids from `id_T` on, so ids stay unique and contiguous and
  every choice that is pure in the id (payload, variant, pairs) is unchanged;
- new **users** (closed model): the users profile is replaced by that count from that instant;
- a new **owner** set (`lost`: a worker lost, its share rebalanced): the lost worker's requests
  from `id_T` on go to the survivors, spread by a hash of the id, while every other request keeps
  its owner. A survivor that applies the change late (after the instant) has already sent some
  of its own requests past `id_T`; only its own requests are skipped then, so no request is sent
  twice or lost (`Ownership.owner`).

Pure: no asyncio here (the engine applies it; `engine/slots.py` cuts the schedule).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np

SOURCES = ("control", "rebalance")


@dataclass(frozen=True, slots=True)
class LoadChange:
    """One load change for every worker (picklable; `to_bytes` for a pipe)."""

    at: float                       # wall-clock instant it takes effect (time.time() seconds)
    rate: float | None = None       # open model: the new offered rate (req/s, as --rate)
    users: int | None = None        # closed model: the new number of users (all workers)
    lost: int | None = None         # a lost worker whose share goes to `survivors` from `at`
    survivors: tuple[int, ...] = ()
    source: str = "control"

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_bytes(cls, body: bytes) -> LoadChange:
        d = json.loads(body)
        d["survivors"] = tuple(d.get("survivors") or ())
        return cls(**d)


def _mix(ids: np.ndarray, salt: int) -> np.ndarray:
    """splitmix64 of (id, salt): an even spread of ids over survivors (uint64, wraps by design)."""
    with np.errstate(over="ignore"):
        z = ids.astype(np.uint64) + np.uint64((0x9E3779B97F4A7C15 * (salt + 1)) & 0xFFFFFFFFFFFFFFFF)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


class Ownership:
    """Which worker sends each global request id: `id % W`, then each loss's reassignment in turn."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.losses: list[tuple[int, int, tuple[int, ...]]] = []   # (id_T, lost worker, survivors)

    def lose(self, id_t: int, lost: int, survivors: tuple[int, ...]) -> None:
        self.losses.append((id_t, lost, tuple(survivors)))

    def owner(self, ids: np.ndarray, upto: int | None = None) -> np.ndarray:
        """The owner of each id under the first `upto` losses (all by default)."""
        owner = ids % self.workers
        for k, (id_t, lost, survivors) in enumerate(self.losses[:upto]):
            if not survivors:
                continue
            moved = (ids >= id_t) & (owner == lost)
            if moved.any():
                owner[moved] = np.asarray(survivors, dtype=np.int64)[
                    (_mix(ids[moved], k) % np.uint64(len(survivors))).astype(np.int64)]
        return owner

    def users(self, worker: int, total: int) -> int:
        """Closed model: this worker's share of `total` users (user u belongs to worker u % W, a lost
        worker's users to the survivors in turn)."""
        owners = list(range(self.workers))
        for _, lost, survivors in self.losses:
            if survivors:
                owners = [o for o in owners if o != lost] if lost in owners else owners
        if worker not in owners:
            return 0
        return len(range(owners.index(worker), total, len(owners)))
