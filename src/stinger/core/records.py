"""Records that flow one way from the engine to metrics, reports and analyses.

The engine does not build one object per request (that would cost more than
the request itself at 100k req/s); it appends to columns, and once per
interval the worker's flush thread turns them into one `IntervalRecord`: per
variant and interval, HDR histograms by metric name (`core.catalogue`) as
sparse (bucket index, count) arrays, counts by error kind, status codes and
bytes, plus the worker's own health (CPU, event-loop lag). Records are what a
worker backend (`stinger.scale`) carries to the coordinator, which merges them
(`core.metrics.RunMetrics.add`).

Wire form (`to_bytes` / `from_bytes`), stable and versioned because records
cross processes and, with Ray, machines running other builds:

    byte 0      format version (`WIRE_VERSION`); a reader refuses others
    byte 1      flags: bit 0 = the rest is zlib-compressed
    rest        u32 big-endian length of a UTF-8 JSON header, the header,
                then the histogram arrays packed back to back in header order

Each sparse histogram is written as its bucket indices delta-encoded (the
first index, then the gaps; gaps are small, so they fit u8/u16 mostly) and
its counts, each array in the narrowest unsigned dtype that holds it (the
header names the dtype). At 2,000 req/s with widely spread latencies that is
a few KB an interval instead of the ~80 KB the pickled dict took; records
above `_COMPRESS_ABOVE` bytes are zlib-compressed as well.

`Result` was a per-request record nothing produced; it is gone. A raw
per-request stream, when it comes, will be columns (the flush thread's
`ResponseBatch`), not one object per request.

Error kinds are small integers on the hot path and names everywhere else.
"""

from __future__ import annotations

import enum
import json
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from stinger.core.sessions import COUNTERS as SESSION_COUNTERS


class Kind(enum.IntEnum):
    """How one scheduled request ended. OK is the only success."""

    OK = 0
    CONNECT = 1      # connection refused / unreachable / connect timeout
    TIMEOUT = 2      # no complete response within the request timeout
    RESET = 3        # connection closed or reset while the request was in flight
    INVALID = 4      # the response could not be parsed as HTTP/1.1
    HTTP_4XX = 5
    HTTP_5XX = 6
    CHECK = 7        # a 2xx/3xx whose body failed the configured check
    THROTTLED = 8    # the endpoint refused for rate (HTTP 429, or a carrier's own throttling error)
    MODEL_ERROR = 9  # the model container failed (a carrier's model error, e.g. HTTP 424)
    DNS = 10         # the endpoint's host name did not resolve (resolved once, before the run)
    TLS = 11         # the TLS handshake failed (an untrusted or mismatched certificate)
    BODY_TOO_LARGE = 12  # the response body passed the body cap (`load.max_body`); connection closed
    UNFINISHED = 13  # still unanswered when the run ended (the drain ran out): a failure, not silence
    LOST = 14        # in flight on a worker that was lost (killed, wedged, its machine gone)
    HEADER_TOO_LARGE = 15  # the response head passed the header cap (`load.max_header`); connection closed
    BUILD = 16       # the request could not be built (an unencodable URL, a target's error): never sent

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    Kind.OK: "ok",
    Kind.CONNECT: "connect",
    Kind.TIMEOUT: "timeout",
    Kind.RESET: "reset",
    Kind.INVALID: "invalid_response",
    Kind.HTTP_4XX: "http_4xx",
    Kind.HTTP_5XX: "http_5xx",
    Kind.CHECK: "check_failed",
    Kind.THROTTLED: "throttled",
    Kind.MODEL_ERROR: "model_error",
    Kind.DNS: "dns",
    Kind.TLS: "tls",
    Kind.BODY_TOO_LARGE: "body_too_large",
    Kind.UNFINISHED: "unfinished",
    Kind.LOST: "lost",
    Kind.HEADER_TOO_LARGE: "header_too_large",
    Kind.BUILD: "build_failed",
}

ERROR_KINDS: tuple[Kind, ...] = tuple(k for k in Kind if k is not Kind.OK)
ERROR_LABELS: tuple[str, ...] = tuple(k.label for k in ERROR_KINDS)

# the per-variant counters the engine keeps between flushes (scheduled, dropped, ...)
# (`unsolicited`: responses that arrived with no request waiting, an endpoint's protocol error)
COUNTERS: tuple[str, ...] = ("scheduled", "scheduled_warm", "dropped", "dropped_warm", "bytes_out", "overflow",
                             "unsolicited", *SESSION_COUNTERS)   # how multi-turn sessions ended (core/sessions.py)

