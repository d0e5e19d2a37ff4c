"""Response checks (is this answer acceptable?) and prediction extraction from JSON bodies.

A `ResponseCheck` judges a status code and, only when asked to, the body: a JSON path
that must exist (optionally with a given value) and a bytes regex that must match.
`needs_body` tells the HTTP client whether bodies must be kept at all.

The JSON path mini-language is deliberately small: an optional leading ``$`` or ``$.``,
dotted keys, ``[N]`` indices (negative counts from the end) and quoted keys
``['key with spaces']`` / ``["key"]`` (backslash escapes the quote or a backslash).
A dotted key that is an integer also indexes an array (``predictions.0``). Paths are
compiled once into a tuple of steps; applying one never raises, it returns `MISSING`.

The regex runs on the `regex` module (the syntax of `re`), because `re` cannot be
stopped: a pattern that backtracks catastrophically on a real body would hold the
flush thread, and the run, forever. Each search is given `REGEX_TIMEOUT` seconds;
one that runs out fails that answer's check, and after `REGEX_GIVE_UP` of them the
regex is no longer run (every later answer fails the check) and `problem` says so.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable

import regex as _regex

from stinger.errors import UsageError

__all__ = ["MISSING", "REGEX_GIVE_UP", "REGEX_TIMEOUT", "ResponseCheck", "compile_json_path", "extract",
           "parse_status"]

REGEX_TIMEOUT = 0.1   # seconds one search of one body may take
REGEX_GIVE_UP = 3     # searches that ran out before the regex is no longer run


class _Missing:
    """The one value meaning 'the path leads nowhere' (distinct from JSON null)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "MISSING"  # unpickles as the module-level singleton


MISSING: object = _Missing()

_PATH_HINT = "expected e.g. $.predictions[0], outputs.label or ['key with spaces']"
_KEY_END = frozenset(".[]'\" \t\r\n")


def _path_error(path: str, pos: int, what: str) -> UsageError:
    return UsageError(f"invalid JSON path {path!r}: {what} at position {pos}; {_PATH_HINT}")


def _parse_path(path: str) -> tuple[str | int, ...]:
    """The steps of a path: str = object key (or integer-like array index), int = array index."""
    if not isinstance(path, str) or not path.strip():
        raise UsageError(f"invalid JSON path {path!r}: empty; {_PATH_HINT}")
    steps: list[str | int] = []
    i, n = 0, len(path)
    # '$' is the root only when a step or nothing follows ('$foo' is a key).
    if path[0] == "$" and (n == 1 or path[1] in ".["):
        i = 1
        if i < n and path[i] == ".":
            i += 1
            if i == n:
                raise _path_error(path, i, "a key is missing after '$.'")
    else:
        if path[0] == ".":
            raise _path_error(path, 0, "a key is missing before '.'")
    expect_key = i < n and path[i] not in "["  # right after '$.' or at the start
    while i < n:
        c = path[i]
        if c == "[":
            i, step = _parse_bracket(path, i)
            steps.append(step)
            expect_key = False
        elif c == "." and not expect_key:
            i += 1
            if i == n or path[i] in _KEY_END:
                raise _path_error(path, i, "a key is missing after '.'")
            expect_key = True
        elif expect_key:
            start = i
            while i < n and path[i] not in _KEY_END:
                i += 1
            if i == start:
                raise _path_error(path, i, f"unexpected {path[i]!r}")
            steps.append(path[start:i])
            expect_key = False
        else:
            raise _path_error(path, i, f"unexpected {c!r}")
    return tuple(steps)


