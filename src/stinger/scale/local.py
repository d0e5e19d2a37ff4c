"""The local worker backend: one forked process per worker, each with one event loop.

Each worker has two one-way pipes (see `scale/frames.py` for why): control,
coordinator -> worker, watched by the worker's loop; data, worker -> the
coordinator, written with blocking writes by the worker's flush thread.

Workers die with their coordinator, however it ends:
- `prctl(PR_SET_PDEATHSIG, SIGKILL)` (Linux) kills a worker when the
  coordinator dies, even by SIGKILL. (The kernel ties it to the thread that
  forked; `execute` forks and reaps on one thread, so that thread outlives them.)
- after the fork each worker closes every coordinator-side pipe end it
  inherited, its own and the earlier workers', so the coordinator's death is
  EOF on the worker's control pipe, which stops it (any OS, and the belt to
  PDEATHSIG's braces).
Workers ignore SIGINT and SIGTERM: the terminal's Ctrl-C and a process-group
SIGTERM reach them too, but the coordinator owns the stop, so that what was
measured still arrives.

A worker's stderr (a traceback, a library's warning) is a third pipe, read by one
coordinator thread (`StderrPump`) that writes it line by line to the
coordinator's own stderr through the secrets scrubber (`core.secrets.scrub`):
what a worker prints can carry the URL or a header value it was sending, and a
secret must never reach a stream.
"""

from __future__ import annotations

import ctypes
import json
import multiprocessing as mp
import os
import selectors
import signal
import struct
import sys
import threading
from collections.abc import Sequence
from time import perf_counter

from stinger.core.records import IntervalRecord, RecordError
from stinger.core.secrets import scrub
from stinger.errors import RunError
from stinger.scale import frames
from stinger.scale.base import Alive, BackendTraits, WorkerFailed, WorkerLost, check_source_addresses

_READY_TIMEOUT = 60.0
_REAP_TIMEOUT = 5.0
_PR_SET_PDEATHSIG = 1
_START = struct.Struct("!d")
_LINE_MAX = 8192      # bytes: a longer line without a newline is written (scrubbed) in pieces


class StderrPump:
    """One thread copying every worker's stderr pipe to ours, a line at a time, scrubbed."""

    def __init__(self, fds: list[int], out=None) -> None:
        self.out = out
        self._sel = selectors.DefaultSelector()
        self._bufs: dict[int, bytes] = {}
        for fd in fds:
            os.set_blocking(fd, False)
            self._sel.register(fd, selectors.EVENT_READ)
            self._bufs[fd] = b""
        self._thread = threading.Thread(target=self._run, name="stinger-worker-stderr", daemon=True)
        self._thread.start()

    def _write(self, data: bytes) -> None:
        out = self.out if self.out is not None else sys.stderr
        try:
            out.write(scrub(data.decode("utf-8", "replace")))
            out.flush()
        except (OSError, ValueError):
            pass

    def _run(self) -> None:
        while self._bufs:
            for key, _ in self._sel.select(timeout=0.5):
                fd = key.fd
                try:
                    chunk = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                buf = self._bufs[fd] + chunk
                if not chunk:   # EOF: the worker is gone; what is left is its last line
                    if buf:
                        self._write(buf)
                    self._sel.unregister(fd)
                    _close(fd)
                    del self._bufs[fd]
                    continue
                cut = buf.rfind(b"\n") + 1
                if cut == 0 and len(buf) > _LINE_MAX:
                    cut = len(buf)
                if cut:
                    self._write(buf[:cut])
                self._bufs[fd] = buf[cut:]
        self._sel.close()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


