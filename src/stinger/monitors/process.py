"""Resource consumption of a local endpoint process (and its children), via psutil.

`ProcessMonitor` finds the endpoint by exactly one of: a PID, the TCP port it
listens on, or a regular expression on its command line. Several processes can
match (uvicorn's or gunicorn's master and its workers all hold the listening
socket); the *parent-most* ones are kept and, with `include_children`, their
whole process tree is measured, re-listed at every sample so that workers that
appear or disappear are followed.

Series (prefix = `name`, default `endpoint`):

    endpoint.cpu_pct          CPU time per wall time, % of one core (may exceed 100)
    endpoint.cpu_machine_pct  the same as % of all logical cores
    endpoint.rss_bytes        resident set size, summed (shared pages of forked
                              workers are counted once per process, as `ps` does)
    endpoint.threads          threads, summed
    endpoint.open_files       open file descriptors (handles on Windows), summed
    endpoint.procs            processes measured

CPU comes from `cpu_times()` deltas between samples, per process: a process
seen for the first time counts the CPU it used since it was created if that was
after the previous sample (a new worker), else from now on. A child that exits
between two samples loses its last partial interval - the price of not double
counting reaped children through the parent's `children_user` time.
"""

from __future__ import annotations

import os
import re
import time
from typing import ClassVar, Literal

import psutil
from pydantic import Field, field_validator, model_validator

from stinger.core.series import Role, SeriesInfo
from stinger.monitors.base import MonitorConfig, MonitorConfigError, MonitorError, Point

__all__ = ["ProcessMonitor", "find_by_cmdline", "find_by_port", "parent_most"]


def _cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


def _measure(proc: psutil.Process) -> tuple[float, int, int, int, float] | None:
    """(cpu seconds, rss, threads, fds, create time) of a live process, else None."""
    try:
        with proc.oneshot():
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
            fds = proc.num_fds() if hasattr(proc, "num_fds") else proc.num_handles()  # type: ignore[attr-defined]  # Windows
            return _cpu_seconds(proc), proc.memory_info().rss, proc.num_threads(), fds, proc.create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):  # ZombieProcess is a NoSuchProcess
        return None


def parent_most(procs: list[psutil.Process]) -> list[psutil.Process]:
    """The processes none of whose ancestors is also in `procs`, by ascending PID."""
    pids = {p.pid for p in procs}
    roots = []
    for proc in procs:
        try:
            ancestors = {a.pid for a in proc.parents()}
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            ancestors = set()
        if not ancestors & pids:
            roots.append(proc)
    return sorted(roots, key=lambda p: p.pid)


def find_by_port(port: int) -> list[psutil.Process]:
    """Parent-most processes with a TCP socket LISTENing on `port` (any address)."""
    try:
        conns = psutil.net_connections(kind="tcp")
    except psutil.AccessDenied as exc:  # macOS needs root for the system-wide table
        raise MonitorError(f"cannot list TCP sockets to find port {port} ({exc}); pass the PID instead") from exc
    listening = [c for c in conns if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port]
    if not listening:
        raise MonitorError(f"no process listens on TCP port {port}")
    pids = sorted({c.pid for c in listening if c.pid is not None})
    if not pids:
        raise MonitorError(
            f"TCP port {port} is held by a process this user cannot see (another user's?); pass the PID instead"
        )
    procs = []
    for pid in pids:
        try:
            procs.append(_climb(psutil.Process(pid), port))
        except psutil.NoSuchProcess:
            continue
    if not procs:
        raise MonitorError(f"the process listening on TCP port {port} has exited")
    return parent_most(procs)


def _listens_on(proc: psutil.Process, port: int) -> bool:
    # psutil >= 6 calls it net_connections; 5.9 only has connections.
    method = getattr(proc, "net_connections", None) or proc.connections
    try:
        conns = method(kind="tcp")
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    return any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port for c in conns)


