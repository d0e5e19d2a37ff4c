"""Body checks and prediction extraction for big response bodies, in a helper process.

`json.loads` of a 13 MB body holds the GIL for about half a second, and no
switch interval can interrupt one C call: run on a worker's flush thread, it
stalls the worker's event loop for as long (requests leave late, responses wait
unread, the drain ends with answered requests still "in flight"). So a body
past `JUDGE_ABOVE` bytes is judged by one helper process per worker (started on
the first such body): the flush thread hands it over on a queue, a writer
thread copies it down a pipe (no GIL held while the kernel copies), the helper
parses it and answers (check verdict, prediction), and a reader thread resolves
the future. Small bodies stay on the flush thread, where they cost less than
the trip.

Wire form, both ways little-endian:
  to the helper    id u64, length u32, body
  to the worker    id u64, verdict u8 (0 failed, 1 passed, 2 no body check), length u32, prediction JSON
                   (length 0xFFFFFFFF: the prediction path led nowhere, `MISSING`)

The helper exits at EOF on its input (its worker closed the pipe or died) and
dies with its worker (PR_SET_PDEATHSIG). If it fails, every open future fails
and the caller judges those bodies itself: a verdict is never lost.
"""

from __future__ import annotations

import json
import os
import queue
import struct
import subprocess
import sys
import threading
from concurrent.futures import Future

__all__ = ["JUDGE_ABOVE", "BodyJudge", "Carry", "judge_inline"]

JUDGE_ABOVE = 64 * 1024      # bytes: a body this big goes to the helper (json.loads ~2 ms below it)
_REQ = struct.Struct("<QI")
_ANS = struct.Struct("<QBI")
_NO_PRED = 0xFFFFFFFF
_PR_SET_PDEATHSIG = 1
_MAX_STARTS = 3      # helpers a worker starts at most; past that its flush thread judges every body


def judge_inline(check, prediction, body: bytes) -> tuple[int, object]:
    """(verdict 0/1/2, prediction or MISSING) of one body, in this process."""
    from stinger.core.checks import MISSING, extract

    verdict = 2 if check is None or not check.needs_body else int(check.body_ok(body))
    pred = MISSING if prediction is None else extract(body, prediction)
    return verdict, pred


def _pythonpath() -> str:
    """The directory stinger is imported from first, so the helper runs this very stinger."""
    # this file is <dir>/stinger/engine/judge.py
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    rest = os.environ.get("PYTHONPATH")
    return here if not rest else here + os.pathsep + rest


class BodyJudge:
    """One helper process judging bodies for one worker; `submit(body)` -> Future of (verdict, prediction)."""

    def __init__(self, check_plan, prediction_path: str | None) -> None:
        c = check_plan
        config = {"prediction": prediction_path,
                  "check": None if c is None else {"status": None, "json_path": c.json_path,
                                                   "equals": c.equals, "regex": c.regex}}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stinger.engine.judge", json.dumps(config), str(os.getpid())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": _pythonpath()})
        assert self.proc.stdin is not None and self.proc.stdout is not None   # both are PIPEs
        self._out = self.proc.stdin
        self._in = self.proc.stdout
        self._todo: queue.Queue = queue.Queue()
        self._open: dict[int, Future] = {}
        self._lock = threading.Lock()
        self._next = 0
        self.failed = False
        self._writer = threading.Thread(target=self._write, name="stinger-judge-w", daemon=True)
        self._reader = threading.Thread(target=self._read, name="stinger-judge-r", daemon=True)
        self._writer.start()
        self._reader.start()

    def submit(self, body: bytes) -> Future:
        fut: Future = Future()
        with self._lock:
            if self.failed:
                fut.set_exception(RuntimeError("the body judge is gone"))
                return fut
            i = self._next
            self._next += 1
            self._open[i] = fut
        self._todo.put((i, body))
        return fut

    def _write(self) -> None:
        out = self._out
        try:
            while True:
                item = self._todo.get()
                if item is None:
                    break
                i, body = item
                out.write(_REQ.pack(i, len(body)))
                out.write(body)
                out.flush()
        except (OSError, ValueError):
            self._fail()
            return
        try:
            out.close()
        except OSError:
            pass

    def _read(self) -> None:
        from stinger.core.checks import MISSING

        src = self._in
        try:
            while True:
                head = src.read(_ANS.size)
                if len(head) < _ANS.size:
                    break
                i, verdict, n = _ANS.unpack(head)
                pred = MISSING
                if n != _NO_PRED:
                    raw = src.read(n)
                    if len(raw) < n:
                        break
                    pred = json.loads(raw)
                with self._lock:
                    fut = self._open.pop(i, None)
                if fut is not None:
                    fut.set_result((verdict, pred))
        except (OSError, ValueError):
            pass
        self._fail()

    def _fail(self) -> None:
        with self._lock:
            self.failed = True
            futs = list(self._open.values())
            self._open.clear()
        for fut in futs:
            if not fut.done():
                fut.set_exception(RuntimeError("the body judge is gone"))

    def close(self, timeout: float = 2.0, *, now: bool = False) -> None:
        """Ask the helper to finish (EOF on its input); kill it by PID if it lingers, or at once
        (`now`: its remaining work is abandoned, and a writer blocked on its full pipe is freed)."""
        self._todo.put(None)
        if now:
            self.proc.kill()
        self._writer.join(timeout)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)
        self._reader.join(timeout)
        try:
            self._in.close()
        except OSError:
            pass


