"""An Anthropic Messages API server that times itself, beside the OpenAI-style `llm_server`.

    python -m stinger.testing.anthropic_server --port 0 --ttft-ms 40 --itl-ms 8 --tokens 16 \
        [--long-every 10 --long-ms 40] [--record FILE]

Serves `POST /v1/messages` (streamed as server-sent events when the request says
`"stream": true`, else one JSON message) and `GET /v1/models`, with `llm_server`'s
timing: `min(--tokens, max_tokens)` tokens, the first `--ttft-ms` after the request was
read, the others `--itl-ms` apart (every `--long-every`-th gap `--long-ms`), each timed
from the read. A stream is what the API documents: `message_start` (usage.input_tokens =
the prompt's words), `content_block_start`, a `ping`, one `content_block_delta`
(`text_delta`) per token, `content_block_stop`, `message_delta` (stop_reason,
usage.output_tokens) and `message_stop`, each `event: TYPE` + `data: {json}`. The prompt
`"please fail"` gets an `error` event (overloaded_error) mid-stream, `"please throttle"`
an HTTP 429 (rate_limit_error).

`--record FILE` appends one JSON line per answered request: `llm_server`'s `recv`,
`first`, `last`, `tokens`, `gaps`, and `events`: `[type, instant]` for every event, the
instant it was handed to the socket (`time.perf_counter()`, comparable with a client's
on the same machine). `AnthropicServer` runs it as a child process (`LlmServer`'s).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from time import perf_counter
from typing import Any

from stinger.testing.llm_server import LlmServer, _gap_offsets, main

__all__ = ["AnthropicServer"]


def _words(req: dict) -> int:
    n = 0
    for m in req.get("messages") or ():
        content = m.get("content", "") if isinstance(m, dict) else ""
        if isinstance(content, list):   # content blocks
            content = " ".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
        n += len(str(content).split())
    return n


def _event(typ: str, obj: dict) -> bytes:
    return f"event: {typ}\ndata: ".encode() + json.dumps({"type": typ, **obj}).encode() + b"\n\n"


def _app(ttft: float, itl: float, tokens: int, save, long_every: int = 0, long_gap: float = 0.0):
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, StreamingResponse
    from starlette.routing import Route

    async def models(request: Request):
        return JSONResponse({"data": [{"id": "stinger-test-claude", "type": "model"}]})

    async def messages(request: Request):
        recv = perf_counter()
        req = await request.json()
        prompt = json.dumps(req.get("messages"))
        if "max_tokens" not in req:
            return JSONResponse({"type": "error", "error": {"type": "invalid_request_error",
                                                            "message": "max_tokens: Field required"}},
                                status_code=400)
        if "please throttle" in prompt:
            return JSONResponse({"type": "error", "error": {"type": "rate_limit_error", "message": "rate limited"}},
                                status_code=429)
        n = min(tokens, int(req["max_tokens"]))
        offsets = _gap_offsets(n, itl, long_every, long_gap)
        model = req.get("model", "stinger-test-claude")
        inputs = _words(req)
        rec: dict[str, Any] = {"recv": recv, "first": None, "last": None, "tokens": n}
        message = {"id": "msg_x", "type": "message", "role": "assistant", "model": model, "content": [],
                   "stop_reason": None, "usage": {"input_tokens": inputs, "output_tokens": 1}}

        if not req.get("stream"):
            await asyncio.sleep(max(0.0, recv + ttft + offsets[-1] - perf_counter()))
            if "please fail" in prompt:
                return JSONResponse({"type": "error", "error": {"type": "api_error", "message": "the model failed"}},
                                    status_code=500)
            rec["first"] = rec["last"] = perf_counter()
            save(rec)
            text = " ".join(f"t{k}" for k in range(n))
            return JSONResponse({**message, "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
                                 "usage": {"input_tokens": inputs, "output_tokens": n}})

        async def stream():
            events: list[list] = []
            handed: list[float] = []

            def sent(typ: str) -> None:
                events.append([typ, perf_counter()])

            yield _event("message_start", {"message": message})
            sent("message_start")
            yield _event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
            sent("content_block_start")
            yield _event("ping", {})
            sent("ping")
            for k in range(n):
                await asyncio.sleep(max(0.0, recv + ttft + offsets[k] - perf_counter()))
                if k == n // 2 and "please fail" in prompt:
                    yield _event("error", {"error": {"type": "overloaded_error", "message": "Overloaded mid-stream"}})
                    return
                yield _event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": f"t{k} "}})
                handed.append(perf_counter())
                events.append(["content_block_delta", handed[-1]])
            yield _event("content_block_stop", {"index": 0})
            sent("content_block_stop")
            yield _event("message_delta", {"delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                           "usage": {"output_tokens": n}})
            sent("message_delta")
            yield _event("message_stop", {})
            sent("message_stop")
            rec["first"], rec["last"] = (handed[0], handed[-1]) if handed else (None, None)
            rec["gaps"] = [b - a for a, b in itertools.pairwise(handed)]
            rec["events"] = events
            save(rec)

        return StreamingResponse(stream(), media_type="text/event-stream")

    return Starlette(routes=[Route("/v1/models", models), Route("/v1/messages", messages, methods=["POST"])])


class AnthropicServer(LlmServer):
    """`with AnthropicServer(ttft_ms=40, itl_ms=8, tokens=16) as s: ... s.url ... s.records()`."""

    module = "stinger.testing.anthropic_server"


if __name__ == "__main__":
    main(make_app=_app)
