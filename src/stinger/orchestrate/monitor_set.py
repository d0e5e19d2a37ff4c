"""The monitors of one run, built from the spec, and what they add to the summary.

Monitors run in the coordinator on their own thread and clock (the run
clock's zero is shared), never in the load workers. For a loopback target the
endpoint's process is found by its listening port without being asked, so a
local run always shows the endpoint's CPU and memory beside latency. The
generator watches itself: worker CPU (from the workers' own reports), event
loop lag and schedule lag decide whether the run was client-bound.

The monitors a spec names are built through `stinger.monitors.registry` (their
configs were already checked when the spec was loaded).

Server time from metrics (`server_time`): a variant whose target sent no
server-time header takes its server time from a Prometheus monitor with a
preset that names one (MLServer's per-model inference time, KServe's predict
time, ...), over the scrapes that bracket the run's measured window, choosing
the series whose labels name a segment of the variant's URL (the model). The
summary says where each variant's server time came from, or, when none was
found, where it could come from.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from stinger.core.blocks import ServerTimeReading
from stinger.errors import SpecError

if TYPE_CHECKING:
    from stinger.monitors.base import MonitorRunner


def _monitor_from_dict(d: dict[str, Any], at: tuple = ("monitors", 0)):
    """A monitor from its spec entry, through the registry (one-line SpecError if the entry is wrong)."""
    from pydantic import ValidationError

    from stinger.monitors.registry import build
    from stinger.spec.loading import _format_error

    try:
        return build(d, at=at)
    except ValidationError as err:  # a spec made in code that skipped parse_spec
        raise SpecError(_format_error(err, None, {})) from None


class MonitorSet:
    def __init__(self, monitors: list, *, on_warning: Callable[[str], None] | None = None,
                 auto: list | None = None) -> None:
        self.monitors = monitors
        self.auto = auto or []
        self.on_warning = on_warning
        self.runner: MonitorRunner | None = None
        self.warnings: list[str] = []
        self._points: list = []
        self.generator_pids: list[int] = []

    @classmethod
    def from_spec(cls, spec, *, extra=None, on_warning=None) -> MonitorSet:
        monitors = [_monitor_from_dict(d, ("monitors", i)) for i, d in enumerate(spec.monitors)]
        for j, v in enumerate(spec.variants or []):  # a variant's own monitors carry its name unless told otherwise
            monitors.extend(_monitor_from_dict({"name": v.name, **d}, ("variants", j, "monitors", i))
                            for i, d in enumerate(v.monitors))
        monitors.extend(extra or [])
        auto = []
        if not any(type(m).__name__ == "ProcessMonitor" for m in monitors):
            ports: dict[int, list[str]] = {}
            for v in spec.all_variants():
                for t in v.target.endpoints():   # the carrier's own parsing (http, grpc, ...)
                    if t.is_loopback and v.name not in ports.setdefault(t.port, []):
                        ports[t.port].append(v.name)
            for port, names in ports.items():
                # a process serving one variant is named after it; a shared one is "endpoint"
                auto.append((names[0] if len(names) == 1 and len(spec.all_variants()) > 1 else "endpoint", port))
        return cls(monitors, on_warning=on_warning, auto=auto)

    def start(self, t0: float, generator_pids: list[int]) -> None:
        from stinger.monitors.base import MonitorRunner
        from stinger.monitors.generator import GeneratorMonitor
        from stinger.monitors.process import ProcessMonitor

        monitors = list(self.monitors)
        for name, port in self.auto:
            try:
                m = ProcessMonitor(port=port, name=name)
                m.start()
                monitors.append(_Started(m))
            except Exception:
                pass
        local = [pid for pid in generator_pids if pid > 0]   # 0: a worker elsewhere (BackendTraits.local_pids)
        self.generator_pids = local
        if local:
            monitors.append(GeneratorMonitor(local))
        self.runner = MonitorRunner(monitors, t0=t0, interval=1.0, on_warning=self._warn)
        self.runner.start()

    def _warn(self, text: str) -> None:
        self.warnings.append(text)
        if self.on_warning:
            self.on_warning(text)

    def stop(self) -> None:
        if self.runner is not None:
            self.runner.stop()
            self._points = list(self.runner.points)
            for w in self.runner.warnings:
                if w not in self.warnings:
                    self.warnings.append(w)

    def points(self) -> list:
        return self._points

    def live_extra(self) -> dict:
        if self.runner is None:
            return {}
        latest = self.runner.latest()
        out = {}
        for key, p in sorted(latest.items()):
            if key.endswith((".cpu_pct", ".rss_bytes")):
                out[key] = f"{p.value / 2**20:,.0f} MiB" if key.endswith("rss_bytes") else f"{p.value:,.0f} % of a core"
        return out

    def summary(self, metrics, variants: dict) -> dict:
        from stinger.monitors.base import summarize_series
        from stinger.monitors.generator import judge_generator, machine_load, worker_p90

        out: dict[str, Any] = {}
        if self._points:
            series = summarize_series(self._points)
            out["series"] = series
            resources: dict[str, dict[str, dict[str, Any]]] = {}
            for key, s in series.items():
                name, _, metric = key.partition(".")
                if metric == "cpu_pct":
                    resources.setdefault(name, {})["cpu_pct"] = {"mean": s["mean"], "peak": s["peak"]}
                elif metric == "cpu_machine_pct":
                    resources.setdefault(name, {})["cpu_machine_pct"] = {"mean": s["mean"], "peak": s["peak"]}
                elif metric == "rss_bytes":
                    mib = {k: float(s[k]) / 2**20 for k in ("mean", "peak")}  # type: ignore[arg-type]  # numbers
                    resources.setdefault(name, {})["rss_mib"] = mib
            if resources:
                out["resources"] = resources
        cpu_p90 = metrics.worker_cpu_p90()   # start-up samples left out
        cpu_p90 = None if cpu_p90 is None else cpu_p90 * 100
        loop_p90 = metrics.loop_lag_p90_ms()
        sched_p99 = max((v["schedule_lag_ms"]["p99"] for v in variants.values()), default=None)
        offered = sum(v["throughput"]["offered_rps"] for v in variants.values())
        achieved = sum(v["throughput"]["achieved_rps"] for v in variants.values())
        server_p50 = None
        # a p50 known only as a bound counts at its upper bound: "the server's p50 was below the lag" must be sure
        st = [p for v in variants.values() if (p := _p50_at_most(v.get("server_time_ms") or {})) is not None]
        if st:
            server_p50 = max(st)
        # What the workers' main threads wanted of a core and waited for it (schedstat), when measured.
        demand_p90 = worker_p90(self._points, "generator.worker_demand_pct")
        wait_p90 = worker_p90(self._points, "generator.worker_wait_pct")
        # the machine around the workers (load, busy and stolen CPU, others' CPU), when the generator watched it
        machine = machine_load(self._points) if any(p.series == "generator.machine_runnable"
                                                    or p.series == "generator.machine_cpu_pct"
                                                    for p in self._points) else None
        verdict = judge_generator(worker_cpu_pct_p90=cpu_p90, schedule_lag_p99_ms=sched_p99,
                                  loop_lag_p90_ms=loop_p90, offered_rps=offered, achieved_rps=achieved,
                                  server_time_p50_ms=server_p50, worker_demand_pct_p90=demand_p90,
                                  worker_wait_pct_p90=wait_p90, machine=machine,
                                  workers=len(self.generator_pids) or None)
        if verdict.machine_busy and verdict.lagged and not verdict.client_bound:
            # Not the generator's fault, but the numbers carry the wait: the summary says so.
            self.warnings.append(verdict.message())
        out["generator"] = {
            "client_bound": verdict.client_bound,
            "machine_busy": verdict.machine_busy,
            "lagged": verdict.lagged,  # requests left late or the loop woke late
            "reasons": list(verdict.reasons),
            "busy_reasons": list(verdict.busy_reasons),
            "message": verdict.message(),
            "worker_cpu_pct_p90": None if cpu_p90 is None else round(cpu_p90, 1),
            "worker_demand_pct_p90": None if demand_p90 is None else round(demand_p90, 1),
            "worker_wait_pct_p90": None if wait_p90 is None else round(wait_p90, 1),
            "loop_lag_p90_ms": None if loop_p90 is None else round(loop_p90, 3),
            "schedule_lag_p99_ms": sched_p99,
            "machine": None if machine is None else machine.to_dict(),
        }
        return out


    def server_time(self, spec, window: tuple[float, float], variants: dict) -> dict:
        """Fill in each variant's `server_time_ms` from Prometheus where no header gave one; say where
        each came from (`source`), and when some variant has none, a `note` on where it could come from."""
        prom = [m for m in self.monitors if callable(getattr(m, "server_time", None))]
        names = {v.name for v in spec.all_variants()}
        source: dict[str, str] = {}
        missing: list[str] = []
        for v in spec.all_variants():
            vs = variants.get(v.name)
            if vs is None:
                continue
            have = vs.get("server_time_ms")
            if have and have.get("count"):
                st = spec.server_time
                source[v.name] = f"response header {st.header}" + (f" ({st.metric})" if st and st.metric else "")
                continue
            # this variant's own monitors first, then the run's (a monitor named after another variant is not ours)
            mine = [m for m in prom if m.name == v.name] + [m for m in prom if m.name not in names]
            # the model's name is a segment of the URL: /v2/models/NAME/infer, /v1/models/NAME:predict
            segments = [seg for url in v.all_urls() for seg in re.split(r"[/:]", urlsplit(url).path) if seg]
            for m in mine:
                got = m.server_time(window[0], window[1], match=segments)
                if got is None:
                    continue
                vs["server_time_ms"] = _as_server_time(got)
                labels = f"{{{got['labels']}}}" if got.get("labels") else ""
                what = {"histogram": "histogram: quantiles as the bounds its buckets and mean allow",
                        "summary": "summary: count and mean only",
                        "counter": "cumulative counters: mean only"}[got["kind"]]
                source[v.name] = f"Prometheus {m.name} {m.url}: {got['family']}{labels} ({what})"
                break
            else:
                missing.append(v.name)
        out: dict[str, Any] = {"source": source}
        if missing and spec.server_time is not None:
            looked = sorted({f for m in prom for f in m.server_time_families})
            why = (f"the Prometheus monitor{'s' if len(prom) > 1 else ''} saw no requests in "
                   f"{', '.join(looked)}" if looked else
                   "the Prometheus monitor has no preset naming a server-time metric" if prom else
                   f"the endpoint sent no {spec.server_time.header} header")
            out["missing"], out["why"] = missing, why
            out["note"] = server_time_note(missing, why)
        return out


def _p50_at_most(section: dict) -> float | None:
    if section.get("p50") is not None:
        return section["p50"]
    b = (section.get("bounds") or {}).get("p50")
    return None if b is None else b["le"]   # None when unbounded above: nothing sure to compare


def server_time_note(missing: list[str], why: str) -> str:
    """The note for variants with no server time: why, and where it could come from."""
    return (f"no server time for {', '.join(missing)}: {why}. It could come from a response header "
            f"(Server-Timing, or --server-time HEADER[:unit]) or from the model server's metrics: "
            f"--monitor prometheus=URL:PRESET (mlserver, kserve, triton, torchserve, vllm, demo)")


def reading_server_time(summary: dict, readings: Sequence[ServerTimeReading]) -> None:
    """An after-run block's server time (`Block.server_time`: an endpoint's own metrics read back, a mean
    and a count, no quantiles) for each variant with no per-request server time; it leaves the
    no-server-time note."""
    st = summary.setdefault("server_time", {})
    source = st.setdefault("source", {})
    covered = []
    for r in readings:
        vs = (summary.get("variants") or {}).get(r.variant)
        if vs is None or not r.count or (vs.get("server_time_ms") or {}).get("count"):
            continue
        vs["server_time_ms"] = _as_server_time({"count": int(r.count), "mean": r.mean_ms})
        source[r.variant] = r.source
        covered.append(r.variant)
    missing = [m for m in st.get("missing") or [] if m not in covered]
    if covered and "missing" in st:
        st["missing"] = missing
        if missing:
            st["note"] = server_time_note(missing, st.get("why", ""))
        else:
            st.pop("note", None)


def _as_server_time(got: dict) -> dict:
    """A Prometheus server-time reading in the shape of a histogram summary (ms); what it lacks is null."""
    out: dict[str, Any] = {"count": got["count"], "mean": round(got["mean"], 3), "stddev": None, "min": None,
                           "max": None}
    for key in ("p50", "p90", "p95", "p99", "p99.9"):
        v = got.get(key)
        out[key] = None if v is None else round(v, 3)
    if got.get("bounds"):   # a histogram's quantiles: where each can lie (docs/summary.md, server_time_ms)
        out["bounds"] = {k: {"ge": _floor3(b["ge"]), "le": _ceil3(b["le"])} for k, b in got["bounds"].items()}
    return out


def _floor3(x: float) -> float:
    """Rounded down to the µs: a rounded lower bound must stay a lower bound."""
    return math.floor(x * 1e3) / 1e3


def _ceil3(x: float) -> float | None:
    """Rounded up to the µs; None for no upper bound (a quantile in the +Inf bucket, no sum to tighten it)."""
    return math.ceil(x * 1e3) / 1e3 if math.isfinite(x) else None


def quantile_text(section: dict, key: str) -> str | None:
    """A quantile as text: "0.21 ms", or its bounds when only they are known ("≤ 0.46 ms", "1.2–3.4 ms")."""
    v = section.get(key)
    if v is not None:
        return f"{v:.2f} ms"
    b = (section.get("bounds") or {}).get(key)
    if b is None:
        return None
    if b["le"] is None:
        return f"≥ {b['ge']:.2f} ms"
    return f"≤ {b['le']:.2f} ms" if b["ge"] <= 0 else f"{b['ge']:.2f}–{b['le']:.2f} ms"


def server_time_notes(summary: dict) -> list[str]:
    """Lines for a verdict: each variant's server time and its source, or why there is none."""
    st = summary.get("server_time") or {}
    lines = []
    for name, src in (st.get("source") or {}).items():
        s = (summary.get("variants", {}).get(name) or {}).get("server_time_ms") or {}
        figures = ", ".join(f"{k} {text}" for k in ("mean", "p50", "p95", "p99")
                            if (text := quantile_text(s, k)) is not None)
        lines.append(f"server time of {name}: {figures or 'n/a'} (from {src}; not tested for a difference)")
    if st.get("note"):
        lines.append(st["note"])
    return lines


class _Started:
    """A monitor already started (auto-discovered): the runner's start is a no-op."""

    def __init__(self, m) -> None:
        self._m = m
        self.name = m.name

    def start(self) -> None:
        pass

    def sample(self, t: float):
        return self._m.sample(t)

    def stop(self) -> None:
        self._m.stop()
