"""scale/frames.py: whole frames whatever their size and however slowly the reader reads (issue 10, item 1).

The last two tests reproduce the conditions of the coordinator crash at 20k
req/s in a real forked process: the worker's event loop (uvloop) watches its
control descriptor with `add_reader`, and its flush thread sends a record of
several MB while the coordinator is slow to read. On the old path (one duplex
`multiprocessing` pipe) the send fails part-way; on the new one it arrives whole.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time

import pytest

from stinger.scale import frames

BIG = 5 * 1024 * 1024


def payload(n: int) -> bytes:
    return (bytes(range(256)) * (n // 256 + 1))[:n]


def read_all(reader: frames.FrameReader, want: int, timeout: float = 20.0, pause: float = 0.0) -> list:
    got: list = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline and not reader.eof:
        got += reader.read()
        time.sleep(pause or 0.001)
    return got + reader.read()


def test_frames_of_every_size_arrive_whole_and_in_order():
    r, w = os.pipe()
    reader, writer = frames.FrameReader(r), frames.FrameWriter(w)
    bodies = [b"", b"x", payload(70_000), payload(BIG), b"end"]
    t = threading.Thread(target=lambda: [writer.send(frames.RECORD, b) for b in bodies])
    t.start()
    got = read_all(reader, len(bodies))
    t.join()
    assert [tag for tag, _ in got] == [frames.RECORD] * len(bodies)
    assert [b for _, b in got] == bodies
    os.close(w)
    assert reader.read() == [] and reader.eof and not reader.torn
    os.close(r)


def test_a_slow_reader_still_gets_a_big_frame_whole():
    r, w = os.pipe()
    reader, writer = frames.FrameReader(r), frames.FrameWriter(w)
    body = payload(BIG)
    t = threading.Thread(target=writer.send, args=(frames.RECORD, body))
    t.start()
    time.sleep(0.5)              # the writer blocks on a full pipe, it does not fail
    assert t.is_alive()
    got = read_all(reader, 1, pause=0.002)
    t.join()
    assert got == [(frames.RECORD, body)]
    os.close(w)
    os.close(r)


def test_concurrent_writers_never_interleave_frames():
    r, w = os.pipe()
    reader, writer = frames.FrameReader(r), frames.FrameWriter(w)
    bodies = {i: bytes([i]) * (100_000 + i) for i in range(8)}
    threads = [threading.Thread(target=writer.send, args=(frames.RECORD, b)) for b in bodies.values()]
    for t in threads:
        t.start()
    got = read_all(reader, len(bodies))
    for t in threads:
        t.join()
    assert sorted(b for _, b in got) == sorted(bodies.values())
    os.close(w)
    os.close(r)


def test_a_writer_killed_mid_frame_is_seen_as_torn():
    r, w = os.pipe()
    os.write(w, b"I\x00\x00\x10\x00abc")   # a header promising 4096 bytes, then 3
    os.close(w)
    reader = frames.FrameReader(r)
    assert reader.read() == []
    assert reader.eof and reader.torn
    os.close(r)


# ------------------------------------------------ the crash, old path vs new path
def _child_old(conn, result_w: int) -> None:
    """The old worker: one duplex pipe, watched by uvloop, sent on from a flush thread."""
    import asyncio

    import uvloop

    async def main() -> str:
        loop = asyncio.get_running_loop()
        loop.add_reader(conn.fileno(), lambda: None)
        try:
            await loop.run_in_executor(None, conn.send, {"cells": payload(BIG)})
        except BlockingIOError:
            return "BlockingIOError"
        return "sent"

    os.write(result_w, uvloop.run(main()).encode())
    os._exit(0)


def _child_new(ctrl_r: int, data_w: int) -> None:
    """The new worker: control pipe watched by uvloop, records framed on their own blocking pipe."""
    import asyncio

    import uvloop

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.add_reader(ctrl_r, lambda: None)
        out = frames.FrameWriter(data_w)
        await loop.run_in_executor(None, out.send, frames.RECORD, payload(BIG))

    uvloop.run(main())
    os._exit(0)


def test_old_path_a_big_message_on_a_watched_duplex_pipe_fails_part_way():
    pytest.importorskip("uvloop")
    ctx = mp.get_context("fork")
    _parent, child = ctx.Pipe(duplex=True)
    result_r, result_w = os.pipe()
    p = ctx.Process(target=_child_old, args=(child, result_w))
    p.start()
    time.sleep(1.0)               # the coordinator is busy: nobody reads
    p.join(timeout=20)
    assert os.read(result_r, 100) == b"BlockingIOError"   # what tore the message and lost the run


def test_new_path_the_same_conditions_deliver_the_record_whole():
    pytest.importorskip("uvloop")
    ctx = mp.get_context("fork")
    ctrl_r, ctrl_w = os.pipe()
    data_r, data_w = os.pipe()
    p = ctx.Process(target=_child_new, args=(ctrl_r, data_w))
    p.start()
    os.close(ctrl_r)
    os.close(data_w)
    time.sleep(1.0)               # the coordinator is busy: nobody reads
    got = read_all(frames.FrameReader(data_r), 1, pause=0.005)
    p.join(timeout=20)
    assert p.exitcode == 0
    assert got == [(frames.RECORD, payload(BIG))]
    os.close(ctrl_w)
    os.close(data_r)