class Carry:
    """Rows whose big bodies are being judged, carried from one flush to the next.

    A row held here has ended (its `done` is its arrival, so its latency never
    includes the judging) but is not yet counted: it is neither OK nor failed nor
    in flight, it is *being checked* (`len(carry)`). Each regular flush takes the
    verdicts that are in and waits for none, unless the held bodies pass
    `max_held` bytes (then it waits for the oldest: memory stays bounded, the
    record comes late). The final flush waits for the helper (judging a body
    here instead would not be faster, and would take the GIL), up to
    `final_wait` seconds past which it judges what is left itself, so every held
    row is resolved before the final record and the accounting closes exactly.
    `waited` is how long the last final flush waited (a note when it is long).

    A run told to stop (Ctrl-C, SIGTERM, an abort rule) must end within the
    coordinator's grace (15 s): its final flush waits `stop_wait` seconds at most,
    and the rows still unjudged then are `abandoned`, reported by the caller as
    in flight at the stop, with a note (never as OK or failed: they were not judged).
    """

    def __init__(self, check, prediction, check_plan, prediction_path: str | None, *,
                 above: int = JUDGE_ABOVE, max_held: int = 256 * 1024 * 1024, final_wait: float = 60.0) -> None:
        self.check = check
        self.prediction = prediction
        self._plan = (check_plan, prediction_path)
        self.above = above
        self.max_held = max_held
        self.final_wait = final_wait
        self.judge: BodyJudge | None = None
        self.held: list[tuple] = []      # (row, hval, body, chunks, future), oldest first
        self.held_bytes = 0
        self.waited = 0.0
        self.stop_wait = 5.0
        self.starts = 0                    # helpers started (one dies: another, up to _MAX_STARTS)
        self.abandoned: list[tuple] = []   # rows left unjudged by an interrupted run's final flush

    def __len__(self) -> int:
        return len(self.held)

    def _needs(self, status: int) -> bool:
        if status <= 0:
            return False
        return self.prediction is not None or (self.check is not None and self.check.needs_body
                                               and self.check.status_ok(status))

    def hold(self, cols) -> None:
        """Move the rows of `cols` with a big body that needs judging out of it, to the helper."""
        bodies = cols.bodies
        if bodies is None:
            return
        above = self.above
        if self.starts >= _MAX_STARTS:   # no helper to be had: the flush thread judges, as before
            return
        big = [i for i, b in enumerate(bodies) if len(b) >= above and self._needs(int(cols.rows[i][5]))]
        if not big:
            return
        if self.judge is None or self.judge.failed:
            self.starts += 1
            try:
                self.judge = BodyJudge(*self._plan)
            except (OSError, TypeError, ValueError):   # cannot start one (fds, memory, a config not JSON)
                self.starts = _MAX_STARTS
                self.judge = None
                return
        drop = set(big)
        for i in big:
            body = bodies[i]
            self.held.append((cols.rows[i], None if cols.hvals is None else cols.hvals[i], body,
                              None if cols.chunks is None else cols.chunks[i], self.judge.submit(body)))
            self.held_bytes += len(body)
        keep = [i for i in range(len(cols.rows)) if i not in drop]
        cols.rows = [cols.rows[i] for i in keep]
        cols.bodies = [bodies[i] for i in keep]
        if cols.hvals is not None:
            cols.hvals = [cols.hvals[i] for i in keep]
        if cols.chunks is not None:
            cols.chunks = [cols.chunks[i] for i in keep]

    def release(self, cols, final: bool, interrupted: bool = False) -> list | None:
        """Append the rows judged so far to `cols`; their (verdict, prediction) aligned with cols' rows
        (None for rows judged later, on the flush thread), or None when none was released."""
        import time

        if not self.held:
            return None
        start = time.monotonic()
        deadline = start + (self.stop_wait if interrupted else self.final_wait)
        done: list[tuple] = []
        rest: list[tuple] = []
        for entry in self.held:
            fut = entry[4]
            wait = None
            if final:
                wait = max(0.0, deadline - time.monotonic())
            elif self.held_bytes > self.max_held and not rest:
                wait = 60.0   # bounded memory: wait for the oldest (the helper parses ~30 MB/s at worst)
            if not fut.done() and wait is not None:
                try:
                    fut.result(wait)
                except Exception:  # timed out or the helper is gone: judged below
                    pass
            if fut.done() or (final and not interrupted):
                done.append(entry)
                self.held_bytes -= len(entry[2])
            elif final:
                self.abandoned.append(entry[0])
                self.held_bytes -= len(entry[2])
            else:
                rest.append(entry)
        self.held = rest
        if final:
            self.waited = time.monotonic() - start
        if not done:
            return None
        verdicts: list = [None] * len(cols.rows)
        for row, hval, body, chunks, fut in done:
            try:
                got = fut.result(0)
            except Exception:  # not in, or the helper failed: judge it here
                got = judge_inline(self.check, self.prediction, body)
            cols.rows.append(row)
            if cols.hvals is not None:
                cols.hvals.append(hval)
            if cols.bodies is not None:
                cols.bodies.append(body)
            if cols.chunks is not None:
                cols.chunks.append(chunks)
            verdicts.append(got)
        return verdicts

    def close(self) -> None:
        if self.judge is not None:
            self.judge.close(now=bool(self.abandoned))
            self.judge = None


# ------------------------------------------------------------------ the helper process
def _die_with(parent: int) -> None:
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - EOF on stdin still ends us
            pass
    if os.getppid() != parent:
        os._exit(1)


def _read_exact(f, n: int) -> bytes | None:
    data = f.read(n)
    return data if len(data) == n else None


def main(argv: list[str]) -> int:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)     # the worker decides when we stop
    _die_with(int(argv[1]))
    from stinger.core.checks import MISSING, ResponseCheck, compile_json_path

    config = json.loads(argv[0])
    c = config["check"]
    check = None if c is None else ResponseCheck(**c)
    prediction = compile_json_path(config["prediction"]) if config["prediction"] else None
    src, out = sys.stdin.buffer, sys.stdout.buffer
    while True:
        head = _read_exact(src, _REQ.size)
        if head is None:
            return 0
        i, n = _REQ.unpack(head)
        body = _read_exact(src, n)
        if body is None:
            return 0
        verdict, pred = judge_inline(check, prediction, body)
        del body
        if pred is MISSING:
            out.write(_ANS.pack(i, verdict, _NO_PRED))
        else:
            raw = json.dumps(pred, separators=(",", ":")).encode()
            out.write(_ANS.pack(i, verdict, len(raw)) + raw)
        out.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
