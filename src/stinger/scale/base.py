"""The worker-backend seam: where load workers run, and how their records come back.

A backend starts N workers on N plans, tells them when to begin, streams their
typed interval records (`stinger.core.records.IntervalRecord`) to the
coordinator, stops them, and reports a worker that died. The coordinator
(`scale.coordinator`) merges; it never knows whether workers are forked
processes, threads in this process (tests) or Ray actors on other machines.

Clock agreement: the coordinator names the start as a wall-clock instant
(`time.time()` seconds); each worker converts it to its own monotonic clock
(`perf_counter`) once, on receipt. On one machine both clocks are the same
kernel's, so workers agree to microseconds; across machines they agree as well
as the machines' wall clocks do (NTP: typically within a millisecond or a few),
which shifts interval boundaries, never a request's latency (measured on one
clock, inside one worker).

What a backend is, as the rest of stinger may ask it, is declared, never tested by
name: `traits` (a `BackendTraits` on the class: the start delay, whether the
workers' files are the coordinator's, whether this machine's per-core worker
ceiling applies, whether every worker's PID is this machine's), readable from the
registered name alone (`backend_traits`, before any backend exists), and one
optional ability, `ClusterConnect.connect() -> int` (join its cluster now, before any
run directory exists, and say how many CPUs it has for workers: `--workers auto`
counts those; `orchestrate.run.connect_backend`).

To add a backend: write `scale/NAME.py` (a class implementing `WorkerBackend`, with
its `traits`), its test, and one line in `REGISTRY` below.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

DEFAULT_BACKEND = "local"   # what runs the workers when the spec names no backend


@dataclass(frozen=True, slots=True)
class BackendTraits:
    """What a worker backend is, for the code that must know (never its name)."""

    # s between naming the start and the run clock's zero: `begin` must reach every worker first
    start_delay: float = 0.1
    # the workers' files (--save-requests row files) are readable by the coordinator
    shared_filesystem: bool = True
    # this machine's per-core worker ceiling applies (`orchestrate.preflight.check_ceilings`)
    local_cpu_ceiling: bool = True
    # every PID `start` returns is a process of this machine (False: 0 marks a worker elsewhere,
    # which the generator self-check cannot watch)
    local_pids: bool = True


@dataclass(frozen=True, slots=True)
class WorkerLost:
    """A worker that ended without its final record (killed, crashed, its machine gone)."""

    worker: int
    reason: str          # e.g. "exit code -9 (SIGKILL)", "actor died"


@dataclass(frozen=True, slots=True)
class Alive:
    """A worker's proof of life: its event loop turned within the last `scale.pulse.LIVE` s or so.

    Sent beside records (which come once an interval from the flush thread, and may legitimately
    pause: a final flush waiting for big bodies to be judged), so that silence means the worker is
    stopped or wedged (SIGSTOP, a held GIL, a stuck loop), never merely busy.

    `stamp`/`done`: the worker's requests ended so far, read at `stamp` (its `time.monotonic()`), for
    the live "achieved now" rate (`scale.now_rate`); None from a backend that does not carry them."""

    worker: int
    stamp: float | None = None
    done: int | None = None


@dataclass(frozen=True, slots=True)
class WorkerFailed:
    """A worker that could not run its plan (an exception in it): the run fails with this reason."""

    worker: int
    message: str         # one line


@runtime_checkable
class WorkerBackend(Protocol):
    traits: ClassVar[BackendTraits]

    def start(self, plans: Sequence[Any]) -> list[int]:
        """Start one worker per plan and wait until each is ready; return their PIDs (0 for a
        worker on another machine: monitors watch only processes of this one).

        Raises `stinger.errors.RunError` when a worker cannot start."""
        ...

    def begin(self, start_wall: float) -> None:
        """Tell every worker the run clock's zero, as a wall-clock instant.

        The coordinator names an instant `traits.start_delay` seconds ahead: long
        enough for `begin` to reach every worker before the clock starts."""
        ...

    def poll(self, timeout: float) -> Iterable[Any]:
        """Records (`IntervalRecord`), `Alive`, `WorkerLost` and `WorkerFailed` events that arrived
        within `timeout` s (an empty iterable when none did). A worker's final record or its
        loss is the last event it produces."""
        ...

    def kill(self, worker: int) -> None:
        """Give up on one worker the coordinator declared lost (silent past its deadline): end it if
        the backend can (only that worker: a local one by its own PID, a Ray actor by its handle),
        and produce no further event for it."""
        ...

    def stop(self) -> None:
        """Ask every live worker to stop now (its final record still arrives)."""
        ...

    def close(self) -> None:
        """Reap every worker; kill the ones that do not end in time. Idempotent."""
        ...


@runtime_checkable
class Steerable(Protocol):
    """Optional ability: a live load change (`engine.steer.LoadChange`) reaches every live worker."""

    def change(self, change: Any) -> None:
        """Send `change` to every worker still running (a lost or finished one is skipped)."""
        ...


@runtime_checkable
class ClusterConnect(Protocol):
    """Optional ability: the backend joins a cluster before the run (Ray)."""

    def connect(self) -> int:
        """Join (or start) the cluster now, before any run directory exists (a wrong address is a
        one-line UsageError); return the CPUs it has for workers (one each)."""
        ...


@runtime_checkable
class OriginPlacement(Protocol):
    """Optional ability: the backend places workers by origin (spec/origins.py) and checks, before any
    run directory, that it can (a Ray label no node carries, a source address not of this machine)."""

    def check_origins(self, origins: Sequence[tuple[str, int, str | None]]) -> None:
        """(name, workers, source address) per origin; a `UsageError` (one line) when they cannot be placed."""
        ...


def check_origins(backend: Any, plans: Sequence[Any]) -> None:
    """Before any load: the run's origins can be placed on this backend (a no-op for a run without)."""
    from stinger.errors import UsageError

    origins: dict[str, list[Any]] = {}
    for p in plans:
        if p.origin is not None:
            origins.setdefault(p.origin, [p.origin, 0, p.source_address])[1] += 1
    if not origins:
        return
    if not isinstance(backend, OriginPlacement):
        raise UsageError(f"--origin: the {type(backend).__name__} backend cannot place workers by origin; "
                         "expected --backend local or ray")
    backend.check_origins([tuple(o) for o in origins.values()])