def _climb(proc: psutil.Process, port: int) -> psutil.Process:
    """The highest ancestor of `proc` that holds the same listening socket.

    psutil's system-wide table names one PID per socket, and a socket shared by
    a master and its forked workers may be attributed to any of them.
    """
    while True:
        try:
            parent = proc.parent()
        except psutil.NoSuchProcess:
            return proc
        if parent is None or parent.pid <= 1 or not _listens_on(parent, port):
            return proc
        proc = parent


def find_by_cmdline(pattern: re.Pattern[str]) -> list[psutil.Process]:
    """Parent-most processes whose command line (joined by spaces) matches `pattern`.

    This process and its ancestors are never matched: the pattern is usually on
    our own command line too.
    """
    own = {os.getpid()} | {p.pid for p in psutil.Process().parents()}
    matches = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if proc.pid in own:
            continue
        cmdline = proc.info.get("cmdline")
        if cmdline and pattern.search(" ".join(cmdline)):
            matches.append(proc)
    if not matches:
        raise MonitorError(f"no process command line matches /{pattern.pattern}/")
    roots = parent_most(matches)
    if len(roots) > 1:
        shown = ", ".join(str(p.pid) for p in roots[:5])
        raise MonitorError(
            f"/{pattern.pattern}/ matches {len(roots)} unrelated processes (PIDs {shown}); "
            "use a narrower pattern or the PID"
        )
    return roots


class ProcessConfig(MonitorConfig):
    """``{type: process, pid | port | cmdline, name, include_children}``: exactly one selector."""

    type: Literal["process"] = "process"
    name: str = "endpoint"
    pid: int | None = Field(default=None, gt=0)
    port: int | None = Field(default=None, gt=0, lt=65536)
    cmdline: str | None = None
    include_children: bool = True

    @field_validator("cmdline")
    @classmethod
    def _pattern(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"invalid regular expression ({exc})") from None
        return v

    @model_validator(mode="after")
    def _one_selector(self) -> ProcessConfig:
        given = [k for k in ("pid", "port", "cmdline") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"a process monitor needs exactly one of pid, port or cmdline (got {', '.join(given) or 'none'})")
        return self


