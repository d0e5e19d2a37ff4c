"""The `anthropic` api: the Anthropic Messages API (`POST /v1/messages`), streamed.

`target: {type: anthropic, url: http://127.0.0.1:8000/v1, model: NAME, max_tokens: 256,
stream: true, params: {temperature: 0}}` (over http; `AnthropicFields` are the api's
fields, `Config` the pair's). A URL that already ends in `/messages` is used as it is.

**Build time** (once per distinct payload): a payload that is a JSON object is the
request body itself (a `prompt` in it becomes one user message); a JSON list is
`messages`; a JSON string or plain text is one user message. The config fills what
the payload leaves out: `model`, `max_tokens` (the API requires it: 1024 unless set),
each of `params`, and `stream` (always the config's). The API key (`api_key`, else the
variable named by `api_key_env`, `ANTHROPIC_API_KEY` by default) goes in `x-api-key`
beside `anthropic-version`; it is never written anywhere.

**Flush time** (`interpret`): a streamed 200 is split into server-sent events
(`targets.sse`, each timed by the read that completed it); every event's data names its
`type`:

- `message_start`: `message.usage.input_tokens` is `input_tokens`;
- `content_block_delta` with a `text_delta` or a `thinking_delta` (an extended-thinking
  model's reasoning) carries tokens: the first is `ttft` (- sent), every gap between
  consecutive ones is an `itl` value;
- `message_delta`: its `usage.output_tokens` (cumulative, the last one wins) is
  `output_tokens`, else the user's tokenizer over the text and thinking (`tokenizer: DIR`,
  `--tokenizer DIR`, targets/tokens.py; the prompt's too when usage has no input_tokens), else
  the count of events carrying text (`token_source`); `tpot` is
  (done - first token) / (output tokens - 1); `output_tps` output tokens / (done - sent);
- `error` (e.g. `overloaded_error` mid-stream) is `model_error`; `ping`, the block
  start/stop events and `message_stop` say nothing timed.

The metrics are the catalogue's (`core/catalogue.py`), defined as the openai api's and computed by
the same function (`sse.interpret_llm`; this module reads one answer into an `sse.Answer`). A
whole (non-streamed) 200 gives `usage.input_tokens` / `output_tokens`. HTTP 429 (rate
limit) and 529 (overloaded) are `throttled`; a 200 that is not the API's JSON is `invalid`.
"""

from __future__ import annotations

import json
import os
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from stinger.core.records import Kind
from stinger.targets import sse
from stinger.targets.abilities import TargetFlag
from stinger.targets.base import Interpretation, Needs, ResponseBatch, TargetConfig
from stinger.targets.http import HttpFields
from stinger.targets.tokens import TokenCounter, check_dir, prompt_text

_PATH = "/messages"
VERSION = "2023-06-01"           # the anthropic-version header the Messages API documents
DEFAULT_MAX_TOKENS = 1024        # the API refuses a request without max_tokens
_TEXT = {"text_delta": "text", "thinking_delta": "thinking"}   # delta type -> its field carrying tokens
THROTTLED = (429, 529)           # rate_limit_error, overloaded_error


