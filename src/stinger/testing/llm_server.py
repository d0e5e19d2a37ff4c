"""An OpenAI-compatible LLM server that times itself, for tests, benches and parity runs.

    python -m stinger.testing.llm_server --port 0 --ttft-ms 40 --itl-ms 8 --tokens 16 \
        [--long-every 10 --long-ms 40] [--reasoning 16] [--ttft-per-inflight-ms 10] [--record FILE]

Serves `POST /v1/chat/completions` and `POST /v1/completions` (streamed as
server-sent events when the request says `"stream": true`, else one JSON
answer) and `GET /v1/models`. No model runs: each answer is `--tokens`
tokens (`max_tokens` caps it), the first sent `--ttft-ms` after the request was
read and the others `--itl-ms` apart (with `--long-every N`, every N-th gap
lasts `--long-ms` instead: a stream whose gap tail differs from its mean), so
the true time to first token and inter-token gaps are known. With
`--reasoning N` (chat only) the first N tokens are reasoning, streamed as
`delta.reasoning_content` as reasoning models served by vLLM do, and the
usage says `completion_tokens_details.reasoning_tokens`; the answer's
`--tokens` then follow them (N + tokens in all). Each token is
timed from the request's read (recv + TTFT + the gaps before it), so a late
timer delays one token, never the ones after it. A streamed answer ends with a
usage chunk (when the request asks for it with `stream_options.include_usage`;
`prompt_tokens` is the prompt's count of words; `--no-usage`: never, as some servers do not) and
`data: [DONE]`. The prompt
`"please fail"` gets an `error` event mid-stream (or an error object),
`"please throttle"` an HTTP 429.

With `--precise` each token waits for its instant as `servers --precise` answers do: a timer armed
one tick (1 ms) early, then the loop yields until the exact instant (I/O still served), so a token
leaves within microseconds of it rather than up to a tick late (asyncio timers fire on whole
milliseconds: two servers 40 and 50 ms apart then differ by 9.8-10 ms, not 10). It costs up to a
tick of CPU per token: for benches at moderate rates.

With `--ttft-per-inflight-ms K` the time to first token grows with the load:
a request read while N requests are in flight here (itself included: counted
from its read to its last token) gets TTFT = `--ttft-ms` + K x N, fixed at its
read. So the load at which a goodput objective on TTFT stops holding is known
by construction (closed model, U users: N = U; open model at rate r, about
1 + a Poisson count of mean r x the mean duration).

With `--record FILE` it appends one JSON line per answered request (the
error answers are not recorded): `recv` (the request read), `prompt` (a hash of the request's
prompt or messages: paired traffic sends one prompt to every variant), `in_flight` (N above) and
`ttft_due` (the TTFT it was given, s), `first` and `last` (the first and
last token handed to the socket), `first_output` (the first output token, not reasoning, handed
to the socket), `tokens`, `reasoning`, and `gaps` (streamed answers: the time between
each token handed to the socket and the next) — `time.perf_counter()` seconds,
comparable with a client's on the same machine — and the `request_id` (X-Request-Id) and `traceparent`
headers the request carried (None when absent), as a server's access log would: a client's
requests.csv joins them on `request_id` (docs/correlation.md). With `--record-prompts` a record also
holds what was asked (`messages` for chat, `prompt` for completions) and its `serial`, and
each answer's tokens are its own (`r<serial>t<k>`, the text kept as `answer`), so a test sees
which answers a multi-turn history carried and which prompts shared a prefix.

It prints `port N` on stdout once it listens (`--port 0` picks a free port).
`LlmServer` runs it as a child process and stops it by its PID.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from time import perf_counter
from typing import Any

from stinger.testing.procs import start_announced, stop_process, wait_http

HOST = "127.0.0.1"
__all__ = ["LlmServer", "main"]


def _gap_offsets(n: int, itl: float, long_every: int, long_gap: float) -> list[float]:
    """Seconds from the first token to each token: gap k (1-based) is `long_gap` when k is a multiple
    of `long_every` (0: never), else `itl`."""
    out, t = [0.0], 0.0
    for k in range(1, n):
        t += long_gap if long_every and k % long_every == 0 else itl
        out.append(t)
    return out


_TICK = 0.001   # asyncio's timers fire on whole milliseconds


async def _until(when: float, precise: bool) -> None:
    """Wait until `when` (perf_counter seconds): a timer, and when precise the last tick spent yielding."""
    delay = when - perf_counter() - (_TICK if precise else 0.0)
    if delay > 0:
        await asyncio.sleep(delay)
    while precise and perf_counter() < when:
        await asyncio.sleep(0)


def _words(req: dict, chat: bool) -> int:
    if chat:
        return sum(len(str(m.get("content", "")).split()) for m in req.get("messages") or () if isinstance(m, dict))
    return len(str(req.get("prompt", "")).split())


def _app(ttft: float, itl: float, tokens: int, save, long_every: int = 0, long_gap: float = 0.0,
         reasoning: int = 0, record_prompts: bool = False, per_inflight: float = 0.0, precise: bool = False,
         usage_sent: bool = True):
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, StreamingResponse
    from starlette.routing import Route

    serials = itertools.count()

    async def models(request: Request):
        return JSONResponse({"object": "list", "data": [{"id": "stinger-test-llm", "object": "model"}]})

    in_flight = [0]   # requests read and not yet done (one event loop: no lock)

    async def complete(request: Request):
        recv = perf_counter()
        in_flight[0] += 1   # counted until its last token is handed (a streamed answer: in its generator)
        return await _complete(request, recv, in_flight[0])

    async def _complete(request: Request, recv: float, load: int):
        counted = [True]

        def done() -> None:
            if counted[0]:
                counted[0] = False
                in_flight[0] -= 1

        try:
            return await _answer(request, recv, load, done)
        except BaseException:
            done()
            raise

    async def _answer(request: Request, recv: float, load: int, done):
        req = await request.json()
        chat = request.url.path.endswith("/chat/completions")
        prompt = json.dumps(req.get("messages")) if chat else str(req.get("prompt"))
        think = reasoning if chat else 0
        n = min(tokens + think, int(req.get("max_tokens") or tokens + think))
        due = ttft + per_inflight * load
        rec: dict[str, Any] = {"recv": recv, "first": None, "last": None, "first_output": None, "tokens": n,
                               "reasoning": min(think, n), "request_id": request.headers.get("x-request-id"),
                               "traceparent": request.headers.get("traceparent"), "in_flight": load, "ttft_due": due,
                               "prompt_hash": hashlib.sha1(prompt.encode()).hexdigest()[:16]}
        tag = ""
        if record_prompts:   # what was asked, and an answer of its own (tokens `r<serial>t<k>`)
            serial = next(serials)
            tag = f"r{serial}"
            rec.update(serial=serial, messages=req.get("messages") if chat else None,
                       prompt=None if chat else req.get("prompt"),
                       answer="".join(f"{tag}t{k} " for k in range(think, n)))
        offsets = _gap_offsets(n, itl, long_every, long_gap)
        usage: dict[str, Any] = {"prompt_tokens": _words(req, chat), "completion_tokens": n}
        if think:
            usage["completion_tokens_details"] = {"reasoning_tokens": min(think, n)}
        usage["total_tokens"] = usage["prompt_tokens"] + n
        model = req.get("model", "stinger-test-llm")
        if "please throttle" in prompt:
            done()
            return JSONResponse({"error": {"message": "rate limited", "type": "rate_limit"}}, status_code=429)

        def chunk(text: str, thought: bool = False) -> bytes:
            if chat:
                choice = {"index": 0, "delta": {"reasoning_content" if thought else "content": text},
                          "finish_reason": None}
            else:
                choice = {"index": 0, "text": text, "finish_reason": None}
            obj = {"id": "x", "object": "chat.completion.chunk" if chat else "text_completion",
                   "model": model, "choices": [choice]}
            return b"data: " + json.dumps(obj).encode() + b"\n\n"

        if not req.get("stream"):
            await _until(recv + due + offsets[-1], precise)
            done()
            if "please fail" in prompt:
                return JSONResponse({"error": {"message": "the model failed", "type": "server_error"}})
            rec["first"] = rec["last"] = rec["first_output"] = perf_counter()
            save(rec)
            text = "".join(f"{tag}t{k} " for k in range(n)) if tag else " ".join(f"t{k}" for k in range(n))
            choice = {"index": 0, "message": {"role": "assistant", "content": text}} if chat else \
                {"index": 0, "text": text}
            whole = {"id": "x", "model": model, "choices": [choice]}
            return JSONResponse({**whole, "usage": usage} if usage_sent else whole)

        async def stream():
            try:
                async for part in _tokens():
                    yield part
            finally:
                done()

        async def _tokens():
            handed: list[float] = []
            for k in range(n):
                await _until(recv + due + offsets[k], precise)
                if k == n // 2 and "please fail" in prompt:
                    yield b'data: {"error": {"message": "the model failed mid-stream", "type": "server_error"}}\n\n'
                    return
                yield chunk(f"{tag}t{k} ", thought=k < think)
                handed.append(perf_counter())
            done()   # the last token is handed: no longer in flight (the usage chunk and [DONE] follow at once)
            rec["first"], rec["last"] = (handed[0], handed[-1]) if handed else (None, None)
            rec["first_output"] = handed[think] if len(handed) > think else None
            rec["gaps"] = [b - a for a, b in itertools.pairwise(handed)]
            save(rec)
            if usage_sent and (req.get("stream_options") or {}).get("include_usage"):
                yield b"data: " + json.dumps({"id": "x", "model": model, "choices": [],
                                              "usage": usage}).encode() + b"\n\n"
            yield b"data: [DONE]\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    return Starlette(routes=[Route("/v1/models", models), Route("/v1/chat/completions", complete, methods=["POST"]),
                             Route("/v1/completions", complete, methods=["POST"])])


def serve(port: int, ttft_ms: float, itl_ms: float, tokens: int, record: str | None,
          long_every: int = 0, long_ms: float = 0.0, reasoning: int = 0, make_app: Any = None,
          record_prompts: bool = False, per_inflight_ms: float = 0.0, precise: bool = False,
          usage_sent: bool = True) -> None:
    import uvicorn

    out = open(record, "a") if record else None

    def save(rec: dict) -> None:  # one line per answered request, written at once (uvicorn ends
        if out is not None:       # the process on SIGTERM by re-raising it: nothing runs after)
            out.write(json.dumps(rec) + "\n")
            out.flush()

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, port))
    print(f"port {sock.getsockname()[1]}", flush=True)
    app = (_app(ttft_ms / 1e3, itl_ms / 1e3, tokens, save, long_every, long_ms / 1e3, reasoning, record_prompts,
                per_inflight_ms / 1e3, precise, usage_sent) if make_app is None
           else make_app(ttft_ms / 1e3, itl_ms / 1e3, tokens, save, long_every, long_ms / 1e3))
    config = uvicorn.Config(app,
                            log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=2)
    uvicorn.Server(config).run(sockets=[sock])


def main(argv: list[str] | None = None, make_app: Any = None) -> None:
    """The command line; `make_app` is another api's app factory with `_app`'s arguments."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--ttft-ms", type=float, default=40.0)
    ap.add_argument("--itl-ms", type=float, default=8.0)
    ap.add_argument("--tokens", type=int, default=16)
    ap.add_argument("--long-every", type=int, default=0, help="every N-th gap between tokens is --long-ms")
    ap.add_argument("--long-ms", type=float, default=0.0)
    ap.add_argument("--reasoning", type=int, default=0, help="the first N tokens are reasoning (chat only)")
    ap.add_argument("--ttft-per-inflight-ms", type=float, default=0.0,
                    help="TTFT grows by this much per request in flight at the read (itself included)")
    ap.add_argument("--precise", action="store_true", help="each token within microseconds of its instant")
    ap.add_argument("--no-usage", action="store_true", help="never send `usage` (as some servers do not)")
    ap.add_argument("--record", default=None)
    ap.add_argument("--record-prompts", action="store_true",
                    help="also record each request's messages (chat) or prompt, and give each answer tokens of "
                         "its own (r<serial>t<k>), recorded as `answer`")
    a = ap.parse_args(argv)
    if (a.ttft_per_inflight_ms or a.precise) and make_app is not None:
        ap.error("--ttft-per-inflight-ms and --precise are this server's own (the OpenAI-style one)")
    serve(a.port, a.ttft_ms, a.itl_ms, a.tokens, a.record, a.long_every, a.long_ms, a.reasoning, make_app,
          a.record_prompts, a.ttft_per_inflight_ms, a.precise, usage_sent=not a.no_usage)


