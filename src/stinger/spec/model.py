"""The validated run spec: the pydantic models (YAML file and command-line flags, one model).

A target is held, not inherited: `target:` (one endpoint) or each variant's
`target:` is a discriminated union over `targets.base.PAIRS`, keyed by its
`type` (the api, default `plain`) and `via` (the carrier, default `http`), so
specs written before targets had types still load, and the older types
(`http`, `fake`, a vendor's) are read as their pairs; each pair brings its own
config model. A variant written in the flat form
(`url:`, `method:`, `headers:` directly on the variant) is normalised into
`target:` before validation.

Loading a file, the line map and error formatting live in `spec.loading`;
redaction of secrets in `core.secrets`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainValidator,
    Tag,
    field_validator,
    model_validator,
)

from stinger.core.records import MAX_VARIANTS, UNATTRIBUTED
from stinger.errors import UsageError
from stinger.spec.origins import ScaleSpec
from stinger.targets.abilities import BASIC_SPLITS, RunTargets, RunVariant, endpoint_split, split_modes
from stinger.targets.base import TargetConfig, config_class, pair_tag, registry

# Hard limits: past these a value is a mistake whatever the machine (a schedule of 1e308
# requests a second never ends). Below them, the safety ceilings of `orchestrate.preflight.check_ceilings`
# (per machine, confirmed past with --yes / load.confirm) apply.
MAX_RATE = 1e8               # requests per second
MAX_USERS = 10_000_000
MAX_WORKERS = 1024
MAX_REQUESTS = 10**12
MAX_DURATION = 30 * 86_400.0  # s: a month
MAX_IN_FLIGHT = 10_000_000
MAX_WEIGHT = 1e12


def _duration(v: Any) -> Any:
    if v is None:
        return None
    from stinger.core.schedule import parse_duration

    try:
        out = parse_duration(v)
    except UsageError as exc:  # pydantic attaches the field's location to a ValueError
        raise ValueError(str(exc)) from None
    if out > MAX_DURATION:
        raise ValueError(f"duration must be at most 30 days ({MAX_DURATION:g} s), got {_brief(v)}")
    return out


def _brief(v: Any) -> str:
    r = repr(v)
    return r if len(r) <= 40 else r[:30] + "..."


def _rate(v: Any) -> Any:
    if v is None:
        return None
    from stinger.core.schedule import parse_rate

    try:
        out = parse_rate(v)
    except UsageError as exc:
        raise ValueError(str(exc)) from None
    if out > MAX_RATE:
        raise ValueError(f"rate must be at most {MAX_RATE:.0e} requests/s, got {_brief(v)}")
    return out


Duration = Annotated[float, BeforeValidator(_duration)]

_SIZE_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "kib": 1024, "mib": 1024**2, "gib": 1024**3}


def _size(v: Any) -> Any:
    """A byte count: an integer, or a number with a unit (16MB, 512KiB)."""
    if isinstance(v, str):
        m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", v)
        unit = m.group(2).lower() if m else ""
        if m is None or unit not in _SIZE_UNITS:
            raise ValueError(f"expected a size such as 16MB or 512KiB, got {v!r}")
        return int(float(m.group(1)) * _SIZE_UNITS[unit])
    return v


Size = Annotated[int, BeforeValidator(_size)]
Rate = Annotated[float, BeforeValidator(_rate)]


def _ramp_start(v: Any) -> Any:
    """A ramp may start from 0; any other start is a rate, with a rate's limits (the old `Rate | float`
    let nan, inf and 1e9 through as a plain float, past the hard limit even with --yes)."""
    try:
        if float(v) == 0:
            return 0.0
    except (TypeError, ValueError, OverflowError):
        pass
    return _rate(v)


RampStart = Annotated[float, BeforeValidator(_ramp_start)]


DEFAULT_TARGET_TYPE = "plain@http"   # a target mapping with neither type nor via


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


LATE_PAIR = "late pair"   # the union's tag of a pair a vendor registered after this module was imported


def _late_pair(data: Any) -> Any:
    """A pair the union was built without (a vendor registered later): its own config class validates it
    (its errors keep their paths, under the `LATE_PAIR` tag the spec's messages leave out)."""
    if isinstance(data, TargetConfig):
        return data
    return config_class(str(pair_tag(data))).model_validate(data)


def _target_union() -> Any:
    """The config of every accepted (api, carrier) pair as one union, told apart by `"API@CARRIER"`; a pair
    registered after the union was built (a vendor's, by a plugin or a test) is looked up when it is met."""
    built = tuple(registry("pairs"))
    choices = tuple(Annotated[config_class(tag), Tag(tag)] for tag in built)

    def tag(data: Any) -> str | None:
        t = pair_tag(data)
        return t if t in built or t not in registry("pairs") else LATE_PAIR

    late = Annotated[Any, PlainValidator(_late_pair), Tag(LATE_PAIR)]   # Any: dumped as its own class
    return Annotated[Union[(*choices, late)], Discriminator(tag)]


if TYPE_CHECKING:   # built at import time from the registry: to a type checker, any pair's config
    AnyTarget = TargetConfig
else:
    AnyTarget = _target_union()

# the fields a variant has besides its target; everything else on a flat variant is the target's
_VARIANT_OWN = ("name", "weight", "monitors", "target")


class VariantSpec(_Model):
    """One variant: a name, a traffic weight, its own monitors, and the target it sends to."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")  # used in file tags and column names
    weight: float = Field(default=1.0, ge=0, le=MAX_WEIGHT, allow_inf_nan=False)
    monitors: list[dict[str, Any]] = Field(default_factory=list)  # this variant's own (named after it)
    target: AnyTarget = Field(default_factory=lambda: config_class(DEFAULT_TARGET_TYPE)())

    @model_validator(mode="before")
    @classmethod
    def _flat_form(cls, data: Any) -> Any:
        """`{name: A, url: ...}` (the flat form) -> `{name: A, target: {url: ...}}`."""
        if not isinstance(data, dict):
            return data
        flat = {k: v for k, v in data.items() if k not in _VARIANT_OWN}
        if not flat:
            return data
        if "target" in data:
            raise ValueError(f"give the target's fields ({', '.join(map(str, flat))}) inside target:, "
                             f"not beside it")
        out = {k: v for k, v in data.items() if k in _VARIANT_OWN}
        out["target"] = flat
        return out

    def all_urls(self) -> list[str]:
        return self.target.all_urls()


class RampSpec(_Model):
    start: RampStart = Field(alias="from", default=0.0)
    end: Rate = Field(alias="to")
    over: Duration
    hold: Duration = 0.0
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class StepSpec(_Model):
    rate: Rate | None = None
    users: int | None = Field(default=None, ge=0, le=MAX_USERS)
    duration: Duration


class SpikeSpec(_Model):
    baseline: Rate
    height: Rate
    at: Duration
    length: Duration


class ShapeSpec(_Model):
    """A load shape; exactly one kind."""

    ramp: RampSpec | None = None
    steps: list[StepSpec] | None = None
    spike: SpikeSpec | None = None
    profile: list[tuple[float, float]] | None = None   # (t seconds, rate) knots, linear in between
    # a file of timestamps or gaps, or `capture`: the arrival times of the Data Capture payload
    # (payload.format: capture), payload i sent at captured request i's offset
    trace: str | None = Field(default=None, max_length=4096)
    # a trace replayed this many times as fast (2: twice as fast, 0.5: half speed)
    speed: float | None = Field(default=None, gt=0, le=1e6)

    @field_validator("profile")
    @classmethod
    def _knots(cls, v):
        import math

        for t, r in v or ():
            if not (math.isfinite(t) and math.isfinite(r)) or t < 0 or t > MAX_DURATION or r < 0 or r > MAX_RATE:
                raise ValueError(f"a profile knot is (t >= 0 s, 0 <= rate <= {MAX_RATE:.0e}), both finite; "
                                 f"got ({t:g}, {r:g})")
        return v

    @field_validator("steps")
    @classmethod
    def _few_steps(cls, v):
        if v is not None and len(v) > 10_000:
            raise ValueError(f"at most 10,000 steps, got {len(v):,}")
        return v

    @model_validator(mode="after")
    def _one(self) -> ShapeSpec:
        given = [k for k in ("ramp", "steps", "spike", "profile", "trace") if getattr(self, k) is not None]
        if self.speed is not None and self.trace is None:
            raise ValueError("speed applies to a trace (load.shape.trace: FILE or capture, --replay-arrivals); "
                             "this load has none")
        if len(given) != 1:
            raise ValueError(f"a shape needs exactly one of ramp, steps, spike, profile, trace; got {given or 'none'}")
        return self


def fresh_seed() -> int:
    """A new seed for a run that names none: arrivals, payload order and variant split differ run to run."""
    import secrets

    return secrets.randbelow(2**31)


class LoadSpec(_Model):
    mode: Literal["open", "closed"] | None = None   # None: open when a rate or shape is given, closed with users
    rate: Rate | None = None
    arrival: Literal["constant", "poisson"] = "constant"
    shape: ShapeSpec | None = None
    users: int | None = Field(default=None, ge=1, le=MAX_USERS)
    think_time: Duration = 0.0
    duration: Duration | None = None
    requests: int | None = Field(default=None, ge=1, le=MAX_REQUESTS)
    warmup: Duration = 0.0
    timeout: Duration = 30.0
    connect_timeout: Duration = 10.0
    max_in_flight: int = Field(default=10_000, ge=1, le=MAX_IN_FLIGHT)
    on_limit: Literal["queue", "drop"] = "queue"
    drain: Duration = 5.0
    # a response body kept for a check or prediction past this many bytes is `body_too_large`
    max_body: Size = Field(default=16 * 1024 * 1024, ge=1, le=2**40)
    # a response head (status line and headers) past this many bytes is `header_too_large`
    max_header: Size = Field(default=64 * 1024, ge=1, le=2**40)
    workers: int | Literal["auto"] = "auto"
    # where workers run: a name in `scale.base.REGISTRY` (local forked processes, ray actors, ...),
    # checked before the run (the spec layer does not import the scale layer)
    backend: str = "local"
    # a worker lost mid-run: continue without its share (the behaviour before the option: exit 3), stop the
    # run at once (exit 3), or rebalance its share onto the survivors from the moment of loss
    # (scale/control.py; exit code as a normal end)
    on_worker_loss: Literal["stop", "continue", "rebalance"] = "continue"
    # a fresh seed per run unless one is given (`--seed`); it is recorded in spec.yaml and
    # summary.json and printed, so any run can be reproduced
    seed: int = Field(default_factory=lambda: fresh_seed(), ge=0, lt=2**63)
    # past the per-machine safety ceilings (rate, users, workers): the user confirmed (--yes)
    confirm: bool = False
    # stop the run when this holds, e.g. 'error_rate>50%' (see core.abort); None: the default
    # rule only (every request of the last seconds failed to connect)
    abort_on: list[str] | None = None

    @field_validator("workers")
    @classmethod
    def _workers(cls, v):
        if v != "auto" and not 1 <= v <= MAX_WORKERS:
            raise ValueError(f"workers must be between 1 and {MAX_WORKERS} or 'auto', got {v}")
        return v

    @field_validator("abort_on")
    @classmethod
    def _abort_rules(cls, v):
        if v is not None:
            from stinger.core.abort import parse_abort_rule

            for rule in v:
                try:
                    parse_abort_rule(rule)
                except UsageError as exc:
                    raise ValueError(str(exc)) from None
        return v

    @field_validator("duration", "timeout", "connect_timeout")
    @classmethod
    def _positive(cls, v):
        if v is not None and v <= 0:
            raise ValueError(f"must be > 0, got {v}")
        return v

    def resolved_mode(self) -> str:
        if self.mode:
            return self.mode
        if self.users is not None and self.rate is None and self.shape is None:
            return "closed"
        return "open"


class PayloadSpec(_Model):
    data: str | None = None
    format: Literal["jsonl", "csv", "json", "files", "capture", "mooncake"] | None = None
    label_field: str | int | None = None
    body_field: str | None = None
    csv_header: bool | None = None
    order: Literal["sequential", "random", "weighted"] = "sequential"
    weights: list[float] | None = None
    content_type: str | None = None
    body: str | None = None
    # synthetic LLM prompts (datasets/synthetic.py): input and output lengths in tokens, MEAN:STDDEV
    isl: str | None = None
    osl: str | None = None
    prompts: int = Field(default=1000, ge=1, le=10_000_000)
    ignore_eos: bool = False
    # multi-turn sessions (datasets/conversations.py, engine/sessions.py): a conversations file; the
    # open model's arrivals start sessions, each turn carries the history and the answers streamed
    sessions: str | None = Field(default=None, max_length=4096)

    @model_validator(mode="after")
    def _synthetic(self) -> PayloadSpec:
        if self.sessions is not None and (self.data or self.body is not None or self.isl is not None):
            raise ValueError("sessions are the payload (each turn built from its conversation); expected "
                             "payload.sessions (--sessions) without data (--data), body (--body) or isl (--isl)")
        if self.isl is None:
            if self.osl is not None or self.ignore_eos:
                raise ValueError("osl and ignore_eos shape synthetic prompts; expected isl (--isl MEAN:STDDEV) too")
            return self
        if self.data or self.body is not None:
            raise ValueError("isl makes synthetic prompts; expected it without payload.data (--data) or body (--body)")
        from stinger.datasets.synthetic import check_budget, parse_length
        from stinger.errors import DatasetError

        try:
            for what, text in (("isl", self.isl), ("osl", self.osl)):
                if text is not None:
                    parse_length(text, what)
            check_budget(self.isl, self.prompts)
        except DatasetError as exc:
            raise ValueError(str(exc)) from None
        return self

    def synthetic(self) -> tuple[str, str | None, int, bool] | None:
        """(isl, osl, prompts, ignore_eos) of synthetic prompts, None for any other payload."""
        return None if self.isl is None else (self.isl, self.osl, self.prompts, self.ignore_eos)

    @field_validator("content_type")
    @classmethod
    def _content_type(cls, v: str | None) -> str | None:
        # a header value like any `-H` one: a line break would put a header of its own on the wire
        from stinger.targets.http import check_header

        return None if v is None else check_header("Content-Type", v)


class CheckSpec(_Model):
    status: str | int | list[int] | None = None
    json_path: str | None = None
    equals: Any = None
    regex: str | None = None


class ServerTimeSpec(_Model):
    header: str = "server-timing"
    metric: str | None = None
    unit: str = "ms"


class ServedBySpec(_Model):
    """Per-backend rows behind a load balancer: the response header naming the server that answered,
    and optionally the weights the balancer is configured with (`a=1,b=1,c=2` or a mapping)."""

    header: str = Field(min_length=1, max_length=200)
    weights: dict[str, float] | None = None

    @model_validator(mode="before")
    @classmethod
    def _needs_header(cls, data: Any) -> Any:
        # "served_by.header: required field is missing" named no flag the user could have typed
        if isinstance(data, dict) and "header" not in data and "weights" in data:
            raise ValueError("the weights (--served-by-weights) are of the backends a response header names; "
                             "expected --served-by-header HEADER (served_by.header) with them")
        return data

    @field_validator("header")
    @classmethod
    def _header(cls, v: str) -> str:
        if not re.fullmatch(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+", v):
            raise ValueError(f"{v!r} is not a header name (an HTTP token such as X-Served-By)")
        return v

    @field_validator("weights", mode="before")
    @classmethod
    def _weights(cls, v: Any) -> Any:
        from stinger.core.breakdown import parse_weights

        if isinstance(v, str):
            return parse_weights(v)
        if isinstance(v, dict):
            bad = [k for k, w in v.items() if not isinstance(w, (int, float)) or isinstance(w, bool) or w < 0]
            if bad or not sum(v.values()) > 0:
                raise ValueError(f"weights {v!r}: expected backend names with numbers >= 0, e.g. {{a: 1, b: 1, c: 2}}")
        return v


class OutputSpec(_Model):
    dir: str = Field(default="runs", min_length=1, max_length=4096)
    name: str | None = Field(default=None, max_length=200)
    # one row per request sent, in the run directory: each row sink's file (rows/base.py REGISTRY:
    # csv -> requests.csv, parquet -> requests.parquet); `save_requests: true` is an alias of `rows: [csv]`
    rows: list[str] = Field(default_factory=list)
    save_requests: bool = False
    # header names (and query parameter names) whose values never reach an output
    redact: list[str] = Field(default_factory=list)

    @field_validator("rows", mode="before")
    @classmethod
    def _rows(cls, v: Any) -> Any:
        if isinstance(v, str):   # --save-requests=csv,parquet
            v = [x.strip() for x in v.split(",") if x.strip()]
        if not isinstance(v, list):
            return v   # pydantic names the type it expected
        from stinger.rows.base import names

        known = names()
        for name in v:
            if name not in known:
                raise ValueError(f"unknown row sink {name!r}; expected one of {', '.join(known)}")
        return list(dict.fromkeys(v))

    def row_sinks(self) -> tuple[str, ...]:
        """The row sinks this run writes: `rows`, with csv first when `save_requests` is set."""
        return tuple(dict.fromkeys((["csv"] if self.save_requests else []) + list(self.rows)))


class CorrelationSpec(_Model):
    """Request IDs (core/correlation.py, docs/correlation.md): `ids` on or off for every variant (None: each
    target's default, on for LLM apis, off for plain HTTP), the ID header's name (empty: none), and whether a
    W3C `traceparent` goes with it."""

    ids: bool | None = None
    header: str = Field(default="X-Request-Id", max_length=200)
    traceparent: bool = True

    @field_validator("header")
    @classmethod
    def _header(cls, v: str) -> str:
        if v and not re.fullmatch(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+", v):
            raise ValueError(f"{v!r} is not a header name (an HTTP token such as X-Request-Id)")
        return v


class OtlpSpec(_Model):
    """`--otlp URL`: at the end of a run, its metrics and one span per request over OTLP/HTTP protobuf
    (outputs/otlp.py). `url` is the receiver's base (…:4318; /v1/metrics and /v1/traces are appended)."""

    url: str = Field(min_length=1, max_length=4096)
    max_spans: int = Field(default=100_000, ge=0, le=10_000_000)
    timeout: float = Field(default=10.0, gt=0, le=300)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"https?://[^/\s]+", v):
            raise ValueError(f"{v!r} is not an http(s) URL; expected e.g. http://127.0.0.1:4318")
        return v.rstrip("/")


class HooksSpec(_Model):
    """The user's Python (core/hooks.py): `request` builds each payload's request once before the run,
    `response` reads every OK answer at flush time; each "module:function", imported at plan time."""

    request: str | None = None
    response: str | None = None

    @field_validator("request", "response")
    @classmethod
    def _ref(cls, v: str | None) -> str | None:
        if v is not None:
            module, sep, name = v.partition(":")
            if not (sep and module and name):
                raise ValueError(f"{v!r} is not module:function (e.g. my_hooks:build)")
        return v


class Spec(_Model):
    name: str | None = Field(default=None, max_length=200)
    target: AnyTarget | None = None
    variants: list[VariantSpec] | None = None
    # split | paired, or a split the endpoint makes (an `EndpointSplit` side's mode: one stream to an
    # endpoint that splits by its own weights, each response attributed to the variant it names)
    # to the production variant its `x-Amzn-Invoked-Production-Variant` header names
    split: str = "split"
    # paired: when each payload's requests leave. independent: each at an instant of its own
    # (the schedule runs at variants x rate, payloads placed at random within blocks), so variants
    # sharing a worker never wait for each other by construction; simultaneous: all at one instant
    # (engine/slots.py)
    pairing: Literal["independent", "simultaneous"] = "independent"
    load: LoadSpec = Field(default_factory=LoadSpec)
    payload: PayloadSpec = Field(default_factory=PayloadSpec)
    check: CheckSpec | None = None
    server_time: ServerTimeSpec | None = Field(default_factory=ServerTimeSpec)
    served_by: ServedBySpec | None = None    # per-backend rows by a response header (core/breakdown.py)
    prediction: str | None = None          # JSON path of the prediction in a response
    slo: list[str] = Field(default_factory=list)
    # per-request objectives ('ttft<200ms'): goodput is the share of requests meeting all (core/goodput.py)
    goodput: list[str] = Field(default_factory=list)
    output: OutputSpec = Field(default_factory=OutputSpec)
    monitors: list[dict[str, Any]] = Field(default_factory=list)
    hooks: HooksSpec | None = None
    scale: ScaleSpec | None = None   # where load comes from: origins (spec/origins.py)
    correlation: CorrelationSpec = Field(default_factory=CorrelationSpec)   # request IDs (core/correlation.py)
    otlp: OtlpSpec | None = None            # export metrics and spans at the end (outputs/otlp.py)

    @field_validator("goodput")
    @classmethod
    def _goodput(cls, value: list[str]) -> list[str]:
        from stinger.core.goodput import parse_objective

        for text in value:
            try:
                parse_objective(text)   # a malformed objective: one line naming it and what was expected
            except UsageError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("split")
    @classmethod
    def _split(cls, value: str) -> str:
        if value in BASIC_SPLITS:   # stinger's own: no side is asked
            return value
        modes = split_modes()
        if value not in modes:
            raise ValueError(f"unknown split {value!r}; expected one of {', '.join(modes)}")
        return value

    @model_validator(mode="after")
    def _targets(self) -> Spec:
        if self.target is None and not self.variants:
            raise ValueError("no target: give target.url (or --url), or a list of variants")
        if self.target is not None and self.variants:
            raise ValueError("give either target or variants, not both")
        if self.variants and sum(v.weight for v in self.variants) <= 0:
            raise ValueError("variant weights must have a positive sum")
        # a split the endpoint makes adds a row of its own (`unattributed`)
        split_side = endpoint_split(self.split)
        if len(self.variants or ()) + (split_side is not None) > MAX_VARIANTS:
            raise ValueError(f"at most {MAX_VARIANTS} variants (one row of them is split: {self.split}'s "
                             f"{UNATTRIBUTED!r}), got {len(self.variants or ())}")
        if self.payload.weights is not None and not self.payload.data:
            raise ValueError("payload.weights weigh the records of a dataset, but this payload has none; "
                             "expected payload.data (--data) with order: weighted")
        names = [v.name for v in self.variants or []]
        if len(set(names)) != len(names):
            raise ValueError(f"variant names must be unique, got {names}")
        for v in self.all_variants():
            if v.target.missing_address():
                raise ValueError(f"variant {v.name!r} has no url" if self.variants else
                                 "the target has no url: give target.url (or --url)")
        load = self.load
        mode = load.resolved_mode()
        if mode == "open" and load.rate is None and load.shape is None:
            raise ValueError("open model needs a rate (load.rate / --rate) or a shape; closed model needs users (--users)")
        if mode == "closed" and load.users is None and (load.shape is None or load.shape.steps is None):
            raise ValueError("closed model needs users (load.users / --users)")
        _check_one_model(self, mode)
        if load.duration is None and load.requests is None and not _shape_has_duration(load.shape):
            raise ValueError("a run needs a bound: load.duration (--duration) or load.requests (--requests)")
        if load.duration is not None and load.warmup >= load.duration:
            raise ValueError(warmup_problem(load.warmup, load.duration, "load.duration (--duration)"))
        if self.split == "paired" and mode == "closed":
            raise ValueError("paired split needs the open model (a rate): every payload goes to every variant on a schedule")
        if load.shape is not None and load.shape.trace == CAPTURE_TRACE:
            _check_capture_replay(self)
        if self.payload.sessions is not None:
            _check_sessions(self, mode)
        if split_side is not None:
            problem = split_side.split_problem(_run_targets(self))
            if problem:
                raise ValueError(f"split: {self.split} {problem}")
        if self.scale is not None and self.scale.origins:
            _check_origins(self.scale, load.workers)
            _check_families(self)
        has_body = bool(self.payload.data or self.payload.body or self.payload.isl or self.payload.sessions)
        if self.target is not None:
            self.target = self.target.with_payload(has_body)
        for v in self.variants or ():
            v.target = v.target.with_payload(has_body)
        return self

    def all_variants(self) -> list[VariantSpec]:
        """The variants, or the one `default` variant holding `target` (the whole config, so
        no field of any target type is dropped)."""
        if self.variants:
            return list(self.variants)
        assert self.target is not None   # the spec's rule (`_targets`): a target or variants
        return [VariantSpec(name="default", target=self.target)]


CAPTURE_TRACE = "capture"   # load.shape.trace: the payload's Data Capture arrival times
TIMED_FORMATS = ("capture", "mooncake")   # payload formats whose records carry arrival times


def _check_capture_replay(spec: Spec) -> None:
    """A capture replay sends captured request i at its captured instant: the payload must be the
    capture, read in its own order, in the open model."""
    p = spec.payload
    if p.format not in TIMED_FORMATS:
        raise ValueError("load.shape.trace: capture replays the arrival times of a Data Capture payload or a "
                         f"Mooncake trace, but payload.format is {p.format or 'not set'}; expected payload.format: "
                         "capture or mooncake (--data DIR --format capture, --data T.jsonl --format mooncake)")
    if p.order != "sequential":
        raise ValueError(f"load.shape.trace: capture sends captured request i at its own instant, so payload.order "
                         f"must be sequential; got {p.order!r}")
    if spec.load.mode == "closed":
        raise ValueError("load.shape.trace: capture is an arrival schedule: it needs the open model, not load.mode closed")


def _check_sessions(spec: Spec, mode: str) -> None:
    """Sessions are the open model's unit (each starts at an arrival) and keep to one variant each."""
    if mode != "open":
        raise ValueError("payload.sessions (--sessions): sessions start at the open model's arrivals; "
                         "expected a rate (--rate, sessions per second) or a shape, not users")
    if spec.split not in ("split",) and len(spec.all_variants()) > 1:
        raise ValueError(f"payload.sessions (--sessions): every turn of a session goes to one variant; "
                         f"expected split: split, got {spec.split!r}")
    if spec.load.shape is not None and spec.load.shape.trace == CAPTURE_TRACE:
        raise ValueError("payload.sessions (--sessions): a capture replay's payload is the capture; "
                         "expected a rate, a shape or a trace file of session starts")


def _check_one_model(spec: Spec, mode: str) -> None:
    """A setting of the other load model would be ignored without a word: refused instead."""
    load = spec.load
    if mode == "open" and load.users is not None:
        given = "a rate (load.rate / --rate)" if load.rate is not None else "a shape"
        raise ValueError(f"load.users (--users) sets the closed model's users, but {given} makes this run open, "
                         f"where users are ignored; expected --rate (open) or --users (closed), not both")
    if mode == "open" and load.think_time > 0 and spec.payload.sessions is None:
        raise ValueError("load.think_time (--think-time) is the closed model's pause between a user's requests; "
                         "this run is open (a rate), where it would be ignored; expected --users with it, "
                         "or --sessions (a pause between turns)")


def _check_origins(scale: ScaleSpec, workers: int | str) -> None:
    """The origins' workers are the run's workers: `load.workers` is `auto` or their sum."""
    total = scale.total_workers()
    if workers != "auto" and int(workers) != total:
        raise ValueError(f"load.workers (--workers) is {workers}, but the origins' workers add up to {total}; "
                         "expected --workers auto or the same number")
    if total > MAX_WORKERS:
        raise ValueError(f"the origins' workers add up to {total}; expected at most {MAX_WORKERS}")


def _check_families(spec: Spec) -> None:
    """A connection bound to an IPv6 source cannot reach an IPv4 address (nor the reverse): every request
    would be measured as a connect failure. Checked against the targets' literal addresses (a name may
    resolve to either family, and resolving it is not the spec's to do)."""
    import ipaddress
    from urllib.parse import urlsplit

    assert spec.scale is not None
    for o in spec.scale.origins:
        if o.source_address is None:
            continue
        family = ipaddress.ip_address(o.source_address).version
        for v in spec.all_variants():
            for url in v.all_urls():
                try:
                    host = urlsplit(url).hostname or ""
                    to = ipaddress.ip_address(host).version
                except ValueError:
                    continue
                if to != family:
                    raise ValueError(f"origin {o.name!r} sends from {o.source_address} (IPv{family}), but the target "
                                     f"{host} is IPv{to}: no connection can be made; expected a source address "
                                     f"of the target's family (e.g. {'127.0.0.2' if to == 4 else '::1'})")


def _run_targets(spec: Spec) -> RunTargets:
    """The spec's variants as a coordinator half sees them (targets/abilities.py)."""
    return RunTargets(variants=tuple(RunVariant(v.name, v.target, v.weight) for v in spec.all_variants()),
                      split=spec.split, monitors=tuple(d for d in spec.monitors if isinstance(d, dict)))


def warmup_problem(warmup: float, duration: float, what: str) -> str:
    """The warm-up is excluded from every statistic: one as long as the run leaves nothing measured."""
    return (f"load.warmup (--warmup) is {warmup:g} s, not shorter than {what} of {duration:g} s: "
            f"the warm-up is left out of every figure, so nothing would be measured; "
            f"shorten the warm-up or lengthen the run")


def _shape_has_duration(shape: ShapeSpec | None) -> bool:
    if shape is None:
        return False
    return any(x is not None for x in (shape.ramp, shape.steps, shape.spike, shape.profile, shape.trace))


def __getattr__(name: str) -> Any:
    # the loading helpers lived here before the spec was split; other modules may still look here
    if name in ("_line_map", "_format_error", "parse_spec", "load_spec_file", "merge_overrides"):
        from stinger.spec import loading

        return getattr(loading, name)
    raise AttributeError(name)
