"""The live dashboard: a page in the browser that follows the run as it happens.

`--dashboard [PORT]` (or `outputs=[DashboardOutput(port=...)]`) serves, on
127.0.0.1 only, one self-contained page (no script or style from anywhere
else) that polls `/state.json` twice a second and draws, per variant, the
offered and achieved rate and the p50/p99 latency of each completed interval,
the counts so far (ok, failed, dropped, error rate, p50/p95/p99 of everything
so far) and the monitors' live readings (endpoint CPU, ...). The warm-up is drawn
as warm-up (a shaded band, its requests' rate dotted: they were sent, but left out
of every statistic), each SLO live (its value so far: pass, fail, or cannot tell
yet), goodput when objectives were given, the load-change events of the run as
vertical markers, and the legends name each variant's model where the target
has one. A capacity search adds a row per judged step. At the end: how the run
ended (finished, stopped, terminated, aborted, incomplete: `end`, with the
reason and the exit code), the summary's SLO results, its breakdown rows (every
group it carries, by name: per backend, per URL, per origin, ...; the same rows are
shown so far while the run goes on, `outputs/live_breakdown.py`) and, for an
A/B test, the verdict (its sentence and its rows with their intervals).

The end of the process is part of the page's state: `final` turns true when
nothing more will come (at the interpreter's exit), and a page watching then
gets one more poll to see it before the process exits (`_LINGER`, or `linger` (`--dashboard-linger`)
seconds given to the output); a page that saw `final` stops polling, so the
server going away is no error in the browser. A page that loses its server
before (the process was killed) says the run ended and stops polling.

It reads snapshots, never the engine (`outputs/base.py`): `interval` runs on
the output thread and appends a small point under a lock (and, while a page
polls, builds the breakdown rows so far from the snapshot's view); the HTTP
server runs on its own daemon thread. What it serves holds no secret: names,
counts and times, and the spec's name, never its headers; a URL only as the
label of a per-URL row, as summary.json shows it (no userinfo, secret-looking
query values masked, `core.secrets.redact_url`, then scrubbed).

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

/state.json (fields are only ever added, never renamed: `stinger ui` and scripts read it):
    run, status (waiting|running|finished|interrupted|aborted|incomplete), name, mode, duration,
    total, elapsed, variants, points [{t, v: {variant: {offered, achieved, p50, p99, failed,
    warmup}}}], totals {variant: {ok, failed, dropped, error_rate, p50, p95, p99}}, extra,
    steps, lost, lost_workers, run_dir;
    achieved_now {rps, window_s}: requests ended per second over the last ~0.3 s, from the workers'
    pulses, read when the state is asked for (null before the first pulses and after the end; the
    points' `achieved` is the last complete interval's, a whole interval behind a change);
    warmup_s, labels {variant: "A: model"}, slos [{variant, slo, metric, unit, observed,
    status (pass|fail|cannot tell yet|cannot tell), passed}], goodput {variant: {good, of,
    share, ...}}, goodput_objectives, events [{t, kind, rate|users, source, text}],
    breakdown {group: {title, rows, notes}} (so far while running, the summary's at the end), end {state, reason, exit_code} (null while
    running), verdict {sentence, significant, table, a, b, rows, notes, sequential, others}, final.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
import time
import weakref
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any, ClassVar

from stinger.core.format import ms
from stinger.core.secrets import scrub, scrub_data

_MAX_POINTS = 3600          # a point per snapshot (~2 a second): the last half hour is drawn
_PCTS = (50, 95, 99)
_WATCHED = 3.0              # s: a page that polled this recently is watching (a busy machine delays polls)
_LINGER = 3.0               # s at most the end of a process waits for a watching page's next poll (every 0.5 s)
_MODEL_FIELDS = ("model", "model_name", "endpoint_name")   # a target's fields that name its model, for legends
_STOPPED_EARLY = "ended before its planned end by a stop rule or a stop asked for (its exit code is a normal end's)"
_EVENT_KEYS = ("t", "kind", "rate", "users", "source")     # what an event shows (steer's load changes, ...)


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


def _final_at_exit() -> None:
    """At the interpreter's exit every listening dashboard says `final` (one handler for all: an object
    a caller dropped is not kept alive by the exit's registry)."""
    for dashboard in list(_LISTENING):
        dashboard._at_exit()


atexit.register(_final_at_exit)


