"""The Ray worker backend: each load worker is a Ray actor, on this machine or across a cluster.

stinger never manages machines: Ray does. `--backend ray` joins the cluster
Ray's own rules name (`RAY_ADDRESS`, e.g. `ray://head:10001`, `head:6379`, or
`auto` for a cluster started with `ray start` on this machine); with none, it
starts a private cluster here for the run (never joining an existing `ray start`
one), bound to 127.0.0.1 only, and stops it after. Each worker is one actor (one
CPU, spread over the cluster's nodes) running the same `Worker` as the local
backend, on its own event loop in a thread of the actor process, so a worker's
engine, flush thread and records are exactly the local ones.

Records travel in their wire form (`IntervalRecord.to_bytes`) to an aggregator
on their own node (`_NodeAggregator`: one actor per node that has workers, no
CPU of its own, pinned there), which keeps one outstanding `take_batch` call per
worker of that node (returning at a record, or after `_PUMP_WAIT` s with the
pulses that came, `scale.pulse`) and merges what they send (`scale.aggregate.NodeMerge`:
each worker's counts kept apart, their histograms summed exactly). The
coordinator keeps one outstanding `take` per node, which returns the node's
batch once a `_NODE_WAIT` s, or at once on a final record, a loss or a failure:
one Ray call a node a second where there were five a worker (issue 19 item 3;
`bench/coordinator.py` measures it). An actor that dies (its process lost)
surfaces as `RayActorError` on its aggregator's call and is reported as a lost
worker with its share of the schedule (`WorkerLost`); a node lost takes its
aggregator with it, and every worker of that node not ended is lost, its share
reported. One that stops answering (SIGSTOP, a wedged process) is declared
lost by the coordinator's deadline and killed here (`kill`).

The user's mistakes surface at once, as one line (`connect`, called before any
run directory exists): a `RAY_ADDRESS` where nothing answers (a TCP probe of
`_PROBE_TIMEOUT` s, where Ray itself would retry for minutes), and more workers
than the cluster has free CPUs (Ray would wait `_READY_TIMEOUT` s to place
them). `--workers auto` counts the cluster's free CPUs, not this machine's.

The dataset travels with the run: the coordinator reads the file (or folder)
the spec names, relative to its own working directory, and puts it in Ray's
object store once; each actor writes its copy to a temporary folder of its node
and opens that (removed when its worker ends), so no node needs the file and a
relative path works whatever an actor's working directory is. What the cluster
must still provide: stinger installed at the same version on every node.
Clocks: the start is a wall-clock instant, so nodes should run NTP (see
`scale/base.py`); each request's latency is measured on one node's clock.
`start_delay` is longer than the local backend's: the begin call must reach
every actor before the clock starts.

Ray's own driver-side messages (a dead worker's crash notes, with node IPs and
ports) are kept out of the terminal and its live view while the backend runs;
they stay in Ray's session logs. Ray's own ports: a cluster joined by address
listens as its operator started it (Ray's gRPC ports listen on all interfaces
unless told otherwise, see the README); the private cluster listens on
127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from stinger.core.records import IntervalRecord
from stinger.errors import ExitCode, RunError, UsageError
from stinger.scale.aggregate import decode_batch
from stinger.scale.base import BackendTraits, WorkerFailed, WorkerLost
from stinger.scale.ray_origins import actor_options
from stinger.scale.ray_origins import check as check_origins


class TerminatedError(RunError):
    """SIGTERM arrived while Ray started (its handler, not ours, was in place): exit 143, as any run."""

    exit_code = ExitCode.TERMINATED


_READY_TIMEOUT = 120.0
_PUMP_WAIT = 1.0          # s a worker's `take_batch` waits for a record before returning its pulses (on its node)
_NODE_WAIT = 1.0          # s an aggregator's `take` gathers its node's records before returning them
_FREE_WAIT = 10.0         # s to wait for CPUs a run that just ended still holds
_PROBE_TIMEOUT = 5.0      # s for RAY_ADDRESS to accept a TCP connection before it is called unreachable
_LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"   # "0": Ray's single-node mode, node IP 127.0.0.1


@contextlib.contextmanager
def loopback_only() -> Iterator[None]:
    """Inside, a Ray cluster started on this machine (`ray.init(address="local")`) binds every
    process to 127.0.0.1: its node IP is the loopback address, and Ray's gRPC servers then listen
    there alone instead of on all interfaces.

    Ray turns a node IP of 127.0.0.1 into the machine's interface address on Linux unless its
    single-node mode is on (`RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`, read by Ray's node-IP lookup
    and inherited by the processes the cluster starts). It is set only while the cluster starts:
    joining another machine's cluster later in this process must see the real interface."""
    import ray._private.ray_constants as ray_constants

    saved_env = os.environ.get(_LOOPBACK_ENV)
    saved = ray_constants.ENABLE_RAY_CLUSTER
    os.environ[_LOOPBACK_ENV] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved
        if saved_env is None:
            os.environ.pop(_LOOPBACK_ENV, None)
        else:
            os.environ[_LOOPBACK_ENV] = saved_env


