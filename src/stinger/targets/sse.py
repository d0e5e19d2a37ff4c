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

`interpret_llm` is the rest of an LLM api's `interpret` (openai, anthropic), once: each api reads one
answer into an `Answer`; the metrics of every answer (ttft, every gap, tpot, tokens, their source,
tokens/s, the tokenizer's counts) are computed here, the same for each.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from stinger.targets.base import Interpretation

if TYPE_CHECKING:
    from stinger.targets.base import ResponseBatch
    from stinger.targets.tokens import TokenCounter

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


# ------------------------------------------------------------------ an LLM api's reading of its answers
@dataclass(slots=True)
class Answer:
    """What an LLM api read from one OK answer (a stream or a whole body): an error `kind` (and the
    endpoint's `message`), else the times of the events carrying text, the output and input token counts
    (None: not said), the first output (not reasoning) event's time, the reasoning tokens, and whether the
    output count is the server's usage."""

    kind: int | None = None
    message: str | None = None
    times: list[float] = field(default_factory=list)
    count: int | None = None
    inputs: int | None = None
    first_output: float | None = None
    reasoning: int | None = None
    from_usage: bool = False


def failed(kind: int, message: str | None) -> Answer:
    return Answer(kind=kind, message=message)


Text = tuple[list[str], list[str]]   # a tokenizer's input, gathered while reading: (reasoning pieces, content pieces)


def interpret_llm(batch: ResponseBatch, *, stream: bool, read_stream: Callable[[list, Text | None], Answer],
                  read_whole: Callable[[bytes, Text | None], Answer], error_message: Callable[[bytes | None], str | None],
                  keep: Callable[[dict[int, str], int, str], None], throttled: tuple[int, ...] = (429,),
                  counter: TokenCounter | None = None, prompt_of: Callable[[bytes], str] | None = None,
                  reasoning: bool = False) -> Interpretation:
    """An LLM api's `interpret` (openai, anthropic): the api reads one answer (`read_stream` over its timed
    events, `read_whole` over a whole body); the rest is the same for every LLM api, defined once here.

    Per OK row: `ttft` (first event carrying text - sent), every gap between such events (`itl`), `ttfo`
    and `reasoning_tokens` when the api has them (`reasoning`), `output_tokens` (usage, else the user's
    tokenizer over the text, else one per event: `token_source`), `input_tokens` (usage, else the
    tokenizer over `prompt_of(payload)`), and, from the final counts, `tpot` = (done - first) / (tokens
    - 1) and `output_tps` (milli-tokens a second over done - sent). HTTP `throttled` statuses are
    `throttled`; each error kind's first message goes to `keep` (the api's once-per-kind record)."""
    from stinger.core.records import Kind
    from stinger.targets.tokens import CHUNKS, TOKENIZER, USAGE

    n = len(batch)
    ttft, ttfo, first, tokens, prompt, thought = (np.full(n, np.nan) for _ in range(6))
    source = np.zeros(n)
    gaps: list[np.ndarray] = []
    gap_counts = np.zeros(n, dtype=np.int64)
    kind = batch.kind.copy()
    bodies = batch.bodies
    to_count: list[tuple[int, list[str]]] = []   # (row, [its reasoning, its content]): no usage, a tokenizer
    said: dict[int, str] = {}   # this batch's: the worker passes each on once (a record note)
    for i in np.flatnonzero(np.isin(batch.status, throttled)).tolist():
        kind[i] = Kind.THROTTLED
        message = error_message(bodies[i] if bodies is not None else b"")
        keep(said, int(Kind.THROTTLED), f"HTTP {int(batch.status[i])}: {message or 'throttled'}")
    if bodies is not None:
        for i in np.flatnonzero((batch.status >= 400) & ~np.isin(batch.status, throttled)).tolist():
            message = error_message(bodies[i])
            if message:
                keep(said, int(kind[i]), f"HTTP {int(batch.status[i])}: {message}")
        chunks = batch.chunk_times
        sent_col = batch.sent
        for i in np.flatnonzero((batch.status == 200) & (batch.kind == Kind.OK)).tolist():
            text: Text | None = ([], []) if counter is not None else None
            if stream:
                reads = timed_reads(bodies[i], chunks[i] if chunks is not None else (), float(batch.done[i]))
                got = read_stream(events(reads), text)
            else:
                got = read_whole(bodies[i], text)
            if got.kind is not None:
                kind[i] = got.kind
                if got.message:
                    keep(said, got.kind, got.message)
                continue
            sent = float(sent_col[i])
            times = got.times
            if times:
                first[i] = times[0]
                ttft[i] = (times[0] - sent) * 1e6
                if len(times) >= 2:
                    gaps.append(np.diff(np.asarray(times)) * 1e6)
                    gap_counts[i] = len(times) - 1
            if text is not None and not got.from_usage:
                to_count.append((i, ["".join(text[0]), "".join(text[1])]))
            elif got.count is not None:
                tokens[i] = got.count
                source[i] = USAGE if got.from_usage else CHUNKS
            if got.inputs is not None:
                prompt[i] = got.inputs
            if got.first_output is not None:
                ttfo[i] = (got.first_output - sent) * 1e6
            if got.reasoning is not None:
                thought[i] = got.reasoning
    if counter is not None:
        if to_count:   # the reasoning and the content are two texts (each one's pieces joined as streamed)
            rows = [i for i, _ in to_count]
            counts = counter.count([t for _, texts in to_count for t in texts])
            tokens[rows] = np.add.reduceat(counts, np.arange(0, len(counts), 2))
            source[rows] = TOKENIZER
        payload_bytes = batch.payload_bytes
        need = np.flatnonzero((kind == Kind.OK) & np.isnan(prompt) & (batch.status == 200))
        if payload_bytes is not None and prompt_of is not None and len(need):
            prompt[need] = counter.prompt_counts(batch.payload[need].tolist(), lambda p: prompt_of(payload_bytes(p)))
    with np.errstate(invalid="ignore", divide="ignore"):
        span = batch.done - batch.sent
        tps = np.where(span > 0, tokens / span * 1e3, np.nan)   # milli-tokens a second (the catalogue's unit)
        tpot = np.where(tokens >= 2, (batch.done - first) / (tokens - 1) * 1e6, np.nan)
    out = Interpretation(kind=kind, messages=said or None, token_source=source)
    out.columns = {"output_tokens": tokens, "input_tokens": prompt, "output_tps": tps}
    if reasoning:
        out.columns["reasoning_tokens"] = thought
    if stream:
        out.columns.update(ttft=ttft, tpot=tpot)
        if reasoning:
            out.columns["ttfo"] = ttfo
        out.many = {"itl": (np.concatenate(gaps) if gaps else np.empty(0), gap_counts)}
    return out