class LocalBackend:
    """Forked worker processes on this machine (the default)."""

    traits = BackendTraits()   # this machine: its files, its cores, its PIDs

    def __init__(self) -> None:
        self.procs: list = []
        self.ctrl: list[frames.FrameWriter | None] = []
        self.data: list[frames.FrameReader] = []
        self.done: set[int] = set()      # workers whose final record, loss or failure was reported
        self.pids: list[int] = []
        self._sel: selectors.BaseSelector | None = None
        self._closed = False
        self._pump: StderrPump | None = None

    def check_origins(self, origins) -> None:
        """Origins here are groups of this machine's workers told apart by their source address
        (`scale.base.OriginPlacement`): each must be an address of this machine."""
        check_source_addresses(origins)

    # ------------------------------------------------------------ start
    def start(self, plans: Sequence) -> list[int]:
        ctx = mp.get_context("fork")
        parent = os.getpid()
        ours: list[int] = []          # coordinator-side ends so far: each child closes them all
        errs: list[int] = []
        for plan in plans:
            ctrl_r, ctrl_w = os.pipe()
            data_r, data_w = os.pipe()
            err_r, err_w = os.pipe()
            ours += [ctrl_w, data_r, err_r]
            errs.append(err_r)
            p = ctx.Process(target=_worker_process, args=(plan, ctrl_r, data_w, tuple(ours), parent, err_w),
                            daemon=True, name=f"stinger-worker-{plan.worker}")
            p.start()
            os.close(ctrl_r)
            os.close(data_w)
            os.close(err_w)
            self.procs.append(p)
            self.ctrl.append(frames.FrameWriter(ctrl_w))
            self.data.append(frames.FrameReader(data_r))
        self._pump = StderrPump(errs)
        self._sel = selectors.DefaultSelector()
        for i, r in enumerate(self.data):
            self._sel.register(r.fd, selectors.EVENT_READ, i)
        self.pids = self._await_ready()
        return list(self.pids)

    def _await_ready(self) -> list[int]:
        pids = [0] * len(self.procs)
        pending = set(range(len(self.procs)))
        deadline = perf_counter() + _READY_TIMEOUT
        assert self._sel is not None   # start() made it
        while pending:
            if perf_counter() > deadline:
                raise RunError(f"load workers did not start within {_READY_TIMEOUT:.0f} s")
            for key, _ in self._sel.select(timeout=0.5):
                i = key.data
                reader = self.data[i]
                for tag, body in reader.read():
                    if tag == frames.ERROR:
                        raise RunError(f"load worker {i} could not start: {body.decode(errors='replace')}")
                    if tag == frames.READY:
                        pids[i] = json.loads(body)["pid"]
                        pending.discard(i)
                if reader.eof and i in pending:
                    self.procs[i].join(timeout=1.0)
                    raise RunError(f"load worker {i} exited during start-up (exit code {self.procs[i].exitcode})")
        return pids

    # ------------------------------------------------------------- run
    def begin(self, start_wall: float) -> None:
        for i in range(len(self.ctrl)):
            self._send(i, frames.BEGIN, _START.pack(start_wall))

    def stop(self) -> None:
        for i in range(len(self.ctrl)):
            if i not in self.done:
                self._send(i, frames.STOP)

    def change(self, change) -> None:
        """A live load change to every worker still running (`engine/steer.py`)."""
        body = change.to_bytes()
        for i in range(len(self.ctrl)):
            if i not in self.done:
                self._send(i, frames.CHANGE, body)

    def _send(self, i: int, tag: bytes, body: bytes = b"") -> None:
        w = self.ctrl[i]
        if w is None:
            return
        try:
            w.send(tag, body)
        except OSError:   # the worker is gone; its loss is reported by poll
            pass

    def poll(self, timeout: float) -> list:
        events: list = []
        if self._sel is None or len(self.done) == len(self.procs):
            return events
        for key, _ in self._sel.select(timeout=timeout):
            i = key.data
            reader = self.data[i]
            for tag, body in reader.read():
                if i in self.done:
                    continue
                if tag == frames.RECORD:
                    try:
                        rec = IntervalRecord.from_bytes(body)
                    except RecordError as exc:
                        self.done.add(i)
                        events.append(WorkerFailed(i, str(exc)))
                        continue
                    events.append(rec)
                    if rec.final:
                        self.done.add(i)
                elif tag == frames.ALIVE:
                    mark = frames.alive_mark(body)
                    events.append(Alive(i) if mark is None else Alive(i, *mark))
                elif tag == frames.ERROR:
                    self.done.add(i)
                    events.append(WorkerFailed(i, body.decode(errors="replace")))
            if reader.eof:
                self._sel.unregister(reader.fd)
                if i not in self.done:
                    self.done.add(i)
                    events.append(WorkerLost(i, self._exit_reason(i)))
        return events

    def kill(self, worker: int) -> None:
        """SIGKILL one worker the coordinator gave up on (stopped or wedged), by its own PID; its
        later frames and its EOF are ignored."""
        self.done.add(worker)
        p = self.procs[worker]
        if p.pid and p.exitcode is None:
            try:
                os.kill(p.pid, signal.SIGKILL)   # only our own worker (a stopped process dies too)
            except ProcessLookupError:
                pass

    def _exit_reason(self, i: int) -> str:
        p = self.procs[i]
        p.join(timeout=1.0)
        code = p.exitcode
        if code is None:
            return "closed its pipe but is still running"
        if code < 0:
            try:
                return f"exit code {code} ({signal.Signals(-code).name})"
            except ValueError:
                return f"exit code {code}"
        return f"exit code {code}"

    # ------------------------------------------------------------ close
    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.stop()
        deadline = perf_counter() + _REAP_TIMEOUT
        for p in self.procs:
            p.join(timeout=max(0.0, deadline - perf_counter()))
        for p in self.procs:
            if p.is_alive() and p.pid:
                os.kill(p.pid, signal.SIGKILL)  # only our own worker, by its PID
                p.join(timeout=1.0)
        if self._sel is not None:
            self._sel.close()
        for i, w in enumerate(self.ctrl):
            if w is not None:
                _close(w.fd)
                self.ctrl[i] = None
        for r in self.data:
            _close(r.fd)
        if self._pump is not None:   # the workers are gone: their stderr pipes are at EOF
            self._pump.join(2.0)


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


