"""The coordinator's own cost, per worker-second, with synthetic workers (issue 19 item 3).

Two measurements, in one process run:

* `fake`: the real coordinator (`scale.coordinator.execute`) fed by an in-process backend whose
  W workers send what real ones do (one realistic interval record a second, from
  `stinger.testing.records`: two variants, the four metrics of a plain HTTP run, a wide latency
  spread; and a pulse every `scale.pulse.EVERY` s of the tree measured, with its ended count when that
  tree's pulses carry one), each worker at its own phase in the second. The records are
  encoded before the run starts, so what is timed is what the coordinator does with them
  (decode, merge, watch); the wall time runs from `begin` (a coordinator that cannot keep up
  takes longer than the run's seconds). With `--per-node K` (the after case) the workers are grouped K to a
  node and each node's records arrive merged by the node's aggregator (`scale.aggregate`), once
  a second, as the Ray backend delivers them; the aggregators' own CPU (spent on the nodes, not
  the coordinator) is measured apart, per worker-second.
* `ray`: the Ray backend on a private cluster bound to 127.0.0.1, with W synthetic worker actors
  (no engine, no network: they emit the same records and pulses) for a smaller W; the Ray calls
  the coordinator makes are counted (`RayBackend.calls`), per worker-second.

Coordinator CPU is this process's CPU (`getrusage(RUSAGE_SELF)`) over the run, divided by
workers x run seconds: the cores the coordinator needs for W workers is W x that figure. The
ceiling is where it reaches one core (the watching loop saturates) and where it reaches half.

    PYTHONPATH=src python3 bench/coordinator.py --workers 50,200,800 --seconds 8 --ray-workers 16
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import resource
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

# BENCH_SRC: the tree measured (the "before" rows run this file again with an older tree's src)
sys.path.insert(0, os.environ.get("BENCH_SRC") or str(Path(__file__).resolve().parent.parent / "src"))

from stinger.core.records import IntervalRecord
from stinger.orchestrate.planning import build_plans
from stinger.scale.base import Alive, BackendTraits
from stinger.scale.coordinator import execute
from stinger.spec import parse_spec
from stinger.testing.records import final_records, synthetic_records

_MARKS = "done" in getattr(Alive, "__dataclass_fields__", {})   # this tree's pulses carry ended counts


def _pulse_every() -> float:
    from stinger.scale import pulse

    return float(pulse.EVERY)


def cpu_now() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def plans(workers: int, seconds: float) -> list:
    url = "http://127.0.0.1:9/"
    spec = parse_spec({"variants": [{"name": "a", "weight": 1, "url": url}, {"name": "b", "weight": 1, "url": url}],
                       "load": {"rate": 10, "duration": f"{seconds}s", "workers": 1}})
    [one] = build_plans(spec)
    return [replace(one, worker=w, workers=workers) for w in range(workers)]


def worker_records(workers: int, seconds: int, per_worker_rate: float) -> list[list[IntervalRecord]]:
    """records[w] = worker w's records, in order, its final one last."""
    out: list[list[IntervalRecord]] = [[] for _ in range(workers)]
    for rec in synthetic_records(seconds, rate=per_worker_rate * workers, workers=workers):
        out[rec.worker].append(rec)
    for rec in final_records(seconds, workers=workers):
        out[rec.worker].append(rec)
    return out