class DashboardOutput:
    """A live page on http://127.0.0.1:PORT/ (PORT 0: a free one, see `url`)."""

    name = "dashboard"
    wants_intervals = True
    wants_breakdown = True               # the breakdown rows live (outputs/live_breakdown.py)

    def __init__(self, port: int = 0, host: str = "127.0.0.1", *, announce: Any = None,
                 linger: float = 0.0) -> None:
        self.host = host
        self.port = port
        self._announce = announce            # called once with the URL when the server listens
        self.linger = linger                 # s the process keeps serving its final state at exit, watched or not
        self._lock = threading.Lock()
        self._state: dict = {"run": 0, "status": "waiting", "variants": [], "points": [], "totals": {},
                             "extra": {}, "steps": [], "verdict": None, "final": False, "end": None,
                             "slos": [], "goodput": {}, "events": [], "breakdown": {}, "labels": {},
                             "warmup_s": 0.0, "achieved_now": None}
        self._now_source: Any = None         # the run's live achieved-now rate (`Snapshot.now_rate`)
        self._slos: list = []                # parsed SLOs, judged live on each snapshot
        self._owner = os.getpid()            # a forked child does not run this process's exit
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
                version = None
                if path == "/state.json":
                    body, version = dashboard._body()
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
                if version is not None:   # seen once written whole: the process may end only after that
                    self.wfile.flush()
                    dashboard._seen(version)

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
        body, version = self._body()
        self._seen(version)
        return body

    def _body(self) -> tuple[bytes, int]:
        """/state.json's body and the state's version in it (a poll counts as watching from here)."""
        with self._lock:
            self._last_poll = time.monotonic()
            self._fresh_now()
            return json.dumps(self._state, separators=(",", ":"), default=str).encode(), self._state_version

    def _fresh_now(self) -> None:
        """The achieved-now rate read as the page asks (from the pulses, scale/now_rate.py), not as of the
        last snapshot: snapshots come every 0.5 s, the rate moves every 0.1 s. Under the lock."""
        source = self._now_source
        now = source.read() if source is not None and self._state.get("status") == "running" else None
        if now is not None:
            self._state["achieved_now"] = {"rps": round(now[0], 3), "window_s": round(now[1], 3)}

    def _seen(self, version: int) -> None:
        """A page received the state up to `version` (the end waits for it, `_wait_seen`)."""
        with self._lock:
            self._served = max(self._served, version)

    def done(self) -> None:
        """Nothing more will come for this run (a caller that outlives its runs, `stinger ui`, says so):
        a page that sees `final` stops polling. The process's exit says it by itself."""
        with self._lock:
            self._state["final"] = True
            self._state_version += 1

    def _at_exit(self) -> None:
        """Nothing more will come: say so, and let a watching page see it before the server goes."""
        if os.getpid() != self._owner or self._server is None:
            return
        self.done()
        ended = time.monotonic()
        self._wait_seen(max(_LINGER, self.linger))
        if self.linger > 0:   # asked to keep serving the final state a while, watched or not: `linger` s from now
            time.sleep(max(0.0, ended + self.linger - time.monotonic()))

    def _wait_seen(self, limit: float) -> None:
        """Until a page watching has polled the latest state (at most `limit` s; not at all if none watches)."""
        with self._lock:
            version, watched = self._state_version, time.monotonic() - self._last_poll < _WATCHED
        deadline = time.monotonic() + limit
        while watched and self._served < version and time.monotonic() < deadline:
            time.sleep(0.02)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- the output protocol
    def start(self, info) -> None:
        self._serve()
        spec = info.spec
        self._slos = _parse_slos(getattr(spec, "slo", None) or [])
        load = getattr(spec, "load", None)
        with self._lock:
            s = self._state
            s.update(run=s["run"] + 1, status="running", variants=list(info.variants), points=[], totals={},
                     extra={}, duration=info.duration, total=info.total, mode=info.mode,
                     name=getattr(spec, "name", None) or "", lost=[], lost_workers=[], final=False, end=None,
                     warmup_s=float(getattr(load, "warmup", 0.0) or 0.0), labels=variant_labels(spec),
                     slos=[], goodput={}, events=[], breakdown={},
                     goodput_objectives=[str(x) for x in getattr(spec, "goodput", None) or []],
                     achieved_now=None)
            self._now_source = None

    def interval(self, snapshot) -> None:
        point: dict[str, Any] = {"t": round(snapshot.elapsed, 3), "v": {}}
        totals = {}
        slos: list[dict] = []
        goodput: dict[str, Any] = {}
        warmup = self._state["warmup_s"]
        for v in snapshot.variants:
            point["v"][v.name] = {"offered": v.last_offered_rps, "achieved": v.last_achieved_rps,
                                  "p50": v.last_p50_ms, "p99": v.last_p99_ms, "failed": v.last_failed,
                                  "warmup": getattr(v, "last_warmup_rps", None)}
            h = v.latency
            p = h.percentiles(_PCTS) if h.total_count else {}
            ended = v.ok + v.failed + v.dropped
            totals[v.name] = {"ok": v.ok, "failed": v.failed, "dropped": v.dropped,
                              "error_rate": round((v.failed + v.dropped) / ended, 6) if ended else 0.0,
                              **{f"p{q}": ms(p.get(q)) for q in _PCTS}}
            good = getattr(v, "good", None)
            if good is not None:
                done = v.ok + v.failed
                goodput[v.name] = {"good": good, "of": done, "share": round(good / done, 6) if done else None}
            if self._slos:
                slos += live_slos(self._slos, v, snapshot.elapsed - warmup, goodput.get(v.name))
        events = [_event(e) for e in getattr(snapshot, "events", None) or ()]
        live_rows = self._live_rows(getattr(snapshot, "breakdown", None))
        now_rps = getattr(snapshot, "achieved_now_rps", None)
        with self._lock:
            self._now_source = getattr(snapshot, "now_rate", None)
            if now_rps is not None:
                self._state["achieved_now"] = {"rps": now_rps, "window_s": snapshot.achieved_now_window_s}
            pts = self._state["points"]
            pts.append(point)
            if len(pts) > _MAX_POINTS:
                del pts[: len(pts) - _MAX_POINTS]
            self._state.update(totals=totals, extra={k: str(x) for k, x in snapshot.extra.items()},
                               elapsed=snapshot.elapsed, lost=list(getattr(snapshot, "lost_workers", ())),
                               slos=slos, goodput=goodput)
            if events:
                self._state["events"] = events
            if live_rows:
                self._state["breakdown"] = live_rows

    def _live_rows(self, view: Any) -> dict:
        """The breakdown rows so far, as the end shows them (`breakdown_groups`), built only while a page
        watches (the rows of 128 labels cost milliseconds: `bench/live_rows.py`); {} when none."""
        if view is None:
            return {}
        if time.monotonic() - self._last_poll >= _WATCHED:
            view.keep_up()
            return {}
        return scrub_data(breakdown_groups({"breakdown": view.groups()}))

    def finish(self, result) -> None:
        summary = result.summary
        final = {}
        for name, v in (summary.get("variants") or {}).items():
            lat = v.get("latency_ms") or {}
            final[name] = {"ok": v["requests"]["ok"], "failed": v["requests"]["failed"],
                           "dropped": v["requests"]["dropped"], "error_rate": v.get("error_rate"),
                           **{f"p{q}": lat.get(f"p{q}") for q in _PCTS}}
        lost = scrub_data(list(summary.get("lost_workers") or []))
        ended = {"status": end_status(summary), "end": end_state(summary),
                 "slos": [_final_slo(r) for r in summary.get("slo") or [] if isinstance(r, dict)],
                 "goodput": {n: v["goodput"] for n, v in (summary.get("variants") or {}).items()
                             if isinstance(v.get("goodput"), dict)},
                 "breakdown": breakdown_groups(summary)}
        events = [_event(e) for e in summary.get("events") or () if isinstance(e, dict)]
        with self._lock:
            self._now_source = None
            self._state["achieved_now"] = None   # the run is over: the summary's figures stand
            self._state.update(totals=final or self._state["totals"], run_dir=summary.get("run_dir"),
                               lost_workers=lost,
                               lost=[w.get("worker") for w in lost if isinstance(w, dict)] or self._state["lost"],
                               **scrub_data(ended))
            if events:
                self._state["events"] = events
            self._state_version += 1

    # -- optional abilities
    def capacity_step(self, row: dict) -> None:
        keep = {k: row.get(k) for k in ("step", "target", "achieved_rps", "p50_ms", "p95_ms", "p99_ms", "error_rate",
                                         "client_bound", "inconclusive")}
        keep["failed"] = list(row.get("failed") or [])
        with self._lock:
            self._state["steps"].append(keep)

    def verdict(self, verdict, extra: dict, run_dir=None) -> None:
        shown = verdict_state(verdict, extra)
        with self._lock:
            self._state["verdict"] = shown
            end = self._state.get("end")
            if end and end.get("reason") == _STOPPED_EARLY and (shown.get("sequential") or {}).get("stopped_early"):
                self._state["end"] = {**end, "reason": "the sequential test decided before the planned end"}
            self._state_version += 1