# ------------------------------------------------------------------ the worker process
def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no prctl: EOF on the control pipe still stops us
            pass
    if os.getppid() != parent:   # the coordinator died before prctl took effect
        os._exit(1)


def _worker_process(plan, ctrl_fd: int, data_fd: int, coordinator_fds: tuple[int, ...], parent: int,
                    err_fd: int | None = None) -> None:
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for fd in coordinator_fds:
        _close(fd)
    if err_fd is not None:   # stderr goes through the coordinator's scrubber (StderrPump)
        sys.stderr.flush()
        os.dup2(err_fd, 2)
        _close(err_fd)
    # The flush thread shares the GIL with the event loop: hand it back often,
    # so interval processing never holds the loop for more than a millisecond.
    sys.setswitchinterval(0.001)
    from stinger.engine.worker import use_uvloop

    use_uvloop()
    out = frames.FrameWriter(data_fd)
    try:
        import asyncio

        asyncio.run(_serve(plan, ctrl_fd, out))
    except Exception as exc:  # reported to the coordinator, which decides
        try:
            out.send(frames.ERROR, f"{type(exc).__name__}: {exc}".splitlines()[0].encode())
        except OSError:
            pass
    finally:
        _close(data_fd)
        _close(ctrl_fd)


async def _serve(plan, ctrl_fd: int, out: frames.FrameWriter) -> None:
    import asyncio

    from stinger.engine.worker import Worker
    from stinger.scale.pulse import Pulse

    worker = Worker(plan, emit=lambda rec: out.send(frames.RECORD, rec.to_bytes()))
    out.send(frames.READY, json.dumps({"worker": plan.worker, "pid": os.getpid()}).encode())
    loop = asyncio.get_running_loop()
    control = frames.FrameReader(ctrl_fd)

    def on_control() -> None:
        for tag, body in control.read():
            if tag == frames.BEGIN:
                worker.begin(_START.unpack(body)[0])
            elif tag == frames.STOP:
                worker.stop()
            elif tag == frames.CHANGE:
                from stinger.engine.steer import LoadChange

                worker.change(LoadChange.from_bytes(body))
        if control.eof:  # the coordinator is gone: stop (PDEATHSIG may already be on its way)
            loop.remove_reader(ctrl_fd)
            worker.stop()

    loop.add_reader(ctrl_fd, on_control)
    pulse = Pulse(loop, lambda mark: out.send(frames.ALIVE, frames.alive_body(mark)),
                  count=worker.engine.completed).start()
    try:
        await worker.run()
    finally:
        pulse.stop()
        if not control.eof:
            loop.remove_reader(ctrl_fd)
