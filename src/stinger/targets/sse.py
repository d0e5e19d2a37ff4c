"""Server-sent events (text/event-stream) split into timed events, for streaming targets.

Pure: fed the reads of one response body as `(arrival time, bytes)`, it returns
each event's `data` with the time of the read that *completed* the event (its
blank-line terminator arrived then: a client could act on the event no
earlier). OpenAI-compatible servers (vLLM, TGI, llama.cpp, Ollama, OpenAI)
send one `data: {json}` event per token or group of tokens and end with
`data: [DONE]`.

The rules kept from the WHATWG event-stream format: events end at a blank line
(`\\n\\n`, `\\r\\n\\r\\n` or `\\r\\r`); `data:` lines of one event are joined with
`\\n`; a line starting with `:` is a comment (a keep-alive), skipped; other
fields (`event:`, `id:`, `retry:`) are ignored; an event with no data line is
not an event. A last event without its terminator (the connection closed) is
kept, at the time of the last read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence

_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")
_LINE = re.compile(rb"\r\n|\n|\r")


def timed_reads(body: bytes, stamps: Sequence, done: float) -> list[tuple[float, bytes]]:
    """A body and the engine's per-read stamps as `(time, bytes)` reads.

    A stamp is `(time, end offset in the body)` (the engine's form); bytes past
    the last stamp arrived by `done`. With no stamps the whole body is one read at `done`.
    """
    reads: list[tuple[float, bytes]] = []
    start = 0
    for t, end in stamps:
        end = int(end)
        if end > start:
            reads.append((float(t), body[start:end]))
            start = end
    if start < len(body):
        reads.append((done, body[start:]))
    return reads


def _data(raw: bytes) -> bytes | None:
    data: list[bytes] = []
    for line in _LINE.split(raw):
        if line.startswith(b"data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(b" ") else value)
    return b"\n".join(data) if data else None


def events(reads: Iterable[tuple[float, bytes]]) -> list[tuple[float, bytes]]:
    """`(time, data)` of each event, in order (see the module docstring)."""
    out: list[tuple[float, bytes]] = []
    buf = b""
    t = 0.0
    for t, chunk in reads:
        buf += chunk
        pos = 0
        while True:
            m = _END.search(buf, pos)
            if m is None:
                break
            d = _data(buf[pos:m.start()])
            if d is not None:
                out.append((t, d))
            pos = m.end()
        buf = buf[pos:]
    if buf.strip():
        d = _data(buf)
        if d is not None:
            out.append((t, d))
    return out


def payload_object(payload: bytes, prompt: str | None) -> object:
    """What an LLM api builds its request from: the target's `prompt` when the run has no payload, else
    the payload as JSON, else as text (a prompt)."""
    if not payload and prompt is not None:
        return prompt
    try:
        return json.loads(payload)
    except ValueError:
        return payload.decode("utf-8", "replace")


def event_data(body: bytes) -> list[bytes]:
    """Each event's `data` of a whole body (no times): what a reader of the answer's text needs."""
    return [d for _, d in events([(0.0, body)])]


def json_events(body: bytes) -> list[dict] | None:
    """The JSON objects of a body's events up to `[DONE]`; None when one is not a JSON object."""
    out: list[dict] = []
    for d in event_data(body):
        if d.strip() == b"[DONE]":
            break
        try:
            obj = json.loads(d)
        except ValueError:
            return None
        if not isinstance(obj, dict):
            return None
        out.append(obj)
    return out