def end_state(summary: dict) -> dict:
    """How the run ended, for the page: `state` (finished, stopped, terminated, aborted, incomplete),
    the reason in words, and the exit code the process gives for it."""
    from stinger.core.exit_codes import exit_code_of

    code = int(exit_code_of(summary))
    if summary.get("interrupted"):
        if summary.get("terminated"):
            return {"state": "terminated", "reason": "stopped by SIGTERM before its end (what was measured is kept)",
                    "exit_code": code}
        return {"state": "stopped", "reason": "stopped by Ctrl-C before its end (what was measured is kept)",
                "exit_code": code}
    if summary.get("aborted"):
        return {"state": "aborted", "reason": str(summary["aborted"]), "exit_code": code}
    if summary.get("incomplete") or summary.get("lost_workers"):
        return {"state": "incomplete", "reason": "a load worker was lost: part of the schedule was not sent",
                "exit_code": code}
    if summary.get("stopped_early"):   # a clean early end: a decided sequential test, or {"stop": true} (--control)
        return {"state": "stopped", "reason": _STOPPED_EARLY, "exit_code": code}
    failed = [f"{r.get('variant', '')} {r.get('slo', '')}".strip() for r in summary.get("slo") or []
              if isinstance(r, dict) and not r.get("passed")]
    if failed:
        return {"state": "finished", "reason": "SLO not met: " + ", ".join(failed), "exit_code": code}
    if summary.get("no_success"):
        return {"state": "finished", "reason": "a variant had no successful response", "exit_code": code}
    return {"state": "finished", "reason": "the whole schedule was sent", "exit_code": code}


