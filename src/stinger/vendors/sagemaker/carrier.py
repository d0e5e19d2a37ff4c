"""The `sagemaker` carrier: SigV4-signed InvokeEndpoint(WithResponseStream) on stinger's own client.

This module owns what a SageMaker endpoint needs beyond plain HTTP:

* `Config`: the spec's `target: {via: sagemaker, endpoint: NAME, region: R, ...}`
  (plain via sagemaker; `type: sagemaker` is read as that pair), validated with
  one-line errors (`parse_config`).
* `SageMakerTarget` (the carrier, the vendor's `carriers` line; tests and benches know it by
  this name) `.request`: the request bytes, signed by `sigv4.py` and
  valid until 4 minutes after signing (or before the credentials end); the
  engine caches them per distinct body and re-builds them when due, so a run at
  10k req/s signs a few hundred times every 4 minutes, never per request.
* `SageMakerTarget.interpret` (its `unwrap`): per interval, vectorised over the rows that need
  it (errors are rare; only they are looked at one by one):
  - throttling (HTTP 429, or any status whose `x-amzn-ErrorType` is
    `ThrottlingException`) -> `KIND_THROTTLED`, not a generic 4xx;
  - `ModelError` (HTTP 424, the container answered with an error) ->
    `KIND_MODEL_ERROR`, the container's message passed on in the
    `Interpretation`'s `messages` (the worker makes it a note of its record, once)
    and its first one kept in `self.messages`;
  - the variant that served each row, from `x-Amzn-Invoked-Production-Variant`,
    as indices into `Config.variant_names` (the plan's variant names, filled in
    by the planner: that is how the target learns them);
  - streaming: the event-stream body parsed into `ttfc` (time to first chunk,
    from the intended start) and `chunk_gap` (mean gap between chunks of the
    row), microseconds; an in-stream `ModelStreamError` is a model error.

Nothing AWS is imported at module import beyond pydantic: botocore loads when a
target is built, and its absence is the one-line UsageError naming the `aws` extra.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import replace
from typing import Any, ClassVar, Literal
from urllib.parse import quote, urlsplit

import numpy as np
from pydantic import (
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from stinger.core.records import Kind
from stinger.errors import SpecError, UsageError
from stinger.targets.base import Endpoint, Interpretation, Needs, ResponseBatch, TargetConfig
from stinger.targets.openai import OpenAIFields
from stinger.vendors.sagemaker import eventstream
from stinger.vendors.sagemaker.sigv4 import Signer, require_botocore

# the kinds this carrier gives (declared in core.records.Kind)
KIND_THROTTLED: int = int(Kind.THROTTLED)
KIND_MODEL_ERROR: int = int(Kind.MODEL_ERROR)

INVOKED_VARIANT = "x-amzn-invoked-production-variant"
ERROR_TYPE = "x-amzn-errortype"
DEFAULT_HOST = "runtime.sagemaker.{region}.amazonaws.com"

DEFAULT_CONTENT_TYPE = "application/json"
_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")   # endpoint, variant, component names
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_ASCII_PRINTABLE = re.compile(r"^[\x20-\x7e]*$")


class SageMakerFields(TargetConfig):
    """The sagemaker carrier's fields, under any api (picklable; the target is built from them in each worker)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    via: Literal["sagemaker"] = "sagemaker"
    endpoint: str
    region: str | None = None              # None: the standard chain's region (AWS_REGION, profile)
    endpoint_url: str | None = None        # a VPC endpoint or a local emulator
    # the control plane's and CloudWatch's URL (a local emulator); None: AWS's, or botocore's own
    # AWS_ENDPOINT_URL_SAGEMAKER / _CLOUDWATCH. The coordinator's alone: never sent
    control_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+")
    target_variant: str | None = None
    target_model: str | None = None
    inference_component: str | None = None
    custom_attributes: str | None = None
    inference_id: str | None = None
    # None: each payload's own (a Data Capture replay: each record's observedContentType; a dataset's
    # format), else DEFAULT_CONTENT_TYPE. Set: every request carries it
    content_type: str | None = None
    accept: str | None = None
    stream: bool = False
    variant_names: tuple[str, ...] = ()    # the plan's variants, for attributing responses
    # USD per instance-hour for the cost per million inferences (`--price-per-hour`); None: the
    # bundled, dated table of `endpoint_monitor`. Not sent: the summary's alone.
    price_per_hour: float | None = None

    @field_validator("endpoint", "inference_component")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not _NAME.match(value):
            raise ValueError(f"{value!r} is not a SageMaker name (letters, digits and hyphens, at most 63)")
        return value

    @field_validator("price_per_hour")
    @classmethod
    def _price(cls, value: float | None) -> float | None:
        import math

        if value is not None and not (math.isfinite(value) and 0 < value <= 1e6):
            raise ValueError(f"must be a positive number of US dollars per instance-hour, got {value:g}")
        return value

    @field_validator("target_variant")
    @classmethod
    def _variant(cls, value: str | None) -> str | None:
        if value is not None and not _NAME.match(value):
            raise ValueError(f"{value!r} is not a production variant name (letters, digits and hyphens, at most 63)")
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is not None and not _REGION.match(value):
            raise ValueError(f"{value!r} is not an AWS region name (like us-east-1)")
        return value

    @field_validator("endpoint_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL")
        try:
            _ = parts.port   # raises on a port that is not a number in range
        except ValueError:
            raise ValueError(f"{value!r} has an invalid port") from None
        return value.rstrip("/")

    @field_validator("custom_attributes")
    @classmethod
    def _attributes(cls, value: str | None) -> str | None:
        if value is not None and (len(value) > 1024 or not _ASCII_PRINTABLE.match(value)):
            raise ValueError("must be at most 1024 printable ASCII characters")
        return value

    @field_validator("inference_id")
    @classmethod
    def _inference_id(cls, value: str | None) -> str | None:
        if value is not None and not (1 <= len(value) <= 64 and _ASCII_PRINTABLE.match(value) and value.strip()):
            raise ValueError("must be 1 to 64 printable ASCII characters")
        return value

    @field_validator("target_model")
    @classmethod
    def _target_model(cls, value: str | None) -> str | None:
        if value is not None and not 1 <= len(value) <= 1024:
            raise ValueError("must be 1 to 1024 characters")
        return value

    @field_validator("content_type", "accept")
    @classmethod
    def _media_type(cls, value: str | None) -> str | None:
        if value is not None and not (0 < len(value) <= 1024 and _ASCII_PRINTABLE.match(value)):
            raise ValueError(f"{value!r} is not a media type")
        return value

    def endpoints(self) -> tuple[Endpoint, ...]:
        """Where the target connects, from the config alone (the region from the environment when unset)."""
        import os

        region = self.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        return (_endpoint(invoke_url(self, region)),)

    @model_validator(mode="after")
    def _stream_has_no_target_model(self) -> SageMakerFields:
        if self.stream and self.target_model is not None:
            raise ValueError("target_model cannot be used with stream: true "
                             "(InvokeEndpointWithResponseStream has no TargetModel)")
        return self


