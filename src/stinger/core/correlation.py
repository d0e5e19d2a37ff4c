"""Request IDs: the `X-Request-Id` and W3C `traceparent` every request of a variant may carry (pure).

A request's ID is a pure function of the run's seed and the request's number, so the engine, the row
files (requests.csv's `request_id`) and the OTLP export (outputs/otlp.py) compute the same one apart,
and the hot path draws no random number:

- the request's number `rid` is global in the run: worker w of W numbers its k-th dispatched request
  `w + k * W` (engine/core.py), so no two workers' numbers meet;
- the trace id (32 hex digits) is the run's 64-bit `trace_hi` (from the seed, never zero) followed by
  `rid` as 16 hex digits; `X-Request-Id` is that same text, so one column joins both to a server's log;
- the span id (16 hex digits) is `(trace_hi ^ rid) | 2**63`: never zero, unique within the run;
- `traceparent: 00-TRACE-SPAN-01` (version 00, sampled).

Two runs with the same seed send the same IDs (that is what `--seed` means); a fresh seed per run is
the default (spec/model.py), so runs do not collide in a trace store.
"""

from __future__ import annotations

import hashlib

__all__ = ["DEFAULT_HEADER", "header_template", "span_id", "trace_hi", "trace_id"]

DEFAULT_HEADER = "X-Request-Id"
_TOP = 1 << 63
_MASK = (1 << 64) - 1


def trace_hi(seed: int) -> int:
    """The run's upper 64 bits of every trace id (never zero: a zero trace id is invalid)."""
    digest = hashlib.blake2b(b"stinger-trace:%d" % seed, digest_size=8).digest()
    return int.from_bytes(digest, "big") | 1


def trace_id(hi: int, rid: int) -> str:
    return f"{hi:016x}{rid & _MASK:016x}"


def span_id(hi: int, rid: int) -> str:
    return f"{((hi ^ rid) & _MASK) | _TOP:016x}"


def header_template(hi: int, header: str | None, traceparent: bool) -> bytes | None:
    """The header lines one request sends, as a bytes %-template taking `(rid, ...)`: the engine fills
    it once per request with the same formatting `trace_id`/`span_id` use. None when nothing is sent.

    The template's arguments, in order: rid (X-Request-Id), rid (trace id), span (traceparent)."""
    prefix = f"{hi:016x}".encode("ascii")
    parts = []
    if header:
        parts.append(header.encode("latin-1") + b": " + prefix + b"%016x\r\n")
    if traceparent:
        parts.append(b"traceparent: 00-" + prefix + b"%016x-%016x-01\r\n")
    return b"".join(parts) or None


def header_args(hi: int, rid: int, header: bool, traceparent: bool) -> tuple[int, ...]:
    """The arguments of `header_template` for request `rid` (the engine inlines this; tests use it)."""
    args: tuple[int, ...] = (rid,) if header else ()
    if traceparent:
        args += (rid, ((hi ^ rid) & _MASK) | _TOP)
    return args
