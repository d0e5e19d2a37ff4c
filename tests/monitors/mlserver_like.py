"""A stand-in for MLServer's metrics, for tests: a uvicorn app whose /metrics carries the families
MLServer 1.7 defines, with its names, types and labels (mlserver/handlers/dataplane.py: the
`model_infer_request_duration` summary in seconds, labels model and version, and the success and
failure counters; mlserver/rest/app.py: starlette_exporter's `rest_server_request_duration_seconds`
histogram). Installing the real MLServer (grpcio, pandas, ...) is too heavy for CI. Beside it, KServe's
Python server's V1 predict with its `request_predict_seconds` histogram (kserve/metrics.py: label
model_name, prometheus_client's default buckets, the lowest (0, 5 ms]) around a prediction of a fraction
of a millisecond.

    POST /v2/models/{name}/infer   answers after DELAYS_MS[name] ms; sends no Server-Timing
    POST /v1/models/{name}:predict KServe-like: a sub-millisecond predict timed into request_predict_seconds
    GET  /v2/models/{name}/ready   200 for a model it serves (the kserve target's preflight)
    GET  /metrics                  the exposition
    GET  /truth                    per model: count and mean of the times it observed (ms)

Run: python mlserver_like.py PORT  (prints "ready" once listening)
"""

from __future__ import annotations

import asyncio
import sys
import time

import uvicorn
from prometheus_client import CollectorRegistry, Counter, Histogram, Summary, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

DELAYS_MS = {"fast": 4.0, "slow": 24.0}

registry = CollectorRegistry()
success = Counter("model_infer_request_success", "Model infer request success count", ["model", "version"],
                  registry=registry)
failure = Counter("model_infer_request_failure", "Model infer request failure count", ["model", "version"],
                  registry=registry)
duration = Summary("model_infer_request_duration", "Model infer request duration", ["model", "version"],
                   registry=registry)
rest = Histogram("rest_server_request_duration_seconds", "HTTP request duration, in seconds",
                 ["method", "path", "status_code", "app_name"], registry=registry)
predict_seconds = Histogram("request_predict_seconds", "predict latency", ["model_name"], registry=registry)
truth: dict[str, list[float]] = {}


async def infer(request: Request) -> Response:
    start = time.perf_counter()
    name = request.path_params["name"]
    await request.body()
    if name not in DELAYS_MS:
        failure.labels(model=name, version=None).inc()
        return JSONResponse({"error": f"Model {name} not found"}, status_code=404)
    with duration.labels(model=name, version=None).time():
        t0 = time.perf_counter()
        await asyncio.sleep(DELAYS_MS[name] / 1000)
        truth.setdefault(name, []).append((time.perf_counter() - t0) * 1000)
    success.labels(model=name, version=None).inc()
    out = JSONResponse({"model_name": name, "outputs": [{"name": "predict", "shape": [1], "datatype": "INT64",
                                                         "data": [1]}]})
    rest.labels("POST", "/v2/models/{model_name}/infer", "200", "mlserver").observe(time.perf_counter() - start)
    return out


async def predict(request: Request) -> Response:
    name = request.path_params["name"]
    body = await request.body()
    t0 = time.perf_counter()
    out = {"predictions": [sum(body) % 3]}   # the "model": microseconds of work
    took = time.perf_counter() - t0 + 0.0002   # plus 0.2 ms, as KServe's sklearn iris predict on a fast core
    predict_seconds.labels(name).observe(took)
    truth.setdefault(f"kserve:{name}", []).append(took * 1000)
    return JSONResponse(out)


async def ready(request: Request) -> Response:
    """V2 readiness: what stinger's kserve preflight asks before any load."""
    return JSONResponse({}, status_code=200 if request.path_params["name"] in DELAYS_MS else 404)


async def metrics(request: Request) -> Response:
    return Response(generate_latest(registry), media_type="text/plain; version=0.0.4")


async def show_truth(request: Request) -> Response:
    return JSONResponse({k: {"count": len(v), "mean_ms": sum(v) / len(v)} for k, v in truth.items()})


app = Starlette(routes=[Route("/v2/models/{name}/infer", infer, methods=["POST"]), Route("/v2/models/{name}/ready", ready),
                        Route("/v1/models/{name}:predict", predict, methods=["POST"]), Route("/metrics", metrics),
                        Route("/truth", show_truth)])

if __name__ == "__main__":
    config = uvicorn.Config(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
    server = uvicorn.Server(config)

    async def main() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.02)
        print("ready", flush=True)
        await task

    asyncio.run(main())