class SyntheticBackend:
    """W synthetic workers in this process: every event due at its instant, decoded in `poll` as a
    remote backend's are. `per_node`: deliver each node's records merged (`scale.aggregate`)."""

    traits = BackendTraits(start_delay=0.05, shared_filesystem=True, local_cpu_ceiling=False, local_pids=False)

    def __init__(self, records: list[list[IntervalRecord]], per_node: int = 0) -> None:
        self.per_node = per_node
        self.i = 0
        self.done: set[int] = set()
        self.aggregator_cpu = 0.0   # s spent merging on the "nodes" (here, before the clock: not the coordinator's)
        self.begun = 0.0
        # (offset from the run clock's zero, kind, worker or node, wire bytes), made before the run
        self.plan: list[tuple[float, str, int, object]] = []
        w_n = len(records)
        seconds = len(records[0]) - 1
        if per_node:
            from stinger.scale.aggregate import NodeMerge

            wire = [[r.to_bytes() for r in recs] for recs in records]
            nodes = range(0, w_n, per_node)
            for n, first in enumerate(nodes):
                members = range(first, min(first + per_node, w_n))
                phase = (n + 0.5) / len(nodes)
                for i in range(seconds + 1):
                    c0 = time.process_time()
                    merge = NodeMerge()
                    for w in members:
                        merge.record(w, wire[w][i])
                    batch = merge.take()
                    self.aggregator_cpu += time.process_time() - c0
                    self.plan.append((i + phase, "batch", n, batch))
                    if i < seconds:   # the aggregator's pulse batch, between records
                        self.plan.append((i + phase + 0.5, "batch", n, NodeMerge.pulse(members)))
        else:
            every = _pulse_every()   # this tree's pulse period (0.5 s before the achieved-now rate, 0.1 s after)
            per_s = round(1 / every)
            for w, recs in enumerate(records):
                phase = (w + 0.5) / w_n
                for i, rec in enumerate(recs):
                    self.plan.append((i + phase, "record", w, rec.to_bytes()))
                    if i < seconds:
                        for k in range(per_s):   # (a mark: the worker's stamp and its ended count, when carried)
                            t = i + phase + (k + 0.5) * every
                            self.plan.append((t, "alive", w, (t, int(t * PER_WORKER_RATE))))
        self.plan.sort(key=lambda e: e[0])
        self.events = self.plan
        self.due: list[float] = []

    def start(self, plans: Sequence) -> list[int]:
        return [0] * len(plans)

    def begin(self, start_wall: float) -> None:
        t0 = time.perf_counter() + (start_wall - time.time())
        self.begun = time.perf_counter()
        self.due = [t0 + e[0] for e in self.plan]

    def poll(self, timeout: float) -> list:
        now = time.perf_counter()
        if self.i >= len(self.events) or self.due[self.i] > now:
            nxt = self.due[self.i] if self.i < len(self.events) else now + timeout
            time.sleep(max(0.0, min(timeout, nxt - now)))
            now = time.perf_counter()
        j = bisect.bisect_right(self.due, now, lo=self.i)
        out: list = []
        for _, kind, w, body in self.events[self.i:j]:
            if kind == "record":
                out.append(IntervalRecord.from_bytes(body))
            elif kind == "alive":
                out.append(Alive(w, *body) if _MARKS else Alive(w))
            else:
                from stinger.scale.aggregate import decode_batch

                out.extend(decode_batch(body))
        self.i = j
        return [e for e in out if getattr(e, "worker", None) not in self.done]

    def kill(self, worker: int) -> None:
        self.done.add(worker)

    def stop(self) -> None:
        pass

    def close(self) -> None:
        pass


def run_fake(workers: int, seconds: int, per_worker_rate: float, per_node: int) -> dict:
    records = worker_records(workers, seconds, per_worker_rate)
    backend = SyntheticBackend(records, per_node)   # every record encoded (and node-merged) before the clock
    run_plans = plans(workers, seconds)
    c0 = cpu_now()
    outcome = execute(run_plans, backend=backend, on_progress=lambda m, t: None)
    cpu, wall = cpu_now() - c0, time.perf_counter() - backend.begun
    m = outcome.metrics
    s = m.summary(m.window(0.0, None, outcome.elapsed))
    got = sum(v["requests"]["ok"] for k, v in s.items() if k in ("a", "b"))
    sent = sum(c.kinds[0] for recs in records for r in recs for c in r.cells)
    m.close()
    ws = workers * seconds
    return {"workers": workers, "per_node": per_node, "seconds": seconds, "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 3), "ms_per_worker_s": round(cpu / ws * 1e3, 4),
            "cores": round(cpu / wall, 3), "aggregator_ms_per_worker_s": round(backend.aggregator_cpu / ws * 1e3, 4),
            "lost": len(outcome.lost_workers), "ok_merged": got, "ok_sent": int(sent)}


