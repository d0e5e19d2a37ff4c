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
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

_MAX_POINTS = 3600          # a point per snapshot (~2 a second): the last half hour is drawn
_PCTS = (50, 95, 99)
_WATCHED = 2.0              # s: a page that polled this recently is watching
_LINGER = 1.0               # s the end of a run waits for a watching page's next poll (it polls every 0.5 s)


def _ms(us: float | None) -> float | None:
    return None if us is None else round(us / 1e3, 3)


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
                if self.path in ("/", "/index.html"):
                    body = _page()
                    kind = "text/html; charset=utf-8"
                elif self.path.startswith("/state.json"):
                    body = dashboard.state_json()
                    kind = "application/json"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
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
                     name=getattr(spec, "name", None) or "")

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
                              **{f"p{q}": _ms(p.get(q)) for q in _PCTS}}
        with self._lock:
            pts = self._state["points"]
            pts.append(point)
            if len(pts) > _MAX_POINTS:
                del pts[: len(pts) - _MAX_POINTS]
            self._state.update(totals=totals, extra={k: str(x) for k, x in snapshot.extra.items()},
                               elapsed=snapshot.elapsed)

    def finish(self, result) -> None:
        summary = result.summary
        final = {}
        for name, v in (summary.get("variants") or {}).items():
            lat = v.get("latency_ms") or {}
            final[name] = {"ok": v["requests"]["ok"], "failed": v["requests"]["failed"],
                           "dropped": v["requests"]["dropped"], "error_rate": v.get("error_rate"),
                           **{f"p{q}": lat.get(f"p{q}") for q in _PCTS}}
        with self._lock:
            self._state.update(status="interrupted" if summary.get("interrupted") else "finished",
                               totals=final or self._state["totals"], run_dir=summary.get("run_dir"))
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


def _page() -> bytes:
    return resources.files("stinger.outputs").joinpath("dashboard.html").read_bytes()
