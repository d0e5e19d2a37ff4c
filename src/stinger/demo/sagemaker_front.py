"""A local SageMaker runtime in front of the demo server: SigV4 checked, variants routed, metrics published.

This module owns the offline stand-in for `runtime.sagemaker.REGION.amazonaws.com`
that `stinger demo --sagemaker` (and the tests) put in front of the real demo
model server, so the whole SageMaker A/B story runs on loopback:

    POST /endpoints/{name}/invocations                  InvokeEndpoint
    POST /endpoints/{name}/invocations-response-stream  InvokeEndpointWithResponseStream
    GET  /ping                                          200 (for readiness)

* **Authentication as AWS does it**: the SigV4 signature is recomputed with
  botocore's signer for the access key's secret (`--access-key`/`--secret-key`,
  the fake `testing` pair by default) and compared; a missing, wrong or expired
  (X-Amz-Date more than 5 minutes off) signature is a 403 with the same
  `x-amzn-ErrorType` AWS sends. The verification is `verify_sigv4`, a pure function.
* **Production variants**: `--variants A=fast,B=accurate` maps production
  variant names to the demo server's variants; `X-Amzn-SageMaker-Target-Variant`
  pins one (unknown: 400 ValidationError), otherwise the request goes to a
  variant drawn by `--weights` (as SageMaker's own split). Every reply carries
  `x-Amzn-Invoked-Production-Variant`. `--delays-ms B=20` makes a variant's
  model answer that much later (part of its ModelLatency): a known difference.
* **Faults as AWS shapes them**: a backend reply >= 400 becomes a 424 `ModelError`
  whose message quotes the container's; more than `--max-concurrency` requests
  in flight get a 429 `ThrottlingException`; an unknown endpoint name is a 400.
* **Streaming**: the backend's reply is sent as `--stream-parts` event-stream
  `PayloadPart` messages, `--stream-gap-ms` apart; with `--stream-through`, each
  read of the backend's reply goes out as one `PayloadPart` as it arrives (an LLM
  container's server-sent events, as SageMaker relays them). `--backend-path`
  is the container's path (default the demo server's `/variants/{variant}/invocations`;
  an OpenAI-compatible container: `/chat/completions` under a `/v1` backend URL).
* **CloudWatch**: every `--publish-s` seconds the front hands, per variant and
  second, Invocations, Invocation4XXErrors, Invocation5XXErrors,
  InvocationModelErrors, ModelLatency and OverheadLatency (microseconds, as
  StatisticValues: count, sum, min, max) to its publisher process
  (`demo.cw_publisher`), which puts them into `--cloudwatch-url` (moto's server)
  in namespace AWS/SageMaker with EndpointName and VariantName dimensions.
  ModelLatency is the time the front waited for the backend; OverheadLatency the
  rest of the front's own time.
* **Instances**: `--backends A=URL,B=URL` gives each production variant its own
  model server process (one "instance"), and `--instance-pids A=PID,B=PID` names
  them: the publisher samples them every second as `/aws/sagemaker/Endpoints`
  CPUUtilization, MemoryUtilization and DiskUtilization.

Run: `python -m stinger.demo.sagemaker_front --port 0 --backend URL --endpoint NAME
--variants A=fast,B=accurate [--weights A=1,B=1]`; it prints
`stinger-sagemaker-front listening on http://127.0.0.1:PORT`. Forwarding uses a
small keep-alive HTTP/1.1 client on asyncio + httptools (no extra dependency).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import hmac
import json
import random
import re
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httptools
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from stinger.errors import SpecError, StingerError

ANNOUNCE_PREFIX = "stinger-sagemaker-front listening on "
TARGET_VARIANT = "x-amzn-sagemaker-target-variant"
INVOKED_VARIANT = "x-Amzn-Invoked-Production-Variant"
MAX_SKEW_S = 300.0
_AUTH = re.compile(r"^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
                   r"SignedHeaders=([a-z0-9;\-]+), Signature=([0-9a-f]{64})$")


# ------------------------------------------------------------------ SigV4 check
@dataclass(frozen=True, slots=True)
class AuthFailure:
    error_type: str
    message: str


def verify_sigv4(method: str, raw_path: str, headers: dict[str, str], body: bytes,
                 keys: dict[str, str], region: str, service: str = "sagemaker",
                 now: float | None = None) -> AuthFailure | None:
    """None when the request is signed right for one of `keys` (access key -> secret).

    `headers` with lower-case names. The signature is recomputed by botocore's
    SigV4Auth over exactly the headers the client listed as signed.
    """
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from stinger.vendors.sagemaker.sigv4 import _PinnedSigV4Auth

    auth = headers.get("authorization")
    if not auth:
        return AuthFailure("MissingAuthenticationTokenException", "Missing Authentication Token")
    m = _AUTH.match(auth)
    if m is None:
        return AuthFailure("IncompleteSignatureException", "Authorization header is not a SigV4 signature")
    access_key, day, signed_region, signed_service, signed, signature = m.groups()
    secret = keys.get(access_key)
    if secret is None:
        return AuthFailure("UnrecognizedClientException", "The security token included in the request is invalid.")
    if (signed_region, signed_service) != (region, service):
        return AuthFailure("InvalidSignatureException",
                           f"Credential should be scoped to a valid region and service ({region}/{service})")
    names = signed.split(";")
    if "host" not in names or "x-amz-date" not in names or any(n not in headers for n in names):
        return AuthFailure("IncompleteSignatureException", "SignedHeaders must include host and x-amz-date")
    try:
        when = _dt.datetime.strptime(headers["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=_dt.UTC)
    except ValueError:
        return AuthFailure("IncompleteSignatureException", "X-Amz-Date is not a SigV4 timestamp")
    wall = when.timestamp()
    now = time.time() if now is None else now
    if abs(now - wall) > MAX_SKEW_S or when.strftime("%Y%m%d") != day:
        return AuthFailure("InvalidSignatureException", "Signature expired: the request's X-Amz-Date is more "
                                                        "than 5 minutes from the server's time")
    request = AWSRequest(method=method, url=f"http://{headers['host']}{raw_path}", data=body,
                         headers={n: headers[n] for n in names if n != "x-amz-security-token"})
    creds = Credentials(access_key, secret, headers.get("x-amz-security-token"))
    _PinnedSigV4Auth(creds, service, region).sign_at(request, wall)
    expected = request.headers["Authorization"].rsplit("Signature=", 1)[1]
    if not hmac.compare_digest(expected, signature):
        return AuthFailure("InvalidSignatureException",
                           "The request signature we calculated does not match the signature you provided.")
    return None


# ------------------------------------------------------------------ backend client
class _Backend:
    """A keep-alive HTTP/1.1 client to the demo server (one idle-connection pool)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    def _head(self, path: str, content_type: str, accept: str | None, body: bytes) -> bytes:
        return (f"POST {self.prefix}{path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                + (f"Accept: {accept}\r\n" if accept else "") + "\r\n").encode("latin-1")

    async def open_stream(self, path: str, content_type: str, accept: str | None,
                          body: bytes) -> tuple[int, str, AsyncIterator[bytes]]:
        """The backend's status and content type once its head arrived, and its body as it arrives
        (each read's bytes), on a connection of its own that closes with the body."""
        reader, writer = await asyncio.open_connection(self.host, self.port)
        writer.write(self._head(path, content_type, accept, body) + body)
        reply = _Reply()
        parser = httptools.HttpResponseParser(reply)
        try:
            while not reply.head_done:
                chunk = await reader.read(65536)
                if not chunk:
                    raise ConnectionResetError("backend closed the connection")
                parser.feed_data(chunk)
        except BaseException:
            writer.close()
            raise

        async def rest() -> AsyncIterator[bytes]:
            try:
                while True:
                    if reply.body:
                        out = b"".join(reply.body)
                        reply.body.clear()
                        yield out
                    if reply.done:
                        return
                    chunk = await reader.read(65536)
                    if not chunk:
                        return
                    parser.feed_data(chunk)
            finally:
                writer.close()

        return parser.get_status_code(), reply.content_type, rest()

    async def post(self, path: str, content_type: str, accept: str | None, body: bytes) -> tuple[int, str, bytes]:
        head = self._head(path, content_type, accept, body)
        for attempt in (0, 1):   # an idle connection the server closed: retry once on a new one
            conn = self._idle.pop() if self._idle else await asyncio.open_connection(self.host, self.port)
            try:
                return await self._exchange(conn, head + body)
            except (ConnectionError, asyncio.IncompleteReadError, httptools.HttpParserError):
                conn[1].close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def _exchange(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter],
                        data: bytes) -> tuple[int, str, bytes]:
        reader, writer = conn
        writer.write(data)
        reply = _Reply()
        parser = httptools.HttpResponseParser(reply)
        while not reply.done:
            chunk = await reader.read(65536)
            if not chunk:
                raise ConnectionResetError("backend closed the connection")
            parser.feed_data(chunk)
        if parser.should_keep_alive():
            self._idle.append(conn)
        else:
            writer.close()
        return parser.get_status_code(), reply.content_type, b"".join(reply.body)

    def close(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()


class _Reply:
    def __init__(self) -> None:
        self.body: list[bytes] = []
        self.content_type = "application/octet-stream"
        self.head_done = False
        self.done = False

    def on_headers_complete(self) -> None:
        self.head_done = True

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"content-type":
            self.content_type = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.done = True


# ------------------------------------------------------------------ CloudWatch publishing
@dataclass
class _Tally:
    invocations: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    model_errors: int = 0
    model_us: list[float] = field(default_factory=list)
    overhead_us: list[float] = field(default_factory=list)


def _stats(values: list[float]) -> tuple[float, float, float, float]:
    return (len(values), sum(values), min(values), max(values)) if values else (0, 0.0, 0.0, 0.0)


class Publisher:
    """Accumulates per-variant figures (event loop) and hands them to the publisher process.

    Figures are kept per variant and per second of the invocation and published with that
    second as their timestamp, as SageMaker's own 1-second metrics are: an invocation lands
    in the period it happened in, however late the next publication comes. A thread of this
    process only serialises them (cheap); boto3 runs in `demo.cw_publisher`, a process of its
    own, so publishing never stalls the front's event loop."""

    def __init__(self, endpoint: str, cloudwatch_url: str | None, region: str, every_s: float,
                 instance_pids: tuple[tuple[str, int], ...] = ()) -> None:
        self.every_s = every_s
        self._lock = threading.Lock()
        self._tallies: dict[tuple[str, int], _Tally] = {}   # (variant, epoch second) -> figures
        self._stop = threading.Event()
        self._proc: subprocess.Popen[str] | None = None
        if cloudwatch_url:
            cmd = [sys.executable, "-m", "stinger.demo.cw_publisher", "--endpoint", endpoint, "--region", region,
                   "--cloudwatch-url", cloudwatch_url]
            for variant, pid in instance_pids:
                cmd += ["--instance", f"{variant}={pid}"]
            self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, text=True)
            self._thread = threading.Thread(target=self._loop, name="cloudwatch-publisher", daemon=True)
            self._thread.start()

    def record(self, variant: str, status: int, model_us: float | None, overhead_us: float) -> None:
        with self._lock:
            t = self._tallies.setdefault((variant, int(time.time())), _Tally())
            t.invocations += 1
            if status == 424:
                t.model_errors += 1
            if 400 <= status < 500:
                t.errors_4xx += 1
            elif status >= 500:
                t.errors_5xx += 1
            if model_us is not None:
                t.model_us.append(model_us)
            t.overhead_us.append(overhead_us)

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            self.flush()

    def flush(self) -> None:
        with self._lock:
            tallies, self._tallies = self._tallies, {}
        if not tallies or self._proc is None or self._proc.stdin is None:
            return
        from stinger.demo.cw_publisher import line_of

        text = "".join(
            line_of(variant, second,
                    {"Invocations": t.invocations, "Invocation4XXErrors": t.errors_4xx,
                     "Invocation5XXErrors": t.errors_5xx, "InvocationModelErrors": t.model_errors},
                    {"ModelLatency": _stats(t.model_us), "OverheadLatency": _stats(t.overhead_us)})
            for (variant, second), t in tallies.items())
        try:
            self._proc.stdin.write(text)
            self._proc.stdin.flush()
        except (OSError, ValueError):   # the publisher process is gone: the demo goes on without metrics
            pass

    def close(self) -> None:
        """Hand over what is left and wait (bounded) for the publisher process to put it."""
        self._stop.set()
        self.flush()
        if self._proc is not None:
            try:
                if self._proc.stdin is not None:
                    self._proc.stdin.close()
                self._proc.wait(15)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait()


