"""Local servers for the engine tests, all on 127.0.0.1.

One subprocess (started once per session, stopped by its PID) serves:

* ``app``: a Starlette app under uvicorn on two listening sockets (``app`` and
  ``app2``) with routes for 200, 404, 500, a slow route, a chunked stream, JSON
  and text bodies, a Server-Timing header, and a hit counter per local port
  (``/hits``) so round-robin over two URLs can be checked;
* ``silent``: accepts, reads, never answers (timeouts);
* ``reset``: reads a request, sends half a response, closes (reset);
* ``garbage``: reads a request, answers with bytes that are not HTTP (invalid).

``refused`` is a port that was bound and released, so nothing listens there.

The servers run in their own process, not in a thread of the test process:
the engine forks its workers, and forking a process whose other threads hold
locks (uvicorn's logging, for one) can deadlock the child.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from dataclasses import dataclass

import pytest

from stinger.testing.procs import free_port, stop_process, wait_http

SERVER_SOURCE = r'''
import asyncio, json, socket, sys
from collections import Counter

import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

HITS = Counter()

def port_of(request):
    return request.scope["server"][1]

async def ok(request):
    HITS[port_of(request)] += 1
    return JSONResponse({"predictions": [7, 1], "label": "cat", "ok": True})

async def count(request):
    HITS[port_of(request)] += 1
    return PlainTextResponse("counted")

async def hits(request):
    return JSONResponse({str(k): v for k, v in HITS.items()})

async def reset_hits(request):
    HITS.clear()
    return PlainTextResponse("cleared")

async def not_found(request):
    return PlainTextResponse("nope", status_code=404)

async def fail(request):
    return PlainTextResponse("boom", status_code=500)

async def slow(request):
    ms = float(request.query_params.get("ms", "100"))
    await asyncio.sleep(ms / 1000)
    return PlainTextResponse("slept")

async def stream(request):
    async def gen():
        for i in range(5):
            yield b"chunk-%d;" % i
            await asyncio.sleep(0)
    return StreamingResponse(gen(), media_type="text/plain")

async def text(request):
    return PlainTextResponse("hello stinger world")

async def timing(request):
    return PlainTextResponse("timed", headers={"Server-Timing": "model;dur=12.5, total;dur=20"})

async def echo(request):
    body = await request.body()
    return JSONResponse({"method": request.method, "len": len(body),
                         "ct": request.headers.get("content-type"),
                         "auth": request.headers.get("authorization")})

app = Starlette(routes=[
    Route("/ok", ok, methods=["GET", "HEAD", "POST"]),
    Route("/count", count),
    Route("/hits", hits),
    Route("/reset-hits", reset_hits, methods=["POST"]),
    Route("/404", not_found),
    Route("/500", fail),
    Route("/slow", slow),
    Route("/stream", stream),
    Route("/text", text),
    Route("/timing", timing),
    Route("/echo", echo, methods=["GET", "POST"]),
])

def listen():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # inherited by accepted sockets: no Nagle + delayed-ACK stalls of ~40 ms
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(1024)
    s.setblocking(False)
    return s

async def read_request(reader):
    try:
        await reader.readuntil(b"\r\n\r\n")
        return True
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return False

async def silent(reader, writer):
    try:
        while await reader.read(65536):
            pass
    except ConnectionError:
        pass
    writer.close()

async def half(reader, writer):
    if await read_request(reader):
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial")
        await writer.drain()
    writer.close()

async def garbage(reader, writer):
    if await read_request(reader):
        writer.write(b"\x00\x01 THIS IS NOT HTTP AT ALL \xff\xfe\r\n\r\n")
        try:
            await writer.drain()
            await asyncio.sleep(0.5)
        except ConnectionError:
            pass
    writer.close()

async def main():
    app_socks = [listen(), listen()]
    raw = {}
    for name, handler in (("silent", silent), ("reset", half), ("garbage", garbage)):
        s = listen()
        await asyncio.start_server(handler, sock=s)
        raw[name] = s.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                            timeout_keep_alive=30)
    server = uvicorn.Server(config)
    ports = {"app": app_socks[0].getsockname()[1], "app2": app_socks[1].getsockname()[1], **raw}
    print("PORTS " + json.dumps(ports), flush=True)
    await server.serve(sockets=app_socks)

asyncio.run(main())
'''


@dataclass(frozen=True)
class Servers:
    app: int
    app2: int
    silent: int
    reset: int
    garbage: int
    refused: int

    def url(self, path: str, port: int | None = None) -> str:
        return f"http://127.0.0.1:{port or self.app}{path}"

    def hits(self) -> dict[int, int]:
        with urllib.request.urlopen(self.url("/hits"), timeout=10) as r:
            return {int(k): v for k, v in json.loads(r.read()).items()}

    def reset_hits(self) -> None:
        req = urllib.request.Request(self.url("/reset-hits"), method="POST", data=b"")
        with urllib.request.urlopen(req, timeout=10) as r:
            r.read()


@pytest.fixture(scope="session")
def servers():
    proc = subprocess.Popen([sys.executable, "-c", SERVER_SOURCE], stdout=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()
        if not line.startswith("PORTS "):
            raise RuntimeError(f"test server did not start: {line!r}")
        ports = json.loads(line[len("PORTS "):])
        s = Servers(refused=free_port(), **ports)
        wait_http(s.url("/text"), timeout=30)
        yield s
    finally:
        stop_process(proc)
