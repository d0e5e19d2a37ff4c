"""Length-prefixed frames over one-way OS pipes: how local workers and their coordinator talk.

A frame is a one-byte tag, a u32 big-endian length, and that many bytes.

Why one-way pipes and frames (issue 10, item 1): the worker's event loop
watches its control pipe with `add_reader`, and uvloop makes a watched file
descriptor non-blocking. With one duplex `multiprocessing` pipe, the flush
thread's `conn.send` of a 200 KB interval message on that same descriptor then
raised `BlockingIOError` part-way whenever the coordinator was slow to read,
leaving a torn message and an `UnpicklingError` that lost the run. Now each
worker has two pipes: control (coordinator -> worker, tiny frames, read by the
loop) and data (worker -> coordinator, written only with blocking writes, by
one writer at a time under a lock). No size and no load can tear a frame: a
blocking write waits for room, and the reader reassembles frames from
whatever chunks `os.read` returns.
"""

from __future__ import annotations

import errno
import os
import struct
import threading

_HEADER = struct.Struct("!cI")
MAX_FRAME = (1 << 32) - 1
_READ = 1 << 20      # bytes per os.read on the coordinator side

# tags
READY = b"R"      # worker -> coordinator: JSON {"pid": ...}
RECORD = b"I"     # worker -> coordinator: an IntervalRecord's wire form
ERROR = b"E"      # worker -> coordinator: a one-line UTF-8 reason it could not run
ALIVE = b"A"      # worker -> coordinator: its event loop is turning (`scale.pulse`; empty, or `alive_body`)
BEGIN = b"S"      # coordinator -> worker: the start, a big-endian double of wall-clock seconds
STOP = b"X"       # coordinator -> worker: stop now (an empty body)
CHANGE = b"C"     # coordinator -> worker: a live load change (`engine.steer.LoadChange.to_bytes`)


_MARK = struct.Struct("!dQ")   # an ALIVE body: the worker's monotonic stamp, its requests ended so far


def alive_body(mark: tuple[float, int] | None) -> bytes:
    """An ALIVE frame's body: empty (liveness only, as before) or the pulse's mark."""
    return b"" if mark is None else _MARK.pack(*mark)


def alive_mark(body: bytes) -> tuple[float, int] | None:
    """The mark in an ALIVE body; None for an empty (or unknown, longer) one."""
    return _MARK.unpack(body) if len(body) == _MARK.size else None


class FrameWriter:
    """Writes whole frames to a pipe; safe from several threads; the descriptor is made blocking."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._lock = threading.Lock()
        os.set_blocking(fd, True)

    def send(self, tag: bytes, body: bytes = b"") -> None:
        if len(body) > MAX_FRAME:
            raise ValueError(f"frame of {len(body)} bytes exceeds {MAX_FRAME}")
        data = memoryview(_HEADER.pack(tag, len(body)) + body)
        with self._lock:
            while data:
                n = os.write(self.fd, data)   # blocks for room; never a partial frame left behind
                data = data[n:]


class FrameReader:
    """Reassembles frames from a non-blocking pipe; `read()` returns the complete ones so far."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = bytearray()
        self.eof = False
        os.set_blocking(fd, False)

    def read(self) -> list[tuple[bytes, bytes]]:
        """Drain what the pipe holds now; sets `eof` when the writer is gone."""
        while not self.eof:
            try:
                chunk = os.read(self.fd, _READ)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.EINTR:  # pragma: no cover - Python retries EINTR itself
                    continue
                self.eof = True
                break
            if not chunk:
                self.eof = True
                break
            self.buf += chunk
        return self.frames()

    def frames(self) -> list[tuple[bytes, bytes]]:
        out = []
        buf = self.buf
        pos = 0
        while len(buf) - pos >= _HEADER.size:
            tag, n = _HEADER.unpack_from(buf, pos)
            end = pos + _HEADER.size + n
            if end > len(buf):
                break
            out.append((tag, bytes(buf[pos + _HEADER.size:end])))
            pos = end
        if pos:
            del buf[:pos]
        return out

    @property
    def torn(self) -> bool:
        """The writer ended part-way through a frame (it was killed while writing)."""
        return self.eof and bool(self.buf)
