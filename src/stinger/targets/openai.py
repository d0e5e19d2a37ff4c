"""The `openai` api: OpenAI-compatible LLM endpoints (vLLM, TGI, llama.cpp, Ollama, OpenAI), chat or
completions, streamed.

`target: {type: openai, url: http://127.0.0.1:8000/v1, model: NAME, api: chat,
stream: true, max_tokens: 128, params: {temperature: 0}}` (over http, the default
carrier: `OpenAIFields` are the api's fields, `Config` the pair's).

**Build time** (once per distinct payload, cached for the run): the payload
becomes the request's JSON. A payload that is a JSON object is taken as the
request body itself (`messages` for chat, `prompt` for completions; a
`prompt` given to chat becomes one user message); a JSON string or plain text
is the prompt; a JSON list is chat's `messages`. The config then fills what
the payload leaves out: `model`, `max_tokens`, each of `params`, and
`stream` (always the config's); a streamed request asks for the usage chunk
(`stream_options.include_usage`) so the output token count is the server's.
The API key (`api_key`, else the environment variable named by
`api_key_env`, `OPENAI_API_KEY` by default) is sent as a bearer token and
never written anywhere (the spec's copy in a run directory is redacted).

**Flush time** (`interpret`, vectorised over an interval's responses): a
streamed 200 is split into server-sent events (`targets.sse`) timed by the
read that completed them. Per request (the catalogue, `core/catalogue.py`,
holds each definition once):

- `ttft`: the first event carrying output text of any kind (content or
  reasoning) - sent;
- `ttfo`: the first event carrying output *content* (not `reasoning_content`
  / `reasoning`: a reasoning model thinks aloud first) - sent; equal to `ttft`
  for a model that does not reason, none for a stream that only reasoned;
- `itl`: every gap between consecutive events carrying text (many values
  per request: the p99 of gaps, not of per-request means);
- `tpot`: (done - first token) / (output tokens - 1), the time per output
  token after the first (a request with one token has none);
- `output_tokens`: the usage chunk's `completion_tokens`, else the user's
  tokenizer (`tokenizer: DIR`, `--tokenizer DIR`; targets/tokens.py) over the
  streamed text, else the count of events carrying text; `input_tokens`: the
  usage's `prompt_tokens`, else the tokenizer over the prompt; which one is each
  row's `token_source` (the summary's per variant: usage / tokenizer / chunks);
- `reasoning_tokens`: the usage's `completion_tokens_details.reasoning_tokens`,
  else the count of events carrying reasoning text (none when neither says);
- `output_tps`: output tokens / (done - sent), what this caller received a second.

A non-streamed 200 gives `output_tokens`, `input_tokens` and `output_tps` from its
`usage`. HTTP 429 is `throttled`; an `error` object in a 200's stream or body is
`model_error` (its message kept once per kind in `messages`); a 200 whose body is
not the API's JSON is `invalid`.
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

_PATHS = {"chat": "/chat/completions", "completions": "/completions"}
_DONE = b"[DONE]"


class OpenAIFields(TargetConfig):
    """The openai api's fields (see the module docstring), over any carrier."""

    request_ids: ClassVar[bool] = True   # X-Request-Id + traceparent by default (core/correlation.py)

    type: Literal["openai"] = "openai"
    model: str
    api: Literal["chat", "completions"] = "chat"
    stream: bool = True
    max_tokens: int | None = Field(default=None, ge=1)
    params: dict[str, object] = Field(default_factory=dict)
    prompt: str | None = None            # sent when the run has no payload
    api_key: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    tokenizer: str | None = None         # a local tokenizer folder: counts when the server sends no usage

    @field_validator("tokenizer")
    @classmethod
    def _tokenizer(cls, v: str | None) -> str | None:
        return None if v is None else check_dir(v)

    @field_validator("model")
    @classmethod
    def _model(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("model must name the served model, e.g. meta-llama/Llama-3.1-8B-Instruct")
        return v.strip()

    def api_url(self, base: str) -> str:
        """The full URL: `base` as given when it names the API's path, else `base` + the path of `api`."""
        url = base.rstrip("/")
        if url.endswith((_PATHS["chat"], _PATHS["completions"])):
            return url
        return url + _PATHS[self.api]

    def is_chat(self) -> bool:
        """Chat completions: a URL naming a path says which; else `api`."""
        url = (getattr(self, "url", None) or "").rstrip("/")
        if url.endswith(_PATHS["chat"]):
            return True
        if url.endswith(_PATHS["completions"]):
            return False
        return self.api == "chat"

    def with_payload(self, has_body: bool) -> OpenAIFields:
        if not has_body and self.prompt is None:
            raise ValueError("the openai target needs prompts: give a payload (a dataset of prompts or "
                             "request bodies) or target.prompt")
        return self


class Config(OpenAIFields, HttpFields):
    """openai over http (`type: openai`): one base URL, the api's path appended."""

    url: str

    def endpoint_url(self) -> str:
        return self.api_url(self.url)


class OpenAIApi:
    """Chat or completions requests (see the module docstring)."""

    name: ClassVar[str] = "openai"
    # the catalogue metrics its `interpret` reads from the answers (core/catalogue.py, source "target")
    metrics: ClassVar[tuple[str, ...]] = ("ttft", "ttfo", "itl", "tpot", "input_tokens", "output_tokens",
                                          "reasoning_tokens", "output_tps")
    method = "POST"

    def __init__(self, config: OpenAIFields) -> None:
        self.config = config
        self._chat = config.is_chat()
        headers = [("Accept", "text/event-stream" if config.stream else "application/json")]
        key = config.api_key or os.environ.get(config.api_key_env)
        if key:
            headers.append(("Authorization", f"Bearer {key}"))
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
            if self._chat and "messages" not in req and "prompt" in req:
                req["messages"] = [{"role": "user", "content": req.pop("prompt")}]
        elif isinstance(obj, list) and self._chat:
            req = {"messages": obj}
        else:
            text = obj if isinstance(obj, str) else json.dumps(obj)
            req = {"messages": [{"role": "user", "content": text}]} if self._chat else {"prompt": text}
        req.setdefault("model", c.model)
        if c.max_tokens is not None:
            req.setdefault("max_tokens", c.max_tokens)
        for k, v in c.params.items():
            req.setdefault(k, v)
        req["stream"] = c.stream
        if c.stream:
            req.setdefault("stream_options", {"include_usage": True})
        return json.dumps(req, separators=(",", ":")).encode()

    # -- turn end (multi-turn sessions, engine/sessions.py) -------------------
    def answer_text(self, body: bytes) -> str | None:
        """The answer's output text (reasoning left out), what a session's next turn carries as the
        assistant's message; None when the answer is an error or not what this api sends."""
        if self.config.stream:
            objs = sse.json_events(body)
            if objs is None:
                return None
            parts = []
            for obj in objs:
                if obj.get("error"):
                    return None
                for choice in obj.get("choices") or ():
                    if isinstance(choice, dict):
                        parts.append(_text_of(choice)[0])
                        break
            return "".join(parts)
        try:
            obj = json.loads(body)
            choice = obj["choices"][0]
            text = choice["message"]["content"] if "message" in choice else choice["text"]
        except (ValueError, KeyError, IndexError, TypeError):
            return None
        return text if isinstance(text, str) else None

    # -- flush time ---------------------------------------------------------
    def interpret(self, batch: ResponseBatch) -> Interpretation:
        return sse.interpret_llm(batch, stream=self.config.stream, read_stream=_stream, read_whole=_whole,
                                 error_message=_error_message, keep=self._keep, counter=self._counter,
                                 prompt_of=self._prompt_text, reasoning=True)

    def _prompt_text(self, payload: bytes) -> str:
        """The text of the prompt a payload becomes (a tokenizer's input count)."""
        return prompt_text(sse.payload_object(payload, self.config.prompt))

    def _keep(self, said: dict[int, str], kind: int, message: str) -> None:
        self.messages.setdefault(kind, message[:300])
        said.setdefault(kind, message[:300])


class OpenAISide:
    """The coordinator half of the openai api: its flags (`--openai URL --model M`)."""

    alias: ClassVar[str | None] = "--openai"
    alias_metavar: ClassVar[str] = "URL"
    alias_help: ClassVar[str] = ("An OpenAI-compatible LLM endpoint (vLLM, TGI, Ollama, ...), its base URL such as "
                                 "http://127.0.0.1:8000/v1: streamed chat completions (time to first token, "
                                 "inter-token latency, tokens/s); needs --model")
    flags: ClassVar[tuple[TargetFlag, ...]] = (
        TargetFlag("--model", "model", "The served model's name."),
        TargetFlag("--max-tokens", "max_tokens", "max_tokens of each answer.", type=int),
        TargetFlag("--tokenizer", "tokenizer", "A local Hugging Face tokenizer folder (with tokenizer.json): "
                   "counts input and output tokens when the server sends no usage (never downloaded).",
                   metavar="DIR"),
    )
    variant_key: ClassVar[str] = "model"

    def from_flag(self, arg: str) -> dict[str, Any]:
        return {"type": "openai", "url": arg}

    def server_time_labels(self, config: Any) -> tuple[str, ...]:
        """`ServerTimeLabels`: an LLM server's metrics carry the served model's name (vLLM's model_name)."""
        model = getattr(config, "model", None)
        return (model,) if isinstance(model, str) and model else ()


def _error_message(body: bytes | None) -> str | None:
    if not body:
        return None
    try:
        obj = json.loads(body)
    except ValueError:
        return body[:200].decode("utf-8", "replace").strip() or None
    err = obj.get("error") if isinstance(obj, dict) else None
    if isinstance(err, dict):
        return str(err.get("message") or err.get("type") or err)
    if err:
        return str(err)
    return None


def _text_of(choice: dict) -> tuple[str, str]:
    """(output content, reasoning text) of a streamed choice (vLLM and DeepSeek name the reasoning
    `reasoning_content`, others `reasoning`); a completions choice's `text` is output."""
    delta = choice.get("delta")
    if isinstance(delta, dict):
        return delta.get("content") or "", delta.get("reasoning_content") or delta.get("reasoning") or ""
    return choice.get("text") or "", ""


def _int(x: object) -> int | None:
    return int(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def _usage(obj: dict) -> tuple[int | None, int | None, int | None]:
    """(completion_tokens, prompt_tokens, reasoning_tokens) of a chunk's or body's `usage`, None where absent."""
    usage = obj.get("usage")
    if not isinstance(usage, dict):
        return None, None, None
    details = usage.get("completion_tokens_details")
    reasoning = _int(details.get("reasoning_tokens")) if isinstance(details, dict) else None
    return _int(usage.get("completion_tokens")), _int(usage.get("prompt_tokens")), reasoning


def _stream(evs: list[tuple[float, bytes]], text: sse.Text | None = None) -> sse.Answer:
    """One stream read (`sse.Answer`); `text`, when given, gets each piece of reasoning and of content, in order."""
    times: list[float] = []
    first_output: float | None = None
    reasoning_events = 0
    usage_tokens = prompt_tokens = usage_reasoning = None
    for t, data in evs:
        if data.strip() == _DONE:
            break
        try:
            obj = json.loads(data)
        except ValueError:
            return sse.failed(int(Kind.INVALID), f"a stream event is not JSON: {data[:80]!r}")
        if not isinstance(obj, dict):
            return sse.failed(int(Kind.INVALID), "a stream event is not a JSON object")
        if obj.get("error"):
            return sse.failed(int(Kind.MODEL_ERROR), f"error in stream: {_error_message(data)}")
        completion, inputs, reasoning = _usage(obj)
        if completion is not None:
            usage_tokens = completion
        if inputs is not None:
            prompt_tokens = inputs
        if reasoning is not None:
            usage_reasoning = reasoning
        for choice in obj.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            content, thought = _text_of(choice)
            if content or thought:
                times.append(t)
                if content and first_output is None:
                    first_output = t
                if thought:
                    reasoning_events += 1
                if text is not None:
                    text[0].append(thought)
                    text[1].append(content)
                break
    if not evs:
        return sse.failed(int(Kind.INVALID), "an empty event stream")
    count = usage_tokens if usage_tokens is not None else len(times)
    if usage_reasoning is None and reasoning_events:
        usage_reasoning = reasoning_events
    return sse.Answer(times=times, count=count, inputs=prompt_tokens, first_output=first_output,
                      reasoning=usage_reasoning, from_usage=usage_tokens is not None)


def _whole(body: bytes, text: sse.Text | None = None) -> sse.Answer:
    """A whole (non-streamed) answer read; `text`, when given, gets its choices' text."""
    try:
        obj = json.loads(body)
    except ValueError:
        return sse.failed(int(Kind.INVALID), f"the response is not JSON: {body[:80]!r}")
    if not isinstance(obj, dict):
        return sse.failed(int(Kind.INVALID), "the response is not a JSON object")
    if obj.get("error"):
        return sse.failed(int(Kind.MODEL_ERROR), _error_message(body))
    count, inputs, reasoning = _usage(obj)
    if text is not None:
        for choice in obj.get("choices") or ():
            if isinstance(choice, dict):
                message = choice.get("message")
                if isinstance(message, dict):
                    text[0].append(message.get("reasoning_content") or message.get("reasoning") or "")
                    text[1].append(message.get("content") or "")
                else:
                    text[1].append(choice.get("text") or "")
    return sse.Answer(count=count, inputs=inputs, reasoning=reasoning, from_usage=count is not None)