# ------------------------------------------------------------------ the app
@dataclass(frozen=True)
class FrontConfig:
    backend: str
    backends: tuple[tuple[str, str], ...] = ()        # production variant -> its own model server URL
    instance_pids: tuple[tuple[str, int], ...] = ()   # production variant -> its model server's PID
    endpoint: str = "stinger-demo"
    variants: tuple[tuple[str, str], ...] = (("fast", "fast"), ("accurate", "accurate"))
    weights: tuple[float, ...] = ()
    delays_ms: tuple[float, ...] = ()   # per variant: added before the model answers (a known slower variant)
    region: str = "us-east-1"
    keys: tuple[tuple[str, str], ...] = (("testing", "testing"),)
    cloudwatch_url: str | None = None
    publish_s: float = 10.0
    max_concurrency: int = 0          # 0: never throttle
    stream_parts: int = 4
    stream_gap_ms: float = 0.0
    stream_through: bool = False      # stream: each backend read relayed as one PayloadPart as it arrives
    backend_path: str = "/variants/{variant}/invocations"   # the container's path ({variant}: the demo variant)
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.variants:
            raise SpecError("--variants: at least one NAME=DEMO_VARIANT")
        if self.weights and len(self.weights) != len(self.variants):
            raise SpecError(f"--weights: {len(self.weights)} weights for {len(self.variants)} variants")
        if any(w < 0 for w in self.weights) or (self.weights and not sum(self.weights) > 0):
            raise SpecError("--weights: weights must be >= 0 and not all 0")
        if self.delays_ms and (len(self.delays_ms) != len(self.variants) or min(self.delays_ms) < 0):
            raise SpecError(f"--delays-ms: one delay >= 0 per variant ({len(self.variants)})")
        if self.stream_parts < 1:
            raise SpecError("--stream-parts must be at least 1")


