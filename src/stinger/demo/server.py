"""The demo model server: a real scikit-learn endpoint on uvicorn, SageMaker style.

This module owns the HTTP contract of ``stinger serve-demo`` and the code that
runs it (one uvicorn process, or a supervisor and N worker processes):

    GET  /ping                           200 once the models are trained, 503 before
    POST /invocations                    default variant, or the one named by header
                                         X-Amzn-SageMaker-Target-Variant
    POST /variants/{name}/invocations    an explicit variant (unknown -> 404)
    GET  /metrics                        Prometheus text format
    GET  /                               the variants, their models and test accuracy

Requests are ``application/json`` (``{"instances": rows}``, ``{"inputs": rows}``,
a bare list of rows or a single row; unknown fields such as ``label`` are
ignored) or ``text/csv`` (one row a line). Replies are
``{"predictions": [...], "variant": name}`` with the headers
``X-Amzn-Invoked-Production-Variant`` and ``Server-Timing`` (``model``: predict
time, ``delay``: injected delay, ``total``: the whole handler; milliseconds).

The model's predict runs inline in the async handler on purpose: it is
CPU-bound, so one worker serialises requests and its capacity is about
1 / predict time, as with a real single-threaded model server. Injected delay
is an ``asyncio.sleep``, so it adds latency without using capacity.

With ``workers > 1`` the metrics use prometheus_client's multiprocess mode (a
temporary PROMETHEUS_MULTIPROC_DIR this process creates and removes), so any
worker's /metrics reports the sum over all workers; there ``process_*`` series
sum CPU time and resident memory over the supervisor and all its children
(shared pages are counted once per process). Each worker trains its own copy of
the models (the same seeds give the same models), and /ping answers 200 only
once every worker has trained.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import logging
import math
import os
import random
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stinger.demo.models import VARIANTS, Model, check_variants, train_variants
from stinger.errors import RunError, SpecError, StingerError

TARGET_VARIANT_HEADER = "X-Amzn-SageMaker-Target-Variant"
INVOKED_VARIANT_HEADER = "X-Amzn-Invoked-Production-Variant"
ANNOUNCE_PREFIX = "stinger-demo listening on "
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")

# How the supervisor hands the configuration and shared state to spawned workers.
CONFIG_ENV = "STINGER_DEMO_CONFIG"
STATE_DIR_ENV = "STINGER_DEMO_STATE_DIR"
SUPERVISOR_ENV = "STINGER_DEMO_SUPERVISOR_PID"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Sub-millisecond buckets: the fast variant answers in a fraction of a millisecond.
DURATION_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

# uvicorn's own logger: --log-level applies to our messages too.
log = logging.getLogger("uvicorn.error")


@dataclass(frozen=True, slots=True)
class DemoConfig:
    """What ``serve-demo`` was asked for; invalid values raise SpecError."""

    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    variants: tuple[str, ...] = VARIANTS
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    error_rate: float = 0.0
    seed: int = 0
    log_level: str = "warning"

    def __post_init__(self) -> None:
        object.__setattr__(self, "variants", check_variants(self.variants))
        if not 0 <= self.port <= 65535:
            raise SpecError(f"port must be in 0..65535 (0 picks a free one); got {self.port}")
        if self.workers < 1:
            raise SpecError(f"workers must be at least 1; got {self.workers}")
        for name in ("delay_ms", "jitter_ms"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise SpecError(f"{name} must be a finite number >= 0; got {value}")
        if not 0.0 <= self.error_rate <= 1.0:
            raise SpecError(f"error_rate must be in [0, 1]; got {self.error_rate}")
        if self.log_level not in LOG_LEVELS:
            raise SpecError(
                f"log_level must be one of {', '.join(LOG_LEVELS)}; got {self.log_level!r}"
            )

    @property
    def default_variant(self) -> str:
        return self.variants[0]

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> DemoConfig:
        data = json.loads(text)
        data["variants"] = tuple(data["variants"])
        return cls(**data)


class BadRequest(Exception):
    """A request body the server cannot use; the message goes back in a 400."""


def parse_json_rows(body: bytes) -> np.ndarray:
    """Rows from a JSON body: ``{"instances"|"inputs": rows}``, rows, or one row."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from None
    data: Any = payload
    if isinstance(payload, dict):
        for key in ("instances", "inputs"):
            if key in payload:
                data = payload[key]
                break
        else:
            raise BadRequest('a JSON object body needs an "instances" or "inputs" field')
    if not isinstance(data, list) or not data:
        raise BadRequest("expected a non-empty list of rows")
    if not isinstance(data[0], list):
        data = [data]  # a single row
    return _as_matrix(data)


