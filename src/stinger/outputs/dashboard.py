"""The live dashboard: a page in the browser that follows the run as it happens.

`--dashboard [PORT]` (or `outputs=[DashboardOutput(port=...)]`) serves, on
127.0.0.1 only, one self-contained page (no script or style from anywhere
else) that polls `/state.json` twice a second and draws, per variant, the
offered and achieved rate and the p50/p99 latency of each completed interval,
the counts so far (ok, failed, dropped, error rate, p50/p95/p99 of everything
so far) and the monitors' live readings (endpoint CPU, ...). A capacity search
adds a row per judged step; an A/B run its verdict at the end. When the run
ends the page says so and keeps the last state (the process exits soon after:
the report in the run directory is what stays).

It reads snapshots, never the engine (`outputs/base.py`): `interval` runs on
the output thread and only appends a small point under a lock; the HTTP
server runs on its own daemon thread. What it serves holds no secret: names,
counts and times, and the spec's name, never its URLs or headers.

Only this machine's browser reads it:
- the `Host` header must name the loopback address it listens on (127.0.0.1,
  localhost or [::1], with its port), else 403: a page elsewhere that makes its
  own name resolve to 127.0.0.1 (DNS rebinding) cannot read `/state.json`;
- the routes are exact (`/`, `/index.html`, `/state.json`; a query string is
  ignored), everything else 404;
- forked load workers do not keep the listening socket: it is closed in every
  child right after a fork (`os.register_at_fork`), so the port is free when
  the coordinator ends and no worker holds a connection it would never answer.

A lost load worker is shown as soon as the coordinator knows of it, and a run
that lost one ends "incomplete" (with the lost workers' table), never "finished".
"""

from __future__ import annotations

import json
import os
import threading
import time
import weakref
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

from stinger.core.format import ms
from stinger.core.secrets import scrub_data

_MAX_POINTS = 3600          # a point per snapshot (~2 a second): the last half hour is drawn
_PCTS = (50, 95, 99)
_WATCHED = 2.0              # s: a page that polled this recently is watching
_LINGER = 1.0               # s the end of a run waits for a watching page's next poll (it polls every 0.5 s)


_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
_ROUTES = ("/", "/index.html", "/state.json")
# what a browser may do with the page: its own inline script and style, fetches to its own origin only
_CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
        "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def host_allowed(host: str | None, port: int) -> bool:
    """Whether a request's Host header names this loopback listener (DNS rebinding sends another name)."""
    if not host:
        return False
    host = host.strip().lower()
    if host.startswith("["):   # [v6]:port
        name, _, rest = host.partition("]")
        name += "]"
        if rest and not rest.startswith(":"):
            return False
        given = rest[1:]
    else:
        name, _, given = host.partition(":")
    if name not in _LOOPBACK_NAMES:
        return False
    return given == str(port) if given else port == 80


_LISTENING: weakref.WeakSet = weakref.WeakSet()   # dashboards whose socket a forked child must not keep


def _close_listeners_in_child() -> None:
    for dashboard in list(_LISTENING):
        server = dashboard._server
        if server is not None:
            try:
                server.socket.close()    # the child's copy only: the parent keeps listening
            except OSError:
                pass


os.register_at_fork(after_in_child=_close_listeners_in_child)


