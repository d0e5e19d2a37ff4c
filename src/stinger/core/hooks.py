"""User hooks: Python a user gives by `module:function` (spec `hooks:`), and the types they see.

- A **request hook** builds the request of a payload row: it gets a `Request` (the row's body as the
  dataset gives it, its label, its content type) and returns a `Request` (or just a body: bytes, str,
  or a dict/list sent as JSON). It runs once per payload, before the run, in the coordinator
  (`datasets/derived.py`): its cost per request is nil at any dataset size.
- A **response hook** reads an answer: it gets a `Response` of each OK request and returns a `Reading`
  (the prediction, the label it should be judged against, token counts, or `ok=False` to count the
  answer as a failed check) or None. It runs on the workers' flush thread (`targets/hooks.py`),
  never on the event loop; an answer's body of 64 KiB or more judged by the helper process
  (`engine/judge.py`) is not given to the hook.

Which kind a function is: the spec's key says it (`hooks: {request: ..., response: ...}`); a function
marked with `request_hook`/`response_hook`, or whose first parameter is annotated `Request`/`Response`,
must agree. Pure data and names: importing the user's module is `load_hook`'s, at plan time.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stinger.core.checks import MISSING

__all__ = ["MISSING", "Reading", "Request", "Response", "encode_body", "hook_kind", "load_hook", "request_hook",
           "response_hook"]

KINDS = ("request", "response")
_MARK = "__stinger_hook__"


@dataclass(frozen=True, slots=True)
class Request:
    """One payload's request: its body (bytes are sent as they are; str as UTF-8; a dict or list as
    JSON), the label it is judged against (None: none), its content type (None: the payload's)."""

    body: bytes | str | dict[str, Any] | list[Any]
    label: Any = None
    content_type: str | None = None


@dataclass(slots=True)   # not frozen: one is made per answer, and a frozen __init__ costs 3x
class Response:
    """One OK answer: status, whole body, the response headers the run captured (lower-case names),
    latency (done - intended, ms), the variant's name and the payload's index in the dataset."""

    status: int
    body: bytes
    headers: Mapping[str, Any] = field(default_factory=dict)
    latency_ms: float = 0.0
    variant: str = "default"
    payload: int = 0

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(slots=True)   # not frozen: a hook makes one per answer (a frozen __init__ costs 3x)
class Reading:
    """What a response hook read: `prediction` (MISSING: none), the `label` to judge it against (None:
    the dataset's), `input_tokens`/`output_tokens` (catalogue metrics), `ok=False` to count the
    answer as a failed check."""

    prediction: Any = MISSING
    label: Any = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    ok: bool | None = None


def request_hook(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Marks `fn` as a request hook (`Request` -> `Request` or a body)."""
    setattr(fn, _MARK, "request")
    return fn


def response_hook(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Marks `fn` as a response hook (`Response` -> `Reading` or None)."""
    setattr(fn, _MARK, "response")
    return fn


def hook_kind(fn: Callable[..., Any]) -> str | None:
    """The kind `fn` declares: its decorator's, else its first parameter's annotation; None if neither."""
    marked = getattr(fn, _MARK, None)
    if marked in KINDS:
        return str(marked)
    import inspect

    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return None
    if not params:
        return None
    note = params[0].annotation
    name = note if isinstance(note, str) else getattr(note, "__name__", "")
    return {"Request": "request", "Response": "response"}.get(name.rsplit(".", 1)[-1])


def load_hook(ref: str, kind: str) -> Callable[..., Any]:
    """The function `ref` ("module:function") names, checked to be a `kind` hook; a problem is a
    one-line ValueError naming the hook and what was expected (the caller makes it a UsageError)."""
    module, sep, name = ref.partition(":")
    if not sep or not module or not name:
        raise ValueError(f"hooks.{kind}: {ref!r} is not module:function (e.g. my_hooks:build)")
    from importlib import import_module

    try:
        fn = getattr(import_module(module), name)
    except ImportError as exc:
        raise ValueError(f"hooks.{kind}: cannot import {module!r} ({exc}); expected a module importable "
                         "from the working directory or PYTHONPATH") from None
    except AttributeError:
        raise ValueError(f"hooks.{kind}: module {module!r} has no {name!r}") from None
    except Exception as exc:   # the user's module failed while importing: say so, in one line
        raise ValueError(f"hooks.{kind}: importing {module!r} failed: {type(exc).__name__}: {exc}") from None
    if not callable(fn):
        raise ValueError(f"hooks.{kind}: {ref} is a {type(fn).__name__}, not a function")
    declared = hook_kind(fn)
    if declared is not None and declared != kind:
        raise ValueError(f"hooks.{kind}: {ref} is a {declared} hook; give it as hooks.{declared}")
    return fn


def encode_body(body: Any) -> bytes:
    """A hook's body as bytes: bytes as they are, str as UTF-8, anything else as compact JSON."""
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body, separators=(",", ":")).encode()