@contextlib.contextmanager
def _handlers_kept() -> Iterator[None]:
    """`ray.init` puts its own SIGTERM handlers over ours (a Python one that exits, and its C++ core's
    crash handler that dumps a stack and dies): a SIGTERM would leave an empty run directory. Put
    back what was there as soon as it returns (the coordinator checks again when the run starts)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            if handler is not None:
                signal.signal(sig, handler)


def probe_address(address: str, timeout: float = _PROBE_TIMEOUT) -> bool:
    """Raise a one-line UsageError when nothing accepts a TCP connection at `address` (RAY_ADDRESS:
    `host:port` or `ray://host:port`) within `timeout` s; `auto` and `local` name this machine.

    Returns True when the address is a cluster on this machine bound to the loopback address alone
    (`ray start --node-ip-address 127.0.0.1` in Ray's single-node mode): Ray would rewrite 127.0.0.1
    into this machine's interface address, where nothing listens, so it must be joined in that mode."""
    if address in ("auto", "local"):
        return False
    hostport = address.split("://", 1)[1] if "://" in address else address
    hostport = hostport.split("/", 1)[0]
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        host, port = hostport, "10001" if "://" in address else "6379"
    host = host.strip("[]")
    try:
        _connect(host, int(port), timeout)
    except OSError as exc:
        why = (f"no answer within {timeout:g} s" if isinstance(exc, TimeoutError)
               else (exc.strerror or type(exc).__name__).lower())
        raise UsageError(f"RAY_ADDRESS={address}: nothing answers at {host}:{port} ({why}); expected the address "
                         "of a running Ray cluster (ray start --head prints it), or no RAY_ADDRESS for a private "
                         "cluster on this machine") from None
    if "://" in address or host not in ("127.0.0.1", "localhost", "::1"):
        return False
    from ray._private.services import get_node_ip_address

    node_ip = get_node_ip_address()
    if node_ip in ("127.0.0.1", "::1"):
        return False
    try:
        _connect(node_ip, int(port), timeout)
    except OSError:
        return True
    return False


def _connect(host: str, port: int, timeout: float) -> None:
    with socket.create_connection((host, port), timeout=timeout):
        pass


def pack_dataset(path: str) -> tuple[str, dict[str, bytes]]:
    """A dataset file or folder as (its name, {path relative to its parent: bytes}): what goes into
    the object store. `path` is resolved here, against the coordinator's working directory."""
    p = Path(path).resolve()
    if p.is_dir():
        files = {str(f.relative_to(p.parent)): f.read_bytes() for f in sorted(p.rglob("*")) if f.is_file()}
    else:
        files = {p.name: p.read_bytes()}
    return p.name, files


def unpack_dataset(packed: tuple[str, dict[str, bytes]]) -> tuple[str, str]:
    """Write a packed dataset into a new temporary folder; (the dataset's path there, the folder)."""
    name, files = packed
    root = tempfile.mkdtemp(prefix="stinger-data-")
    for rel, data in files.items():
        dest = Path(root, rel)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
    return os.path.join(root, name), root


class _ActorWorker:
    """Runs inside a Ray actor process: one `WorkerThread` (its own event loop); a threaded
    actor, so `take` may block while `stop` comes in."""

    def __init__(self, plan: Any, dataset: tuple[str, dict[str, bytes]] | None = None) -> None:
        import sys

        from stinger.scale.thread import WorkerThread

        sys.setswitchinterval(0.001)   # as a local worker: the flush thread hands the GIL back often
        self.data_dir: str | None = None
        if dataset is not None:   # the coordinator's dataset, from the object store: opened from a local copy
            path, self.data_dir = unpack_dataset(dataset)
            plan = replace(plan, payload=replace(plan.payload, path=path))
        self.thread = WorkerThread(plan).start()
        if self.data_dir is not None:
            threading.Thread(target=self._clean_up, daemon=True).start()

    def _clean_up(self) -> None:
        self.thread.thread.join()
        shutil.rmtree(self.data_dir or "", ignore_errors=True)

    def ready(self) -> tuple[int, str, str]:
        """(its PID, its host name, its Ray node): where it runs, once it can run."""
        import ray

        self.thread.ready.wait(_READY_TIMEOUT)
        if self.thread.error is not None:
            raise RuntimeError(self.thread.error)
        return os.getpid(), socket.gethostname(), ray.get_runtime_context().get_node_id()

    def begin(self, start_wall: float) -> None:
        self.thread.begin(start_wall)

    def stop(self) -> None:
        self.thread.stop()

    def change(self, change: Any) -> None:
        self.thread.change(change)

    def take(self, wait: float) -> list[tuple[int, str, Any]]:
        return self.thread.take(wait)

    def take_batch(self, wait: float) -> list[tuple[int, str, Any]]:
        """What the worker emitted until a record (or its end) came, or `wait` s passed: pulses alone
        never end the wait, so an idle worker costs one call per `wait`, not one per pulse."""
        out: list[tuple[int, str, Any]] = []
        end = time.monotonic() + wait
        while True:
            got = self.thread.take(max(0.0, end - time.monotonic()))
            out.extend(got)
            if any(kind != "alive" for _, kind, _ in got) or time.monotonic() >= end:
                return out


class _NodeAggregator:
    """Runs as an async Ray actor on one node: pulls that node's workers' events (`take_batch`, node-
    local calls) and merges them (`NodeMerge`) until the coordinator's next `take`."""

    def __init__(self) -> None:
        from stinger.scale.aggregate import NodeMerge

        self.merge = NodeMerge()
        self.tasks: dict[int, Any] = {}
        self.wake: Any = None   # an asyncio.Event of the actor's loop, made on first use

    def _event(self) -> Any:
        import asyncio

        if self.wake is None:
            self.wake = asyncio.Event()
        return self.wake

    async def watch(self, workers: list[tuple[int, Any]]) -> None:
        import asyncio

        self._event()
        for w, actor in workers:
            self.tasks[w] = asyncio.get_running_loop().create_task(self._pump(w, actor))

    async def _pump(self, w: int, actor: Any) -> None:
        merge = self.merge
        while True:
            try:
                events = await actor.take_batch.remote(_PUMP_WAIT)
            except Exception as exc:   # RayActorError and kin: its process or node is gone
                merge.ended(w, "lost", f"Ray actor died ({type(exc).__name__})")
                self._event().set()
                return
            ended = False
            for _, kind, body in events:
                if kind == "record":
                    ended = merge.record(w, body) or ended
                elif kind == "alive":
                    merge.alive(w, body)   # body: the pulse's mark (stamp, ended so far) or None
                else:   # failed, or lost (ended without a final record)
                    merge.ended(w, kind, body)
                    ended = True
            if merge.urgent:
                self._event().set()
            if ended:
                return

    def forget(self, w: int) -> None:
        """The coordinator gave up on worker `w` (killed): stop pulling from it."""
        task = self.tasks.pop(w, None)
        if task is not None:
            task.cancel()

    async def take(self, wait: float) -> bytes:
        """The node's batch (`NodeMerge.take`) after `wait` s, or as soon as something urgent came."""
        import asyncio

        wake = self._event()
        if not self.merge.urgent:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(wake.wait(), wait)
        wake.clear()
        return self.merge.take()


class RayBackend:
    """Workers as Ray actors (see the module docstring)."""

    # begin: a remote call per actor must land before the run clock's zero (1 s); actors may run on other
    # machines (their files are not the coordinator's, their PIDs are 0 there) and the cluster's CPUs, not
    # this machine's cores, bound the workers
    traits = BackendTraits(start_delay=1.0, shared_filesystem=False, local_cpu_ceiling=False, local_pids=False)

    def __init__(self, worker_class: Any = None, worker_cpus: float = 1.0) -> None:
        # what runs in each worker actor, and the CPUs it takes (the bench's synthetic workers take less)
        self.worker_class = worker_class or _ActorWorker
        self.worker_cpus = worker_cpus
        self.actors: list[Any] = []
        self.aggregators: list[Any] = []       # one per node with workers
        self.members: list[list[int]] = []     # aggregator -> its workers
        self.pending: dict[int, Any] = {}      # aggregator -> its outstanding `take` ref
        self.done: set[int] = set()
        self.nodes: list[str] = []
        self.worker_nodes: dict[int, str] = {}   # worker -> the Ray node id it ran on
        self.calls = 0        # remote calls made by the coordinator since `begin` (bench/coordinator.py)
        self.empty = 0        # of which came back with nothing (no record, pulse or event)
        self._started_ray = False
        self._ray: Any = None
        self._quiet: tuple[Any, bool] | None = None
        self._log_level: int | None = None
        self._env: dict[str, str] | None = None

    def _init_ray(self) -> Any:
        try:
            import ray
        except ImportError:
            raise UsageError("--backend ray needs Ray: pip install 'stinger[ray]'") from None
        # Ray's own warnings (a token notice, a dead worker's crash note with node IPs) stay out of the
        # terminal and its live view: they are in Ray's session logs
        ray_log = logging.getLogger("ray")
        if self._log_level is None:
            self._log_level = ray_log.level
        ray_log.setLevel(logging.ERROR)
        if not ray.is_initialized():
            address = os.environ.get("RAY_ADDRESS") or None
            loopback = address is None or probe_address(address)
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                       "logging_level": "ERROR", "configure_logging": False}
            # ray.init leaves settings in this process's environment (RAY_AUTH_MODE=token after a private
            # cluster with token auth, PYTHONBREAKPOINT=Ray's debugger): given back when the backend closes
            self._env = dict(os.environ)
            try:
                # a private cluster (address "local": never one started earlier with `ray start`) binds to
                # 127.0.0.1 alone; a cluster on this machine bound so is joined the same way
                with _handlers_kept(), loopback_only() if loopback else contextlib.nullcontext():
                    ray.init(address=address or "local", **options)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise UsageError(f"--backend ray: cannot join the Ray cluster at {address!r}: "
                                 f"{str(exc).splitlines()[0]}") from None
            except SystemExit as exc:   # Ray's own SIGTERM handler, while its start-up ran (ours come back after)
                if exc.code != signal.SIGTERM:
                    raise
                with contextlib.suppress(Exception):
                    ray.shutdown()
                raise TerminatedError("stopped by SIGTERM while the Ray cluster was starting; "
                                      "nothing was measured") from None
            self._started_ray = True
        self._quiet_driver(ray)
        return ray

    def _quiet_driver(self, ray: Any) -> None:
        """Stop Ray printing its error notes on the driver (its switch, the one its debugger uses)."""
        import ray._private.worker as ray_worker

        if self._quiet is None and hasattr(ray_worker, "_worker_logs_enabled"):
            self._quiet = (ray_worker, ray_worker._worker_logs_enabled)
            ray_worker._worker_logs_enabled = False

    def connect(self) -> int:
        """Join (or start) the cluster now; the CPUs in it (each worker takes one)."""
        if self._ray is None:
            self._ray = self._init_ray()
        return int(self._ray.cluster_resources().get("CPU", 0))

    def check_origins(self, origins: Sequence[tuple[str, int, str | None]]) -> None:
        """Each origin has live nodes labelled with it, room for its workers and its source address
        (`scale.base.OriginPlacement`; scale/ray_origins.py)."""
        self.connect()
        check_origins(self._ray, origins, self.worker_cpus)

    def _check_room(self, n: int) -> None:
        """One line at once, instead of Ray waiting `_READY_TIMEOUT` s to place actors it cannot: more
        workers than the cluster's CPUs, or than those free after `_FREE_WAIT` s (the actors of a run
        that just ended free theirs a moment after they are killed)."""
        ray = self._ray
        total = int(ray.cluster_resources().get("CPU", 0) / self.worker_cpus)
        if n > total:
            raise UsageError(f"{n} workers on Ray, but the cluster has {total} CPUs and each worker takes one; "
                             f"expected --workers {max(total, 1)} or fewer, or more nodes")
        deadline = time.monotonic() + _FREE_WAIT
        while (free := int(ray.available_resources().get("CPU", 0) / self.worker_cpus)) < n:
            if time.monotonic() > deadline:
                raise RunError(f"{n} workers on Ray, but only {free} of the cluster's {total} CPUs are free "
                               f"(other work holds the rest); expected --workers {max(free, 1)} or fewer, or "
                               "a cluster with room")
            time.sleep(0.2)

    def start(self, plans: Sequence) -> list[int]:
        self.connect()
        ray = self._ray
        self._check_room(len(plans))
        dataset = None
        if plans and plans[0].payload.path and Path(plans[0].payload.path).exists():
            # shipped through the object store: no node needs the file (a missing one fails in the actor)
            dataset = ray.put(pack_dataset(plans[0].payload.path))
        actor_cls = ray.remote(num_cpus=self.worker_cpus, max_concurrency=4)(self.worker_class)
        # an origin's workers on the nodes labelled with it (scale/ray_origins.py), spread over them
        self.actors = [actor_cls.options(scheduling_strategy="SPREAD", name=None, **actor_options(plan))
                       .remote(plan, dataset) for plan in plans]
        try:
            got = ray.get([a.ready.remote() for a in self.actors], timeout=_READY_TIMEOUT)
        except ray.exceptions.GetTimeoutError:
            raise RunError(f"Ray actors did not start within {_READY_TIMEOUT:.0f} s "
                           f"(the cluster has {ray.cluster_resources().get('CPU', 0):g} CPUs for "
                           f"{len(plans)} workers)") from None
        except ray.exceptions.RayError as exc:
            raise RunError(f"a Ray load worker could not start: {str(exc).splitlines()[-1]}") from None
        self.nodes = [host for _, host, _ in got]
        self.worker_nodes = {w: node for w, (_, _, node) in enumerate(got)}   # the run directory records them
        self._start_aggregators([node for _, _, node in got])
        here = socket.gethostname()
        # a PID means something only on its own machine: 0 for an actor on another node
        return [pid if host == here else 0 for pid, host, _ in got]

    def _start_aggregators(self, node_of: list[str]) -> None:
        """One aggregator on each node that has workers, pinned there, no CPU of its own; each
        starts pulling from its workers, and the coordinator's first `take` goes out."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        ray = self._ray
        by_node: dict[str, list[int]] = {}
        for w, node in enumerate(node_of):
            by_node.setdefault(node, []).append(w)
        agg_cls = ray.remote(num_cpus=0, max_concurrency=64)(_NodeAggregator)
        self.members = list(by_node.values())
        self.aggregators = [agg_cls.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False))
                            .remote() for node in by_node]
        try:
            ray.get([agg.watch.remote([(w, self.actors[w]) for w in ws])
                     for agg, ws in zip(self.aggregators, self.members, strict=True)], timeout=_READY_TIMEOUT)
        except (ray.exceptions.RayError, ray.exceptions.GetTimeoutError) as exc:
            raise RunError(f"a Ray node aggregator could not start: {str(exc).splitlines()[-1]}") from None
        for k, agg in enumerate(self.aggregators):
            self.pending[k] = agg.take.remote(_NODE_WAIT)

    def begin(self, start_wall: float) -> None:
        ray = self._ray
        for ref in [a.begin.remote(start_wall) for a in self.actors]:
            # an actor that died since it was ready (its process killed) is not a failed run: its
            # aggregator's call fails too and reports it lost, with its share, as any loss mid-run
            with contextlib.suppress(ray.exceptions.RayActorError):
                ray.get(ref)
        self.calls = self.empty = 0

    def stop(self) -> None:
        for i, a in enumerate(self.actors):
            if i not in self.done:
                self.calls += 1
                a.stop.remote()

    def change(self, change: Any) -> None:
        """A live load change to every worker still running (`engine/steer.py`): one call each."""
        for i, a in enumerate(self.actors):
            if i not in self.done:
                self.calls += 1
                a.change.remote(change)

    def poll(self, timeout: float) -> list:
        ray = self._ray
        if not self.pending:
            time.sleep(timeout)
            return []
        by_ref = {ref: k for k, ref in self.pending.items()}
        ready, _ = ray.wait(list(by_ref), num_returns=1, timeout=timeout)
        if ready:   # whatever else is ready too, without waiting
            more, _ = ray.wait([r for r in by_ref if r not in ready], num_returns=len(by_ref) - len(ready), timeout=0)
            ready = list(ready) + list(more)
        out: list = []
        for ref in ready:
            k = by_ref[ref]
            del self.pending[k]
            try:
                batch = decode_batch(ray.get(ref))
            except ray.exceptions.RayError as exc:   # the aggregator, so its node (or its process), is gone
                for w in self.members[k]:
                    if w not in self.done:
                        self.done.add(w)
                        out.append(WorkerLost(w, f"Ray node lost (its aggregator: {type(exc).__name__})"))
                continue
            if not batch:
                self.empty += 1
            for ev in batch:
                w = ev.worker
                if w in self.done:   # given up on (`kill`), or ended already
                    continue
                out.append(ev)
                if (isinstance(ev, IntervalRecord) and ev.final) or isinstance(ev, (WorkerLost, WorkerFailed)):
                    self.done.add(w)
            if any(w not in self.done for w in self.members[k]):
                self.calls += 1
                self.pending[k] = self.aggregators[k].take.remote(_NODE_WAIT)
        return out

    def kill(self, worker: int) -> None:
        """Kill one worker's actor now (declared lost by the coordinator, or a test's lost worker);
        nothing more is read from it."""
        self.done.add(worker)
        with contextlib.suppress(Exception):   # already gone
            self._ray.kill(self.actors[worker], no_restart=True)
        for agg, ws in zip(self.aggregators, self.members, strict=True):
            if worker in ws:
                self.calls += 1
                agg.forget.remote(worker)

    def close(self) -> None:
        ray = self._ray
        try:
            if ray is None:
                return
            for a in [*self.actors, *self.aggregators]:
                with contextlib.suppress(Exception):   # already gone
                    ray.kill(a, no_restart=True)
            self.actors = []
            self.aggregators = []
            self.pending.clear()
            if self._started_ray:
                ray.shutdown()
                self._started_ray = False
            if self._quiet is not None:
                module, enabled = self._quiet
                module._worker_logs_enabled = enabled
                self._quiet = None
            self._ray = None
        finally:
            if self._log_level is not None:   # Ray's logger as it was (after its shutdown's own messages)
                logging.getLogger("ray").setLevel(self._log_level)
                self._log_level = None
            if self._env is not None and not self._started_ray:   # Ray's settings as ray.init found them
                for key in {k for k in (*os.environ, *self._env) if k.startswith("RAY_") or k == "PYTHONBREAKPOINT"}:
                    if key in self._env:
                        os.environ[key] = self._env[key]
                    else:
                        os.environ.pop(key, None)
                self._env = None
