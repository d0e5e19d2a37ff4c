"""nginx as a weighted load balancer on loopback, over upstreams the caller started (ground truth for
per-backend rows: `--served-by-header`).

`Balancer([(url, weight), ...])` writes its own nginx.conf, pid file, logs and temp folders in a
private directory, starts `nginx -g 'daemon off;'` as a child process listening on 127.0.0.1 only,
and ends it by that PID (SIGQUIT: a graceful stop, then SIGKILL). nginx's weighted round robin is
smooth and deterministic: with weights 1:1:2 every four requests go a, c, b, c (in some order), so
the shares a client sees are 25/25/50 % up to the requests in flight at the ends of a run.
Keep-alive connections to the upstreams (`keepalive`) keep the balancer from opening a connection
per request (the loopback's ephemeral ports would run out at thousands of requests a second).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
HOST = "127.0.0.1"


def available() -> bool:
    return os.access(NGINX, os.X_OK)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def config(upstreams: list[tuple[str, int]], port: int, prefix: Path) -> str:
    """nginx.conf for a balancer on 127.0.0.1:`port` over `upstreams` ("http://127.0.0.1:P", weight)."""
    servers = []
    for url, weight in upstreams:
        u = urlsplit(url)
        if u.hostname not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError(f"upstream {url!r} is not on loopback; the test balancer proxies to 127.0.0.1 only")
        servers.append(f"    server {u.hostname}:{u.port} weight={int(weight)} max_fails=0;")
    upstream_lines = "\n".join(servers)
    return f"""worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {prefix}/client_body;
  proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fastcgi;
  uwsgi_temp_path {prefix}/uwsgi;
  scgi_temp_path {prefix}/scgi;
  keepalive_requests 1000000;
  upstream backends {{
{upstream_lines}
    keepalive 64;
  }}
  server {{
    listen {HOST}:{port} backlog=4096;
    location / {{
      proxy_pass http://backends;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }}
  }}
}}
"""


class Balancer:
    """``with Balancer([(a.url, 1), (b.url, 1), (c.url, 2)]) as lb: ... lb.url ...``"""

    def __init__(self, upstreams: list[tuple[str, int]], startup_timeout: float = 10.0) -> None:
        self.upstreams = list(upstreams)
        self.startup_timeout = startup_timeout
        self.dir: Path | None = None
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the balancer is not started")
        return f"http://{HOST}:{self.port}"

    def start(self) -> Balancer:
        self.dir = Path(tempfile.mkdtemp(prefix="stinger-nginx-"))
        self.dir.chmod(0o755)   # nginx's workers may run as another user; they only read here
        self.port = _free_port()
        conf = self.dir / "nginx.conf"
        conf.write_text(config(self.upstreams, self.port, self.dir))
        self.proc = subprocess.Popen([NGINX, "-p", str(self.dir), "-e", str(self.dir / "error.log"),
                                      "-c", str(conf), "-g", "daemon off;"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise RuntimeError(f"nginx exited with {self.proc.returncode}: {err.strip()[-400:]}")
            try:
                with socket.create_connection((HOST, self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nginx did not listen on {HOST}:{self.port} within {self.startup_timeout} s")

    def stop(self, timeout: float = 10.0) -> None:
        """End nginx by its PID (the master; its worker goes with it), then remove its directory."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGQUIT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout)
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> Balancer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
