"""The output seam: everything a run shows or leaves behind reads records, never the engine.

An output receives three events, in order:

    start(info)          before any load, on the caller's thread: `RunInfo` (spec,
                         variants, planned duration). An output that cannot work
                         (an unwritable directory) raises here, before the run.
    interval(snapshot)   about twice a second, on the output thread: a `Snapshot`,
                         an immutable copy of what the live view needs
    finish(result)       after the run, on the caller's thread: `RunFinished`
                         (summary, merged metrics, series; read only)

Intervals never run on the coordinator's merge path: the coordinator's progress
callback builds a small immutable `Snapshot` and hands it to `OutputThread`,
which keeps only the latest one (a slow output skips snapshots, it never delays
merging). `start` and `finish` are outside the run, so they need no thread.

Optional abilities are separate protocols (k6's outputs, STYLE.md habit 5), and
an output that does not implement one is simply not told:
`CapacityOutput` (a search planned, a step judged, the search's report) and
`VerdictOutput` (an A/B or compare verdict). An output that owns a run
directory exposes it as `run_dir` (a `Path`, set by `start`). An output whose
`wants_intervals` is False is not sent snapshots; when no output wants them, the
coordinator builds none (a quiet run costs nothing extra).

To add an output: write `outputs/NAME.py` (a class implementing `Output`, built
with no arguments), its test, and one line in `REGISTRY` below; then
`stinger.run(spec, outputs=["NAME"])` finds it.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "REGISTRY",
    "CapacityOutput",
    "Output",
    "OutputThread",
    "RunFinished",
    "RunInfo",
    "Snapshot",
    "VariantSnapshot",
    "VerdictOutput",
    "create",
    "resolve",
]


@dataclass(frozen=True)
class RunInfo:
    spec: Any                       # the validated `Spec` (spec.yaml: `outputs.rundir.spec_yaml_data`)
    variants: tuple[str, ...]
    duration: float | None          # planned length (s), None when bounded by a request count
    total: int | None               # planned request count, if any
    mode: str                       # open | closed


@dataclass(frozen=True)
class VariantSnapshot:
    """One variant so far: totals, and the last complete interval (None before the first)."""

    name: str
    ok: int
    failed: int
    dropped: int
    latency: Any                    # a `Histogram` of every latency so far (a copy, owned by the snapshot)
    last_offered_rps: float | None = None
    last_achieved_rps: float | None = None
    last_p50_ms: float | None = None
    last_p99_ms: float | None = None
    last_failed: int | None = None
    last_warmup_rps: float | None = None       # requests of the warm-up ended in that interval, per second
    good: int | None = None                    # requests meeting every goodput objective so far (None: none set)
    scheduled: int | None = None               # requests scheduled so far (warm-up included)


@dataclass(frozen=True)
class Snapshot:
    elapsed: float
    variants: tuple[VariantSnapshot, ...]
    extra: dict = field(default_factory=dict)     # monitor readings for the live view ("endpoint.cpu_pct": "...")
    lost_workers: tuple[int, ...] = ()            # load workers lost so far: the run is incomplete
    events: tuple[dict, ...] = ()                 # live load changes so far (scale/control.py)
    breakdown: Any = None                         # the breakdown rows so far: `.groups()` -> summary.json's
    #   `breakdown` groups, built on first ask (outputs/live_breakdown.py); None while the run has no group
    # requests ended per second (every variant, answered or failed) over the last `achieved_now_window_s` s,
    # from the workers' pulses (scale/now_rate.py): follows a rate change within a fraction of a second,
    # where `last_achieved_rps` waits for a whole interval to end. None when the backend does not carry it.
    achieved_now_rps: float | None = None
    achieved_now_window_s: float | None = None
    now_rate: Any = None                          # its live source (`.read()` -> (rps, window) | None), for
    #   an output that serves state on request (the dashboard) and reads it fresher than the snapshot


@dataclass(frozen=True)
class RunFinished:
    summary: dict                   # the summary.json dict
    metrics: Any                    # `RunMetrics`, merged; read only
    started_at: float               # epoch seconds of the run clock's zero
    series: list = field(default_factory=list)    # monitor points


@runtime_checkable
class Output(Protocol):
    """What every output implements: `start(RunInfo)` before the load, `interval(Snapshot)` about
    twice a second on the output thread (only the latest snapshot), `finish(RunFinished)` after."""

    name: str

    def start(self, info: RunInfo) -> None: ...

    def interval(self, snapshot: Snapshot) -> None: ...

    def finish(self, result: RunFinished) -> None: ...


@runtime_checkable
class CapacityOutput(Protocol):
    def capacity_start(self, info: dict) -> None: ...

    def capacity_step(self, row: dict) -> None: ...

    def capacity_finish(self, report: dict) -> None: ...


@runtime_checkable
class VerdictOutput(Protocol):
    # `run_dir`: where the verdict is kept (None for a comparison of saved runs)
    def verdict(self, verdict: Any, extra: dict, run_dir: Path | None) -> None: ...


# name -> "module:Class", imported on first use
REGISTRY: dict[str, str] = {
    "terminal": "stinger.outputs.terminal:TerminalOutput",
    "rundir": "stinger.outputs.rundir:RunDirOutput",
    "jsonl": "stinger.outputs.jsonlines:JsonLinesOutput",
    "dashboard": "stinger.outputs.dashboard:DashboardOutput",
}


def create(name: str) -> Output:
    """A registered output by name (`REGISTRY` and the vendors' lines), built with its defaults."""
    from stinger.core.plugins import vendor_lines
    from stinger.errors import UsageError

    known = {**REGISTRY, **vendor_lines("outputs")}
    if name not in known:
        raise UsageError(f"unknown output {name!r}; expected one of {', '.join(sorted(known))} "
                         f"or an object with start/interval/finish")
    module, _, cls = known[name].partition(":")
    return getattr(importlib.import_module(module), cls)()


def resolve(items: Iterable[Output | str]) -> list[Output]:
    """Names and objects -> output objects (names through the registry)."""
    from stinger.errors import UsageError

    out: list[Output] = []
    for item in items:
        if isinstance(item, str):
            out.append(create(item))
        elif all(callable(getattr(item, m, None)) for m in ("start", "interval", "finish")):
            out.append(item)
        else:
            raise UsageError(f"{item!r} is not an output: it needs start, interval and finish methods")
    return out


def run_dir_of(outputs: Iterable[Output]) -> Path | None:
    """The run directory an output owns, if one does (the first)."""
    for o in outputs:
        d = getattr(o, "run_dir", None)
        if d is not None:
            return Path(d)
    return None


def tell(outputs: Iterable[Any], method: str, *args) -> None:
    """Call an optional ability on every output that has it."""
    for o in outputs:
        fn = getattr(o, method, None)
        if callable(fn):
            fn(*args)


class OutputThread:
    """Delivers interval snapshots to outputs off the coordinator's merge path.

    `post` stores the snapshot and returns at once: the slot holds one snapshot,
    so a slow output sees the latest state when it is ready again and skips the
    ones in between (coalescing), and merging never waits. An output that raises
    in `interval` is not called again for intervals; the error is kept in
    `errors` (the run goes on: a broken live view must not lose a measurement).
    """

    def __init__(self, outputs: list[Output], *, on_error: Callable[[str], None] | None = None) -> None:
        self.outputs = list(outputs)
        self.errors: list[str] = []
        self.delivered = 0
        self.posted = 0
        self._on_error = on_error
        self._cond = threading.Condition()
        self._latest: Snapshot | None = None
        self._closing = False
        self._broken: set[int] = set()
        self._thread = threading.Thread(target=self._loop, name="stinger-outputs", daemon=True)

    def __enter__(self) -> OutputThread:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def post(self, snapshot: Snapshot) -> None:
        with self._cond:
            self._latest = snapshot
            self.posted += 1
            self._cond.notify()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread; a snapshot still waiting is dropped (the finish event supersedes it)."""
        with self._cond:
            self._closing = True
            self._latest = None
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._latest is None and not self._closing:
                    self._cond.wait()
                if self._closing:
                    return
                snap, self._latest = self._latest, None
            assert snap is not None   # woken with a snapshot (a close returned above)
            for k, o in enumerate(self.outputs):
                if k in self._broken:
                    continue
                try:
                    o.interval(snap)
                except Exception as exc:
                    self._broken.add(k)
                    msg = f"output {getattr(o, 'name', type(o).__name__)} failed and was stopped: {exc!r}"
                    self.errors.append(msg)
                    if self._on_error is not None:
                        self._on_error(msg)
            self.delivered += 1


def snapshot_of(metrics, elapsed: float, extra: dict | None = None, breakdown: Any = None) -> Snapshot:
    """An immutable copy of what live outputs need, taken on the merge path (cheap: one histogram copy).

    The last complete interval is the one before the interval `elapsed` falls in.
    """
    from stinger.core.records import Kind

    last = int(elapsed / metrics.interval) - 1
    out = []
    for name, vm in metrics.variants.items():
        kw: dict[str, Any] = {}
        c = vm.cells.get(last)
        if c is not None:
            ok = int(c.kinds[Kind.OK])
            lat = c.histogram("latency")
            p = lat.percentiles((50, 99)) if lat.total_count else {}
            kw = {"last_offered_rps": c.scheduled / metrics.interval, "last_achieved_rps": ok / metrics.interval,
                  "last_p50_ms": p[50] / 1e3 if 50 in p else None, "last_p99_ms": p[99] / 1e3 if 99 in p else None,
                  "last_failed": int(c.kinds.sum()) - ok, "last_warmup_rps": c.warmup / metrics.interval}
        out.append(VariantSnapshot(name=name, ok=vm.ok, failed=vm.failed, dropped=int(vm.counters["dropped"]),
                                   latency=vm.totals["latency"].copy(),
                                   good=vm.good if getattr(metrics, "goodput", None) else None,
                                   scheduled=int(vm.counters["scheduled"]), **kw))
    now_rate = getattr(metrics, "now_rate", None)
    now = now_rate.read() if now_rate is not None else None
    return Snapshot(elapsed=elapsed, variants=tuple(out), extra=dict(extra or {}),
                    lost_workers=tuple(getattr(metrics, "gone_workers", ())),
                    events=tuple(dict(e) for e in getattr(metrics, "events", ())), breakdown=breakdown,
                    achieved_now_rps=None if now is None else round(now[0], 3),
                    achieved_now_window_s=None if now is None else round(now[1], 3), now_rate=now_rate)
