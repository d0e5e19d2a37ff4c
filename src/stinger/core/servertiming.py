"""Server time from response headers: parsing `Server-Timing` and plain duration headers.

This module owns one question: "how long did the server say it worked on this
request?", answered from a response header, in milliseconds. It is pure (no I/O)
and runs on the engine's hot path once per response, so the common cases take a
fast path: a single Server-Timing metric (`model;dur=12.3`) or a bare number
(`12`) is parsed with a couple of string operations and one `float()`.

Two header shapes are understood:

* `Server-Timing` (W3C): `model;dur=12.3, db;desc="x, y";dur=4, miss`. Every
  metric with a numeric `dur` is kept (ms); metrics without `dur` and malformed
  parts are skipped; parsing never raises. When a metric name repeats, the first
  occurrence wins (as the first `dur` parameter within a metric wins).
* a plain duration such as `X-Response-Time: 12.3ms`, `X-Runtime: 0.0123` (s) or
  `x-envoy-upstream-service-time: 12` (ms). A unit suffix in the value (`ns`,
  `us`, `µs`, `ms`, `s`) overrides the configured unit.

Which Server-Timing metric is "the server time" when the user does not name one:
`total` if present, otherwise the *largest* `dur`. The largest, not the sum,
because servers commonly report nested spans (`app` containing `model` and `db`),
and summing nested spans would count the same milliseconds twice.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from stinger.errors import SpecError

__all__ = [
    "ServerTimeSource",
    "parse_duration_header",
    "parse_server_time_option",
    "parse_server_timing",
]

# Multiplier from a unit to milliseconds.
_TO_MS: dict[str, float] = {"ns": 1e-6, "us": 1e-3, "µs": 1e-3, "μs": 1e-3, "ms": 1.0, "s": 1e3}
UNITS: tuple[str, ...] = ("ns", "us", "ms", "s")

# Headers whose conventional unit is not milliseconds (Rails' X-Runtime is seconds).
_DEFAULT_UNITS: dict[str, str] = {"x-runtime": "s"}

_DURATION_RE = re.compile(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(ns|us|µs|μs|ms|s)?\s*\Z")
# One Server-Timing entry when the header contains quoted strings (which may hold
# commas or semicolons): split on commas outside double quotes.
_ENTRY_RE = re.compile(r'(?:[^,"]|"(?:[^"\\]|\\.)*")+')
_PARAM_RE = re.compile(r'(?:[^;"]|"(?:[^"\\]|\\.)*")+')
# The common single-metric header, matched without decoding; the number pattern
# admits only finite, non-negative floats.
_SINGLE = r"[ \t]*([!#$%&'*+.^_`|~0-9A-Za-z-]+)[ \t]*;[ \t]*dur[ \t]*=[ \t]*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)[ \t]*\Z"
_SINGLE_STR = re.compile(_SINGLE)
_SINGLE_BYTES = re.compile(_SINGLE.encode())
# RFC 9110 token characters: header names and Server-Timing metric names.
_TOKEN_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")


def _text(value: bytes | str) -> str:
    # "replace" so that a stray non-UTF-8 byte spoils one metric, never the parse.
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _dur(params: list[str]) -> float | None:
    """The first `dur=` parameter of one metric, in ms; None if absent or invalid."""
    for param in params:
        key, sep, raw = param.partition("=")
        if sep and key.strip().lower() == "dur":
            raw = raw.strip()
            if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
                raw = raw[1:-1]
            try:
                ms = float(raw)
            except ValueError:
                return None
            return ms if math.isfinite(ms) and ms >= 0.0 else None
    return None


def _add_entry(entry: str, out: dict[str, float], quoted: bool) -> None:
    params = _PARAM_RE.findall(entry) if quoted else entry.split(";")
    if not params:
        return
    name = params[0].strip()
    if not name or name in out or _TOKEN_RE.match(name) is None:
        return
    ms = _dur(params[1:])
    if ms is not None:
        out[name] = ms


def parse_server_timing(value: bytes | str) -> dict[str, float]:
    """Every `name -> dur` (ms) in a Server-Timing header value; never raises.

    >>> parse_server_timing('model;dur=12.3, db;desc=x;dur=4, miss')
    {'model': 12.3, 'db': 4.0}
    """
    # `name;dur=12.3`, the usual header: one regex, no decoding.
    if isinstance(value, bytes):
        single = _SINGLE_BYTES.match(value)
        if single is not None:
            return {single.group(1).decode("ascii"): float(single.group(2))}
    else:
        match = _SINGLE_STR.match(value)
        if match is not None:
            return {match.group(1): float(match.group(2))}
    text = _text(value)
    out: dict[str, float] = {}
    if '"' in text:
        for entry in _ENTRY_RE.findall(text):
            _add_entry(entry, out, quoted=True)
    elif "," not in text:
        _add_entry(text, out, quoted=False)  # the common single-metric header
    else:
        for entry in text.split(","):
            _add_entry(entry, out, quoted=False)
    return out


def parse_duration_header(value: bytes | str, unit: str = "ms") -> float | None:
    """A plain duration header value in ms, or None when it cannot be parsed.

    `unit` is the unit of a bare number; a suffix in the value wins over it.
    Negative and non-finite values are unparsable.
    """
    scale = _TO_MS.get(unit)
    if scale is None:
        raise ValueError(f"unknown duration unit {unit!r} (expected one of {', '.join(UNITS)})")
    text = _text(value)
    try:
        number = float(text)  # fast path: a bare number, the usual case
    except ValueError:
        match = _DURATION_RE.match(text)
        if match is None:
            return None
        number = float(match.group(1))
        if match.group(2):
            scale = _TO_MS[match.group(2)]
    if not math.isfinite(number) or number < 0.0:
        return None
    return number * scale


@dataclass(frozen=True)
class ServerTimeSource:
    """Where the user said the server's own time is: a header, and how to read it.

    `metric` only matters for Server-Timing: the metric that is "the server
    time"; None means `total` if present, else the largest `dur`. All the other
    metrics are still returned by `extract` as extra series. `unit` only matters
    for plain duration headers (the unit of a bare number).
    """

    header: str = "server-timing"
    metric: str | None = None
    unit: str = "ms"

    def __post_init__(self) -> None:
        if _TOKEN_RE.match(self.header) is None or self.header != self.header.lower():
            raise SpecError(f"server time header {self.header!r} is not a lowercase HTTP header name")
        if self.unit not in _TO_MS:
            raise SpecError(f"server time unit {self.unit!r} is unknown (expected one of {', '.join(UNITS)})")
        if self.metric is not None and _TOKEN_RE.match(self.metric) is None:
            raise SpecError(f"Server-Timing metric {self.metric!r} is not a valid metric name")
        if self.metric is not None and self.header != "server-timing":
            raise SpecError(f"a metric name ({self.metric!r}) only applies to the server-timing header")

    @property
    def is_server_timing(self) -> bool:
        return self.header == "server-timing"

    def extract(self, value: bytes | str) -> tuple[float | None, dict[str, float]]:
        """(the server time in ms or None, every named Server-Timing metric in ms)."""
        if self.header != "server-timing":
            return parse_duration_header(value, self.unit), {}
        metrics = parse_server_timing(value)
        if not metrics:
            return None, metrics
        if self.metric is not None:
            return metrics.get(self.metric), metrics
        total = metrics.get("total")
        return (total if total is not None else max(metrics.values())), metrics


def parse_server_time_option(text: str) -> ServerTimeSource:
    """Parse the CLI form `HEADER[:METRIC_OR_UNIT]` into a ServerTimeSource.

    `server-timing`, `server-timing:model`, `x-response-time:ms`,
    `x-envoy-upstream-service-time` (ms unless the header is known to use
    another unit). A mistake raises SpecError with a one-line message.
    """
    header, sep, rest = text.strip().partition(":")
    header = header.strip().lower()
    rest = rest.strip()
    if not header or _TOKEN_RE.match(header) is None:
        raise SpecError(f"--server-time {text!r}: expected HEADER[:METRIC] or HEADER[:UNIT], e.g. server-timing:model")
    if sep and not rest:
        raise SpecError(f"--server-time {text!r}: nothing after ':' (expected a metric name or a unit)")
    if ":" in rest:
        raise SpecError(f"--server-time {text!r}: more than one ':'")
    if header == "server-timing":
        return ServerTimeSource(header, metric=rest or None)
    unit = rest.lower() if rest else _DEFAULT_UNITS.get(header, "ms")
    if unit not in _TO_MS:
        raise SpecError(f"--server-time {text!r}: unknown unit {rest!r} (expected one of {', '.join(UNITS)})")
    return ServerTimeSource(header, unit=unit)
