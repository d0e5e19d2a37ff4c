"""A minimal OTLP/HTTP receiver on loopback: a quick look at what `stinger run --otlp URL` exports, and the
real receiver the tests export to.

    python -m stinger.testing.otlp_receiver --port 4318 [--save FILE]

Accepts `POST /v1/metrics` and `POST /v1/traces` (`application/x-protobuf`), decodes them with
opentelemetry-proto's `ExportMetricsServiceRequest` / `ExportTraceServiceRequest`, prints one line per
export (how many metrics or spans) and, with `--save FILE`, appends each as one JSON line
(`{"kind": "metrics"|"traces", "body": <the message as protobuf's JSON mapping>}`). A body that does not
decode is answered 400. It prints `port N` on stdout once it listens (`--port 0` picks a free port).
`OtlpReceiver` runs it as a child process and stops it by its PID.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from stinger.testing.procs import start_announced, stop_process

HOST = "127.0.0.1"
__all__ = ["OtlpReceiver", "main"]


def _app(save: Any) -> Any:
    from google.protobuf.json_format import MessageToDict  # type: ignore[import-untyped]
    from google.protobuf.message import DecodeError  # type: ignore[import-untyped]
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
        ExportMetricsServiceResponse,
    )
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
        ExportTraceServiceResponse,
    )
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    def endpoint(kind: str, request_type: Any, response_type: Any) -> Any:
        async def receive(request: Request) -> Response:
            body = await request.body()
            msg = request_type()
            try:
                msg.ParseFromString(body)
            except DecodeError as exc:
                return Response(f"not an {request_type.__name__}: {exc}", status_code=400)
            data = MessageToDict(msg)
            if kind == "traces":
                n = sum(len(s.get("spans", [])) for r in data.get("resourceSpans", []) for s in r.get("scopeSpans", []))
            else:
                n = sum(len(s.get("metrics", [])) for r in data.get("resourceMetrics", []) for s in r.get("scopeMetrics", []))
            print(f"{kind}: {n} {'spans' if kind == 'traces' else 'metrics'}", flush=True)
            save({"kind": kind, "body": data})
            return Response(response_type().SerializeToString(), media_type="application/x-protobuf")
        return receive

    return Starlette(routes=[
        Route("/v1/metrics", endpoint("metrics", ExportMetricsServiceRequest, ExportMetricsServiceResponse),
              methods=["POST"]),
        Route("/v1/traces", endpoint("traces", ExportTraceServiceRequest, ExportTraceServiceResponse),
              methods=["POST"]),
    ])


def serve(port: int, save_path: str | None) -> None:
    import uvicorn

    out = open(save_path, "a", encoding="utf-8") if save_path else None

    def save(rec: dict) -> None:
        if out is not None:
            out.write(json.dumps(rec) + "\n")
            out.flush()

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, port))
    print(f"port {sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(_app(save), log_level="warning", access_log=False, lifespan="off",
                            timeout_graceful_shutdown=2)
    uvicorn.Server(config).run(sockets=[sock])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=4318)
    ap.add_argument("--save", default=None, metavar="FILE", help="append each export as a JSON line")
    a = ap.parse_args(argv)
    serve(a.port, a.save)


class OtlpReceiver:
    """`with OtlpReceiver() as r: ... r.url ...`; then `r.exports("traces")` / `r.exports("metrics")`."""

    def __init__(self) -> None:
        self._dir = tempfile.mkdtemp(prefix="stinger-otlp-")
        self.path = Path(self._dir) / "exports.jsonl"
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> OtlpReceiver:
        self.proc, self.port = start_announced([sys.executable, "-m", "stinger.testing.otlp_receiver", "--port", "0",
                                                "--save", str(self.path)], "the OTLP receiver")
        deadline = time.monotonic() + 15
        while True:   # listening once a connection is accepted (uvicorn listens after the port is printed)
            try:
                socket.create_connection((HOST, self.port), timeout=1).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("the OTLP receiver did not listen within 15 s") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None

    def exports(self, kind: str) -> list[dict]:
        """Each export of `kind` received so far, as protobuf's JSON mapping (ids base64, int64s as text)."""
        if not self.path.exists():
            return []
        recs = [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
        return [r["body"] for r in recs if r["kind"] == kind]

    def __enter__(self) -> OtlpReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    main()
