"""The `grpc` carrier: the kserve api's V2 requests over gRPC (the Open Inference Protocol's
`inference.GRPCInferenceService/ModelInfer`, unary), for MLServer, KServe, Triton.

`target: {type: kserve, url: grpc://127.0.0.1:8081, model: NAME}` (a `grpc://` or `grpcs://`
url picks this carrier when `via` is not written: `via: grpc`), or `--kserve grpc://HOST:PORT
--model M`. The kserve api's fields are read as over http (`model`, `version`, `input_name`,
`datatype`; `protocol` must be v2); `headers:` are sent as gRPC metadata.

**Build time** (once per distinct payload, cached for the run like HTTP bytes): the api's V2
JSON body is encoded into `ModelInferRequest` bytes by `targets/oip_wire.py` (no protobuf
package); the endpoint's `path` is the gRPC method. The engine's `grpc` transport
(`engine/grpc.py`) sends them on a channel per pool and sets each answer's `status` to the
HTTP equivalent of the gRPC code (OK 200, INVALID_ARGUMENT 400, NOT_FOUND 404,
RESOURCE_EXHAUSTED 429, INTERNAL 500, ...), so the accounting, the error kinds and the checks
are HTTP's own.

**Flush time** (`unwrap`): each answer's `ModelInferResponse` bytes become the V2 JSON
response, so the api's messages and a run's prediction path (`outputs.0.data.0`) read them
as over HTTP; a failed call's body is already `{"error": "grpc CODE: details"}`.

**Before the run** (`GrpcSide.preflight`, in the coordinator): `ModelReady` must say ready, else a
one-line error names the model, the URL and what the server said. The call is made by a spawned
helper process (`python -c`), never by the coordinator itself (below).

Server time: MLServer's Prometheus metrics (`monitors: [{type: prometheus, preset: mlserver}]`)
count gRPC inferences as HTTP ones. gRPC core is never started in the coordinator (it forks
the workers, and a fork after gRPC's threads started can deadlock the child): this module
imports no grpc; only the worker's transport does.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

import numpy as np
from pydantic import Field, field_validator, model_validator

from stinger.errors import TargetError
from stinger.targets.abilities import RunTargets
from stinger.targets.base import NEVER_EXPIRES, Endpoint, Interpretation, Needs, ResponseBatch, TargetConfig
from stinger.targets.http import Headers
from stinger.targets.kserve import KServeFields
from stinger.targets.oip_wire import INFER, WireError, decode_infer_response, encode_infer_request, encode_ready_request

_SCHEMES = {"grpc": False, "grpcs": True}   # scheme -> TLS


def parse_grpc_url(url: str, verify: bool = True) -> Endpoint:
    """`grpc://HOST:PORT` (or grpcs://) as the endpoint of the ModelInfer method."""
    parts = urlsplit(url.strip())
    if parts.scheme not in _SCHEMES or not parts.hostname or parts.path not in ("", "/"):
        raise TargetError(f"gRPC URL {url!r} is not grpc://HOST:PORT; expected e.g. grpc://127.0.0.1:8081")
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        raise TargetError(f"gRPC URL {url!r} has no port; expected grpc://HOST:PORT (MLServer's default is 8081)")
    return Endpoint(scheme=parts.scheme, host=parts.hostname, port=port, path=INFER, url=url.strip(),
                    verify=verify)


class GrpcFields(TargetConfig):
    """The fields of a target over gRPC: where (`url`), metadata (`headers`), TLS checking."""

    via: Literal["grpc"] = "grpc"
    url: str
    headers: Headers = Field(default_factory=dict)
    insecure: bool = False

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        try:
            parse_grpc_url(v)
        except TargetError as exc:   # pydantic names the field of a ValueError
            raise ValueError(str(exc)) from None
        return v.strip()

    @model_validator(mode="after")
    def _verify(self) -> GrpcFields:
        # grpc's Python channel credentials cannot skip the certificate check: refused, never ignored
        if self.insecure and self.url.lower().startswith("grpcs://"):
            raise ValueError("insecure: true is not available over grpcs:// (gRPC always checks the "
                             "certificate); expected a trusted certificate or grpc://")
        return self

    def endpoints(self) -> tuple[Endpoint, ...]:
        return (parse_grpc_url(self.url, verify=not self.insecure),)


class Config(KServeFields, GrpcFields):
    """kserve over grpc (`type: kserve, via: grpc`): the V2 protocol's ModelInfer."""

    protocol: Literal["v2"] = "v2"


# The readiness check's helper: a fresh interpreter (never a fork of the coordinator, which must not
# start gRPC core: it forks the workers). argv: address, TLS (0/1), ModelReady request (hex), timeout,
# metadata (JSON pairs). Prints "ready", "not ready", or why the call failed; exit 0 either way.
_READY_SCRIPT = r"""
import json, sys
import grpc
from stinger.targets.oip_wire import READY, decode_ready_response
address, tls, request, timeout, metadata = sys.argv[1], sys.argv[2] == "1", bytes.fromhex(sys.argv[3]), float(sys.argv[4]), json.loads(sys.argv[5])
channel = grpc.secure_channel(address, grpc.ssl_channel_credentials()) if tls else grpc.insecure_channel(address)
try:   # not wait_for_ready: a refused connection answers UNAVAILABLE at once
    answer = channel.unary_unary(READY)(request, timeout=timeout, metadata=[tuple(m) for m in metadata] or None)
except grpc.RpcError as exc:
    print("unreachable" if exc.code() == grpc.StatusCode.UNAVAILABLE else f"{exc.code().name}: {exc.details()}")
    sys.exit(0)
print("ready" if decode_ready_response(answer) else "not ready")
"""


def check_ready(config: Config, timeout: float = 10.0) -> None:
    """The model must be ready (`ModelReady` over gRPC, asked by a spawned helper process): a
    one-line TargetError otherwise."""
    import subprocess
    import sys

    from stinger.core.secrets import scrub

    ep = config.endpoints()[0]
    host = f"[{ep.host}]" if ":" in ep.host else ep.host
    args = [f"{host}:{ep.port}", "1" if ep.scheme == "grpcs" else "0",
            encode_ready_request(config.model, config.version).hex(), str(timeout),
            json.dumps([(k.lower(), str(v)) for k, v in config.headers.items()])]
    try:
        p = subprocess.run([sys.executable, "-c", _READY_SCRIPT, *args], capture_output=True, text=True,
                           timeout=timeout + 20)
    except subprocess.TimeoutExpired:
        said = "no answer from the readiness check"
    else:
        said = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else (p.stderr.strip().splitlines() or ["?"])[-1]
    if said == "ready":
        return
    url = scrub(config.url)
    if said == "unreachable":
        raise TargetError(f"kserve: cannot reach {url} over gRPC; is the model server running?")
    raise TargetError(f"kserve: model {config.model!r} is not ready at {url} ({said}); expected ModelReady "
                      "to say ready")


class GrpcSide:
    """The coordinator half of the grpc carrier: a preflight that each model is ready (ModelReady)."""

    def preflight(self, run: RunTargets) -> None:
        seen: set[str] = set()
        for v in run.all_variants():
            config = v.target
            key = config.model_dump_json()
            if isinstance(config, Config) and key not in seen:
                seen.add(key)
                check_ready(config)


class GrpcCarrier:
    """ModelInfer calls around the kserve api's V2 body (see the module docstring)."""

    name: ClassVar[str] = "grpc"
    transport: ClassVar[str] = "stinger.engine.grpc:Grpc"   # the worker's gRPC transport (engine.transport)

    def __init__(self, config: Config, api: Any) -> None:
        self.config = config
        self._endpoints = config.endpoints()
        # what the transport sends with every call (lower-case keys, as gRPC requires)
        self.metadata: tuple[tuple[str, str], ...] = tuple((k.lower(), str(v)) for k, v in config.headers.items())

    def endpoints(self) -> tuple[Endpoint, ...]:
        return self._endpoints

    def needs(self) -> Needs:
        return Needs()

    def request(self, endpoint: Endpoint, body: bytes, now: float,
                content_type: str | None = None) -> tuple[bytes, float]:
        try:
            doc = json.loads(body)
            return encode_infer_request(doc, self.config.model, self.config.version), NEVER_EXPIRES
        except (ValueError, TypeError, AttributeError) as exc:   # WireError is a ValueError
            raise TargetError(f"kserve over grpc: a V2 request cannot be encoded ({exc})") from None

    def unwrap(self, batch: ResponseBatch) -> tuple[ResponseBatch, Interpretation | None]:
        """The answers' ModelInferResponse bytes as V2 JSON bodies (successes; a failure's body is
        the transport's JSON already), for the api and (`Interpretation.bodies`) the run's checks
        and prediction path; an answer that is no such message keeps its bytes."""
        bodies = batch.bodies
        if bodies is None:
            return batch, None
        out = list(bodies)
        for i in np.flatnonzero(batch.status < 400).tolist():
            if out[i]:
                try:
                    out[i] = json.dumps(decode_infer_response(out[i]), separators=(",", ":")).encode()
                except (WireError, UnicodeDecodeError):
                    pass
        return replace(batch, bodies=out), Interpretation(bodies=out)   # what checks and predictions read
