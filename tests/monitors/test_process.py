"""ProcessMonitor against real processes: a listener that spawns a CPU-burning child."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psutil
import pytest

from stinger.errors import UsageError
from stinger.monitors.base import MonitorError, MonitorRunner, Point
from stinger.monitors.process import ProcessMonitor

# The parent listens on a TCP port, hands the listening socket to a child (as
# uvicorn's master does to its workers), prints "port child_pid", and exits when
# its stdin closes. The child burns CPU (or sleeps) until its parent is gone.
SERVER = r"""
import os, socket, subprocess, sys
token, mode = sys.argv[1], sys.argv[2]
sock = socket.socket()
sock.bind(("127.0.0.1", 0))
sock.listen()
child_code = '''
import os, sys, time
parent = os.getppid()
while os.getppid() == parent:
    if sys.argv[2] == "busy":
        end = time.perf_counter() + 0.05
        while time.perf_counter() < end:
            pass
    else:
        time.sleep(0.05)
'''
child = subprocess.Popen([sys.executable, "-c", child_code, token, mode], pass_fds=(sock.fileno(),))
print(sock.getsockname()[1], child.pid, flush=True)
sys.stdin.read()
child.kill()
child.wait()
"""


@dataclass
class Server:
    proc: subprocess.Popen[str]
    port: int
    child_pid: int
    token: str


def _start(mode: str) -> Server:
    token = f"stinger-proctest-{uuid.uuid4().hex}"
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, token, mode], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    port, child_pid = map(int, proc.stdout.readline().split())
    return Server(proc, port, child_pid, token)


def _end(server: Server) -> None:
    assert server.proc.stdin is not None
    server.proc.stdin.close()
    try:
        server.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()
    try:  # the child we caused to exist: end it by its PID if it outlived its parent
        psutil.Process(server.child_pid).kill()
    except psutil.NoSuchProcess:
        pass


@pytest.fixture
def busy() -> Iterator[Server]:
    server = _start("busy")
    yield server
    _end(server)


@pytest.fixture
def idle() -> Iterator[Server]:
    server = _start("idle")
    yield server
    _end(server)


def _by_series(points: list[Point]) -> dict[str, Point]:
    return {p.series: p for p in points}


def test_finds_by_pid_port_and_cmdline_the_parent_most(idle: Server) -> None:
    by_pid = ProcessMonitor(pid=idle.proc.pid)
    by_port = ProcessMonitor(port=idle.port)  # both parent and child hold the LISTEN socket
    by_cmdline = ProcessMonitor(cmdline=idle.token)  # both command lines carry the token
    for monitor in (by_pid, by_port, by_cmdline):
        monitor.start()
        assert monitor.pids == [idle.proc.pid]
        monitor.stop()


def test_samples_cpu_memory_threads_files_and_procs(idle: Server) -> None:
    monitor = ProcessMonitor(pid=idle.proc.pid, name="ep")
    monitor.start()
    time.sleep(0.2)
    points = _by_series(monitor.sample(1.5))
    assert set(points) == {
        "ep.cpu_pct",
        "ep.cpu_machine_pct",
        "ep.rss_bytes",
        "ep.threads",
        "ep.open_files",
        "ep.procs",
    }
    assert all(p.t == 1.5 for p in points.values())
    assert points["ep.procs"].value == 2
    expected_rss = sum(psutil.Process(pid).memory_info().rss for pid in (idle.proc.pid, idle.child_pid))
    assert points["ep.rss_bytes"].value == pytest.approx(expected_rss, rel=0.2)
    assert points["ep.rss_bytes"].unit == "bytes"
    assert points["ep.threads"].value >= 2
    assert points["ep.open_files"].value >= 3  # at least the sockets and pipes
    assert 0 <= points["ep.cpu_pct"].value < 50  # both processes sleep
    cores = psutil.cpu_count() or 1
    assert points["ep.cpu_machine_pct"].value == pytest.approx(points["ep.cpu_pct"].value / cores)


def test_cpu_of_a_busy_child_shows_only_with_children(busy: Server) -> None:
    tree = ProcessMonitor(pid=busy.proc.pid, name="tree")
    alone = ProcessMonitor(pid=busy.proc.pid, name="alone", include_children=False)
    tree.start()
    alone.start()
    child = psutil.Process(busy.child_pid)
    cpu0, wall0 = sum(child.cpu_times()[:2]), time.perf_counter()
    time.sleep(1.0)
    with_children = _by_series(tree.sample(1.0))
    without = _by_series(alone.sample(1.0))
    child_pct = 100.0 * (sum(child.cpu_times()[:2]) - cpu0) / (time.perf_counter() - wall0)
    assert with_children["tree.procs"].value == 2
    assert without["alone.procs"].value == 1
    # The child spins (~100 % of a core on an idle machine; less when others load
    # it), so compare with the CPU time it really got over the same window.
    assert with_children["tree.cpu_pct"].value == pytest.approx(without["alone.cpu_pct"].value + child_pct, abs=10)
    assert with_children["tree.cpu_pct"].value > without["alone.cpu_pct"].value + 15


def test_a_child_that_appears_later_is_followed() -> None:
    script = (
        "import subprocess, sys\n"
        "sys.stdin.readline()\n"
        "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])\n"
        "print(c.pid, flush=True)\n"
        "sys.stdin.read()\n"
        "c.kill(); c.wait()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    child_pid = None
    try:
        monitor = ProcessMonitor(pid=proc.pid)
        monitor.start()
        assert _by_series(monitor.sample(1.0))["endpoint.procs"].value == 1
        proc.stdin.write("spawn\n")
        proc.stdin.flush()
        child_pid = int(proc.stdout.readline())
        assert _by_series(monitor.sample(2.0))["endpoint.procs"].value == 2
        child = psutil.Process(child_pid)
        child.kill()
        for _ in range(500):  # bounded: until it is a zombie (its parent does not reap it yet)
            if child.status() == psutil.STATUS_ZOMBIE:
                break
            time.sleep(0.02)
        assert _by_series(monitor.sample(3.0))["endpoint.procs"].value == 1
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)
        if child_pid is not None:
            try:
                psutil.Process(child_pid).kill()
            except psutil.NoSuchProcess:
                pass


def test_vanished_process_fails_the_sample_and_the_runner_warns() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    monitor = ProcessMonitor(pid=proc.pid)
    runner = MonitorRunner([monitor], t0=time.perf_counter(), interval=3600)
    runner.start()
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(timeout=10)
    with pytest.raises(MonitorError, match=f"process {proc.pid} has exited"):
        monitor.sample(1.0)
    runner.stop()  # the final sample fails too: one warning, no exception
    assert runner.warnings == [f"monitor endpoint: process {proc.pid} has exited"]


def test_missing_process_is_a_one_line_monitor_error() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=10)
    with pytest.raises(MonitorError, match=f"no process with PID {proc.pid}"):
        ProcessMonitor(pid=proc.pid).start()

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free_port = sock.getsockname()[1]  # bound but not listening
        with pytest.raises(MonitorError, match=f"no process listens on TCP port {free_port}"):
            ProcessMonitor(port=free_port).start()

    with pytest.raises(MonitorError, match="no process command line matches"):
        ProcessMonitor(cmdline=f"no-such-process-{uuid.uuid4().hex}").start()


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"pid": 1, "port": 80}, {"pid": 0}, {"port": 70000}, {"cmdline": "("}],
)
def test_bad_selectors_are_usage_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(UsageError) as info:
        ProcessMonitor(**kwargs)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)