class DashboardOutput:
    """A live page on http://127.0.0.1:PORT/ (PORT 0: a free one, see `url`)."""

    name = "dashboard"
    wants_intervals = True

    def __init__(self, port: int = 0, host: str = "127.0.0.1", *, announce: Any = None) -> None:
        self.host = host
        self.port = port
        self._announce = announce            # called once with the URL when the server listens
        self._lock = threading.Lock()
        self._state: dict = {"run": 0, "status": "waiting", "variants": [], "points": [], "totals": {},
                             "extra": {}, "steps": [], "verdict": None}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._last_poll = -1e9          # monotonic time of the last /state.json served
        self._state_version = 0         # bumped by `finish`
        self._served = 0                # the version the last poll saw

    # -- the server
    @property
    def url(self) -> str | None:
        if self._server is None:
            return None
        return f"http://{self.host}:{self._server.server_address[1]}/"

    def _serve(self) -> None:
        if self._server is not None:
            return
        dashboard = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:   # the http.server API names it
                address: Any = self.server.server_address   # an AF_INET listener: (host, port)
                port = int(address[1])
                if not host_allowed(self.headers.get("Host"), port):
                    self.send_error(403, "this page answers only to http://127.0.0.1:PORT/ on this machine")
                    return
                path = self.path.split("?", 1)[0]
                if path not in _ROUTES:
                    self.send_error(404)
                    return
                if path == "/state.json":
                    body = dashboard.state_json()
                    kind = "application/json"
                else:
                    body = _page()
                    kind = "text/html; charset=utf-8"
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.send_header("X-Content-Type-Options", "nosniff")
                self.send_header("Content-Security-Policy", _CSP)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:   # no access log on the terminal
                return

        try:
            self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        except OSError as exc:
            from stinger.errors import UsageError

            raise UsageError(f"--dashboard: cannot listen on {self.host}:{self.port} ({exc.strerror or exc}); "
                             f"expected a free port, or 0 for any") from None
        self._server.daemon_threads = True
        _LISTENING.add(self)
        self._thread = threading.Thread(target=self._server.serve_forever, name="stinger-dashboard", daemon=True)
        self._thread.start()
        if self._announce is not None:
            self._announce(self.url)

    def state_json(self) -> bytes:
        with self._lock:
            self._last_poll = time.monotonic()
            self._served = self._state_version
            return json.dumps(self._state, separators=(",", ":"), default=str).encode()

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- the output protocol
    def start(self, info) -> None:
        self._serve()
        spec = info.spec
        with self._lock:
            s = self._state
            s.update(run=s["run"] + 1, status="running", variants=list(info.variants), points=[], totals={},
                     extra={}, duration=info.duration, total=info.total, mode=info.mode,
                     name=getattr(spec, "name", None) or "", lost=[], lost_workers=[])

    def interval(self, snapshot) -> None:
        point: dict[str, Any] = {"t": round(snapshot.elapsed, 3), "v": {}}
        totals = {}
        for v in snapshot.variants:
            point["v"][v.name] = {"offered": v.last_offered_rps, "achieved": v.last_achieved_rps,
                                  "p50": v.last_p50_ms, "p99": v.last_p99_ms, "failed": v.last_failed}
            h = v.latency
            p = h.percentiles(_PCTS) if h.total_count else {}
            ended = v.ok + v.failed + v.dropped
            totals[v.name] = {"ok": v.ok, "failed": v.failed, "dropped": v.dropped,
                              "error_rate": round((v.failed + v.dropped) / ended, 6) if ended else 0.0,
                              **{f"p{q}": ms(p.get(q)) for q in _PCTS}}
        with self._lock:
            pts = self._state["points"]
            pts.append(point)
            if len(pts) > _MAX_POINTS:
                del pts[: len(pts) - _MAX_POINTS]
            self._state.update(totals=totals, extra={k: str(x) for k, x in snapshot.extra.items()},
                               elapsed=snapshot.elapsed, lost=list(getattr(snapshot, "lost_workers", ())))

    def finish(self, result) -> None:
        summary = result.summary
        final = {}
        for name, v in (summary.get("variants") or {}).items():
            lat = v.get("latency_ms") or {}
            final[name] = {"ok": v["requests"]["ok"], "failed": v["requests"]["failed"],
                           "dropped": v["requests"]["dropped"], "error_rate": v.get("error_rate"),
                           **{f"p{q}": lat.get(f"p{q}") for q in _PCTS}}
        lost = scrub_data(list(summary.get("lost_workers") or []))
        with self._lock:
            self._state.update(status=end_status(summary), totals=final or self._state["totals"],
                               run_dir=summary.get("run_dir"), lost_workers=lost,
                               lost=[w.get("worker") for w in lost if isinstance(w, dict)] or self._state["lost"])
            self._state_version += 1
            version, watched = self._state_version, time.monotonic() - self._last_poll < _WATCHED
        # someone is watching: let their next poll see the end before this process exits
        deadline = time.monotonic() + _LINGER
        while watched and self._served < version and time.monotonic() < deadline:
            time.sleep(0.02)

    # -- optional abilities
    def capacity_step(self, row: dict) -> None:
        keep = {k: row.get(k) for k in ("step", "target", "achieved_rps", "p50_ms", "p95_ms", "p99_ms", "error_rate",
                                         "client_bound", "inconclusive")}
        keep["failed"] = list(row.get("failed") or [])
        with self._lock:
            self._state["steps"].append(keep)

    def verdict(self, verdict, extra: dict, run_dir=None) -> None:
        with self._lock:
            self._state["verdict"] = {"sentence": getattr(verdict, "sentence", str(verdict)),
                                      "significant": bool(getattr(verdict, "significant", False)),
                                      "table": verdict.to_markdown() if hasattr(verdict, "to_markdown") else ""}


def end_status(summary: dict) -> str:
    """How a run ended, as the page says it: only a run that sent its whole schedule "finished"."""
    if summary.get("interrupted"):
        return "interrupted"
    if summary.get("aborted"):
        return "aborted"
    if summary.get("incomplete") or summary.get("lost_workers"):
        return "incomplete"
    return "finished"


def _page() -> bytes:
    return resources.files("stinger.outputs").joinpath("dashboard.html").read_bytes()
