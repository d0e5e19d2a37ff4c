"""The validated run spec: YAML file and command-line flags, one model.

A spec error names the field, the value and what was expected, and, for a
file, the line: `spec.yaml line 7: load.rate: rate must be > 0, got -5`.
Flags given on the command line override the file's values.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from stinger.errors import SpecError, UsageError


def _duration(v: Any) -> Any:
    if v is None:
        return None
    from stinger.core.schedule import parse_duration

    try:
        return parse_duration(v)
    except UsageError as exc:  # pydantic attaches the field's location to a ValueError
        raise ValueError(str(exc)) from None


def _rate(v: Any) -> Any:
    if v is None:
        return None
    from stinger.core.schedule import parse_rate

    try:
        return parse_rate(v)
    except UsageError as exc:
        raise ValueError(str(exc)) from None


Duration = Annotated[float, BeforeValidator(_duration)]
Rate = Annotated[float, BeforeValidator(_rate)]


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class TargetSpec(_Model):
    """Where requests go. `urls` (several) are served round-robin."""

    url: str | None = None
    urls: list[str] | None = None
    method: str = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    insecure: bool = False

    @field_validator("headers")
    @classmethod
    def _headers(cls, v: dict[str, str]) -> dict[str, str]:
        for name, value in v.items():
            if not _TOKEN.fullmatch(name):
                raise ValueError(f"header name {name!r} is not a valid HTTP token")
            value = str(value)
            if "\r" in value or "\n" in value:
                raise ValueError(f"header {name!r}: a value must not contain line breaks")
            try:
                value.encode("latin-1")
            except UnicodeEncodeError:
                raise ValueError(f"header {name!r}: the value must be Latin-1 text (HTTP/1.1 headers), "
                                 f"got {value!r}") from None
        return v

    @field_validator("method")
    @classmethod
    def _method(cls, v: str) -> str:
        v = v.strip().upper()
        if not v.isalpha():
            raise ValueError(f"HTTP method must be a word such as GET or POST, got {v!r}")
        return v

    def all_urls(self) -> list[str]:
        out = list(self.urls or [])
        if self.url:
            out.insert(0, self.url)
        return out


class VariantSpec(TargetSpec):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")  # used in file tags and column names
    weight: float = Field(default=1.0, ge=0)
    monitors: list[dict[str, Any]] = Field(default_factory=list)  # this variant's own (named after it)


class RampSpec(_Model):
    start: Rate | float = Field(alias="from", default=0.0)
    end: Rate = Field(alias="to")
    over: Duration
    hold: Duration = 0.0
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class StepSpec(_Model):
    rate: Rate | None = None
    users: int | None = None
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
    trace: str | None = None                            # a file of timestamps or gaps

    @model_validator(mode="after")
    def _one(self) -> "ShapeSpec":
        given = [k for k in ("ramp", "steps", "spike", "profile", "trace") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"a shape needs exactly one of ramp, steps, spike, profile, trace; got {given or 'none'}")
        return self


class LoadSpec(_Model):
    mode: Literal["open", "closed"] | None = None   # None: open when a rate or shape is given, closed with users
    rate: Rate | None = None
    arrival: Literal["constant", "poisson"] = "constant"
    shape: ShapeSpec | None = None
    users: int | None = Field(default=None, ge=1)
    think_time: Duration = 0.0
    duration: Duration | None = None
    requests: int | None = Field(default=None, ge=1)
    warmup: Duration = 0.0
    timeout: Duration = 30.0
    connect_timeout: Duration = 10.0
    max_in_flight: int = Field(default=10_000, ge=1)
    on_limit: Literal["queue", "drop"] = "queue"
    drain: Duration = 5.0
    workers: int | Literal["auto"] = "auto"
    seed: int = 0

    @field_validator("workers")
    @classmethod
    def _workers(cls, v):
        if v != "auto" and v < 1:
            raise ValueError(f"workers must be >= 1 or 'auto', got {v}")
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
    format: Literal["jsonl", "csv", "json", "files"] | None = None
    label_field: str | int | None = None
    body_field: str | None = None
    csv_header: bool | None = None
    order: Literal["sequential", "random", "weighted"] = "sequential"
    weights: list[float] | None = None
    content_type: str | None = None
    body: str | None = None


class CheckSpec(_Model):
    status: str | int | list[int] | None = None
    json_path: str | None = None
    equals: Any = None
    regex: str | None = None


class ServerTimeSpec(_Model):
    header: str = "server-timing"
    metric: str | None = None
    unit: str = "ms"


class OutputSpec(_Model):
    dir: str = "runs"
    name: str | None = None


class Spec(_Model):
    name: str | None = None
    target: TargetSpec | None = None
    variants: list[VariantSpec] | None = None
    split: Literal["split", "paired"] = "split"
    load: LoadSpec = Field(default_factory=LoadSpec)
    payload: PayloadSpec = Field(default_factory=PayloadSpec)
    check: CheckSpec | None = None
    server_time: ServerTimeSpec | None = Field(default_factory=ServerTimeSpec)
    prediction: str | None = None          # JSON path of the prediction in a response
    slo: list[str] = Field(default_factory=list)
    output: OutputSpec = Field(default_factory=OutputSpec)
    monitors: list[dict[str, Any]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _targets(self) -> "Spec":
        if self.target is None and not self.variants:
            raise ValueError("no target: give target.url (or --url), or a list of variants")
        if self.target is not None and self.variants:
            raise ValueError("give either target or variants, not both")
        if self.variants and sum(v.weight for v in self.variants) <= 0:
            raise ValueError("variant weights must have a positive sum")
        names = [v.name for v in self.variants or []]
        if len(set(names)) != len(names):
            raise ValueError(f"variant names must be unique, got {names}")
        for v in self.all_variants():
            if not v.all_urls():
                raise ValueError(f"variant {v.name!r} has no url")
        load = self.load
        mode = load.resolved_mode()
        if mode == "open" and load.rate is None and load.shape is None:
            raise ValueError("open model needs a rate (load.rate / --rate) or a shape; closed model needs users (--users)")
        if mode == "closed" and load.users is None and (load.shape is None or load.shape.steps is None):
            raise ValueError("closed model needs users (load.users / --users)")
        if load.duration is None and load.requests is None and not _shape_has_duration(load.shape):
            raise ValueError("a run needs a bound: load.duration (--duration) or load.requests (--requests)")
        if self.split == "paired" and mode == "closed":
            raise ValueError("paired split needs the open model (a rate): every payload goes to every variant at once")
        return self

    def all_variants(self) -> list[VariantSpec]:
        if self.variants:
            return list(self.variants)
        t = self.target
        return [VariantSpec(name="default", url=t.url, urls=t.urls, method=t.method,
                            headers=t.headers, insecure=t.insecure)]


def _shape_has_duration(shape: ShapeSpec | None) -> bool:
    if shape is None:
        return False
    return any(x is not None for x in (shape.ramp, shape.steps, shape.spike, shape.profile, shape.trace))


# ---------------------------------------------------------------------------
# Loading, with line numbers for errors


def _line_map(text: str) -> dict[tuple, int]:
    """Map each key path in a YAML document to its 1-based line number."""
    lines: dict[tuple, int] = {}
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return lines

    def walk(node, path: tuple) -> None:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = k.value
                lines[path + (key,)] = k.start_mark.line + 1
                walk(v, path + (key,))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[path + (i,)] = item.start_mark.line + 1
                walk(item, path + (i,))

    if root is not None:
        walk(root, ())
    return lines


def _format_error(err: ValidationError, source: str | None, lines: dict[tuple, int]) -> str:
    e = err.errors()[0]
    loc = tuple(x for x in e["loc"] if not (isinstance(x, str) and x.startswith("function-")))
    field = ".".join(str(x) for x in loc) or "spec"
    msg = e["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if e["type"] == "extra_forbidden":
        msg = "unknown field (check the spelling; see the README's spec reference)"
    elif e["type"] == "missing":
        msg = "required field is missing"
    line = None
    for n in range(len(loc), 0, -1):
        if loc[:n] in lines:
            line = lines[loc[:n]]
            break
    where = ""
    if source:
        where = f"{source} line {line}: " if line else f"{source}: "
    value = e.get("input")
    shown = ""
    if e["type"] not in ("missing", "extra_forbidden") and isinstance(value, (str, int, float)) and str(value) not in msg:
        shown = f" (got {value!r})"
    text = f"{where}{field}: {msg}{shown}"
    return " ".join(text.split())


def parse_spec(data: dict, *, source: str | None = None, text: str | None = None) -> Spec:
    """Validate a spec dict; errors become one-line SpecErrors."""
    from stinger.monitors.registry import check_spec_monitors

    lines = _line_map(text) if text else {}
    try:
        spec = Spec.model_validate(data)
        check_spec_monitors(data)  # each monitor's own typed config, errors located like any field
        return spec
    except ValidationError as err:
        raise SpecError(_format_error(err, source, lines)) from None
    except SpecError as err:  # raised inside a validator (durations, rates)
        raise SpecError(f"{source + ': ' if source else ''}{err}") from None


def load_spec_file(path: str | os.PathLike) -> tuple[dict, str, str]:
    """Read a YAML spec: (data, text, display name). Unreadable or malformed -> SpecError."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise SpecError(f"cannot read spec {p}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(f"{p.name}{where}: invalid YAML: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError(f"{p.name}: a spec must be a mapping of fields (target, load, ...), got {type(data).__name__}")
    return data, text, p.name


def merge_overrides(data: dict, overrides: dict) -> dict:
    """Deep-merge CLI overrides (dotted keys such as 'load.rate') into spec data."""
    out = _deepcopy(data)
    for dotted, value in overrides.items():
        if value is None:
            continue
        node = out
        keys = dotted.split(".")
        for k in keys[:-1]:
            nxt = node.get(k)
            if not isinstance(nxt, dict):
                nxt = {}
                node[k] = nxt
            node = nxt
        node[keys[-1]] = value
    return out


def _deepcopy(d: Any) -> Any:
    if isinstance(d, dict):
        return {k: _deepcopy(v) for k, v in d.items()}
    if isinstance(d, list):
        return [_deepcopy(v) for v in d]
    return d


SECRET_HEADERS = ("authorization", "proxy-authorization", "x-api-key", "api-key", "cookie",
                  "x-amz-security-token", "x-auth-token")


def redacted(data: Any) -> Any:
    """A copy of spec data safe to write to disk: secret header values replaced."""
    if isinstance(data, dict):
        out = {}
        for k, v in data.items():
            if k == "headers" and isinstance(v, dict):
                out[k] = {hk: ("<redacted>" if _is_secret(hk) else hv) for hk, hv in v.items()}
            else:
                out[k] = redacted(v)
        return out
    if isinstance(data, list):
        return [redacted(v) for v in data]
    return data


def _is_secret(name: str) -> bool:
    n = name.lower()
    return n in SECRET_HEADERS or "token" in n or "secret" in n or "key" in n or "password" in n
