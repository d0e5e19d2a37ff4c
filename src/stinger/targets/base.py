"""The target seam: what a request and its answer mean (an **api**) x how it reaches the model (a **carrier**).

A target is an api over a carrier: `plain`, `openai` or `kserve` (what the bytes mean: the
request body an api builds from a payload, the headers and content type it asks for, what
it reads in the answers) over `http`, `fake` or a vendor's carrier (how they travel: the endpoints,
the wire bytes around the api's body, signing, and what the carrier itself says in an
answer: throttling, the variant that served it). The spec names both, flat:
`target: {type: API, via: CARRIER, ...the api's fields, ...the carrier's fields}`; `via`
defaults to `http`, and the older types are read as pairs (`type: http` is plain via http,
`type: fake` plain via fake: `LEGACY`; a vendor adds its own older names: `legacy_types()`).

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

The engine sees one `Target` per variant: `ComposedTarget(api, carrier)`, built inside
the worker process (`build_target`) from the validated, picklable config, because
sockets, credentials and compiled paths do not travel. Its `request` is the carrier's
bound method itself when the api sends the payload as it is (plain), and its
`interpret` the api's when the carrier reads nothing of its own (http): the
composition adds no call on those paths (`bench/hot_path.py`).

**Configs are written per pair, by hand.** Each accepted (api, carrier) pair has one
pydantic class, a module-level global (so Ray pickles it by reference), built from
the api's field mixin and the carrier's (`openai.Config(OpenAIFields, HttpFields)`),
with `type: Literal[API]`, `via: Literal[CARRIER]` and whatever rule belongs to the
pair alone (plain over http has `method` and `urls`; openai over http needs `url`).
`PAIRS` maps `"API@CARRIER"` to it; the spec's union is told apart by that tag, so a
spec's error paths stay `target.FIELD`. (Generating these classes from the mixins
was the first plan; each pair turned out to carry a rule of its own, and a
generated class is invisible to a reader and to mypy.) The config alone says where
the target connects (`TargetConfig.endpoints()`, pure parsing, so planning can
count loopback targets without building one).

How the engine reaches an endpoint: a carrier names its transport (`transport =
"fake"`, a `stinger.engine.transport.TRANSPORTS` name or a "module:Class"; HTTP/1.1
over TCP when it names none). The engine looks it up once per run, so the choice
costs nothing per request. A URL scheme may name its carrier (`SCHEMES`): a
`target:` with no `via` whose `url` has that scheme goes via it.

What the coordinator may ask of a kind (a preflight, variant discovery, an
attributed split, monitors, an after-run block, a price, flags) are abilities of
its coordinator half: `targets/abilities.py`.

To add an api: `targets/NAME.py` with its field mixin, its `Api` class and the
pair config over http, its test, one line in `APIS` and one in `PAIRS`. To add a
carrier: its field mixin, its `Carrier` class, a pair config per api it carries,
its test, one line in `CARRIERS` and one in `PAIRS` per pair. Import optional
heavy dependencies (botocore, ...) inside the class, not at the top of the
module: the spec imports every pair's config to validate `target:`.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, model_validator

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
    # the run's payload bytes by `payload` index (the flush thread's dataset), for an api that reads its
    # request again after the answer (a tokenizer's input count); None where not given
    payload_bytes: Callable[[int], bytes] | None = None

    def __len__(self) -> int:
        return len(self.done)


@dataclass(slots=True)
class Interpretation:
    """What a target read from a batch; every field optional, aligned with the batch's rows.

    `kind`: refined error kinds (e.g. a 200 whose body says `ModelError`).
    `server_ms`: the server's own time per row (NaN where absent).
    `variant`: the variant that actually served each row (an endpoint's own split).
    `columns`: extra per-row values in microseconds (or the metric's stored unit),
    keyed by a metric name declared in `stinger.core.catalogue` (e.g. "ttft").
    `messages`: what the endpoint said with its errors, the first of each error kind
    in the batch (kind -> text, e.g. a model container's error message); the
    worker passes each distinct one on once, redacted and truncated (`core.error_notes`).
    `many`: a metric with several values per row (catalogue `per="gap"`, e.g. every
    inter-token gap), as `(values, counts)`: every row's values flattened in row order,
    and how many each row has (0 for none); recorded like a column, value by value.
    `bodies`: the answers as the run's checks and prediction path read them, when a carrier
    rewrote them (gRPC: a protobuf message as its V2 JSON); None: the bodies as they came.
    `predictions`: per row, None or `(prediction, label or None)` a response hook read
    (targets/hooks.py); they go where the `prediction:` JSON path's go.
    `token_source`: per row, where its token counts came from (0: none, else the index + 1 in
    `core.records.TOKEN_SOURCES`: usage, tokenizer, chunks; `targets.tokens`), counted per variant.
    """

    kind: np.ndarray | None = None
    server_ms: np.ndarray | None = None
    variant: np.ndarray | None = None
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    messages: dict[int, str] | None = None
    many: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    bodies: list[bytes] | None = None
    predictions: list[tuple[Any, Any] | None] | None = None
    token_source: np.ndarray | None = None


# ------------------------------------------------------------------ configs: type (api) x via (carrier)
DEFAULT_API = "plain"
DEFAULT_CARRIER = "http"
DEFAULT_TRANSPORT = "http1"   # engine.transport.TRANSPORTS' name for HTTP/1.1 over TCP
# the older `type:` names, each a whole target: read as (api, carrier); a vendor adds its own
# (`stinger.vendors`, seam `legacy`: name -> "API@CARRIER")
LEGACY: dict[str, tuple[str, str]] = {"http": ("plain", "http"), "fake": ("plain", "fake")}


def legacy_types() -> dict[str, tuple[str, str]]:
    """Every older `type:` name (ours and the vendors') -> the (api, carrier) it means."""
    from stinger.core.plugins import vendor_lines

    out = dict(LEGACY)
    for name, tag in vendor_lines("legacy").items():
        api, _, carrier = tag.partition("@")
        out[name] = (api, carrier)
    return out


def normalise_target(data: Mapping[str, Any], *, defaults: bool = True) -> dict[str, Any]:
    """A `target:` mapping as a pair: `type` the api (default plain), `via` the carrier (default
    http); an older type (`http`, `fake`, a vendor's) becomes its pair. A legacy type with a
    different `via` is left as written (the spec then names the conflict). `defaults=False`
    rewrites an older type only (a pair's class fills in its own defaults)."""
    out = dict(data)
    kind = out.get("type", DEFAULT_API)
    # the vendors are asked only for a name that is neither ours nor an api (no lookup per plain config)
    legacy = (LEGACY if kind in LEGACY or kind in APIS else legacy_types()) if isinstance(kind, str) else {}
    if kind in legacy:
        api, carrier = legacy[kind]
        if out.get("via", carrier) == carrier:
            out["type"], out["via"] = api, carrier
    if "via" not in out and isinstance(out.get("url"), str):   # a scheme that names its carrier
        scheme = out["url"].partition("://")[0].lower() if "://" in out["url"] else ""
        named = registry("schemes").get(scheme)
        if named is not None:
            out["via"] = named
    if defaults:
        out.setdefault("type", DEFAULT_API)
        out.setdefault("via", DEFAULT_CARRIER)
    return out


def pair_tag(data: Any) -> str | None:
    """`"API@CARRIER"` of a target mapping (normalised) or config: the spec's union tag."""
    if isinstance(data, Mapping):
        d = normalise_target(data)
        kind, via = d.get("type"), d.get("via")
        return f"{kind}@{via}" if isinstance(kind, str) and isinstance(via, str) else None
    kind, via = getattr(data, "type", None), getattr(data, "via", None)
    return f"{kind}@{via}" if kind is not None and via is not None else None


class TargetConfig(BaseModel):
    """A target's validated, picklable config: the `target:` mapping of a spec.

    A pair's class narrows `type` (its api) and `via` (its carrier) to literals and adds
    the fields of both (see the module docstring); an older `type` is read as its pair.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = DEFAULT_API
    via: str = DEFAULT_CARRIER
    # does a request carry an X-Request-Id and a traceparent by default (core/correlation.py)? An LLM api's
    # fields say yes (a few dozen bytes beside a prompt); plain HTTP's no (bytes on the hot path, docs/correlation.md)
    request_ids: ClassVar[bool] = False

    @model_validator(mode="before")
    @classmethod
    def _pair(cls, data: Any) -> Any:
        return normalise_target(data, defaults=False) if isinstance(data, Mapping) else data

    @property
    def tag(self) -> str:
        """`"API@CARRIER"`, the key of this pair in `PAIRS`."""
        return f"{self.type}@{self.via}"

    def endpoints(self) -> tuple[Endpoint, ...]:
        """Where the target connects, from the config alone (pure parsing; a
        malformed address is a `TargetError`). Empty for a target without sockets."""
        return ()

    def all_urls(self) -> list[str]:
        """The URLs to show a person (summary, capacity report); may be empty."""
        return [e.url for e in self.endpoints()]

    def missing_address(self) -> bool:
        """True when the config names nowhere to send (plain HTTP without a url): a spec error."""
        return False

    def with_payload(self, has_body: bool) -> TargetConfig:
        """This config once the run's payload is known (e.g. plain HTTP defaults to POST
        when there is a body); the same config when nothing depends on it."""
        return self


# ------------------------------------------------------------------ the worker halves
@runtime_checkable
class Target(Protocol):
    """What the engine sends through: one per variant, built in the worker (`build_target`)."""

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
class Api(Protocol):
    """What a request and its answer mean (plain, openai, kserve). Built in the worker from the
    pair's config; the carrier reads the first four members once per distinct request."""

    name: ClassVar[str]
    method: str                      # the request's method where the carrier has one (HTTP)

    def request_headers(self) -> tuple[tuple[str, str], ...]:
        """The api's own headers, sent before the user's (openai: Accept, Authorization)."""
        ...

    def content_type(self, payload_type: str | None) -> str | None:
        """The request's content type, given the payload's (plain: the payload's; openai: JSON)."""
        ...

    # the request body for one payload (build time, once per distinct payload), or None when the
    # payload is sent as it is (plain): the composition then adds no call on the build path
    body: Callable[[bytes], bytes] | None

    def needs(self) -> Needs:
        ...

    def interpret(self, batch: ResponseBatch) -> Interpretation:
        """Flush time: what the answers say (kinds, token columns, messages), on the batch as the
        carrier unwrapped it."""
        ...


@runtime_checkable
class Carrier(Protocol):
    """How a request reaches the model (http, fake, a vendor's). Built in the worker as
    `Carrier(config, api)`: it wraps the api's body in its wire bytes."""

    name: ClassVar[str]

    def endpoints(self) -> tuple[Endpoint, ...]:
        ...

    def needs(self) -> Needs:
        ...

    def request(self, endpoint: Endpoint, body: bytes, now: float,
                content_type: str | None = None) -> tuple[bytes, float]:
        """The wire bytes around the api's `body` (already built), and until when they are valid."""
        ...

    # flush time, or None when the carrier reads nothing of its own (http): (the batch the api reads,
    # what the carrier read itself: throttling, errors, the variant that served each row, its columns)
    unwrap: Callable[[ResponseBatch], tuple[ResponseBatch, Interpretation | None]] | None


def merge_needs(a: Needs, b: Needs) -> Needs:
    """What the engine keeps for both halves: headers united (first's first), each flag or'd."""
    return Needs(headers=tuple(dict.fromkeys(a.headers + b.headers)), body=a.body or b.body,
                 chunk_times=a.chunk_times or b.chunk_times, head=a.head or b.head,
                 error_bodies=a.error_bodies or b.error_bodies)


def merge_interpretations(own: Interpretation | None, said: Interpretation) -> Interpretation:
    """The carrier's reading (`own`) with the api's (`said`), row by row: a failure kind the carrier
    gave wins, the api refines the rows the carrier left as they were; server time and the variant
    from whichever half set them (the api's first); columns, many-valued metrics and messages united
    (the carrier's message of a kind first); rewritten bodies from whichever half rewrote them."""
    if own is None:
        return said
    kind = own.kind if said.kind is None else said.kind
    if own.kind is not None and said.kind is not None:
        from stinger.core.records import Kind

        kind = said.kind.copy()
        failed = own.kind != int(Kind.OK)
        kind[failed] = own.kind[failed]
    messages = dict(said.messages or {})
    messages.update(own.messages or {})
    return Interpretation(kind=kind,
                          server_ms=said.server_ms if said.server_ms is not None else own.server_ms,
                          variant=said.variant if said.variant is not None else own.variant,
                          columns={**own.columns, **said.columns}, messages=messages or None,
                          many={**own.many, **said.many},
                          bodies=said.bodies if said.bodies is not None else own.bodies)


class ComposedTarget:
    """An api over a carrier, as the engine's `Target` (see the module docstring)."""

    __slots__ = ("api", "carrier", "config", "interpret", "request", "transport")

    def __init__(self, config: TargetConfig, api: Any, carrier: Any) -> None:
        self.config = config
        self.api: Api = api
        self.carrier: Carrier = carrier
        # bound once: plain sends the payload as it is (the carrier's own method, no added call);
        # an api that builds a body gets it built on the same (cache-miss) path
        self.request = carrier.request if api.body is None else self._built_request
        self.interpret = api.interpret if carrier.unwrap is None else self._unwrapped_interpret
        # the engine's transport for this carrier (engine.transport.TRANSPORTS): a carrier that
        # declares none travels over HTTP/1.1
        self.transport: str = getattr(carrier, "transport", DEFAULT_TRANSPORT)

    def endpoints(self) -> tuple[Endpoint, ...]:
        return self.carrier.endpoints()

    def needs(self) -> Needs:
        return merge_needs(self.carrier.needs(), self.api.needs())

    def _built_request(self, endpoint: Endpoint, payload: bytes, now: float,
                       content_type: str | None = None) -> tuple[bytes, float]:
        assert self.api.body is not None   # bound only for an api that builds its body
        return self.carrier.request(endpoint, self.api.body(payload), now, content_type)

    def _unwrapped_interpret(self, batch: ResponseBatch) -> Interpretation:
        assert self.carrier.unwrap is not None   # bound only for a carrier that reads answers itself
        inner, own = self.carrier.unwrap(batch)
        if own is not None and own.kind is not None:
            inner = replace(inner, kind=own.kind)   # the api reads the rows as the carrier left them
        return merge_interpretations(own, self.api.interpret(inner))


# ------------------------------------------------------------------ registries
# name -> "module:Class", imported on first use (so an optional extra such as `aws` is only
# needed by the runs that use it); a vendor package adds its lines through `stinger.vendors`
APIS: dict[str, str] = {
    "plain": "stinger.targets.plain:PlainApi",
    "openai": "stinger.targets.openai:OpenAIApi",
    "kserve": "stinger.targets.kserve:KServeApi",
    "anthropic": "stinger.targets.anthropic:AnthropicApi",
}
CARRIERS: dict[str, str] = {
    "http": "stinger.targets.http:HttpCarrier",
    "fake": "stinger.targets.fake:FakeCarrier",
    "grpc": "stinger.targets.grpc:GrpcCarrier",
}
# "API@CARRIER" -> the pair's config class: every pair a spec may name
PAIRS: dict[str, str] = {
    "plain@http": "stinger.targets.http:Config",
    "openai@http": "stinger.targets.openai:Config",
    "kserve@http": "stinger.targets.kserve:Config",
    "anthropic@http": "stinger.targets.anthropic:Config",
    "plain@fake": "stinger.targets.fake:Config",
    "kserve@grpc": "stinger.targets.grpc:Config",
}
# a URL scheme -> the carrier a `target:` with no `via` goes by (http and https: the default)
SCHEMES: dict[str, str] = {
    "grpc": "grpc", "grpcs": "grpc",
}
# every name `type:` accepts -> the pair it means without a `via` (apis over http; the older names)
REGISTRY: dict[str, str] = {**{api: f"{api}@{DEFAULT_CARRIER}" for api in APIS},
                            **{name: f"{a}@{c}" for name, (a, c) in LEGACY.items()}}


def type_names() -> dict[str, str]:
    """`REGISTRY` with the vendors' older names (`legacy_types`)."""
    return {**REGISTRY, **{name: f"{a}@{c}" for name, (a, c) in legacy_types().items()}}


def registry(seam: str) -> dict[str, str]:
    """One seam's lines (`apis`, `carriers`, `pairs`, `schemes`) with the vendors' added (`stinger.vendors`)."""
    from stinger.core.plugins import vendor_lines

    own = {"apis": APIS, "carriers": CARRIERS, "pairs": PAIRS, "schemes": SCHEMES}[seam]
    return {**own, **vendor_lines(seam)}


def _load(ref: str) -> Any:
    from importlib import import_module

    module, _, name = ref.partition(":")
    return getattr(import_module(module), name)


def tag_problem(tag: str) -> tuple[str, str]:
    """Why a `target:` with this `"API@CARRIER"` tag is refused: (the field in error, one line)."""
    kind, _, via = tag.partition("@")
    apis, carriers, pairs, legacy = registry("apis"), registry("carriers"), registry("pairs"), legacy_types()
    if kind not in apis and kind not in legacy:
        return "type", f"unknown target type {kind!r}; expected one of {', '.join(sorted({*apis, *legacy}))}"
    if via not in carriers:
        return "via", f"unknown carrier {via!r}; expected one of {', '.join(sorted(carriers))}"
    if kind in legacy:
        api, carrier = legacy[kind]
        return "via", (f"type: {kind} is type: {api} via {carrier}; it cannot go via {via} "
                       f"(write type: {api}, via: {via})")
    can = sorted(p.partition("@")[2] for p in pairs if p.partition("@")[0] == kind)
    return "via", f"type {kind} cannot go via {via}; expected via: {' or '.join(can) or 'none'}"


def config_class(tag: str) -> type[TargetConfig]:
    """The config model of a pair (`"openai@http"`), or of a `type:` name alone (its default pair)."""
    from stinger.errors import SpecError

    pairs = registry("pairs")
    ref = pairs.get(type_names().get(tag, tag))
    if ref is None:
        field, problem = tag_problem(tag if "@" in tag else f"{tag}@{DEFAULT_CARRIER}")
        raise SpecError(f"target.{field}: {problem}")
    cls: type[TargetConfig] = _load(ref)
    return cls


def api_class(name: str) -> Any:
    return _load(registry("apis")[name])


def carrier_class(name: str) -> Any:
    return _load(registry("carriers")[name])


def declared_metrics() -> dict[str, tuple[str, ...]]:
    """`"apis:NAME"` / `"carriers:NAME"` -> the catalogue metrics that api or carrier declares it reads from
    responses (its `metrics`; none when it declares none). Imports every registered api and carrier."""
    return {f"{seam}:{name}": tuple(getattr(_load(ref), "metrics", ()))
            for seam in ("apis", "carriers") for name, ref in registry(seam).items()}


def build_target(config: TargetConfig) -> ComposedTarget:
    """The live target for a validated config (in the worker process): its api over its carrier."""
    api = api_class(config.type)(config)
    return ComposedTarget(config, api, carrier_class(config.via)(config, api))
