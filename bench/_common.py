"""What both benches share: CPU pinning, measured child runs, a private nginx, stinger runs.

Generator CPU is `getrusage(RUSAGE_CHILDREN)` before and after one
`subprocess.run`: it counts the child and every descendant the child waited
for (stinger's forked workers are joined by the stinger process, so their CPU
rolls up into it). `check_rusage_counts_grandchildren()` proves that on this
machine before any figure is trusted.

Every process started here is stopped here, by its own PID.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
BENCH_DIR = Path(__file__).resolve().parent


# ------------------------------------------------------------------ cores
@dataclass(frozen=True)
class Cores:
    generator: int | None   # core every generator is pinned to (None: not pinned)
    server: int | None      # core the target server is pinned to
    note: str


def pick_cores() -> Cores:
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return Cores(None, None, "no CPU affinity on this OS: nothing pinned")
    if len(allowed) >= 2:
        return Cores(allowed[0], allowed[1], f"generators on core {allowed[0]}, server on core {allowed[1]}")
    return Cores(allowed[0], None, f"one core ({allowed[0]}): generator and server share it")


def pinned(core: int | None):
    """A preexec_fn that pins the child (and everything it forks) to one core."""
    if core is None:
        return None

    def pin() -> None:
        os.sched_setaffinity(0, {core})

    return pin


# ------------------------------------------------------------------ the VM's idle polling
HALT_POLL = Path("/sys/module/haltpoll/parameters/guest_halt_poll_ns")
IDLE_DRIVER = Path("/sys/devices/system/cpu/cpuidle/current_driver")


def idle_note() -> dict:
    """How this machine's idle CPUs wake: the cpuidle driver and, under KVM's haltpoll, how long an idle
    vCPU polls before it halts (0: it halts at once, and a wake-up costs an exit to the host)."""
    out: dict = {}
    for key, path in (("cpuidle_driver", IDLE_DRIVER), ("guest_halt_poll_ns", HALT_POLL)):
        try:
            out[key] = path.read_text().strip()
        except OSError:
            out[key] = None
    return out


@contextmanager
def halt_poll(ns: int | None):
    """Set the guest's halt-poll time for the duration of the block (root only) and put the old value
    back after, even on error. None changes nothing."""
    if ns is None:
        yield
        return
    try:
        old = HALT_POLL.read_text().strip()
        HALT_POLL.write_text(str(int(ns)))
    except OSError as e:
        raise SystemExit(f"cannot set {HALT_POLL} to {ns} ({e.strerror or e}): needs root on a KVM guest "
                         "with the haltpoll cpuidle driver") from None
    try:
        yield
    finally:
        HALT_POLL.write_text(old)


# ------------------------------------------------------------------ measured runs
@dataclass
class Measured:
    cmd: list[str]
    returncode: int | None
    wall_s: float
    user_s: float         # user CPU of the child and its waited-for descendants
    sys_s: float          # system CPU, likewise
    stdout: str
    stderr: str
    timed_out: bool = False

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s


def _children_cpu() -> tuple[float, float]:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime, r.ru_stime


def measure(cmd: list[str], *, core: int | None, timeout: float, env: dict | None = None,
            cwd: str | None = None) -> Measured:
    """Run `cmd` pinned to `core`; wall time and CPU time of its whole (waited-for) tree."""
    before = _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            text=True, preexec_fn=pinned(core), env=env, cwd=cwd)
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        proc.send_signal(signal.SIGINT)  # our own child, by its PID
        try:
            out, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    wall = time.perf_counter() - t0
    after = _children_cpu()
    return Measured(cmd, proc.returncode, wall, after[0] - before[0], after[1] - before[1], out, err, timed_out)


_BURN = """
import os, time
pid = os.fork()
if pid == 0:
    end = time.process_time() + 0.3
    while time.process_time() < end:
        pass
    os._exit(0)
os.waitpid(pid, 0)
"""


def check_rusage_counts_grandchildren() -> float:
    """CPU seen for a child whose own child burns 0.3 s; raises if it is not counted."""
    m = measure([sys.executable, "-c", _BURN], core=None, timeout=30)
    if m.cpu_s < 0.25:
        raise SystemExit(f"getrusage(RUSAGE_CHILDREN) missed a grandchild's CPU ({m.cpu_s:.3f} s < 0.3 s): "
                         "CPU figures would be wrong on this machine")
    return m.cpu_s


# ------------------------------------------------------------------ helpers
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def tool(name: str) -> str | None:
    """An executable: the one beside this Python first (no pyenv shim in the measured CPU), else PATH."""
    here = Path(sys.executable).parent / name
    if here.exists() and os.access(here, os.X_OK):
        return str(here)
    for d in ("/usr/sbin", "/usr/local/sbin"):
        p = Path(d) / name
        if p.exists() and os.access(p, os.X_OK):
            return str(p)
    return shutil.which(name)


def stop_pid(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
    """Stop one process we started, by its PID; SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    try:
        os.kill(proc.pid, sig)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)
    except ProcessLookupError:
        pass


