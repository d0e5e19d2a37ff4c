"""The target seam: what a kind of endpoint (plain HTTP, SageMaker, OpenAI, KServe) must say.

A target acts at two moments and never per request beyond what plain HTTP costs:

* **build time** (on the event loop, once per distinct request, cached by the
  engine): `request(endpoint, body, now, content_type)` returns the wire bytes and the instant
  (run clock of `time.perf_counter()`) until which those bytes stay valid. Plain
  HTTP bytes never expire (`math.inf`); a SigV4-signed request expires minutes
  after it was signed, so the engine's byte cache re-builds it when due and never
  sends one past its validity.
* **flush time** (on the worker's flush thread, once per interval, vectorised):
  `interpret(batch)` turns the raw responses of an interval into error kinds,
  server time, a variant attribution and extra metric columns (time to first
  token, tokens per second, every inter-token gap, ...), each named in
  `stinger.core.catalogue`.

A target is built inside the worker process from its validated, picklable
config (`Config`, a `TargetConfig`), because sockets, credentials and compiled
paths do not travel. The spec validates a target's config when it is loaded
(errors carry the YAML line); the config alone says where the target connects
(`TargetConfig.endpoints()`, pure parsing, so planning can count loopback
targets without building one).

How the engine reaches an endpoint: by default a TCP (+TLS) connection from the
event loop, carrying the target's bytes. A target that answers without sockets
(the in-memory `fake`) implements the optional `Connector` ability; the engine
then asks it for the connection instead. Connections are made once per
keep-alive connection, never per request, so the choice costs nothing per
request.

To add a target: write `targets/NAME.py` (a module-level `Config` pydantic model
subclassing `TargetConfig` with `type: Literal["NAME"]`, and a class
implementing `Target`), its test, and one line in `REGISTRY` below. Import
optional heavy dependencies (botocore, ...) inside the class, not at the top of
the module: the spec imports every `Config` to validate `target.type`.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

NEVER_EXPIRES = math.inf
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One place the pool connects to (a target may have several, served round-robin)."""

    scheme: str          # "http" | "https"
    host: str
    port: int
    path: str            # path + query as sent on the request line
    url: str             # as the user wrote it (secrets redacted before display)
    verify: bool = True  # TLS: check the certificate (False: the user said insecure)

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    @property
    def host_header(self) -> str:
        """`Host:` as a client sends it: the port only when it is not the scheme's default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORTS.get(self.scheme) else f"{host}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


@dataclass(frozen=True, slots=True)
class Needs:
    """What the engine must keep of each response for `interpret` (each costs per request).

    `headers`: lower-case names of response headers to capture (the run's
    server-time header is added by the engine). `body`: keep the whole body.
    `chunk_times`: stamp each body chunk's arrival (streaming: time to first
    token, inter-token gaps). `head`: the requests are HEAD, so a response
    ends with its headers whatever length it announces (the parser cannot know
    the method). `error_bodies`: keep the body of a failed response (>= 400)
    for its message (the engine may keep more).
    """

    headers: tuple[str, ...] = ()
    body: bool = False
    chunk_times: bool = False
    head: bool = False
    error_bodies: bool = False


@dataclass(slots=True)
class ResponseBatch:
    """One interval's finished requests of one worker, as numpy columns (flush thread).

    Times are `perf_counter()` seconds; `sent`/`first` are NaN/0 when the request
    never got that far. `kind` holds the transport's classification
    (`stinger.core.records.Kind`); `interpret` may refine it.
    """

    intended: np.ndarray
    sent: np.ndarray
    first: np.ndarray
    done: np.ndarray
    kind: np.ndarray
    status: np.ndarray
    variant: np.ndarray
    nbytes: np.ndarray
    payload: np.ndarray
    headers: dict[str, list[bytes | None]] = field(default_factory=dict)   # name -> value per row
    bodies: list[bytes] | None = None
    chunk_times: list[list[tuple[float, int]]] | None = None   # per row: (arrival, body end offset) per read

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
    `messages`: what the endpoint said with its errors, the first of each error kind
    in the batch (kind -> text, e.g. a SageMaker container's ModelError message); the
    worker passes each distinct one on once, redacted and truncated (`core.error_notes`).
    `many`: a metric with several values per row (catalogue `per="gap"`, e.g. every
    inter-token gap), as `(values, counts)`: every row's values flattened in row order,
    and how many each row has (0 for none); recorded like a column, value by value.
    """

    kind: np.ndarray | None = None
    server_ms: np.ndarray | None = None
    variant: np.ndarray | None = None
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    messages: dict[int, str] | None = None
    many: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


