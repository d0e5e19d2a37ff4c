"""The demo server as a child process: start it, find its port, wait, stop it.

This module owns ``DemoServer``, the handle ``stinger demo`` and the tests use.
It runs ``python -m stinger.demo.server`` in a subprocess (so the server has its
own cores and GIL, as a real endpoint would), reads the announced URL from the
child's stdout, waits for ``/ping`` to answer 200 and, on stop, signals only the
processes it started, by PID: SIGTERM first, SIGKILL if they linger.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import psutil

from stinger.demo.server import ANNOUNCE_PREFIX, DemoConfig
from stinger.errors import RunError

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
LOG_TAIL_LINES = 20


class DemoServer:
    """A demo server subprocess on loopback; a context manager.

    >>> with DemoServer(variants=["fast", "accurate"]) as server:
    ...     server.invocations_url("accurate")  # doctest: +SKIP
    'http://127.0.0.1:41235/variants/accurate/invocations'
    """

    def __init__(
        self,
        port: int = 0,
        workers: int = 1,
        variants: Sequence[str] | None = None,
        delay_ms: float = 0.0,
        jitter_ms: float = 0.0,
        error_rate: float = 0.0,
        seed: int = 0,
        extra_args: Sequence[str] = (),
    ) -> None:
        # Validate here, so a mistake is a UsageError in the caller, not a dead child.
        defaults = DemoConfig()
        self.config = DemoConfig(
            port=port, workers=workers,
            variants=defaults.variants if variants is None else tuple(variants),
            delay_ms=delay_ms, jitter_ms=jitter_ms, error_rate=error_rate, seed=seed,
        )  # fmt: skip
        self.extra_args = tuple(extra_args)
        self._proc: subprocess.Popen[str] | None = None
        self._url: str | None = None
        self._log_dir: tempfile.TemporaryDirectory[str] | None = None
        self._announced = threading.Event()
        self._reader: threading.Thread | None = None

    # -- addresses -------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:41235``."""
        if self._url is None:
            raise RunError("the demo server is not running; call start() first")
        return self._url

    def invocations_url(self, variant: str | None = None) -> str:
        """``/invocations`` (default variant) or ``/variants/{variant}/invocations``."""
        if variant is None:
            return f"{self.url}/invocations"
        return f"{self.url}/variants/{variant}/invocations"

    @property
    def ping_url(self) -> str:
        return f"{self.url}/ping"

    @property
    def metrics_url(self) -> str:
        return f"{self.url}/metrics"

    @property
    def pid(self) -> int:
        """The PID of the server process (the supervisor when ``workers > 1``)."""
        if self._proc is None:
            raise RunError("the demo server is not running; call start() first")
        return self._proc.pid

    @property
    def log_path(self) -> Path | None:
        """The server's stderr log (its own log lines), while the handle lives."""
        return None if self._log_dir is None else Path(self._log_dir.name, "server.log")

    # -- lifecycle -------------------------------------------------------------

    def command(self) -> list[str]:
        config = self.config
        return [
            sys.executable, "-m", "stinger.demo.server",
            "--host", config.host, "--port", str(config.port),
            "--workers", str(config.workers), "--variants", ",".join(config.variants),
            "--delay-ms", repr(config.delay_ms), "--jitter-ms", repr(config.jitter_ms),
            "--error-rate", repr(config.error_rate), "--seed", str(config.seed),
            *self.extra_args,
        ]  # fmt: skip

    def start(self, timeout: float = START_TIMEOUT_S) -> DemoServer:
        """Launch the server and return once ``/ping`` answers 200."""
        if self._proc is not None:
            raise RunError("the demo server is already started")
        self._log_dir = tempfile.TemporaryDirectory(prefix="stinger-demo-log-")
        assert self.log_path is not None
        with self.log_path.open("w") as log:
            self._proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                bufsize=1,
            )
        self._reader = threading.Thread(
            target=self._read_stdout, name="stinger-demo-stdout", daemon=True
        )
        self._reader.start()
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _read_stdout(self) -> None:
        # Find the announced URL, then keep draining so the child never blocks on
        # a full pipe; anything else it prints goes to the log.
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            if not self._announced.is_set() and line.startswith(ANNOUNCE_PREFIX):
                self._url = line[len(ANNOUNCE_PREFIX) :].strip()
                self._announced.set()
            elif self.log_path is not None:
                try:
                    with self.log_path.open("a") as log:
                        log.write(line)
                except OSError:
                    pass  # the log directory is gone: the server is being stopped

    def _wait_ready(self, timeout: float) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RunError(
                    f"the demo server exited with code {self._proc.returncode} while "
                    f"starting:\n{self._log_tail()}"
                )
            if self._announced.wait(0.05) and self._ping():
                return
        raise RunError(
            f"the demo server was not ready within {timeout:g} s:\n{self._log_tail()}"
        )

    def _ping(self) -> bool:
        try:
            with urllib.request.urlopen(self.ping_url, timeout=2.0) as reply:
                return reply.status == 200
        except urllib.error.HTTPError as exc:
            if exc.code == 500:  # training failed: waiting longer will not help
                raise RunError(f"the demo server failed to start:\n{self._log_tail()}") from None
            time.sleep(0.05)
            return False
        except (urllib.error.URLError, OSError):
            time.sleep(0.05)
            return False

    def _log_tail(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(no server log)"
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-LOG_TAIL_LINES:]) or "(empty server log)"

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM the server (its own PID), wait, SIGKILL what is left. Idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None:
            # The workers and multiprocessing helpers are ours too (started by our
            # child); remember their PIDs now, while the tree is still linked.
            descendants = _descendants(proc.pid)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait(timeout)
            _end(descendants, timeout)
            # Every writer of the pipe is gone, so the reader sees EOF and ends.
            if self._reader is not None:
                self._reader.join(timeout)
                self._reader = None
            if proc.stdout is not None:
                proc.stdout.close()
        self._url = None
        self._announced.clear()
        if self._log_dir is not None:
            self._log_dir.cleanup()
            self._log_dir = None

    def __enter__(self) -> DemoServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def _end(processes: list[psutil.Process], timeout: float) -> None:
    """Terminate, then kill, the given processes that are still alive."""
    alive = [p for p in processes if p.is_running()]
    if not alive:
        return
    _, alive = psutil.wait_procs(alive, timeout=min(timeout, 2.0))
    for proc in alive:
        try:
            proc.terminate()
        except psutil.Error:
            continue
    _, alive = psutil.wait_procs(alive, timeout=timeout)
    for proc in alive:
        try:
            proc.kill()
        except psutil.Error:
            continue
    psutil.wait_procs(alive, timeout=timeout)