def end_status(summary: dict) -> str:
    """How a run ended, as the page says it: only a run that sent its whole schedule "finished"."""
    if summary.get("interrupted"):
        return "interrupted"
    if summary.get("aborted"):
        return "aborted"
    if summary.get("incomplete") or summary.get("lost_workers"):
        return "incomplete"
    return "finished"


def variant_labels(spec: Any) -> dict[str, str]:
    """Each variant's name with its target's model where the target names one ("B: llama-3-8b")."""
    out: dict[str, str] = {}
    try:
        variants = spec.all_variants() if spec is not None else []
    except Exception:   # a spec-like object without targets: names only
        return out
    for v in variants:
        target = getattr(v, "target", None)
        model = next((str(m) for m in (getattr(target, f, None) for f in _MODEL_FIELDS) if m), None)
        if model:
            out[v.name] = scrub(f"{v.name}: {model}")
    return out


def _parse_slos(texts: list) -> list:
    from stinger.core.slo import parse_slo

    out = []
    for t in texts:
        try:
            out.append(parse_slo(t) if isinstance(t, str) else t)
        except Exception:   # the spec validated them; a page never stops a run
            continue
    return out


def live_slos(slos: list, v: Any, measured_s: float, goodput: dict | None) -> list[dict]:
    """Each SLO judged on one variant's snapshot so far: its value, and pass / fail / cannot tell yet
    (a figure not known until the end, server time or token metrics; nothing measured yet)."""
    from stinger.core.slo import judge

    h = v.latency
    ended = v.ok + v.failed + v.dropped
    summary: dict[str, Any] = {"error_rate": (v.failed + v.dropped) / ended if ended else None,
                               "requests": {"ok": v.ok, "failed": v.failed, "dropped": v.dropped}}
    if h.total_count:
        summary["latency_ms"] = _LatencySoFar(h)
    if goodput is not None:
        summary["goodput"] = goodput
    scheduled = getattr(v, "scheduled", None)
    if measured_s > 0.5 and ended:
        achieved = v.ok / measured_s
        summary["throughput"] = {"achieved_rps": achieved,
                                 "ratio": v.ok / scheduled if scheduled else None}
    out = []
    for r in judge(slos, summary):
        status = "pass" if r.passed else "fail"
        if r.observed is None:   # not measured (yet): no verdict while the run goes
            status = "cannot tell yet"
        out.append({"variant": v.name, "slo": r.slo.text, "metric": r.slo.metric, "unit": r.slo.unit,
                    "observed": r.observed, "status": status, "passed": r.passed})
    return out