class TargetConfig(BaseModel):
    """A target's validated, picklable config: the `target:` mapping of a spec.

    Subclasses add their fields and narrow `type` to `Literal["NAME"]`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str

    def endpoints(self) -> tuple[Endpoint, ...]:
        """Where the target connects, from the config alone (pure parsing; a
        malformed address is a `TargetError`). Empty for a target without sockets."""
        return ()

    def all_urls(self) -> list[str]:
        """The URLs to show a person (summary, capacity report); may be empty."""
        return [e.url for e in self.endpoints()]

    def with_payload(self, has_body: bool) -> TargetConfig:
        """This config once the run's payload is known (e.g. plain HTTP defaults to POST
        when there is a body); the same config when nothing depends on it."""
        return self


@runtime_checkable
class Target(Protocol):
    """A kind of endpoint. Built in the worker: `target_class(config.type)(config)`."""

    type: ClassVar[str]

    def endpoints(self) -> tuple[Endpoint, ...]:
        """Where the pool connects (resolved once, before the run)."""
        ...

    def needs(self) -> Needs:
        ...

    def request(self, endpoint: Endpoint, body: bytes, now: float,
                content_type: str | None = None) -> tuple[bytes, float]:
        """Wire bytes for `body` sent to `endpoint`, and the perf_counter instant they expire.

        `content_type` is the payload's (the user's, or the dataset's default);
        a target whose config sets its own uses that instead.
        """
        ...

    def interpret(self, batch: ResponseBatch) -> Interpretation:
        ...


@runtime_checkable
class Connector(Protocol):
    """Optional ability: the target makes its own connections (no sockets: the fake).

    `connect` is awaited like `loop.create_connection`: it calls
    `protocol_factory()`, hands the protocol a transport (`write`, `close`,
    `abort`, `is_closing`) through `connection_made`, and returns
    `(transport, protocol)`.
    """

    def connect(self, loop: Any, protocol_factory: Callable[[], Any],
                endpoint: Endpoint) -> Awaitable[tuple[Any, Any]]:
        ...


@runtime_checkable
class Preflight(Protocol):
    """Optional ability: check the endpoint before any load (in the coordinator).

    `preflight()` raises a one-line `TargetError` (exit 2) when the endpoint
    cannot serve the run: a model that is not loaded, a server that is not there.
    """

    def preflight(self) -> None:
        ...


# type name -> "module:Class" (imported on first use, so an optional extra such as
# `aws` is only needed by the runs that use its target)
REGISTRY: dict[str, str] = {
    "http": "stinger.targets.http:HttpTarget",
    "fake": "stinger.targets.fake:FakeTarget",
    "sagemaker": "stinger.targets.sagemaker:SageMakerTarget",
    "openai": "stinger.targets.openai:OpenAITarget",
    "kserve": "stinger.targets.kserve:KServeTarget",
}


def _module(type_name: str) -> tuple[Any, str]:
    from importlib import import_module

    from stinger.errors import SpecError

    ref = REGISTRY.get(type_name)
    if ref is None:
        raise SpecError(f"target.type: unknown target type {type_name!r}; expected one of {', '.join(sorted(REGISTRY))}")
    module, _, name = ref.partition(":")
    return import_module(module), name


def target_class(type_name: str) -> Any:
    """The class registered for `type_name`; a one-line SpecError names the known ones."""
    module, name = _module(type_name)
    return getattr(module, name)


def config_class(type_name: str) -> type[TargetConfig]:
    """The `Config` model of the target registered for `type_name`."""
    module, _ = _module(type_name)
    return module.Config


def build_target(config: TargetConfig) -> Any:
    """The live target for a validated config (in the worker process)."""
    return target_class(config.type)(config)