class AnthropicFields(TargetConfig):
    """The anthropic api's fields (see the module docstring), over any carrier."""

    request_ids: ClassVar[bool] = True   # X-Request-Id + traceparent by default (core/correlation.py)

    type: Literal["anthropic"] = "anthropic"
    model: str
    stream: bool = True
    max_tokens: int = Field(default=DEFAULT_MAX_TOKENS, ge=1)
    params: dict[str, object] = Field(default_factory=dict)
    prompt: str | None = None            # sent when the run has no payload
    api_key: str | None = None
    api_key_env: str = "ANTHROPIC_API_KEY"
    version: str = VERSION
    tokenizer: str | None = None         # a local tokenizer folder: counts when the server sends no usage

    @field_validator("tokenizer")
    @classmethod
    def _tokenizer(cls, v: str | None) -> str | None:
        return None if v is None else check_dir(v)

    @field_validator("model")
    @classmethod
    def _model(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("model must name the model, e.g. claude-sonnet-4-5")
        return v.strip()

    def api_url(self, base: str) -> str:
        """`base` as given when it names `/messages`, else `base` + `/messages`."""
        url = base.rstrip("/")
        return url if url.endswith(_PATH) else url + _PATH

    def with_payload(self, has_body: bool) -> AnthropicFields:
        if not has_body and self.prompt is None:
            raise ValueError("the anthropic target needs prompts: give a payload (a dataset of prompts or "
                             "request bodies) or target.prompt")
        return self


class Config(AnthropicFields, HttpFields):
    """anthropic over http (`type: anthropic`): one base URL, `/messages` appended."""

    url: str

    def endpoint_url(self) -> str:
        return self.api_url(self.url)


class AnthropicApi:
    """Messages requests (see the module docstring)."""

    name: ClassVar[str] = "anthropic"
    metrics: ClassVar[tuple[str, ...]] = ("ttft", "itl", "tpot", "input_tokens", "output_tokens", "output_tps")
    method = "POST"

    def __init__(self, config: AnthropicFields) -> None:
        self.config = config
        headers = [("Accept", "text/event-stream" if config.stream else "application/json"),
                   ("anthropic-version", config.version)]
        key = config.api_key or os.environ.get(config.api_key_env)
        if key:
            headers.append(("x-api-key", key))
        self._headers = tuple(headers)
        self.messages: dict[int, str] = {}   # error kind -> the first message seen
        self._counter = TokenCounter(config.tokenizer) if config.tokenizer else None

    def request_headers(self) -> tuple[tuple[str, str], ...]:
        return self._headers

    def content_type(self, payload_type: str | None) -> str | None:
        return "application/json"

    def needs(self) -> Needs:
        return Needs(body=True, chunk_times=self.config.stream)

    # -- build time ---------------------------------------------------------
    def body(self, payload: bytes) -> bytes:
        """The request JSON for one payload (see the module docstring)."""
        c = self.config
        obj = sse.payload_object(payload, c.prompt)
        if isinstance(obj, dict):
            req = dict(obj)
            if "messages" not in req and "prompt" in req:
                req["messages"] = [{"role": "user", "content": req.pop("prompt")}]
        elif isinstance(obj, list):
            req = {"messages": obj}
        else:
            req = {"messages": [{"role": "user", "content": obj if isinstance(obj, str) else json.dumps(obj)}]}
        msgs = req.get("messages")
        if isinstance(msgs, list) and msgs and isinstance(msgs[0], dict) and msgs[0].get("role") == "system":
            # the Messages API takes the system prompt apart (a multi-turn session's history starts with it)
            req.setdefault("system", msgs[0].get("content"))
            req["messages"] = msgs[1:]
        req.setdefault("model", c.model)
        req.setdefault("max_tokens", c.max_tokens)
        for k, v in c.params.items():
            req.setdefault(k, v)
        req["stream"] = c.stream
        return json.dumps(req, separators=(",", ":")).encode()

    # -- turn end (multi-turn sessions, engine/sessions.py) -------------------
    def answer_text(self, body: bytes) -> str | None:
        """The answer's text (thinking left out), what a session's next turn carries as the assistant's
        message; None when the answer is an error or not what this api sends."""
        if self.config.stream:
            objs = sse.json_events(body)
            if objs is None:
                return None
            parts = []
            for obj in objs:
                if obj.get("type") == "error" or "error" in obj:
                    return None
                delta = obj.get("delta")
                if obj.get("type") == "content_block_delta" and isinstance(delta, dict) \
                        and delta.get("type") == "text_delta" and isinstance(delta.get("text"), str):
                    parts.append(delta["text"])
            return "".join(parts)
        try:
            obj = json.loads(body)
            return "".join(b["text"] for b in obj["content"] if isinstance(b, dict) and b.get("type") == "text")
        except (ValueError, KeyError, TypeError):
            return None

    # -- flush time ---------------------------------------------------------
    def interpret(self, batch: ResponseBatch) -> Interpretation:
        return sse.interpret_llm(batch, stream=self.config.stream, read_stream=_stream, read_whole=_whole,
                                 error_message=_error_message, keep=self._keep, throttled=THROTTLED,
                                 counter=self._counter, prompt_of=self._prompt_text)

    def _prompt_text(self, payload: bytes) -> str:
        """The text of the prompt a payload becomes (a tokenizer's input count)."""
        return prompt_text(sse.payload_object(payload, self.config.prompt))

    def _keep(self, said: dict[int, str], kind: int, message: str) -> None:
        self.messages.setdefault(kind, message[:300])
        said.setdefault(kind, message[:300])


class AnthropicSide:
    """The coordinator half of the anthropic api: its flags (`--anthropic URL --model M`)."""

    alias: ClassVar[str | None] = "--anthropic"
    alias_metavar: ClassVar[str] = "URL"
    alias_help: ClassVar[str] = ("An Anthropic Messages API endpoint, its base URL such as http://127.0.0.1:8000/v1: "
                                 "streamed messages (time to first token, inter-token latency, tokens/s); "
                                 "needs --model")
    flags: ClassVar[tuple[TargetFlag, ...]] = (
        TargetFlag("--model", "model", "The served model's name."),
        TargetFlag("--max-tokens", "max_tokens", "max_tokens of each answer.", type=int),
        TargetFlag("--tokenizer", "tokenizer", "A local Hugging Face tokenizer folder (with tokenizer.json): "
                   "counts input and output tokens when the server sends no usage (never downloaded).",
                   metavar="DIR"),
    )
    variant_key: ClassVar[str] = "model"

    def from_flag(self, arg: str) -> dict[str, Any]:
        return {"type": "anthropic", "url": arg}


def _error_message(body: bytes | None) -> str | None:
    """The `error.message` (else `error.type`) of an Anthropic error body, else its first bytes."""
    if not body:
        return None
    try:
        obj = json.loads(body)
    except ValueError:
        return body[:200].decode("utf-8", "replace").strip() or None
    err = obj.get("error") if isinstance(obj, dict) else None
    if isinstance(err, dict):
        return str(err.get("message") or err.get("type") or err)
    return str(err) if err else None


def _int(x: object) -> int | None:
    return int(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def _stream(evs: list[tuple[float, bytes]], text: sse.Text | None = None) -> sse.Answer:
    """One stream read (`sse.Answer`); `text`, when given, gets each piece of thinking and of text, in order."""
    if not evs:
        return sse.failed(int(Kind.INVALID), "an empty event stream")
    times: list[float] = []
    output_tokens = input_tokens = None
    for t, data in evs:
        try:
            obj = json.loads(data)
        except ValueError:
            return sse.failed(int(Kind.INVALID), f"a stream event is not JSON: {data[:80]!r}")
        if not isinstance(obj, dict):
            return sse.failed(int(Kind.INVALID), "a stream event is not a JSON object")
        typ = obj.get("type")
        if typ == "content_block_delta":
            delta = obj.get("delta")
            if isinstance(delta, dict):
                kind = str(delta.get("type"))
                piece = delta.get(_TEXT.get(kind, ""))
                if piece:
                    times.append(t)
                    if text is not None and isinstance(piece, str):
                        text[0 if kind == "thinking_delta" else 1].append(piece)
        elif typ == "message_start":
            message = obj.get("message")
            usage = message.get("usage") if isinstance(message, dict) else None
            if isinstance(usage, dict):
                input_tokens = _int(usage.get("input_tokens"))
        elif typ == "message_delta":
            usage = obj.get("usage")
            if isinstance(usage, dict) and _int(usage.get("output_tokens")) is not None:
                output_tokens = _int(usage.get("output_tokens"))   # cumulative: the last one wins
        elif typ == "error" or "error" in obj:
            return sse.failed(int(Kind.MODEL_ERROR), f"error in stream: {_error_message(data)}")
    count = output_tokens if output_tokens is not None else len(times)
    return sse.Answer(times=times, count=count, inputs=input_tokens, from_usage=output_tokens is not None)


def _whole(body: bytes, text: sse.Text | None = None) -> sse.Answer:
    """A whole (non-streamed) answer read; `text`, when given, gets its content blocks' text."""
    try:
        obj = json.loads(body)
    except ValueError:
        return sse.failed(int(Kind.INVALID), f"the response is not JSON: {body[:80]!r}")
    if not isinstance(obj, dict):
        return sse.failed(int(Kind.INVALID), "the response is not a JSON object")
    if obj.get("type") == "error" or obj.get("error"):
        return sse.failed(int(Kind.MODEL_ERROR), _error_message(body))
    usage = obj.get("usage")
    if not isinstance(usage, dict):
        usage = {}
    if text is not None:
        for block in obj.get("content") or ():
            if isinstance(block, dict):
                thinking = block.get("type") == "thinking"
                piece = block.get("thinking" if thinking else "text")
                if isinstance(piece, str):
                    text[0 if thinking else 1].append(piece)
    count = _int(usage.get("output_tokens"))
    return sse.Answer(count=count, inputs=_int(usage.get("input_tokens")), from_usage=count is not None)