class Config(SageMakerFields):
    """plain via sagemaker (`type: sagemaker` is read as it): the payload is the body."""

    type: Literal["plain"] = "plain"


class OpenAIConfig(OpenAIFields, SageMakerFields):
    """openai via sagemaker: an LLM container behind a SageMaker endpoint (TGI, LMI, vLLM), the OpenAI
    request JSON as the body; `stream: true` (the default) is InvokeEndpointWithResponseStream, whose
    PayloadParts carry the container's server-sent events (the carrier unwraps them, the api reads them)."""


def invoke_url(config: SageMakerFields, region: str) -> str:
    """The InvokeEndpoint(WithResponseStream) URL of `config` in `region`."""
    base = config.endpoint_url or "https://" + DEFAULT_HOST.format(region=region)
    action = "invocations-response-stream" if config.stream else "invocations"
    return f"{base}/endpoints/{quote(config.endpoint, safe='')}/{action}"


def _endpoint(url: str) -> Endpoint:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return Endpoint(parts.scheme, parts.hostname or "", port, parts.path, url)


def parse_config(data: dict[str, Any], where: str = "target") -> Config:
    """`Config` from a spec mapping; the first problem as a one-line SpecError naming the field."""
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise SpecError(f"{where}.{field}: {msg}" if field else f"{where}: {msg}") from None


