"""The coordinator's own cost, per worker-second, with synthetic workers (issue 19 item 3).

Two measurements, in one process run:

* `fake`: the real coordinator (`scale.coordinator.execute`) fed by an in-process backend whose
  W workers send what real ones do (one realistic interval record a second, from
  `stinger.testing.records`: two variants, the four metrics of a plain HTTP run, a wide latency
  spread; and a pulse every 0.5 s), each worker at its own phase in the second. The records are
  encoded before the clock starts, so what is timed is what the coordinator does with them
  (decode, merge, watch). With `--per-node K` (the after case) the workers are grouped K to a
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from stinger.core.records import IntervalRecord  # noqa: E402
from stinger.orchestrate.planning import build_plans  # noqa: E402
from stinger.scale.base import Alive, BackendTraits  # noqa: E402
from stinger.scale.coordinator import execute  # noqa: E402
from stinger.spec import parse_spec  # noqa: E402
from stinger.testing.records import final_records, synthetic_records  # noqa: E402


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
        self.records = records
        self.per_node = per_node
        self.due: list[float] = []
        self.events: list[tuple[float, str, int, object]] = []
        self.i = 0
        self.t0 = 0.0
        self.done: set[int] = set()
        self.aggregator_cpu = 0.0   # s spent merging on the "nodes" (before the clock, not the coordinator's)

    def start(self, plans: Sequence) -> list[int]:
        return [0] * len(plans)

    def begin(self, start_wall: float) -> None:
        w_n = len(self.records)
        seconds = len(self.records[0]) - 1
        t0 = time.perf_counter() + (start_wall - time.time())
        ev: list[tuple[float, str, int, object]] = []
        if self.per_node:
            from stinger.scale.aggregate import NodeMerge

            for n, first in enumerate(range(0, w_n, self.per_node)):
                members = range(first, min(first + self.per_node, w_n))
                phase = (n + 0.5) / max(1, w_n // self.per_node + 1)
                for i in range(seconds + 1):
                    c0 = time.process_time()
                    merge = NodeMerge()
                    for w in members:
                        merge.record(w, self.records[w][i].to_bytes())
                        if i < seconds:
                            merge.alive(w)
                    batch = merge.take()
                    self.aggregator_cpu += time.process_time() - c0
                    ev.append((t0 + i + phase, "batch", n, batch))
                    if i < seconds:   # the aggregator's pulse batch, between records
                        ev.append((t0 + i + phase + 0.5, "batch", n, NodeMerge.pulse(members)))
        else:
            for w, recs in enumerate(self.records):
                phase = (w + 0.5) / w_n
                for i, rec in enumerate(recs):
                    ev.append((t0 + i + phase, "record", w, rec.to_bytes()))
                    if i < seconds:
                        ev.append((t0 + i + phase + 0.25, "alive", w, None))
                        ev.append((t0 + i + phase + 0.75, "alive", w, None))
        ev.sort(key=lambda e: e[0])
        self.events = ev
        self.due = [e[0] for e in ev]

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
                out.append(Alive(w))
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
    backend = SyntheticBackend(records, per_node)
    c0, w0 = cpu_now(), time.perf_counter()
    outcome = execute(plans(workers, seconds), backend=backend, on_progress=lambda m, t: None)
    cpu, wall = cpu_now() - c0 - backend.aggregator_cpu, time.perf_counter() - w0
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", default="50,200,800")
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--per-worker-rate", type=float, default=400.0, help="req/s each synthetic worker reports")
    ap.add_argument("--per-node", default="0", help="comma list: 0 = no node merge (records per worker)")
    ap.add_argument("--ray-workers", type=int, default=0, help="also run on a private local Ray cluster")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    rows = []
    for per_node in [int(x) for x in a.per_node.split(",")]:
        for w in [int(x) for x in a.workers.split(",")]:
            row = run_fake(w, a.seconds, a.per_worker_rate, per_node)
            rows.append(row)
            print(json.dumps(row), flush=True)
    if a.ray_workers:
        from ray_coordinator import run_ray   # bench/ray_coordinator.py

        row = run_ray(a.ray_workers, a.seconds, a.per_worker_rate)
        rows.append(row)
        print(json.dumps(row), flush=True)
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