# ------------------------------------------------------------------ targets
_NGINX_CONF = """\
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
daemon off;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    keepalive_requests 1000000000;
    keepalive_timeout 300s;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen {host}:{port} backlog=4096;
        location / {{
            default_type text/plain;
            return 200 "hello, stinger\\n";
        }}
    }}
}}
"""


@dataclass
class Target:
    kind: str                 # "nginx" or "stinger reference server"
    url: str
    proc: subprocess.Popen
    tmpdir: str
    note: str = ""
    extra: dict = field(default_factory=dict)

    def stop(self) -> None:
        stop_pid(self.proc, signal.SIGTERM)
        shutil.rmtree(self.tmpdir, ignore_errors=True)


def start_target(core: int | None) -> Target:
    """Our own nginx on a free port (1 worker, no access log), else stinger's fastest reference server."""
    nginx = tool("nginx")
    tmp = tempfile.mkdtemp(prefix="stinger-bench-")
    if nginx:
        for _ in range(3):
            port = free_port()
            conf = Path(tmp) / "nginx.conf"
            conf.write_text(_NGINX_CONF.format(d=tmp, host=HOST, port=port))
            proc = subprocess.Popen([nginx, "-c", str(conf), "-p", tmp], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, preexec_fn=pinned(core))
            if wait_port(port, 5.0) and proc.poll() is None:
                return Target("nginx", f"http://{HOST}:{port}/", proc, tmp)
            stop_pid(proc)
        note = "nginx did not start; "
    else:
        note = "nginx not installed; "
    # fallback: the uvloop + httptools reference server answering at once
    proc = subprocess.Popen([sys.executable, "-m", "stinger.testing.servers", "delay", "--port", "0",
                             "--delay-ms", "0", "--parent-pid", str(os.getpid())],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                            text=True, preexec_fn=pinned(core))
    line = proc.stdout.readline() if proc.stdout else ""
    if "listening on http://" not in line:
        stop_pid(proc)
        raise SystemExit("no target server: neither nginx nor stinger.testing.servers started")
    port = int(line.strip().rsplit(":", 1)[1])
    wait_port(port)
    return Target("stinger reference server (delay 0 ms)", f"http://{HOST}:{port}/", proc, tmp,
                  note=note + "using stinger.testing.servers delay 0 ms")


# ------------------------------------------------------------------ stinger
def stinger_cmd() -> list[str]:
    exe = tool("stinger")
    if exe and not Path(exe).read_bytes()[:64].startswith(b"#!/usr/bin/env bash"):
        return [exe]
    return [sys.executable, "-c", "import sys; from stinger.cli import main; sys.argv[0] = 'stinger'; sys.exit(main())"]


_CONFIRM: dict[str | None, list[str]] = {}


def confirm_flag() -> list[str]:
    """`--yes` when this tree's stinger has safety ceilings (a peak run offers more than
    100,000 req/s on purpose), nothing for an older tree (`trees.py` runs both)."""
    key = os.environ.get("PYTHONPATH")
    if key not in _CONFIRM:
        out = subprocess.run(stinger_cmd() + ["run", "--help"], capture_output=True, text=True, timeout=60).stdout
        _CONFIRM[key] = ["--yes"] if "--yes" in out else []
    return _CONFIRM[key]


def run_stinger(url: str, *, rate: float, duration: float, core: int | None, out_dir: Path,
                max_in_flight: int = 256, on_limit: str = "queue", drain: float = 1.0,
                extra: list[str] | None = None,
                name: str = "bench") -> tuple[Measured, dict | None]:
    """One `stinger run` (open model, histograms on): the measured process and its summary.json."""
    out_dir.mkdir(parents=True, exist_ok=True)
    before = set(out_dir.iterdir())
    cmd = stinger_cmd() + ["run", "--url", url, "--rate", f"{rate:g}", "--duration", f"{duration:g}s",
                           "--workers", "1", "--max-in-flight", str(max_in_flight), "--on-limit", on_limit,
                           "--drain", f"{drain:g}s", "--no-server-time", "--quiet", "--out", str(out_dir),
                           "--name", name] + (extra or []) + (confirm_flag() if rate > 100_000 else [])
    m = measure(cmd, core=core, timeout=duration + drain + 120)
    new = sorted(set(out_dir.iterdir()) - before)
    summary = None
    for d in new:
        p = d / "summary.json"
        if p.exists():
            summary = json.loads(p.read_text())
    return m, summary


def fmt(x: float | None, nd: int = 0) -> str:
    if x is None:
        return "-"
    if isinstance(x, float) and x != x:
        return "nan"
    return f"{x:,.{nd}f}"


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths)))
    out = [line, "-" * len(line)]
    for r in rows:
        out.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    return "\n".join(out)


# ------------------------------------------------------------------ process trees (Linux /proc)
def children(pid: int) -> list[int]:
    """The direct children of a process, from /proc (empty when it is gone)."""
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def process_tree(pid: int) -> list[int]:
    """A process and all its descendants."""
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += children(p)
    return seen


def rss_kib(pids: list[int]) -> int:
    """The summed resident set of these processes, KiB (the ones gone count 0)."""
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total
