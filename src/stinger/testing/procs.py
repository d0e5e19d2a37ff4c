"""Helpers for tests and benches that start servers: wait for one, stop one by PID."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request


def wait_http(url: str, timeout: float = 20.0) -> None:
    """Return once `url` answers over HTTP; raise the last error after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                r.read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def stop_process(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM the process we started (by its PID), SIGKILL it if it lingers."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)
    if proc.stdout is not None:
        proc.stdout.close()


def free_port() -> int:
    """A loopback port nothing listens on: bound, then released (a test's refused port)."""
    import socket

    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_announced(cmd: list[str], what: str) -> tuple[subprocess.Popen, int]:
    """Start a server that prints `port N` first (it bound port 0): the process and N; RuntimeError naming
    `what` (and what it said) when its first line is anything else, the process stopped."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    if len(line) != 2 or line[0] != "port":
        stop_process(proc)
        raise RuntimeError(f"{what} did not start (said {line!r})")
    return proc, int(line[1])