WIRE_VERSION = 1
MAX_VARIANTS = 64           # a worker keys its cells by interval * MAX_VARIANTS + variant (engine/batch.py)
# an attributed split's last variant (engine/attribution.py): the requests no response named a variant for
UNATTRIBUTED = "unattributed"
_FLAG_ZLIB = 1
_COMPRESS_ABOVE = 4096      # bytes: below this, zlib's cost is not worth the bytes it saves
_HEAD = struct.Struct("!BB")
_LEN = struct.Struct("!I")
_DTYPES = ("u1", "u2", "u4", "u8")


class RecordError(ValueError):
    """A wire form this reader cannot read (another version, or damaged)."""


Sparse = tuple  # (indices: int array, counts: int array), aligned, indices ascending


# where a request's token counts came from (targets/tokens.py): the server's usage, the user's tokenizer, or
# one token per streamed event carrying text; a summary's `token_source` per variant names them
TOKEN_SOURCES = ("usage", "tokenizer", "chunks")


@dataclass(frozen=True, slots=True)
class CellRecord:
    """One variant in one interval of one worker (what ended in that interval)."""

    interval: int
    variant: str
    kinds: tuple[int, ...]                     # count per `Kind`, indexed by its value
    status: dict[int, int] = field(default_factory=dict)   # HTTP status -> count (answered requests)
    bytes_in: int = 0
    ok_window: int = 0                         # OK and ended inside the measured window
    warmup: int = 0                            # ended, but intended during the warm-up
    hists: dict[str, Sparse] = field(default_factory=dict)           # catalogue metric -> sparse
    server_metrics: dict[str, Sparse] = field(default_factory=dict)  # named Server-Timing entries
    good: int = 0                              # measured OK requests that met every goodput objective
    good_tokens: int = 0                       # ... and their output tokens (core/goodput.py)
    token_sources: tuple[int, ...] = ()        # OK requests whose token counts came from each TOKEN_SOURCES


@dataclass(frozen=True, slots=True)
class GroupRecord:
    """One row of a breakdown inside a variant, in one worker's flush (`core.breakdown`): the measured
    requests that ended since the last flush and carried `label` under `by` (`served_by`: the value of
    the header the user named; `url`: which of the variant's URLs was sent to)."""

    by: str
    variant: str
    label: str
    kinds: tuple[int, ...]                     # count per `Kind`, indexed by its value
    responses: int = 0                         # of them, those the endpoint answered (a status came back)
    latency: Sparse = (np.empty(0, dtype=np.int32), np.empty(0, dtype=np.int64))   # OK requests, microseconds