class ProcessMonitor:
    """CPU, memory, threads and file descriptors of a local endpoint process tree."""

    Config = ProcessConfig
    # what its series measure (`monitors.base.DeclaresSeries`), by the part after "<name>."
    ROLES: ClassVar[dict[str, SeriesInfo]] = {"cpu_pct": SeriesInfo(Role.CPU, "%", "CPU (% of a core)"),
             "cpu_machine_pct": SeriesInfo(Role.CPU_MACHINE, "%", "CPU (% of the machine)"),
             "rss_bytes": SeriesInfo(Role.MEMORY, "bytes", "resident memory")}

    def series_info(self, series: str) -> SeriesInfo | None:
        name, _, metric = series.partition(".")
        return self.ROLES.get(metric) if name == self.name else None

    def __init__(
        self,
        pid: int | None = None,
        port: int | None = None,
        cmdline: str | None = None,
        *,
        name: str = "endpoint",
        include_children: bool = True,
    ) -> None:
        given = [k for k, v in (("pid", pid), ("port", port), ("cmdline", cmdline)) if v is not None]
        if len(given) != 1:
            raise MonitorConfigError(
                f"process monitor needs exactly one of pid, port or cmdline (got {', '.join(given) or 'none'})"
            )
        if pid is not None and pid <= 0:
            raise MonitorConfigError(f"process monitor: pid must be positive, got {pid}")
        if port is not None and not 0 < port < 65536:
            raise MonitorConfigError(f"process monitor: port must be 1-65535, got {port}")
        self._pattern: re.Pattern[str] | None = None
        if cmdline is not None:
            try:
                self._pattern = re.compile(cmdline)
            except re.error as exc:
                raise MonitorConfigError(f"process monitor: invalid cmdline pattern {cmdline!r}: {exc}") from None
        self.name = name
        self.pid = pid
        self.port = port
        self.include_children = include_children
        self.roots: list[psutil.Process] = []
        self._cores = psutil.cpu_count(logical=True) or 1
        self._cpu: dict[int, float] = {}  # pid -> cpu seconds at the last sample
        self._procs: dict[int, psutil.Process] = {}  # keeps identity across samples (PID reuse)
        self._last_wall = 0.0
        self._last_epoch = 0.0

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.roots]

    def _find(self) -> list[psutil.Process]:
        if self.pid is not None:
            try:
                return [psutil.Process(self.pid)]
            except psutil.NoSuchProcess:
                raise MonitorError(f"no process with PID {self.pid}") from None
        if self.port is not None:
            return find_by_port(self.port)
        assert self._pattern is not None
        return find_by_cmdline(self._pattern)

    def _tree(self) -> list[psutil.Process]:
        """The processes to measure now; MonitorError if a root is gone."""
        procs: list[psutil.Process] = []
        for root in self.roots:
            try:
                gone = not root.is_running() or root.status() == psutil.STATUS_ZOMBIE
            except psutil.NoSuchProcess:
                gone = True
            if gone:
                raise MonitorError(f"process {root.pid} has exited")
            procs.append(self._procs.setdefault(root.pid, root))
            if self.include_children:
                try:
                    children = root.children(recursive=True)
                except psutil.NoSuchProcess:
                    raise MonitorError(f"process {root.pid} has exited") from None
                for child in children:
                    known = self._procs.get(child.pid)
                    # A PID seen before but now a different process (reuse): replace it.
                    if known is None or not known.is_running():
                        self._procs[child.pid] = child
                        self._cpu.pop(child.pid, None)
                        known = child
                    procs.append(known)
        return procs

    def start(self) -> None:
        self.roots = self._find()
        try:
            for root in self.roots:
                root.cpu_times()  # AccessDenied shows up here, before the run
        except psutil.AccessDenied:
            raise MonitorError(f"no permission to read process {root.pid}") from None
        except psutil.NoSuchProcess:
            raise MonitorError(f"process {root.pid} has exited") from None
        self._last_wall = time.perf_counter()
        self._last_epoch = time.time()
        self._cpu = {}
        for proc in self._tree():
            try:
                self._cpu[proc.pid] = _cpu_seconds(proc)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue

    def sample(self, t: float) -> list[Point]:
        procs = self._tree()
        now = time.perf_counter()
        epoch = time.time()
        elapsed = now - self._last_wall
        cpu_delta = rss = 0.0
        threads = fds = count = 0
        seen: dict[int, float] = {}
        for proc in procs:
            measured = _measure(proc)
            if measured is None:
                continue  # exited (or a zombie) since it was listed, or not ours to read
            cpu, mem, nthreads, nfds, created = measured
            before = self._cpu.get(proc.pid)
            if before is None:
                before = 0.0 if created >= self._last_epoch else cpu
            cpu_delta += max(0.0, cpu - before)
            seen[proc.pid] = cpu
            rss += mem
            threads += nthreads
            fds += nfds
            count += 1
        if count == 0:
            raise MonitorError(f"process {', '.join(map(str, self.pids))} has exited")
        self._cpu = seen
        self._procs = {pid: p for pid, p in self._procs.items() if pid in seen}
        self._last_wall, self._last_epoch = now, epoch
        core_pct = 100.0 * cpu_delta / elapsed if elapsed > 0 else 0.0
        n = self.name
        return [
            Point(t, f"{n}.cpu_pct", core_pct, "%"),
            Point(t, f"{n}.cpu_machine_pct", core_pct / self._cores, "%"),
            Point(t, f"{n}.rss_bytes", rss, "bytes"),
            Point(t, f"{n}.threads", float(threads)),
            Point(t, f"{n}.open_files", float(fds)),
            Point(t, f"{n}.procs", float(count)),
        ]

    def stop(self) -> None:
        self._procs.clear()
        self._cpu.clear()