def _error(status: int, error_type: str, message: str, variant: str | None = None) -> Response:
    headers = {"x-amzn-ErrorType": f"{error_type}:http://internal.amazon.com/coral/com.amazonaws.sagemaker/"}
    if variant:
        headers[INVOKED_VARIANT] = variant
    return Response(json.dumps({"message": message, "Message": message, "ErrorCode": error_type}).encode(),
                    status_code=status, headers=headers, media_type="application/json")


def create_app(config: FrontConfig) -> Starlette:
    from stinger.vendors.sagemaker import eventstream

    shared = _Backend(config.backend)
    own = {name: _Backend(url) for name, url in config.backends}
    names = [name for name, _ in config.variants]
    backend_of = {name: own.get(name, shared) for name in names}
    demo_of = dict(config.variants)
    weights = list(config.weights) or [1.0] * len(names)
    delay_s = dict(zip(names, [d / 1000 for d in config.delays_ms] or [0.0] * len(names), strict=True))
    keys = dict(config.keys)
    rng = random.Random(config.seed)
    publisher = Publisher(config.endpoint, config.cloudwatch_url, config.region, config.publish_s,
                          config.instance_pids)
    in_flight = 0

    async def invoke(request: Request) -> Response:
        nonlocal in_flight
        t_in = time.perf_counter()
        body = await request.body()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in request.scope["headers"]}
        raw_path = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1")
        failure = verify_sigv4("POST", raw_path, headers, body, keys, config.region)
        if failure is not None:
            return _error(403, failure.error_type, failure.message)
        name = request.path_params["name"]
        if name != config.endpoint:
            return _error(400, "ValidationError", f"Endpoint {name} of account 123456789012 not found.")
        pinned = headers.get(TARGET_VARIANT)
        if pinned is not None and pinned not in demo_of:
            return _error(400, "ValidationError", f"Variant {pinned} not found for endpoint {name}.")
        variant = pinned or rng.choices(names, weights)[0]
        if config.max_concurrency and in_flight >= config.max_concurrency:
            publisher.record(variant, 429, None, (time.perf_counter() - t_in) * 1e6)
            return _error(429, "ThrottlingException", "Rate exceeded", variant)
        stream = request.url.path.endswith("-response-stream")
        accept = headers.get("x-amzn-sagemaker-accept" if stream else "accept")
        in_flight += 1
        t_model = time.perf_counter()
        path = config.backend_path.format(variant=demo_of[variant])
        content_type_in = headers.get("content-type", "application/json")
        try:
            if delay_s[variant]:
                await asyncio.sleep(delay_s[variant])
            if stream and config.stream_through:
                status, content_type, parts = await backend_of[variant].open_stream(path, content_type_in, accept, body)
                if status < 400:   # relayed as it arrives; ModelLatency to the backend's head
                    publisher.record(variant, 200, (time.perf_counter() - t_model) * 1e6,
                                     (t_model - t_in) * 1e6)
                    return StreamingResponse((eventstream.encode(p) async for p in parts),
                                             headers={INVOKED_VARIANT: variant,
                                                      "X-Amzn-SageMaker-Content-Type": content_type},
                                             media_type="application/vnd.amazon.eventstream")
                reply = b"".join([p async for p in parts])
            else:
                status, content_type, reply = await backend_of[variant].post(path, content_type_in, accept, body)
        except (OSError, httptools.HttpParserError) as exc:
            publisher.record(variant, 500, None, (time.perf_counter() - t_in) * 1e6)
            return _error(500, "InternalFailure", f"backend unreachable: {exc}", variant)
        finally:
            in_flight -= 1
        model_us = (time.perf_counter() - t_model) * 1e6
        if status >= 400:
            text = reply.decode("utf-8", "replace")[:1000]
            message = f'Received client error ({status}) from primary with message "{text}".' if status < 500 \
                else f'Received server error ({status}) from primary with message "{text}".'
            publisher.record(variant, 424, model_us, (time.perf_counter() - t_in) * 1e6 - model_us)
            return _error(424, "ModelError", message, variant)
        publisher.record(variant, 200, model_us, (time.perf_counter() - t_in) * 1e6 - model_us)
        if not stream:
            return Response(reply, headers={INVOKED_VARIANT: variant}, media_type=content_type)
        return StreamingResponse(_parts(reply), headers={INVOKED_VARIANT: variant,
                                                         "X-Amzn-SageMaker-Content-Type": content_type},
                                 media_type="application/vnd.amazon.eventstream")

    async def _parts(reply: bytes):
        n = config.stream_parts
        size = max(1, -(-len(reply) // n))
        for i in range(0, max(len(reply), 1), size):
            if i and config.stream_gap_ms:
                await asyncio.sleep(config.stream_gap_ms / 1000)
            yield eventstream.encode(reply[i:i + size])

    async def ping(request: Request) -> Response:
        return Response(b"", status_code=200)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        for b in {shared, *own.values()}:
            b.close()
        await asyncio.to_thread(publisher.close)   # the last figures are published on a clean stop

    app = Starlette(routes=[
        Route("/endpoints/{name}/invocations", invoke, methods=["POST"]),
        Route("/endpoints/{name}/invocations-response-stream", invoke, methods=["POST"]),
        Route("/ping", ping, methods=["GET"]),
    ], lifespan=lifespan)
    app.state.publisher = publisher
    return app


# ------------------------------------------------------------------ command line
def _pairs(text: str, what: str) -> list[tuple[str, str]]:
    out = []
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise SpecError(f"{what}: expected NAME=VALUE[,NAME=VALUE...]; got {item!r}")
        out.append((name, value))
    return out


def _of_variants(text: str, flag: str, variants: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """`A=x,B=y` by production variant; a name that is not a variant is a SpecError naming the flag."""
    given = dict(_pairs(text, flag))
    unknown = set(given) - {n for n, _ in variants}
    if unknown:
        raise SpecError(f"{flag}: unknown variant {min(unknown)!r}")
    return given


def _per_variant(text: str, flag: str, what: str, variants: tuple[tuple[str, str], ...]) -> tuple[float, ...]:
    """`A=1,B=2` as one number per variant, in the variants' order (0 for one not named); () when empty."""
    if not text:
        return ()
    given = _of_variants(text, flag, variants)
    try:
        return tuple(float(given.get(n, 0.0)) for n, _ in variants)
    except ValueError:
        raise SpecError(f"{flag}: {what} must be numbers") from None


def config_from_args(args: argparse.Namespace) -> FrontConfig:
    variants = tuple(_pairs(args.variants, "--variants"))
    delays = _per_variant(args.delays_ms, "--delays-ms", "delays", variants)
    weights = _per_variant(args.weights, "--weights", "weights", variants)
    backends = tuple(_of_variants(args.backends, "--backends", variants).items())
    try:
        pids = tuple((n, int(pid)) for n, pid in _of_variants(args.instance_pids, "--instance-pids", variants).items())
    except ValueError:
        raise SpecError("--instance-pids: PIDs must be integers") from None
    return FrontConfig(
        backend=args.backend, backends=backends, instance_pids=pids, endpoint=args.endpoint, variants=variants,
        weights=weights, delays_ms=delays, region=args.region,
        keys=((args.access_key, args.secret_key),), cloudwatch_url=args.cloudwatch_url, publish_s=args.publish_s,
        max_concurrency=args.max_concurrency, stream_parts=args.stream_parts, stream_gap_ms=args.stream_gap_ms,
        stream_through=args.stream_through, backend_path=args.backend_path, seed=args.seed)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m stinger.demo.sagemaker_front", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--backend", required=True, help="the demo server's base URL")
    p.add_argument("--backends", default="", help="production variant = its own demo server's base URL")
    p.add_argument("--instance-pids", default="",
                   help="production variant = PID of its model server, published as its instance metrics")
    p.add_argument("--endpoint", default="stinger-demo", help="the endpoint name this front answers for")
    p.add_argument("--variants", default="fast=fast,accurate=accurate",
                   help="production variant = demo variant, comma-separated")
    p.add_argument("--weights", default="", help="production variant = weight (default: equal)")
    p.add_argument("--delays-ms", default="", help="production variant = extra model time in ms (default: none)")
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--access-key", default="testing")
    p.add_argument("--secret-key", default="testing")
    p.add_argument("--cloudwatch-url", default=None, help="publish metrics to this CloudWatch (moto) URL")
    p.add_argument("--publish-s", type=float, default=10.0)
    p.add_argument("--max-concurrency", type=int, default=0, help="429 ThrottlingException beyond this")
    p.add_argument("--stream-parts", type=int, default=4)
    p.add_argument("--stream-gap-ms", type=float, default=0.0)
    p.add_argument("--stream-through", action="store_true",
                   help="streaming: relay each read of the backend's reply as one PayloadPart as it arrives")
    p.add_argument("--backend-path", default="/variants/{variant}/invocations",
                   help="the container's path under the backend URL ({variant}: the demo variant)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log-level", default="warning")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    import socket

    import uvicorn

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except SpecError as exc:
        parser.error(str(exc))  # exits 2
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((args.host, args.port))
    except OSError as exc:
        print(f"stinger-sagemaker-front: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    sock.listen(1024)
    port = sock.getsockname()[1]
    try:
        app = create_app(config)
    except StingerError as exc:
        print(f"stinger-sagemaker-front: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"{ANNOUNCE_PREFIX}http://{args.host}:{port}", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, loop="asyncio", http="httptools", log_level=args.log_level,
                                           access_log=False, lifespan="on", timeout_graceful_shutdown=3))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