def resolve_region(config: SageMakerFields) -> str:
    """The region to sign for: the config's, else the standard chain's; checked against botocore's list.

    An unknown region is a one-line UsageError before any load (with
    `endpoint_url`, any well-formed region is accepted: a local emulator or a
    new region botocore does not list yet).
    """
    botocore = require_botocore()
    session = botocore.session.get_session()
    region = config.region or session.get_config_variable("region")
    if not region:
        raise UsageError("no AWS region: set target.region (or --region), AWS_REGION, or a profile's region")
    if not _REGION.match(region):
        raise UsageError(f"{region!r} is not an AWS region name (like us-east-1)")
    if config.endpoint_url is None:
        known = {r for p in session.get_available_partitions()
                 for r in session.get_available_regions("sagemaker-runtime", partition_name=p)}
        if known and region not in known:
            raise UsageError(f"unknown AWS region {region!r} for SageMaker runtime (see 'aws ec2 describe-regions')")
    return region


class SageMakerTarget:
    """The sagemaker carrier: a SageMaker real-time endpoint. Built in the worker from its `Config`
    and the api it carries (plain when built alone)."""

    name: ClassVar[str] = "sagemaker"
    # the catalogue metrics it reads from a response stream (core/catalogue.py, source "target")
    metrics: ClassVar[tuple[str, ...]] = ("ttfc", "chunk_gap")

    def __init__(self, config: SageMakerFields, api: Any = None, credentials: Any = None) -> None:
        from stinger.targets.plain import PlainApi

        self.config = config
        self.api = api if api is not None else PlainApi(config)
        self.region = resolve_region(config)
        self.signer = Signer(self.region, "sagemaker", credentials)
        self._headers = self._static_headers()
        self._by_type: dict[str, tuple[tuple[str, str], ...]] = {}   # payload content type -> signed headers
        self._variant_index = {name: i for i, name in enumerate(config.variant_names)}
        # error kind -> the first message seen (kept once, not per request)
        self.messages: dict[int, str] = {}
        # invoked-variant names that are not among the plan's variants (for one warning)
        self.unknown_variants: set[str] = set()

    # -- build time ---------------------------------------------------------
    def url(self) -> str:
        return invoke_url(self.config, self.region)

    def endpoints(self) -> tuple[Endpoint, ...]:
        return (_endpoint(self.url()),)

    def needs(self) -> Needs:
        # error bodies: the ModelError message (a plain `body` would keep every body, when only
        # errors need theirs, except when streaming)
        stream = self.config.stream
        return Needs(headers=(INVOKED_VARIANT, ERROR_TYPE), body=stream, chunk_times=stream, error_bodies=True)

    def _static_headers(self, content_type: str | None = None) -> tuple[tuple[str, str], ...]:
        c = self.config
        accept = "X-Amzn-SageMaker-Accept" if c.stream else "Accept"
        pairs = (
            ("Content-Type", c.content_type or content_type or DEFAULT_CONTENT_TYPE),
            (accept, c.accept),
            ("X-Amzn-SageMaker-Target-Variant", c.target_variant),
            ("X-Amzn-SageMaker-Target-Model", c.target_model),
            ("X-Amzn-SageMaker-Inference-Component", c.inference_component),
            ("X-Amzn-SageMaker-Custom-Attributes", c.custom_attributes),
            ("X-Amzn-SageMaker-Inference-Id", c.inference_id),
        )
        return tuple((k, v) for k, v in pairs if v is not None)

    def request(self, endpoint: Endpoint, body: bytes, now: float,
                content_type: str | None = None) -> tuple[bytes, float]:
        # The Content-Type is signed: the config's when it sets one, else the api's for the payload's (plain:
        # the payload's; a capture replay sends each record with its own), else DEFAULT_CONTENT_TYPE. Built
        # once per request bytes, never per send.
        content_type = self.api.content_type(content_type)
        headers = self._headers
        if content_type is not None and self.config.content_type is None:
            headers = self._by_type.get(content_type) or self._by_type.setdefault(
                content_type, self._static_headers(content_type))
        signed = self.signer.sign("POST", endpoint.url, headers, body)
        # the signer speaks wall time; the engine's cache speaks perf_counter
        return signed.data, now + (signed.expires - signed.signed_at)

    # -- flush time ---------------------------------------------------------
    def unwrap(self, batch: ResponseBatch) -> tuple[ResponseBatch, Interpretation]:
        """What the carrier reads itself (throttling, ModelError, the variant that served, stream
        timings), and the batch the api reads: as it came, or (streaming) each answer's PayloadPart
        bytes joined, each stamped by the read that completed its message (so an api that reads a
        stream, the openai api's server-sent events, times its tokens as it would over HTTP)."""
        return self._payloads(batch), self.interpret(batch)

    def _payloads(self, batch: ResponseBatch) -> ResponseBatch:
        bodies, chunks = batch.bodies, batch.chunk_times
        if not self.config.stream or bodies is None:
            return batch
        inner = list(bodies)
        stamps: list[list[tuple[float, int]]] = [list(c) for c in chunks] if chunks is not None else \
            [[] for _ in bodies]
        for i in np.flatnonzero(batch.status == 200).tolist():
            reads = _timed_reads(bodies[i], chunks[i] if chunks is not None else [], float(batch.done[i]))
            try:
                messages = eventstream.parse(reads).messages
            except eventstream.EventStreamError:
                continue   # the carrier's own reading marks the row (INVALID)
            parts, times, end = [], [], 0
            for m in messages:
                if m.message_type == "event" and m.event_type == "PayloadPart" and m.payload:
                    parts.append(m.payload)
                    end += len(m.payload)
                    times.append((m.t, end))
            inner[i], stamps[i] = b"".join(parts), times
        return replace(batch, bodies=inner, chunk_times=stamps)

    def interpret(self, batch: ResponseBatch) -> Interpretation:
        out = Interpretation()
        kind = batch.kind
        refined: np.ndarray | None = None
        errtypes = batch.headers.get(ERROR_TYPE)
        for i in np.flatnonzero(batch.status >= 400):
            new, message = self._classify(int(batch.status[i]), _text(errtypes[i] if errtypes else None),
                                          batch.bodies[i] if batch.bodies is not None else None)
            if new is not None:
                if refined is None:
                    refined = kind.copy()
                refined[i] = new
            # the first message of each kind (ExpiredTokenException, ValidationError, ...)
            if message:
                self._said(out, int(kind[i]) if new is None else new, message)
        if self.config.stream:
            refined = self._streams(batch, out, kind if refined is None else refined)
        out.kind = refined
        out.variant = self._variants(batch)
        return out

    def _said(self, out: Interpretation, kind: int, message: str) -> None:
        """The batch's first message of `kind` goes out with it; the target keeps its first one ever."""
        self.messages.setdefault(kind, message)
        if out.messages is None:
            out.messages = {}
        out.messages.setdefault(kind, message)

    @staticmethod
    def _classify(status: int, errtype: str | None, body: bytes | None) -> tuple[int | None, str | None]:
        # x-amzn-ErrorType looks like "ThrottlingException:http://internal.amazon.com/coral/..."
        code = (errtype or "").split(":", 1)[0]
        message = None
        if body:
            try:
                parsed = json.loads(body)
                if isinstance(parsed, dict):
                    code = code or str(parsed.get("__type", parsed.get("ErrorCode", ""))).split("#")[-1]
                    message = parsed.get("Message") or parsed.get("message")
            except ValueError:
                message = body[:500].decode("utf-8", "replace").strip() or None
        if status == 429 or code == "ThrottlingException":
            return KIND_THROTTLED, f"{code or 'HTTP 429'}: {message}" if message else (code or "HTTP 429")
        if status == 424 or code == "ModelError":
            return KIND_MODEL_ERROR, f"ModelError: {message}" if message else "ModelError"
        if code or message:
            return None, f"{code or f'HTTP {status}'}: {message}" if message else code
        return None, None

    def _streams(self, batch: ResponseBatch, out: Interpretation, kind: np.ndarray) -> np.ndarray | None:
        """Fill `ttfc`/`chunk_gap`; returns the kinds if any row's kind changed (else None)."""
        n = len(batch)
        ttfc = np.full(n, np.nan)
        gap = np.full(n, np.nan)
        out.columns["ttfc"] = ttfc
        out.columns["chunk_gap"] = gap
        changed = kind is not batch.kind
        bodies, chunks = batch.bodies, batch.chunk_times
        if bodies is None:
            return kind if changed else None
        for i in np.flatnonzero(batch.status == 200):
            reads = _timed_reads(bodies[i], chunks[i] if chunks is not None else [], float(batch.done[i]))
            try:
                stream = eventstream.parse(reads)
                error = stream.error
            except eventstream.EventStreamError as exc:
                stream, error = None, f"{exc}"
            if stream is not None:
                first, gaps = eventstream.timings(stream, float(batch.intended[i]))
                ttfc[i] = first
                if gaps:
                    gap[i] = sum(gaps) / len(gaps)
            if error is None:
                continue
            if not changed:
                kind, changed = kind.copy(), True
            if stream is None:
                k = int(Kind.INVALID)
            elif error.startswith("InternalStreamFailure"):
                k = int(Kind.HTTP_5XX)
            else:
                k = KIND_MODEL_ERROR
            kind[i] = k
            self._said(out, k, error)
        return kind if changed else None

    def _variants(self, batch: ResponseBatch) -> np.ndarray | None:
        """Indices of the invoked variants; rows without a known name keep the planned variant.

        One numpy comparison per variant name over the interval's header values
        (an object array), not a Python loop over the rows.
        """
        names = batch.headers.get(INVOKED_VARIANT)
        if not self._variant_index or names is None or not len(names):
            return None
        values = np.empty(len(names), dtype=object)
        values[:] = names
        variant = batch.variant.copy()
        matched = np.zeros(len(names), dtype=bool)
        for name, j in self._variant_index.items():
            hit = (values == name.encode("latin-1")) | (values == name)
            variant[hit] = j
            matched |= hit
        stray = ~matched & (values != None)  # noqa: E711 - numpy, elementwise
        if stray.any():
            self.unknown_variants.update(t for v in set(values[stray].tolist()) if (t := _text(v)) is not None)
        return variant


