"""moto's real threaded server on loopback, as a child process: the AWS APIs for tests.

This module owns `MotoServer`: it runs `python -m moto.server -H 127.0.0.1 -p
PORT` (werkzeug, one thread per request: a real HTTP server speaking the AWS
wire protocols, so boto3, botocore and stinger's own signed bytes all talk to it
as they would to AWS), waits for it to answer, and stops it by its PID only.
Each server is a fresh, empty AWS: tests create what they need (endpoint
configs, endpoints, metric data) and it is gone with the process.

Credentials and region for a client of the server: `client_env()` gives fake
keys (moto accepts any) so no test ever reads a developer's real ones.

A port is picked free and then bound by the child; if another process took it
in between, the child exits and we retry on a new port.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from types import TracebackType
from typing import Any

from stinger.testing.procs import free_port, stop_process

HOST = "127.0.0.1"
REGION = "us-east-1"
FAKE_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
START_TIMEOUT_S = 30.0


def client_env(region: str = REGION) -> dict[str, str]:
    """Environment variables that point botocore's credential chain at fake keys."""
    return {**FAKE_KEYS, "AWS_DEFAULT_REGION": region, "AWS_REGION": region,
            "AWS_SESSION_TOKEN": "", "AWS_EC2_METADATA_DISABLED": "true"}


class MotoServer:
    """A moto server subprocess on 127.0.0.1; a context manager.

    >>> with MotoServer() as moto:                       # doctest: +SKIP
    ...     boto3.client("cloudwatch", **moto.client_kwargs())
    """

    def __init__(self, attempts: int = 3) -> None:
        self.attempts = attempts
        self.proc: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self._log: Any = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the moto server is not running")
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def client_kwargs(self, region: str = REGION) -> dict[str, Any]:
        """Keyword arguments for `boto3.client(service, **...)` aimed at this server."""
        return {"endpoint_url": self.url, "region_name": region,
                "aws_access_key_id": FAKE_KEYS["AWS_ACCESS_KEY_ID"],
                "aws_secret_access_key": FAKE_KEYS["AWS_SECRET_ACCESS_KEY"]}

    def start(self) -> MotoServer:
        last = ""
        for _ in range(self.attempts):
            port = free_port()
            env = {**os.environ, **client_env()}
            # werkzeug logs every request to stderr: a file, never a pipe nobody drains
            log = tempfile.TemporaryFile()
            proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)],
                stdout=subprocess.DEVNULL, stderr=log, env=env,
            )
            deadline = time.monotonic() + START_TIMEOUT_S
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    log.seek(0)
                    last = log.read().decode(errors="replace")[-500:]
                    break
                if _answers(f"http://{HOST}:{port}/moto-api/"):
                    self.proc, self.port, self._log = proc, port, log
                    return self
                time.sleep(0.05)
            else:
                stop_process(proc)
                last = "did not answer in time"
            log.close()
        raise RuntimeError(f"moto server did not start: {last.strip()}")

    def reset(self) -> None:
        """Forget every resource (moto's own reset API), for a test that needs a clean AWS."""
        req = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(req, timeout=10) as reply:
            reply.read()

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
        if self._log is not None:
            self._log.close()
            self._log = None
        self.proc = None
        self.port = None

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as reply:
            reply.read()
        return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer means it is serving
    except OSError:
        return False
