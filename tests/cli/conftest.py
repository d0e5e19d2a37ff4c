"""A local endpoint for the CLI tests: a Starlette app under uvicorn in a
subprocess on 127.0.0.1 (started once per session, stopped by its PID).

Routes: ``/ok`` (JSON, with a Server-Timing header) and ``/auth`` (200 only when
the request carries ``Authorization: Bearer SECRET123``, else 401), so a test
can tell that a secret header was sent while checking it was never written.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from stinger.testing.procs import free_port, stop_process, wait_http

APP_SOURCE = r'''
import asyncio, socket, sys
import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

async def ok(request):
    return JSONResponse({"predictions": [1]}, headers={"Server-Timing": "total;dur=1.5"})

async def auth(request):
    if request.headers.get("authorization") == "Bearer SECRET123":
        return PlainTextResponse("welcome")
    return PlainTextResponse("who are you", status_code=401)

app = Starlette(routes=[Route("/ok", ok, methods=["GET", "POST"]), Route("/auth", auth)])

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
s.bind(("127.0.0.1", 0))
s.listen(1024)
print("PORT", s.getsockname()[1], flush=True)
server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
asyncio.run(server.serve(sockets=[s]))
'''


@pytest.fixture(scope="session")
def endpoint():
    """The base URL of the running app, e.g. http://127.0.0.1:41235."""
    proc = subprocess.Popen([sys.executable, "-c", APP_SOURCE], stdout=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"CLI test endpoint did not start: {line!r}")
        base = f"http://127.0.0.1:{int(line.split()[1])}"
        wait_http(base + "/ok", timeout=30)
        yield base
    finally:
        stop_process(proc)


@pytest.fixture
def closed_port() -> int:
    return free_port()
