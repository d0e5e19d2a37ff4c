"""A load-generator worker process: one event loop running one `Engine`.

Protocol with the coordinator over a `multiprocessing` pipe:

    worker -> {"type": "ready", "worker": w, "pid": pid}
    coord  -> ("start", t0)            t0 = perf_counter() value shared by all workers
    worker -> {"type": "interval", ...} once per interval (see engine.batch)
    coord  -> ("stop",)                Ctrl-C or the coordinator is done
    worker -> {"type": "final", ...}   then exits
    worker -> {"type": "error", "worker": w, "message": "..."} if it could not run

Workers ignore SIGINT: the coordinator owns Ctrl-C and tells every worker to
stop, so a stop is clean and what was measured still arrives.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from multiprocessing.connection import Connection

from stinger.engine.plan import WorkerPlan


def use_uvloop() -> bool:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


async def _serve(plan: WorkerPlan, conn: Connection) -> None:
    from stinger.engine.loop import Engine

    engine = Engine(plan, emit=conn.send)
    conn.send({"type": "ready", "worker": plan.worker, "pid": os.getpid()})
    loop = asyncio.get_running_loop()
    start = loop.create_future()

    def on_message() -> None:
        try:
            msg = conn.recv()
        except (EOFError, OSError):  # the coordinator is gone: stop
            msg = ("stop",)
            loop.remove_reader(conn.fileno())
        if msg[0] == "start" and not start.done():
            start.set_result(msg[1])
        elif msg[0] == "stop":
            if not start.done():
                start.set_result(None)
            else:
                engine.stop()

    loop.add_reader(conn.fileno(), on_message)
    t0 = await start
    if t0 is not None:
        await engine.run(t0)
    loop.remove_reader(conn.fileno())


def worker_main(plan: WorkerPlan, conn: Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The flush thread shares the GIL with the event loop: hand it back often,
    # so interval processing never holds the loop for more than a millisecond.
    sys.setswitchinterval(0.001)
    use_uvloop()
    try:
        asyncio.run(_serve(plan, conn))
    except Exception as exc:  # reported to the coordinator, which decides
        try:
            conn.send({"type": "error", "worker": plan.worker,
                       "message": f"{type(exc).__name__}: {exc}".splitlines()[0]})
        except OSError:
            pass
    finally:
        conn.close()