class LlmServer:
    """`with LlmServer(ttft_ms=40, itl_ms=8, tokens=16) as s: ... s.url ... s.records()` (after the block).

    `long_every=N, long_ms=X`: every N-th gap between tokens lasts X ms; `reasoning=N`: N reasoning
    tokens before the answer's `tokens` (this server's chat answers only); `ttft_per_inflight_ms=K`: TTFT
    = ttft_ms + K x the requests in flight at the read, itself included; `precise`: each token within
    microseconds of its instant (see the module docstring); `usage=False`: no usage sent. A server of another api
    beside this one (`anthropic_server`) runs its own `module` with the same arguments."""

    module = "stinger.testing.llm_server"

    def __init__(self, *, ttft_ms: float = 40.0, itl_ms: float = 8.0, tokens: int = 16, long_every: int = 0,
                 long_ms: float = 0.0, reasoning: int = 0, record_prompts: bool = False,
                 ttft_per_inflight_ms: float = 0.0, precise: bool = False, usage: bool = True) -> None:
        self.args = ["--ttft-ms", repr(ttft_ms), "--itl-ms", repr(itl_ms), "--tokens", str(tokens),
                     "--long-every", str(long_every), "--long-ms", repr(long_ms), "--reasoning", str(reasoning),
                     *(() if usage else ("--no-usage",))]
        if record_prompts:
            self.args.append("--record-prompts")
        if ttft_per_inflight_ms:
            self.args += ["--ttft-per-inflight-ms", repr(ttft_per_inflight_ms)]
        if precise:
            self.args.append("--precise")
        self._dir = tempfile.mkdtemp(prefix="stinger-llm-")
        self.record_path = Path(self._dir) / "records.jsonl"
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    def start(self) -> LlmServer:
        self.proc, self.port = start_announced([sys.executable, "-m", self.module, "--port", "0",
                                                "--record", str(self.record_path), *self.args], "the LLM test server")
        wait_http(self.url + "/models")
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None

    def records(self) -> list[dict]:
        if not self.record_path.exists():
            return []
        return [json.loads(line) for line in self.record_path.read_text().splitlines() if line.strip()]

    def __enter__(self) -> LlmServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    main()
