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
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from stinger.errors import SpecError

if TYPE_CHECKING:
    from stinger.core.series import SeriesInfo
    from stinger.core.server_time import ServerTimeReading
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
        self.roles: dict[str, SeriesInfo] = {}   # what each series measures, as its monitor declared
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
            self.roles = dict(self.runner.roles)
            for w in self.runner.warnings:
                if w not in self.warnings:
                    self.warnings.append(w)

    def points(self) -> list:
        return self._points

    def live_extra(self) -> dict:
        if self.runner is None:
            return {}
        from stinger.core.format import count
        from stinger.core.series import RESOURCES

        latest = self.runner.latest()
        roles = self.runner.roles
        out = {}
        for key, p in sorted(latest.items()):
            info = roles.get(p.series)
            rk = RESOURCES.get(info.role) if info is not None else None
            if rk is not None and rk.live:   # the endpoint's CPU and memory, a GPU's: by their declared role
                out[key] = f"{count(p.value * rk.factor)} {rk.live}"
        return out

    def summary(self, metrics, variants: dict, server_p50: float | None = None) -> dict:
        """`series`, `resources` and `generator`; `server_p50`: the highest variant's server-time p50 (or
        the upper bound of one known only as a bound), for the generator's judgment."""
        from stinger.monitors.base import summarize_series
        from stinger.monitors.generator import judge_generator, machine_load, worker_p90

        out: dict[str, Any] = {}
        if self._points:
            series = summarize_series(self._points)
            out["series"] = series
            resources = _resources(series, self.roles)
            if resources:
                out["resources"] = resources
        cpu_p90 = metrics.worker_cpu_p90()   # start-up samples left out
        cpu_p90 = None if cpu_p90 is None else cpu_p90 * 100
        loop_p90 = metrics.loop_lag_p90_ms()
        sched_p99 = max((v["schedule_lag_ms"]["p99"] for v in variants.values()), default=None)
        offered = sum(v["throughput"]["offered_rps"] for v in variants.values())
        achieved = sum(v["throughput"]["achieved_rps"] for v in variants.values())
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


    def server_time_readings(self, spec, window: tuple[float, float]
                             ) -> tuple[dict[str, list[ServerTimeReading]], str | None]:
        """Each variant's server time as the metrics monitors (`ServerTimeSource`, a Prometheus preset)
        read it over the scrapes that bracket the window: this variant's own monitors first, then the
        run's; and why a variant with no reading at all has none (None when no server time was asked
        for). `core.server_time.choose` decides between these and the header's."""
        from stinger.core.server_time import Origin, ServerTimeReading
        from stinger.core.summary import Hist
        from stinger.monitors.base import ServerTimeSource
        from stinger.orchestrate.abilities import server_time_labels

        prom = [m for m in self.monitors if isinstance(m, ServerTimeSource)]
        names = {v.name for v in spec.all_variants()}
        labels_of = server_time_labels(spec) if prom else {}
        out: dict[str, list[ServerTimeReading]] = {}
        for v in spec.all_variants():
            # a monitor named after another variant is not ours
            mine = [m for m in prom if m.name == v.name] + [m for m in prom if m.name not in names]
            # the model names the target's side gives (`ServerTimeLabels`: kserve's and openai's model);
            # a target with none (plain HTTP) is matched by the segments of its URL's path, where a model
            # server names its model (/v2/models/NAME/infer)
            match = list(labels_of.get(v.name) or ()) or [
                seg for url in v.all_urls() for seg in re.split(r"[/:]", urlsplit(url).path) if seg]
            for m in mine:
                got = m.server_time(window[0], window[1], match=match)
                if got is None:
                    continue
                labels = f"{{{got['labels']}}}" if got.get("labels") else ""
                what = {"histogram": "histogram: quantiles as the bounds its buckets and mean allow",
                        "summary": "summary: count and mean only",
                        "counter": "cumulative counters: mean only"}[got["kind"]]
                source = f"Prometheus {m.name} {getattr(m, 'url', '')}: {got['family']}{labels} ({what})"
                out.setdefault(v.name, []).append(
                    ServerTimeReading(Origin.METRICS, source, Hist.from_json(_as_server_time(got))))
        if spec.server_time is None:
            return out, None
        import stinger.monitors.presets  # noqa: F401  (tells core.server_time the presets its note lists)

        looked = sorted({f for m in prom for f in m.server_time_families})
        why = (f"the Prometheus monitor{'s' if len(prom) > 1 else ''} saw no requests in "
               f"{', '.join(looked)}" if looked else
               "the Prometheus monitor has no preset naming a server-time metric" if prom else
               f"the endpoint sent no {spec.server_time.header} header")
        return out, why


def _resources(series: dict[str, dict[str, Any]], roles: dict[str, SeriesInfo]) -> dict[str, dict[str, Any]]:
    """`resources`: per monitor (and label set), the mean and peak of each series whose declared role has
    a resource key (`core.series.RESOURCES`: cpu_pct, cpu_machine_pct, rss_mib, gpu_pct, gpu_mem_mib)."""
    from stinger.core.series import RESOURCES

    out: dict[str, dict[str, Any]] = {}
    for key, st in series.items():
        name, labels = key.partition("{")[0], key[len(key.partition("{")[0]):]
        info = roles.get(name)
        rk = RESOURCES.get(info.role) if info is not None else None
        if rk is None:
            continue
        monitor = name.partition(".")[0] + labels
        out.setdefault(monitor, {})[rk.key] = {k: float(st[k]) * rk.factor if rk.factor != 1.0 else st[k]
                                               for k in ("mean", "peak")}
    return out


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

    def series_info(self, series: str):
        return self._m.series_info(series)

    def start(self) -> None:
        pass

    def sample(self, t: float):
        return self._m.sample(t)

    def stop(self) -> None:
        self._m.stop()