def _parse_bracket(path: str, i: int) -> tuple[int, str | int]:
    """Parse ``[N]``, ``['k']`` or ``["k"]`` starting at path[i] == '['; return (next position, step)."""
    n = len(path)
    j = i + 1
    if j < n and path[j] in "'\"":
        quote = path[j]
        j += 1
        chars: list[str] = []
        while j < n and path[j] != quote:
            if path[j] == "\\" and j + 1 < n:
                j += 1
            chars.append(path[j])
            j += 1
        if j >= n:
            raise _path_error(path, i + 1, f"unclosed quote {quote}")
        j += 1
        if j >= n or path[j] != "]":
            raise _path_error(path, j, "']' expected after the quoted key")
        return j + 1, "".join(chars)
    close = path.find("]", j)
    if close < 0:
        raise _path_error(path, i, "unclosed '['")
    text = path[j:close].strip()
    try:
        return close + 1, int(text)
    except ValueError:
        raise _path_error(path, j, f"index {text!r} is not an integer (quote keys: ['{text}'])") from None


def compile_json_path(path: str) -> Callable[[object], object]:
    """Compile a path once; the result maps a parsed JSON document to a value or `MISSING`."""
    steps = _parse_path(path)

    def apply(document: object) -> object:
        value = document
        for step in steps:
            if isinstance(value, dict):
                if isinstance(step, int) or step not in value:
                    return MISSING
                value = value[step]
            elif isinstance(value, list):
                if isinstance(step, str):
                    try:
                        step_index = int(step)
                    except ValueError:
                        return MISSING
                else:
                    step_index = step
                if not -len(value) <= step_index < len(value):
                    return MISSING
                value = value[step_index]
            else:
                return MISSING
        return value

    apply.path = path  # type: ignore[attr-defined]  # for messages and reprs
    return apply


def extract(body: bytes | None, path: Callable[[object], object] | str) -> object:
    """Parse a JSON body and apply a compiled path (or a path string); `MISSING` on any failure."""
    if not body:
        return MISSING
    if isinstance(path, str):
        path = compile_json_path(path)
    try:
        document = json.loads(body)
    except (ValueError, TypeError):  # JSONDecodeError, UnicodeDecodeError, non-bytes
        return MISSING
    return path(document)


# ---------------------------------------------------------------------------
# Status codes
# ---------------------------------------------------------------------------

_STATUS_HINT = "expected codes like 200, ranges like 200-299, classes like 2xx, comma-separated"
_CLASS = re.compile(r"([1-5])xx", re.IGNORECASE)
_RANGE = re.compile(r"(\d{3})\s*-\s*(\d{3})")


def _code(value: object, spec: object) -> int:
    try:
        code = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise UsageError(f"invalid status {spec!r}: {value!r} is not a status code; {_STATUS_HINT}") from None
    if isinstance(value, bool) or not 100 <= code <= 599 or (isinstance(value, float) and value != code):
        raise UsageError(f"invalid status {spec!r}: {value!r} is not an HTTP status code (100-599); {_STATUS_HINT}")
    return code


def parse_status(status: Iterable[int | str] | str | int | None) -> frozenset[int]:
    """The set of accepted status codes; None means any 2xx."""
    if status is None:
        return frozenset(range(200, 300))
    parts: Iterable[object]
    if isinstance(status, str):
        parts = [p.strip() for p in status.split(",")]
    elif isinstance(status, int) and not isinstance(status, bool):
        parts = [status]
    else:
        try:
            parts = list(status)  # type: ignore[arg-type]  # any iterable of codes/ranges; TypeError if not
        except TypeError:
            raise UsageError(f"invalid status {status!r}; {_STATUS_HINT}") from None
    codes: set[int] = set()
    for part in parts:
        if isinstance(part, str):
            if m := _CLASS.fullmatch(part.strip()):
                base = int(m.group(1)) * 100
                codes.update(range(base, base + 100))
                continue
            if m := _RANGE.fullmatch(part.strip()):
                lo, hi = _code(m.group(1), status), _code(m.group(2), status)
                if lo > hi:
                    raise UsageError(f"invalid status {status!r}: range {part!r} runs backwards; {_STATUS_HINT}")
                codes.update(range(lo, hi + 1))
                continue
            if not part.strip().isdigit():
                raise UsageError(f"invalid status {status!r}: cannot read {part!r}; {_STATUS_HINT}")
        codes.add(_code(part, status))
    if not codes:
        raise UsageError(f"invalid status {status!r}: no codes given; {_STATUS_HINT}")
    return frozenset(codes)


