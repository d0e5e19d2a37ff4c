"""The target seam: what a kind of endpoint (plain HTTP, SageMaker, OpenAI, KServe) must say.

A target acts at two moments and never per request beyond what plain HTTP costs:

* **build time** (on the event loop, once per distinct request, cached by the
  engine): `request(endpoint, body, now)` returns the wire bytes and the instant
  (run clock of `time.perf_counter()`) until which those bytes stay valid. Plain
  HTTP bytes never expire (`math.inf`); a SigV4-signed request expires minutes
  after it was signed, so the engine's byte cache re-builds it when due and never
  sends one past its validity.
* **flush time** (on the worker's flush thread, once per interval, vectorised):
  `interpret(batch)` turns the raw responses of an interval into error kinds,
  server time, a variant attribution and extra metric columns (time to first
  token, tokens per second, ...), each named in `stinger.core.catalogue`.

A target is built inside the worker process from its validated, picklable
config (`Config`), because sockets, credentials and compiled paths do not travel.

To add a target: write `targets/NAME.py` (a `Config` pydantic model with
`type: Literal["NAME"]`, and a class implementing `Target`), its test, and one
line in `REGISTRY` below.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

NEVER_EXPIRES = math.inf


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One place the pool connects to (a target may have several, served round-robin)."""

    scheme: str          # "http" | "https"
    host: str
    port: int
    path: str            # path + query as sent on the request line
    url: str             # as the user wrote it (secrets redacted before display)

    @property
    def tls(self) -> bool:
        return self.scheme == "https"


@dataclass(frozen=True, slots=True)
class Needs:
    """What the engine must keep of each response for `interpret` (each costs per request).

    `headers`: lower-case names of response headers to capture (the run's
    server-time header is added by the engine). `body`: keep the whole body.
    `chunk_times`: stamp each body chunk's arrival (streaming: time to first
    token, inter-token gaps).
    """

    headers: tuple[str, ...] = ()
    body: bool = False
    chunk_times: bool = False


@dataclass(slots=True)
class ResponseBatch:
    """One interval's finished requests of one worker, as numpy columns (flush thread).

    Times are `perf_counter()` seconds; `sent`/`first` are NaN/0 when the request
    never got that far. `kind` holds the transport's classification
    (`stinger.core.records.Kind`); `interpret` may refine it.
    """

    intended: "np.ndarray"
    sent: "np.ndarray"
    first: "np.ndarray"
    done: "np.ndarray"
    kind: "np.ndarray"
    status: "np.ndarray"
    variant: "np.ndarray"
    nbytes: "np.ndarray"
    payload: "np.ndarray"
    headers: dict[str, list[bytes | None]] = field(default_factory=dict)   # name -> value per row
    bodies: list[bytes] | None = None
    chunk_times: list[list[float]] | None = None

    def __len__(self) -> int:
        return len(self.done)


@dataclass(slots=True)
class Interpretation:
    """What a target read from a batch; every field optional, aligned with the batch's rows.

    `kind`: refined error kinds (e.g. a 200 whose body says `ModelError`).
    `server_ms`: the server's own time per row (NaN where absent).
    `variant`: the variant that actually served each row (SageMaker's own split).
    `columns`: extra per-row values in microseconds (or the metric's stored unit),
    keyed by a metric name declared in `stinger.core.catalogue` (e.g. "ttft").
    """

    kind: "np.ndarray | None" = None
    server_ms: "np.ndarray | None" = None
    variant: "np.ndarray | None" = None
    columns: dict[str, "np.ndarray"] = field(default_factory=dict)


@runtime_checkable
class Target(Protocol):
    """A kind of endpoint. Built in the worker: `TargetClass(config)`."""

    type: ClassVar[str]

    def endpoints(self) -> tuple[Endpoint, ...]:
        """Where the pool connects (resolved once, before the run)."""
        ...

    def needs(self) -> Needs:
        ...

    def request(self, endpoint: Endpoint, body: bytes, now: float) -> tuple[bytes, float]:
        """Wire bytes for `body` sent to `endpoint`, and the perf_counter instant they expire."""
        ...

    def interpret(self, batch: ResponseBatch) -> Interpretation:
        ...


# type name -> "module:Class" (imported on first use, so an optional extra such as
# `aws` is only needed by the runs that use its target)
REGISTRY: dict[str, str] = {
    "http": "stinger.targets.http:HttpTarget",
    "fake": "stinger.targets.fake:FakeTarget",
}


def target_class(type_name: str) -> Any:
    """The class registered for `type_name`; a one-line UsageError names the known ones."""
    from importlib import import_module

    from stinger.errors import SpecError

    ref = REGISTRY.get(type_name)
    if ref is None:
        raise SpecError(f"target.type: unknown target type {type_name!r}; expected one of {', '.join(sorted(REGISTRY))}")
    module, _, name = ref.partition(":")
    return getattr(import_module(module), name)