def parse_csv_rows(body: bytes) -> np.ndarray:
    """Rows from a ``text/csv`` body: one row of numbers a line, no header."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("CSV body is not UTF-8") from None
    rows: list[list[float]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append([float(value) for value in line.split(",")])
        except ValueError:
            raise BadRequest(f"CSV line {number} is not a row of numbers") from None
    if not rows:
        raise BadRequest("CSV body has no rows")
    return _as_matrix(rows)


def _as_matrix(rows: list[Any]) -> np.ndarray:
    try:
        matrix = np.asarray(rows, dtype=np.float64)
    except (TypeError, ValueError):
        raise BadRequest("rows must be non-empty lists of numbers, all the same length") from None
    if matrix.ndim != 2 or matrix.shape[1] == 0:
        raise BadRequest("rows must be non-empty lists of numbers, all the same length")
    if not np.isfinite(matrix).all():
        raise BadRequest("rows must hold finite numbers only")
    return matrix


PARSERS: dict[str, Callable[[bytes], np.ndarray]] = {
    "application/json": parse_json_rows,
    "text/csv": parse_csv_rows,
}


def server_timing(model_ms: float | None, delay_ms: float, total_ms: float) -> str:
    """The Server-Timing header value (durations in milliseconds, per the spec)."""
    parts = []
    if model_ms is not None:
        parts.append(f"model;dur={model_ms:.3f}")
    if delay_ms:
        parts.append(f"delay;dur={delay_ms:.3f}")
    parts.append(f"total;dur={total_ms:.3f}")
    return ", ".join(parts)


class _Metrics:
    """The server's Prometheus series, in one worker or summed over many."""

    def __init__(self, multiprocess_dir: str | None) -> None:
        self.registry = CollectorRegistry()
        if multiprocess_dir:
            from prometheus_client import multiprocess

            # The metric objects only write their mmap files; the exposition
            # registry reads every worker's files, so nothing is registered twice.
            owner: CollectorRegistry | None = None
            multiprocess.MultiProcessCollector(self.registry, path=multiprocess_dir)
            self.registry.register(_WorkerGroupCollector())
        else:
            owner = self.registry
            ProcessCollector(registry=self.registry)
        self.requests = Counter(
            "stinger_demo_requests",
            "Invocations answered, by variant and HTTP status.",
            ["variant", "status"],
            registry=owner,
        )
        self.request_seconds = Histogram(
            "stinger_demo_request_duration_seconds",
            "Invocation handler time (body read, parse, delay, predict, encode).",
            ["variant"],
            buckets=DURATION_BUCKETS,
            registry=owner,
        )
        self.model_seconds = Histogram(
            "stinger_demo_model_duration_seconds",
            "Model predict time of successful invocations.",
            ["variant"],
            buckets=DURATION_BUCKETS,
            registry=owner,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _WorkerGroupCollector(Collector):
    """``process_*`` series summed over the supervisor and all its children.

    prometheus_client's ProcessCollector describes only the scraped worker,
    which in multiprocess mode would be a random one; the endpoint's footprint
    is the whole process tree.
    """

    def collect(self) -> Iterator[Any]:
        import psutil

        try:
            root = psutil.Process(int(os.environ.get(SUPERVISOR_ENV, os.getppid())))
            tree = [root, *root.children(recursive=True)]
        except (psutil.Error, ValueError):
            tree = [psutil.Process()]
        cpu = rss = 0.0
        for proc in tree:
            try:
                times = proc.cpu_times()
                cpu += times.user + times.system
                rss += proc.memory_info().rss
            except psutil.Error:
                continue  # a process that ended between listing and reading
        yield CounterMetricFamily(
            "process_cpu_seconds", "User and system CPU time of all processes, seconds.", cpu
        )
        yield GaugeMetricFamily(
            "process_resident_memory_bytes", "Resident memory of all processes, bytes.", rss
        )
        yield GaugeMetricFamily(
            "process_start_time_seconds", "Start time of the supervisor, unix seconds.",
            tree[0].create_time(),
        )  # fmt: skip


@dataclass
class _State:
    """One worker's mutable state: its models, RNGs and readiness."""

    config: DemoConfig
    metrics: _Metrics
    state_dir: Path | None
    models: dict[str, Model] | None = None
    training_error: str | None = None
    all_ready: bool = False
    # Separate streams, so changing the jitter does not change which requests fail.
    error_rng: random.Random = field(init=False)
    delay_rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.error_rng = random.Random(f"{self.config.seed}:errors")
        self.delay_rng = random.Random(f"{self.config.seed}:delay")

    def trained(self, models: dict[str, Model]) -> None:
        self.models = models
        if self.state_dir is not None:
            (self.state_dir / f"ready-{os.getpid()}").touch()
        summary = ", ".join(f"{m.name} {m.test_accuracy:.3f}" for m in models.values())
        log.info("stinger-demo models trained (test accuracy: %s)", summary)

    def ready(self) -> bool:
        if self.models is None:
            return False
        if self.all_ready or self.state_dir is None or self.config.workers == 1:
            self.all_ready = True
            return True
        markers = sum(1 for p in self.state_dir.iterdir() if p.name.startswith("ready-"))
        self.all_ready = markers >= self.config.workers
        return self.all_ready


def _json_response(
    status: int, content: dict[str, Any], headers: dict[str, str] | None = None
) -> Response:
    return Response(
        json.dumps(content).encode(),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def create_app(
    config: DemoConfig,
    *,
    models: dict[str, Model] | None = None,
    state_dir: Path | None = None,
) -> Starlette:
    """The ASGI app. Without ``models`` it trains them at start-up, in a thread,
    so /ping can answer 503 meanwhile."""
    multiprocess_dir = os.environ.get(MULTIPROC_ENV) if config.workers > 1 else None
    state = _State(config, _Metrics(multiprocess_dir), state_dir)
    if models is not None:
        state.trained(models)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> Any:
        training: asyncio.Future[dict[str, Model]] | None = None
        if state.models is None:
            training = asyncio.ensure_future(asyncio.to_thread(train_variants, config.variants))

            def done(future: asyncio.Future[dict[str, Model]]) -> None:
                if future.cancelled():
                    return
                if (exc := future.exception()) is not None:
                    state.training_error = f"{type(exc).__name__}: {exc}"
                    log.error("stinger-demo training failed: %s", state.training_error)
                else:
                    state.trained(future.result())

            training.add_done_callback(done)
        yield
        if training is not None and not training.done():
            training.cancel()

    async def ping(_request: Request) -> Response:
        if state.training_error is not None:
            return _json_response(500, {"error": f"training failed: {state.training_error}"})
        if not state.ready():
            return _json_response(503, {"error": "models are still training"})
        return Response(b"", status_code=200)

    async def info(_request: Request) -> Response:
        trained = state.models or {}
        variants = {
            name: {
                "model": trained[name].description if name in trained else None,
                "test_accuracy": trained[name].test_accuracy if name in trained else None,
            }
            for name in config.variants
        }
        body = {"default_variant": config.default_variant, "variants": variants}
        return _json_response(200, body)

    async def metrics(_request: Request) -> Response:
        return Response(state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    async def invocations(request: Request) -> Response:
        started = time.perf_counter()
        name = (
            request.path_params.get("name")
            or request.headers.get(TARGET_VARIANT_HEADER)
            or config.default_variant
        )
        if name not in config.variants:
            # The label is not the requested name: callers must not grow the series.
            state.metrics.requests.labels("unknown", "404").inc()
            return _json_response(
                404, {"error": f"unknown variant {name!r}; serving {', '.join(config.variants)}"}
            )
        headers = {INVOKED_VARIANT_HEADER: name}

        def finish(status: int, content: dict[str, Any], model_s: float | None = None,
                   delay_s: float = 0.0) -> Response:  # fmt: skip
            total_s = time.perf_counter() - started
            state.metrics.requests.labels(name, str(status)).inc()
            state.metrics.request_seconds.labels(name).observe(total_s)
            if model_s is not None:
                state.metrics.model_seconds.labels(name).observe(model_s)
            headers["Server-Timing"] = server_timing(
                None if model_s is None else model_s * 1e3, delay_s * 1e3, total_s * 1e3
            )
            return _json_response(status, content, headers)

        if state.models is None:
            return finish(503, {"error": "models are still training"})
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        parser = PARSERS.get(media_type)
        if parser is None:
            return finish(
                415, {"error": f"unsupported content type {media_type or '(none)'!r}; "
                      "use application/json or text/csv"}
            )  # fmt: skip
        model = state.models[name]
        try:
            rows = parser(await request.body())
            if rows.shape[1] != model.n_features:
                raise BadRequest(
                    f"expected {model.n_features} features a row; got {rows.shape[1]}"
                )
        except BadRequest as exc:
            return finish(400, {"error": str(exc)})

        delay_s = 0.0
        if config.delay_ms or config.jitter_ms:
            planned = (config.delay_ms + state.delay_rng.uniform(0.0, config.jitter_ms)) / 1e3
            slept_from = time.perf_counter()
            await asyncio.sleep(planned)
            # report the delay that happened: the loop's millisecond timers may end a sleep early or late
            delay_s = time.perf_counter() - slept_from
        if config.error_rate and state.error_rng.random() < config.error_rate:
            return finish(500, {"error": "injected error"}, delay_s=delay_s)

        model_started = time.perf_counter()
        predictions = model.predict(rows)
        model_s = time.perf_counter() - model_started
        return finish(200, {"predictions": predictions, "variant": name}, model_s, delay_s)

    routes = [
        Route("/ping", ping, methods=["GET"]),
        Route("/invocations", invocations, methods=["POST"]),
        Route("/variants/{name}/invocations", invocations, methods=["POST"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/", info, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def app_from_env() -> Starlette:
    """The app factory uvicorn's spawned workers call (config from the environment)."""
    state_dir = os.environ.get(STATE_DIR_ENV)
    return create_app(
        DemoConfig.from_json(os.environ[CONFIG_ENV]),
        state_dir=Path(state_dir) if state_dir else None,
    )


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise RunError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    # Listening before the workers start means early connections wait in the
    # backlog instead of being refused.
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def base_url(host: str, port: int) -> str:
    """A URL a client on this machine can use (wildcard binds map to loopback)."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _announce(url: str) -> None:
    print(f"{ANNOUNCE_PREFIX}{url}", flush=True)


def serve(config: DemoConfig, *, announce: Callable[[str], None] | None = _announce) -> None:
    """Run the server in this process until SIGINT/SIGTERM.

    ``announce`` receives the base URL once the socket listens (before the
    models are trained: poll /ping for readiness).
    """
    import uvicorn

    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:  # pragma: no cover - uvloop is absent on Windows only
        loop = "asyncio"
    sock = _listen(config.host, config.port)
    port = sock.getsockname()[1]
    options: dict[str, Any] = {
        "host": config.host, "port": port, "loop": loop, "http": "httptools", "lifespan": "on",
        "log_level": config.log_level, "access_log": False, "timeout_graceful_shutdown": 5,
    }  # fmt: skip
    state_root: str | None = None
    try:
        if config.workers == 1:
            uv_config = uvicorn.Config(create_app(config), **options)
            if announce is not None:
                announce(base_url(config.host, port))
            uvicorn.Server(uv_config).run(sockets=[sock])
            return
        # Spawned workers cannot receive an app object, so they build it from
        # the environment; prometheus_client reads its directory at import time.
        state_root = tempfile.mkdtemp(prefix="stinger-demo-")
        metrics_dir = Path(state_root, "metrics")
        ready_dir = Path(state_root, "ready")
        metrics_dir.mkdir()
        ready_dir.mkdir()
        os.environ[CONFIG_ENV] = config.to_json()
        os.environ[STATE_DIR_ENV] = str(ready_dir)
        os.environ[SUPERVISOR_ENV] = str(os.getpid())
        os.environ[MULTIPROC_ENV] = str(metrics_dir)
        uv_config = uvicorn.Config(
            "stinger.demo.server:app_from_env", factory=True, workers=config.workers, **options
        )
        if announce is not None:
            announce(base_url(config.host, port))
        _run_supervisor(uv_config, sock)
    except KeyboardInterrupt:
        # uvicorn shuts down gracefully, then re-raises the SIGINT it caught;
        # Ctrl-C is how this server is meant to stop, so it is no error.
        pass
    finally:
        sock.close()
        if state_root is not None:
            shutil.rmtree(state_root, ignore_errors=True)


def _run_supervisor(uv_config: Any, sock: socket.socket) -> None:
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    # uvicorn < 0.30 wants the worker target; later versions build it themselves.
    if "target" in inspect.signature(Multiprocess).parameters:
        supervisor = Multiprocess(uv_config, target=uvicorn.Server(uv_config).run,  # type: ignore[call-arg]
                                  sockets=[sock])
    else:
        supervisor = Multiprocess(uv_config, sockets=[sock])
    supervisor.run()


def _variant_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m stinger.demo.server", description=__doc__.split("\n\n")[0]
    )
    defaults = DemoConfig()
    parser.add_argument("--host", default=defaults.host)
    parser.add_argument("--port", type=int, default=defaults.port, help="0 picks a free port")
    parser.add_argument("--workers", type=int, default=defaults.workers)
    parser.add_argument(
        "--variants", type=_variant_list, default=defaults.variants,
        help=f"comma list from {','.join(VARIANTS)}; the first is the default",
    )  # fmt: skip
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-level", default=defaults.log_level, choices=LOG_LEVELS)
    return parser


def config_from_args(args: argparse.Namespace) -> DemoConfig:
    return DemoConfig(
        host=args.host, port=args.port, workers=args.workers, variants=args.variants,
        delay_ms=args.delay_ms, jitter_ms=args.jitter_ms, error_rate=args.error_rate,
        seed=args.seed, log_level=args.log_level,
    )  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m stinger.demo.server``: parse, then serve until SIGINT/SIGTERM."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except SpecError as exc:
        parser.error(str(exc))  # exits 2
    try:
        serve(config)
    except StingerError as exc:
        print(f"stinger-demo: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