def _text(raw: bytes | str | None) -> str | None:
    if raw is None:
        return None
    return raw.decode("latin-1") if isinstance(raw, bytes | bytearray) else raw


def _timed_reads(body: bytes, times: list[Any], done: float) -> list[tuple[float, bytes]]:
    """A body and its chunk stamps as (arrival time, bytes) reads.

    Exact when the engine stamps each read as (time, bytes so far); with bare
    times (no byte offsets) each read is taken to hold one message, which is
    what SageMaker's streaming containers send in practice (one flush per token).
    """
    if not times:
        return [(done, body)]
    if isinstance(times[0], tuple | list):
        reads, start = [], 0
        for t, end in times:
            reads.append((float(t), body[start:int(end)]))
            start = int(end)
        if start < len(body):
            reads.append((done, body[start:]))
        return reads
    # bare times: split the body at message boundaries and pair them with the stamps in order
    frames = _frames(body)
    stamps = list(times) + [done] * max(0, len(frames) - len(times))
    return [(float(t), f) for t, f in zip(stamps, frames)]


def _frames(body: bytes) -> list[bytes]:
    out, i = [], 0
    while i + 4 <= len(body):
        total = int.from_bytes(body[i:i + 4], "big")
        if total <= 0:
            break
        out.append(body[i:i + total])
        i += total
    if i < len(body):
        out.append(body[i:])
    return out


def check_credentials(target: SageMakerTarget) -> None:
    """Sign one throwaway request now: missing or broken credentials fail here, before any load."""
    target.signer.sign("POST", target.url(), target._headers, b"", at=time.time())


def variant_configs(base: Config, names: tuple[str, ...] | list[str], *, pin: bool = True) -> list[Config]:
    """Target configs for an A/B over an endpoint's production variants (`ab --sagemaker`).

    `pin=True`: one config per variant, each pinned with TargetVariant (stinger
    splits or pairs the traffic). `pin=False`: one config, SageMaker splits by
    its own weights and each response is attributed from the invoked-variant
    header. Either way every config knows all the names, in plan order.
    """
    names = tuple(names)
    if not names:
        raise UsageError(f"SageMaker endpoint {base.endpoint!r} has no production variants to compare")
    if pin:
        return [base.model_copy(update={"target_variant": n, "variant_names": names}) for n in names]
    return [base.model_copy(update={"target_variant": None, "variant_names": names})]