# ------------------------------------------------------------------ Ray
class SyntheticThread:
    """Stands in for `scale.thread.WorkerThread` inside a Ray actor: the same events (records in their
    wire form, a pulse every 0.5 s) on the same queue protocol, without an engine or a network."""

    def __init__(self, plan) -> None:
        import queue
        import threading

        self.plan = plan
        self.events: queue.Queue = queue.Queue()
        self.ready = threading.Event()
        self.error = None
        self.stopped = threading.Event()
        seconds = int(plan.duration)
        w = plan.worker
        recs = [replace(r, worker=w) for r in synthetic_records(seconds, rate=PER_WORKER_RATE, workers=1)]
        recs += [replace(r, worker=w) for r in final_records(seconds, workers=1)]
        self.wire = [r.to_bytes() for r in recs]
        self.phase = (w + 0.5) / plan.workers
        self.thread = threading.Thread(target=self._pulse, daemon=True)
        self.thread.start()
        self.ready.set()

    def _pulse(self) -> None:
        while not self.stopped.wait(0.5):
            self.events.put((self.plan.worker, "alive", None))

    def begin(self, start_wall: float) -> None:
        import threading

        threading.Thread(target=self._emit, args=(start_wall,), daemon=True).start()

    def _emit(self, start_wall: float) -> None:
        for i, body in enumerate(self.wire):
            last = i == len(self.wire) - 1
            if not last and self.stopped.wait(max(0.0, start_wall + i + self.phase - time.time())):
                break
            self.events.put((self.plan.worker, "record", body))
        else:
            self.stopped.set()
            return
        self.events.put((self.plan.worker, "record", self.wire[-1]))   # stopped: the final record now
        self.stopped.set()

    def stop(self) -> None:
        self.stopped.set()

    def take(self, wait: float) -> list:
        import queue

        out = []
        try:
            out.append(self.events.get(timeout=wait))
            while True:
                out.append(self.events.get_nowait())
        except queue.Empty:
            pass
        return out


PER_WORKER_RATE = 400.0


def run_ray(workers: int, seconds: int) -> dict:
    """The Ray backend, as the tree on the path has it, with `workers` synthetic actors on a private
    cluster bound to 127.0.0.1; counts the Ray calls this process makes from `begin` on."""
    import ray
    import ray.actor

    import stinger.scale.ray as sray

    class SyntheticActor(sray._ActorWorker):
        def __init__(self, plan, dataset=None) -> None:
            self.data_dir = None
            self.thread = SyntheticThread(plan)

    counts = {"calls": 0, "empty": 0}
    real_remote = ray.actor.ActorMethod._remote
    real_get = ray.get

    def counted_remote(self, *a, **k):
        counts["calls"] += 1
        return real_remote(self, *a, **k)

    def counted_get(refs, *a, **k):
        got = real_get(refs, *a, **k)
        if isinstance(got, list) and not got:
            counts["empty"] += 1   # an actor's `take` that brought nothing (before)
        elif isinstance(got, bytes) and hasattr(sray, "decode_batch") and not sray.decode_batch(got):
            counts["empty"] += 1   # a node batch with nothing in it (after)
        return got

    with sray.loopback_only():
        ray.init(address="local", num_cpus=workers + 1, include_dashboard=False, log_to_driver=False,
                 logging_level="ERROR", configure_logging=False)
    sray._ActorWorker = SyntheticActor   # what RayBackend starts in each actor (both trees read it here)
    backend = sray.RayBackend()
    begin = backend.begin
    mark: dict[str, float] = {}

    def begin_counted(start_wall: float) -> None:
        begin(start_wall)
        counts["calls"] = counts["empty"] = 0
        mark["cpu"], mark["wall"] = cpu_now(), time.perf_counter()

    backend.begin = begin_counted
    ray.actor.ActorMethod._remote = counted_remote
    ray.get = counted_get
    try:
        outcome = execute(plans(workers, seconds), backend=backend)
        cpu, wall = cpu_now() - mark["cpu"], time.perf_counter() - mark["wall"]
    finally:
        ray.actor.ActorMethod._remote = real_remote
        ray.get = real_get
        ray.shutdown()
    m = outcome.metrics
    s = m.summary(m.window(0.0, None, outcome.elapsed))
    ok = sum(v["requests"]["ok"] for k, v in s.items() if k in ("a", "b"))
    m.close()
    ws = workers * wall
    return {"mode": "ray", "workers": workers, "seconds": seconds, "wall_s": round(wall, 2), "cpu_s": round(cpu, 3),
            "ms_per_worker_s": round(cpu / ws * 1e3, 4), "cores": round(cpu / wall, 3),
            "ray_calls_per_worker_s": round(counts["calls"] / ws, 3),
            "empty_per_worker_s": round(counts["empty"] / ws, 3), "lost": len(outcome.lost_workers), "ok_merged": ok}