@dataclass(frozen=True, slots=True)
class IntervalRecord:
    """One worker's flush: what ended since the last one, and the worker's health.

    `t` is the run-clock time of the flush; `interval` is the interval the
    counters belong to. `final` marks the worker's last record, which also
    carries `in_flight_by_variant` (measured requests still open at the stop).
    """

    VERSION: ClassVar[int] = WIRE_VERSION

    worker: int
    t: float
    interval: int
    final: bool = False
    cpu_s: float = 0.0                         # process CPU seconds since the last record
    flush_ms: float = 0.0
    loop_lag_ms: float = 0.0                   # worst event-loop lag probe of the interval
    loop_lags_ms: tuple[float, ...] = ()       # every probe
    in_flight: int = 0
    counters: dict[str, dict[str, int]] = field(default_factory=dict)   # variant -> COUNTERS -> n
    cells: tuple[CellRecord, ...] = ()
    first_intended: float | None = None        # run clock, measured requests only
    last_done: float | None = None
    predictions: tuple[tuple, ...] = ()        # (variant, payload index, prediction, label)
    in_flight_by_variant: dict[str, int] | None = None
    # optional, absent from the wire header when empty (no version bump): the first body of each
    # error status a worker saw, truncated (variant -> status -> text), and one-off worker notes
    # (the first TLS handshake error)
    samples: dict[str, dict[str, str]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    # ended requests whose big bodies are still being checked (engine/judge.py): neither OK,
    # failed nor in flight yet; always 0 in a final record (absent from the wire when 0)
    checking: int = 0
    # per-backend / per-URL rows (absent from the wire header when empty, no version bump)
    groups: tuple[GroupRecord, ...] = ()

    # ------------------------------------------------------------ wire form
    def to_bytes(self, compress: bool | None = None) -> bytes:
        """The versioned wire form; `compress=None` compresses records worth it."""
        arrays: list[bytes] = []
        header = {
            "worker": self.worker, "t": self.t, "interval": self.interval, "final": self.final,
            "cpu_s": self.cpu_s, "flush_ms": self.flush_ms, "loop_lag_ms": self.loop_lag_ms,
            "loop_lags_ms": list(self.loop_lags_ms), "in_flight": self.in_flight,
            "counters": self.counters,
            "cells": [_cell_header(c, arrays) for c in self.cells],
            "first_intended": self.first_intended, "last_done": self.last_done,
            "predictions": [list(p) for p in self.predictions],
            "in_flight_by_variant": self.in_flight_by_variant,
        }
        if self.samples:
            header["samples"] = self.samples
        if self.notes:
            header["notes"] = list(self.notes)
        if self.checking:
            header["checking"] = self.checking
        if self.groups:   # after the cells: their arrays follow the cells' in the body
            header["groups"] = [[g.by, g.variant, g.label, list(g.kinds), g.responses,
                                 _pack_sparse(g.latency, arrays)] for g in self.groups]
        head = json.dumps(header, separators=(",", ":"), default=_jsonable).encode()
        body = b"".join([_LEN.pack(len(head)), head, *arrays])
        if compress is None:
            compress = len(body) > _COMPRESS_ABOVE
        if compress:
            return _HEAD.pack(WIRE_VERSION, _FLAG_ZLIB) + zlib.compress(body, 1)
        return _HEAD.pack(WIRE_VERSION, 0) + body

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> IntervalRecord:
        data = memoryview(data)
        if len(data) < _HEAD.size:
            raise RecordError(f"interval record of {len(data)} bytes is too short")
        version, flags = _HEAD.unpack_from(data)
        if version != WIRE_VERSION:
            raise RecordError(f"interval record format {version} is not readable here "
                              f"(this build reads {WIRE_VERSION})")
        body = memoryview(zlib.decompress(data[_HEAD.size:])) if flags & _FLAG_ZLIB else data[_HEAD.size:]
        try:
            (n,) = _LEN.unpack_from(body)
            h = json.loads(bytes(body[_LEN.size:_LEN.size + n]))
            reader = _Reader(body, _LEN.size + n)
            cells = tuple(_cell_from(c, reader) for c in h["cells"])
            groups = tuple(GroupRecord(by, v, label, _kinds(kinds), responses, reader.sparse(shape))
                           for by, v, label, kinds, responses, shape in h.get("groups") or ())
        except (struct.error, ValueError, KeyError, IndexError) as exc:
            raise RecordError(f"damaged interval record: {exc}") from None
        if reader.pos != len(body):
            raise RecordError(f"damaged interval record: {len(body) - reader.pos} trailing bytes")
        return cls(
            worker=h["worker"], t=h["t"], interval=h["interval"], final=h["final"], cpu_s=h["cpu_s"],
            flush_ms=h["flush_ms"], loop_lag_ms=h["loop_lag_ms"], loop_lags_ms=tuple(h["loop_lags_ms"]),
            in_flight=h["in_flight"], counters=h["counters"], cells=cells,
            first_intended=h["first_intended"], last_done=h["last_done"],
            predictions=tuple(tuple(p) for p in h["predictions"]),
            in_flight_by_variant=h["in_flight_by_variant"],
            samples=h.get("samples") or {}, notes=tuple(h.get("notes") or ()),
            checking=h.get("checking", 0), groups=groups,
        )


# ------------------------------------------------------------------ helpers
def sparse_of(counts: np.ndarray) -> Sparse:
    """The sparse form of a dense counts array (e.g. `Histogram.counts`)."""
    idx = np.flatnonzero(counts)
    return idx.astype(np.int32), counts[idx].astype(np.int64)


def pack_sparse(sp: Sparse) -> bytes:
    """A sparse histogram as compact bytes (the wire form's encoding: delta indices, narrowest dtypes)."""
    arrays: list[bytes] = []
    n, gi, ci = _pack_sparse(sp, arrays)
    return b"".join([struct.pack("!I2s2s", n, gi.encode(), ci.encode()), *arrays])


def unpack_sparse(data: bytes) -> Sparse:
    n, gi, ci = struct.unpack_from("!I2s2s", data)
    return _Reader(memoryview(data), 8).sparse([n, gi.decode(), ci.decode()])


def add_sparse(a: Sparse, b: Sparse) -> Sparse:
    """The sum of two sparse histograms (of the same layout)."""
    if not len(a[0]):
        return b
    if not len(b[0]):
        return a
    idx, inv = np.unique(np.concatenate([a[0], b[0]]), return_inverse=True)
    counts = np.zeros(len(idx), dtype=np.int64)
    np.add.at(counts, inv, np.concatenate([a[1], b[1]]).astype(np.int64))
    return idx.astype(np.int32), counts


def _jsonable(x: Any) -> Any:
    """numpy scalars (a label read by numpy, a count) as Python values; anything else as text."""
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, (bytes, bytearray)):
        return bytes(x).decode("utf-8", "replace")
    return str(x)


