"""The text forms users type for time and rate, and how stinger writes them back.

Owns `parse_duration` ("30s", "2m", "1h30m", "500ms", a plain number of seconds),
`parse_rate` ("100", "100/s", "6000/m", "2.5rps"), `parse_fraction` ("5%", "0.05": every
share a user types, in flags, SLOs, abort rules and options) and the short formats used in
descriptions ("2m", "0.5s", "100"). A bad value is a `UsageError` naming it, one
line, so the CLI and the spec report it without a traceback.

Pure: no asyncio, no I/O.
"""

from __future__ import annotations

import math
import re

import numpy as np

from stinger.errors import UsageError

__all__ = ["format_number", "format_seconds", "is_number", "parse_duration", "parse_fraction", "parse_rate"]

_DURATION_UNITS = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(us|µs|ms|s|m|h|d)")
_DURATION = re.compile(r"(?:(?:\d+(?:\.\d*)?|\.\d+)\s*(?:us|µs|ms|s|m|h|d)\s*)+")
_NUMBER = re.compile(r"[+-]?(\d+(?:\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def is_number(x: object) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


def parse_duration(text: str | float) -> float:
    """Seconds from '30s', '2m', '1h30m', '500ms', '1.5s' or a plain number of seconds.

    Zero is accepted (a warm-up or think time may be 0); negative, infinite and
    malformed values raise `UsageError`. Constructors that need a positive
    duration check that themselves.
    """
    if is_number(text):
        value = float(text)
    elif isinstance(text, str):
        s = text.strip().lower()
        if _NUMBER.fullmatch(s):
            value = float(s)
        elif _DURATION.fullmatch(s):
            value = sum(float(m.group(1)) * _DURATION_UNITS[m.group(2)] for m in _DURATION_PART.finditer(s))
        else:
            raise UsageError(f"invalid duration {text!r}: expected e.g. '30s', '2m', '1h30m', '500ms' or seconds")
    else:
        raise UsageError(f"invalid duration {text!r}: expected e.g. '30s', '2m', '1h30m', '500ms' or seconds")
    if not math.isfinite(value) or value < 0:
        raise UsageError(f"duration must be >= 0 and finite, got {text!r}")
    return value


_RATE_UNITS = {"": 1.0, "/s": 1.0, "/sec": 1.0, "rps": 1.0, "qps": 1.0, "/m": 1 / 60, "/min": 1 / 60, "rpm": 1 / 60, "/h": 1 / 3600}
_RATE = re.compile(r"(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*(?P<unit>/\s*(?:s|sec|m|min|h)|rps|qps|rpm)?")


def parse_rate(text: str | float) -> float:
    """Requests per second from '100', '100/s', '6000/m', '2.5rps' or a number."""
    if is_number(text):
        value = float(text)
    elif isinstance(text, str):
        m = _RATE.fullmatch(text.strip().lower())
        if m is None:
            raise UsageError(f"invalid rate {text!r}: expected e.g. '100', '100/s' or '6000/m'")
        unit = (m.group("unit") or "").replace(" ", "")
        value = float(m.group("num")) * _RATE_UNITS[unit]
    else:
        raise UsageError(f"invalid rate {text!r}: expected e.g. '100', '100/s' or '6000/m'")
    if not math.isfinite(value):
        raise UsageError(f"rate must be a finite number, got {text!r}")
    if value <= 0:
        raise UsageError(f"rate must be > 0, got {text!r}")
    return value


def parse_fraction(text: str | float, *, what: str, allow_over_one: bool = False) -> float:
    """A share as users write it: '5%' -> 0.05, '0.05' -> 0.05, 0.05 -> 0.05 (a percentage or a number).

    The one parser of every "5%" stinger reads (capacity precision, `plan`'s --error-rate and
    --min-effect, SLO and abort-rule thresholds, compare's margin): a malformed or non-finite
    value, or one outside [0, 1] (0 % to 100 %) unless `allow_over_one`, is a one-line
    UsageError naming `what` (the flag or field) and the value. A caller with a narrower
    rule (a bare 1 in an SLO is ambiguous) checks it on the text itself.
    """
    t = str(text).strip()
    try:
        value = float(t[:-1]) / 100.0 if t.endswith("%") else float(t)
    except ValueError:
        raise UsageError(f"{what} {text!r} is not a fraction; expected e.g. 5% or 0.05") from None
    if not math.isfinite(value):
        raise UsageError(f"{what} {text!r} is not a fraction; expected a finite number such as 5% or 0.05")
    if not allow_over_one and not 0 <= value <= 1:
        raise UsageError(f"{what} must be between 0 and 1 (or 0% and 100%), got {text!r}")
    return value


def format_number(x: float) -> str:
    """A number as users write it: 100, 0.5, 1e+06."""
    return f"{x:g}"


def format_seconds(seconds: float) -> str:
    """A duration as users write it: whole minutes from 2m up ('5m'), else seconds ('90s', '0.5s')."""
    if seconds >= 120 and seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"
