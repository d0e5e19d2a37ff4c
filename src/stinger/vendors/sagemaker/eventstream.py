"""AWS event-stream framing: parse a streamed response body into timed messages.

This module owns reading `InvokeEndpointWithResponseStream` bodies (the
`application/vnd.amazon.eventstream` framing) and turning them into the two
streaming metrics: time to first chunk and the gaps between chunks.

A message on the wire:

    total length (u32) | headers length (u32) | prelude CRC32 (u32)
    headers: name length (u8), name, value type (u8), value ...
    payload
    message CRC32 (u32, over everything before it)

The network does not respect message boundaries: one read may carry half a
message or three. So a message is stamped with the arrival time of the read
that *completed* it - the moment a client could have used it. Headers we read:
`:message-type` (`event`, `exception`, `error`), `:event-type` (`PayloadPart`)
and `:exception-type` (`ModelStreamError`, `InternalStreamFailure`).

Pure Python with zlib's CRC32, no botocore: it runs on the flush thread, once
per interval, and a test checks it against `botocore.eventstream`. `encode`
is the inverse, for tests and the local SageMaker front.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise

_PRELUDE = struct.Struct(">III")
_U16 = struct.Struct(">H")
_CRC = struct.Struct(">I")
# value type -> fixed size in bytes (None: u16 length prefix follows)
_FIXED = {0: 0, 1: 0, 2: 1, 3: 2, 4: 4, 5: 8, 8: 8, 9: 16}
_INT_FORMATS = {2: ">b", 3: ">h", 4: ">i", 5: ">q", 8: ">q"}


class EventStreamError(ValueError):
    """A body that is not valid event-stream framing (bad length or CRC)."""


@dataclass(frozen=True, slots=True)
class Message:
    """One decoded message and the arrival time of the read that completed it."""

    t: float
    headers: dict[str, object]
    payload: bytes

    @property
    def message_type(self) -> str:
        return str(self.headers.get(":message-type", "event"))

    @property
    def event_type(self) -> str:
        return str(self.headers.get(":event-type", ""))

    @property
    def error(self) -> str | None:
        """`Type: message` for an exception or error message, None for an event."""
        if self.message_type == "event":
            return None
        kind = self.headers.get(":exception-type") or self.headers.get(":error-code") or "error"
        text = self.payload.decode("utf-8", "replace").strip()
        try:  # SageMaker sends {"Message": "...", "ErrorCode": "..."}
            body = json.loads(text)
            text = str(body.get("Message") or body.get("message") or text) if isinstance(body, dict) else text
        except ValueError:
            pass
        return f"{kind}: {text}" if text else str(kind)


@dataclass(slots=True)
class Stream:
    """What one response body held: its messages, and bytes left over (a cut-off stream)."""

    messages: list[Message] = field(default_factory=list)
    leftover: int = 0

    @property
    def payload_times(self) -> list[float]:
        return [m.t for m in self.messages if m.message_type == "event" and m.event_type == "PayloadPart"]

    @property
    def error(self) -> str | None:
        for m in self.messages:
            if m.error is not None:
                return m.error
        return None


def _headers(data: bytes) -> dict[str, object]:
    out: dict[str, object] = {}
    i = 0
    n = len(data)
    while i < n:
        name_len = data[i]
        name = data[i + 1:i + 1 + name_len].decode("utf-8")
        i += 1 + name_len
        vtype = data[i]
        i += 1
        size = _FIXED.get(vtype)
        if size is None:  # 6 bytes, 7 string: u16 length prefix
            (size,) = _U16.unpack_from(data, i)
            i += 2
            raw = data[i:i + size]
            value: object = raw.decode("utf-8") if vtype == 7 else bytes(raw)
        elif vtype in (0, 1):
            value = vtype == 0
        elif vtype == 9:
            value = bytes(data[i:i + size])
        else:
            (value,) = struct.unpack_from(_INT_FORMATS[vtype], data, i)
        i += size
        if i > n:
            raise EventStreamError("event-stream header runs past the headers block")
        out[name] = value
    return out


def parse(chunks: Sequence[tuple[float, bytes]]) -> Stream:
    """Messages of a body given as (arrival time, bytes) reads, in order."""
    stream = Stream()
    buf = bytearray()
    for t, data in chunks:
        buf += data
        while len(buf) >= _PRELUDE.size:
            total, hlen, prelude_crc = _PRELUDE.unpack_from(buf, 0)
            if zlib.crc32(bytes(buf[:8])) != prelude_crc:
                raise EventStreamError("event-stream prelude CRC mismatch")
            if total < 16 + hlen:
                raise EventStreamError(f"event-stream message length {total} is too short")
            if len(buf) < total:
                break
            frame = bytes(buf[:total])
            del buf[:total]
            (crc,) = _CRC.unpack_from(frame, total - 4)
            if zlib.crc32(frame[:-4]) != crc:
                raise EventStreamError("event-stream message CRC mismatch")
            headers = _headers(frame[12:12 + hlen])
            stream.messages.append(Message(t, headers, frame[12 + hlen:total - 4]))
    stream.leftover = len(buf)
    return stream


def timings(stream: Stream, start: float) -> tuple[float, list[float]]:
    """(time to first payload chunk, gaps between payload chunks), microseconds.

    `start`: the instant the request counts from (the engine's intended time,
    so a generator that fell behind does not hide the wait). NaN when no
    payload arrived.
    """
    times = stream.payload_times
    if not times:
        return float("nan"), []
    gaps = [(b - a) * 1e6 for a, b in pairwise(times)]
    return (times[0] - start) * 1e6, gaps


def encode(payload: bytes, headers: Sequence[tuple[str, str]] | None = None) -> bytes:
    """One message (string headers only); default headers make it a `PayloadPart` event."""
    if headers is None:
        headers = ((":message-type", "event"), (":event-type", "PayloadPart"),
                   (":content-type", "application/octet-stream"))
    hbytes = b"".join(
        bytes([len(k.encode())]) + k.encode() + b"\x07" + _U16.pack(len(v.encode())) + v.encode()
        for k, v in headers
    )
    total = 12 + len(hbytes) + len(payload) + 4
    prelude = struct.pack(">II", total, len(hbytes))
    prelude += _CRC.pack(zlib.crc32(prelude))
    body = prelude + hbytes + payload
    return body + _CRC.pack(zlib.crc32(body))


def encode_exception(exception_type: str, message: str) -> bytes:
    """An exception message, as SageMaker sends `ModelStreamError` mid-stream."""
    return encode(message.encode(), ((":message-type", "exception"), (":exception-type", exception_type),
                                     (":content-type", "application/json")))