def child(args: list[str], src: str) -> list[dict]:
    """This bench again, in a fresh process, measuring the tree at `src`."""
    import subprocess

    env = {**os.environ, "BENCH_SRC": src, "PYTHONPATH": src}
    out = subprocess.run([sys.executable, __file__, *args], env=env, check=True, capture_output=True, text=True,
                         timeout=1800)
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", default="50,200,800")
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--per-worker-rate", type=float, default=400.0, help="req/s each synthetic worker reports")
    ap.add_argument("--per-node", default="0", help="comma list: 0 = no node merge (records per worker)")
    ap.add_argument("--ray-workers", type=int, default=0, help="also run on a private local Ray cluster")
    ap.add_argument("--before", help="src folder of the tree to compare with (e.g. a worktree of main): its rows "
                                     "come first, from a child process, then this tree's")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    global PER_WORKER_RATE
    PER_WORKER_RATE = a.per_worker_rate
    if a.before:
        common = ["--workers", a.workers, "--seconds", str(a.seconds), "--per-worker-rate", str(a.per_worker_rate),
                  "--ray-workers", str(a.ray_workers)]
        here = str(Path(__file__).resolve().parent.parent / "src")
        before = child([*common, "--per-node", "0"], a.before)
        after = child([*common, "--per-node", a.per_node], here)
        rows = [{"tree": "before", **r} for r in before] + [{"tree": "after", **r} for r in after]
        for r in rows:
            print(json.dumps(r))
        print(ratios(before, after))
    else:
        rows = []
        for per_node in [int(x) for x in a.per_node.split(",")]:
            for w in [int(x) for x in a.workers.split(",")]:
                row = {"mode": "fake", **run_fake(w, a.seconds, a.per_worker_rate, per_node)}
                rows.append(row)
                print(json.dumps(row), flush=True)
        if a.ray_workers:
            row = run_ray(a.ray_workers, a.seconds)
            rows.append(row)
            print(json.dumps(row), flush=True)
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1))
    return 0


def ratios(before: list[dict], after: list[dict]) -> str:
    """before -> after, side by side: coordinator ms a worker-second, cores, Ray calls a worker-second."""
    lines = ["mode  workers  per_node  ms/worker-s before -> after (ratio)   cores before -> after   "
             "ray calls/worker-s (empty) before -> after"]
    old = {(r["mode"], r["workers"]): r for r in before}
    for r in after:
        b = old.get((r["mode"], r["workers"]))
        if b is None:
            continue
        line = (f"{r['mode']:5} {r['workers']:7}  {r.get('per_node', '-')!s:8}  {b['ms_per_worker_s']:.3f} -> "
                f"{r['ms_per_worker_s']:.3f} ({b['ms_per_worker_s'] / r['ms_per_worker_s']:.1f}x)   "
                f"{b['cores']:.3f} -> {r['cores']:.3f}")
        if r["mode"] == "ray":
            line += (f"   {b['ray_calls_per_worker_s']:.2f} ({b['empty_per_worker_s']:.2f}) -> "
                     f"{r['ray_calls_per_worker_s']:.2f} ({r['empty_per_worker_s']:.2f})")
        lines.append(line)
    return "\n".join(lines)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