def check_source_addresses(origins: Sequence[tuple[str, int, str | None]]) -> None:
    """Each origin's source address can be bound on this machine (else every connection would fail)."""
    import socket

    from stinger.errors import UsageError

    for name, _, address in origins:
        if address is None:
            continue
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        try:
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.bind((address, 0))
        except OSError as exc:
            raise UsageError(f"origin {name}: source address {address} cannot be bound here ({exc.strerror}); "
                             "expected an address of this machine, e.g. 127.0.0.2") from None


REGISTRY: dict[str, str] = {
    "local": "stinger.scale.local:LocalBackend",
    "inprocess": "stinger.scale.inprocess:InProcessBackend",
    "ray": "stinger.scale.ray:RayBackend",
}


def backends() -> dict[str, str]:
    """Every backend name: `REGISTRY` and the lines vendor packages add (`stinger.vendors`)."""
    from stinger.core.plugins import vendor_lines

    return {**REGISTRY, **vendor_lines("backends")}


def backend_class(name: str) -> Any:
    """The class registered as `name` (imported on first use); a one-line UsageError names the known ones."""
    from importlib import import_module

    from stinger.errors import UsageError

    known = backends()
    ref = known.get(name)
    if ref is None:
        raise UsageError(f"unknown worker backend {name!r}; expected one of {', '.join(sorted(known))}")
    module, _, cls = ref.partition(":")
    return getattr(import_module(module), cls)


def backend_named(name: str) -> WorkerBackend:
    """A new backend of the registered kind `name`; a one-line UsageError names the known ones."""
    backend: WorkerBackend = backend_class(name)()
    return backend


def backend_traits(name: str) -> BackendTraits:
    """The traits of the backend registered as `name`, from its class (no backend is made)."""
    traits: BackendTraits = backend_class(name).traits
    return traits