# ---------------------------------------------------------------------------
# The check
# ---------------------------------------------------------------------------


def _json_equal(a: object, b: object) -> bool:
    """Equality as JSON means it: true is not 1, and 1 == 1.0; containers compared deeply."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b))
    return a == b


class ResponseCheck:
    """Which answers count as OK: a status set and, optionally, body conditions.

    `equals` without `json_path` compares the whole JSON body. `equals=None` means no
    value check (to require JSON null, use a regex such as ``rb"^null$"``).
    """

    def __init__(self, *, status: Iterable[int | str] | str | int | None = None, json_path: str | None = None,
                 equals: object | None = None, regex: str | bytes | None = None) -> None:
        self.statuses = parse_status(status)
        self.json_path = json_path
        self.equals = equals
        self._path = compile_json_path(json_path if json_path is not None else "$") \
            if json_path is not None or equals is not None else None
        self._regex: _regex.Pattern[bytes] | None = None
        self.regex_timeouts = 0
        if regex is not None:
            pattern = regex.encode("utf-8") if isinstance(regex, str) else regex
            try:
                self._regex = _regex.compile(pattern)
            except _regex.error as exc:
                where = getattr(exc, "pos", None)   # the regex module sets msg and pos as re does
                raise UsageError(f"invalid regex {regex!r}: {getattr(exc, 'msg', exc)} at position {where}; "
                                 "expected a Python regular expression") from None
        self.needs_body = self._path is not None or self._regex is not None

    def status_ok(self, status: int) -> bool:
        return status in self.statuses

    def body_ok(self, body: bytes | None) -> bool:
        data = body or b""
        if self._regex is not None and not self._regex_found(data):
            return False
        if self._path is not None:
            value = extract(data, self._path)
            if value is MISSING:
                return False
            if self.equals is not None and not _json_equal(value, self.equals):
                return False
        return True

    def _regex_found(self, data: bytes) -> bool:
        pattern = self._regex
        if pattern is None:
            return True
        if self.regex_timeouts >= REGEX_GIVE_UP:
            return False
        try:
            return pattern.search(data, timeout=REGEX_TIMEOUT) is not None
        except TimeoutError:
            self.regex_timeouts += 1
            return False

    @property
    def problem(self) -> str | None:
        """Why some answers failed the check without being judged (None when all were)."""
        if not self.regex_timeouts or self._regex is None:
            return None
        pattern = self._regex.pattern
        text = (f"the check regex {pattern!r} ran out of time ({REGEX_TIMEOUT * 1e3:g} ms) on an "
                "answer (catastrophic backtracking?); such answers fail the check")
        if self.regex_timeouts >= REGEX_GIVE_UP:
            text = (f"the check regex {pattern!r} ran out of time ({REGEX_TIMEOUT * 1e3:g} ms) on "
                    f"{REGEX_GIVE_UP} answers, so it is no longer run and every later answer fails the check: "
                    "simplify the pattern")
        return text

    def ok(self, status: int, body: bytes | None = None) -> bool:
        """Both checks at once (the body is only looked at when `needs_body`)."""
        return self.status_ok(status) and (not self.needs_body or self.body_ok(body))

    def __repr__(self) -> str:
        parts = [f"statuses={len(self.statuses)} codes"]
        if self.json_path is not None:
            parts.append(f"json_path={self.json_path!r}")
        if self.equals is not None:
            parts.append(f"equals={self.equals!r}")
        if self._regex is not None:
            parts.append(f"regex={self._regex.pattern!r}")
        return f"ResponseCheck({', '.join(parts)})"