class _LatencySoFar(Mapping):
    """A variant's latency so far as the summary's `latency_ms` section, each figure computed when an SLO
    asks for it (a mean or a stddev walks the whole histogram: ~0.5 ms each, twice a second per variant)."""

    _MOMENTS = ("mean", "min", "max", "stddev")     # the histogram's properties of those names
    _PERCENTILES: ClassVar[dict[str, float]] = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p99.9": 99.9}

    def __init__(self, h: Any) -> None:
        self._h = h

    def __getitem__(self, key: str) -> Any:
        if key == "count":
            return self._h.total_count
        if key in self._MOMENTS:
            return ms(getattr(self._h, key))
        if key in self._PERCENTILES:
            return ms(self._h.value_at_percentile(self._PERCENTILES[key]))
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(("count", *self._MOMENTS, *self._PERCENTILES))

    def __len__(self) -> int:
        return 1 + len(self._MOMENTS) + len(self._PERCENTILES)


def _final_slo(r: dict) -> dict:
    status = "cannot tell" if r.get("undecided") else "pass" if r.get("passed") else "fail"
    return {"variant": r.get("variant", ""), "slo": r.get("slo"), "metric": r.get("metric"),
            "unit": r.get("unit"), "observed": r.get("observed"), "status": status, "passed": bool(r.get("passed")),
            "note": r.get("note") or ""}


def breakdown_groups(summary: dict) -> dict:
    """summary.json's `breakdown`, every group it carries by its name (served_by, url, origin, ...):
    {group: {"title", "rows", "notes"}}; a row keeps its variant, label, responses, share, ok, failed
    and latency percentiles."""
    out: dict[str, Any] = {}
    for group, body in (summary.get("breakdown") or {}).items():
        if not isinstance(body, dict) or not isinstance(body.get("rows"), list):
            continue
        title = f"per {group.replace('_', ' ')}"
        if body.get("header"):
            title += f" (response header {body['header']})"
        rows = []
        for r in body["rows"]:
            if not isinstance(r, dict):
                continue
            lat = r.get("latency_ms") or {}
            rows.append({"variant": r.get("variant"), "label": r.get("label"), "responses": r.get("responses"),
                         "share": r.get("share"), "ok": r.get("ok"), "failed": r.get("failed"),
                         **{k: lat.get(k) for k in ("p50", "p90", "p99", "max")}})
        out[group] = {"title": title, "rows": rows, "notes": [str(n) for n in body.get("notes") or ()]}
    return out


def _event(e: Any) -> dict:
    """An event as the page draws it (a vertical marker at `t`): its known keys, a `text` for the rest."""
    if not isinstance(e, dict):
        e = {"t": getattr(e, "t", None), "kind": getattr(e, "kind", str(e))}
    keep = {k: e.get(k) for k in _EVENT_KEYS if k in e}
    keep["text"] = ", ".join(f"{k} {e[k]}" for k in e if k not in ("t", "kind"))
    return scrub_data(keep)


def verdict_state(verdict: Any, extra: dict) -> dict:
    """The verdict as the page shows it: the sentence, its rows with their intervals (as the terminal's
    table), notes; `table` (markdown) kept for readers of the first /state.json."""
    rows = _verdict_rows(getattr(verdict, "rows", None) or [])
    seq = (extra or {}).get("sequential") or None
    # a third variant and more: each against the baseline (verdict.json's `others`)
    others = {str(name): {"a": o.get("a"), "b": o.get("b"), "sentence": o.get("sentence"),
                          "rows": _verdict_rows(o.get("rows") or [])}
              for name, o in ((extra or {}).get("others") or {}).items() if isinstance(o, dict)}
    shown = {"sentence": getattr(verdict, "sentence", str(verdict)),
             "significant": bool(getattr(verdict, "significant", False)),
             "table": verdict.to_markdown() if hasattr(verdict, "to_markdown") else "",
             "a": getattr(verdict, "a_name", "A"), "b": getattr(verdict, "b_name", "B"), "rows": rows,
             "notes": [str(n) for n in getattr(verdict, "notes", None) or []],
             "sequential": {k: seq.get(k) for k in ("decision", "stopped_early", "p_value", "estimate_ms",
                                                      "ci_low_ms", "ci_high_ms", "seconds")} if seq else None,
             "others": others}
    return scrub_data(shown)


def _verdict_rows(rows: list) -> list[dict]:
    out = []
    for r in rows:
        d = r.to_dict() if hasattr(r, "to_dict") else dict(r)
        out.append({k: d.get(k) for k in ("metric", "a", "b", "diff", "ci_low", "ci_high", "level", "p_adjusted",
                                           "significant", "better", "unit", "kind", "within_margin", "undecided")})
    return out


def _page() -> bytes:
    return resources.files("stinger.outputs").joinpath("dashboard.html").read_bytes()