def _narrowest(a: np.ndarray) -> str:
    top = int(a.max()) if len(a) else 0
    for code in _DTYPES:
        if top <= np.iinfo(code).max:
            return code
    raise ValueError(f"value {top} does not fit 64 bits")  # pragma: no cover - counts are int64


def _pack_sparse(sp: Sparse, arrays: list[bytes]) -> list:
    idx = np.asarray(sp[0], dtype=np.int64)
    counts = np.asarray(sp[1], dtype=np.int64)
    if len(idx) != len(counts):
        raise ValueError(f"sparse histogram has {len(idx)} indices but {len(counts)} counts")
    if (counts < 0).any():
        raise ValueError("sparse histogram has a negative count")
    gaps = np.diff(idx, prepend=0)
    if len(idx) and (idx[0] < 0 or (gaps[1:] <= 0).any()):
        raise ValueError("sparse histogram indices must be ascending and non-negative")
    gi, ci = _narrowest(gaps), _narrowest(counts)
    arrays.append(gaps.astype(">" + gi).tobytes())
    arrays.append(counts.astype(">" + ci).tobytes())
    return [len(idx), gi, ci]


def _cell_header(c: CellRecord, arrays: list[bytes]) -> dict:
    return {
        "i": c.interval, "v": c.variant, "kinds": list(c.kinds),
        "status": [[int(k), int(n)] for k, n in c.status.items()],
        "bytes_in": c.bytes_in, "ok_window": c.ok_window, "warmup": c.warmup,
        # lists of [name, shape], not objects: the order is the order of the arrays
        "hists": [[name, _pack_sparse(sp, arrays)] for name, sp in c.hists.items()],
        "server_metrics": [[name, _pack_sparse(sp, arrays)] for name, sp in c.server_metrics.items()],
        "good": c.good, "good_tokens": c.good_tokens,
        **({"token_sources": list(c.token_sources)} if any(c.token_sources) else {}),
    }


class _Reader:
    __slots__ = ("buf", "pos")

    def __init__(self, buf: memoryview, pos: int) -> None:
        self.buf = buf
        self.pos = pos

    def take(self, n: int, code: str) -> np.ndarray:
        dt = np.dtype(">" + code)
        end = self.pos + n * dt.itemsize
        if end > len(self.buf):
            raise ValueError("histogram arrays run past the end")
        out = np.frombuffer(self.buf[self.pos:end], dtype=dt).astype(np.int64)
        self.pos = end
        return out

    def sparse(self, shape: list) -> Sparse:
        n, gi, ci = shape
        if gi not in _DTYPES or ci not in _DTYPES:
            raise ValueError(f"unknown array type {gi!r}/{ci!r}")
        idx = np.cumsum(self.take(n, gi)).astype(np.int32)
        return idx, self.take(n, ci)


def _kinds(given: list) -> tuple[int, ...]:
    kinds = list(given)
    if len(kinds) < len(Kind):   # a record from a build with fewer kinds: the newer ones are 0
        kinds += [0] * (len(Kind) - len(kinds))
    elif len(kinds) > len(Kind):
        raise ValueError(f"cell has {len(kinds)} kinds; this build knows {len(Kind)}")
    return tuple(kinds)


def _cell_from(h: dict, reader: _Reader) -> CellRecord:
    return CellRecord(
        interval=h["i"], variant=h["v"], kinds=_kinds(h["kinds"]),
        status={int(k): int(n) for k, n in h["status"]},
        bytes_in=h["bytes_in"], ok_window=h["ok_window"], warmup=h["warmup"],
        hists={name: reader.sparse(shape) for name, shape in h["hists"]},
        server_metrics={name: reader.sparse(shape) for name, shape in h["server_metrics"]},
        good=h.get("good", 0), good_tokens=h.get("good_tokens", 0),   # absent from a build before goodput
        token_sources=tuple(h.get("token_sources", ())),
    )


def plain(value: Any) -> Any:
    """A record as plain Python values (arrays as lists): for comparing records in tests and logs."""
    if isinstance(value, (IntervalRecord, CellRecord, GroupRecord)):
        return {f: plain(getattr(value, f)) for f in value.__dataclass_fields__}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value
