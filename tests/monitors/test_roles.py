"""Monitors declare what each series measures (core/series.py Role); `resources` and the live view read
the roles, never a series' name: a CPU series named anything is the CPU, and a series that merely ends in
`cpu_pct` without a declaration is not."""

from __future__ import annotations

import os
import time
from typing import ClassVar

from stinger.core.series import Role, SeriesInfo
from stinger.monitors.base import DeclaresSeries, MonitorRunner, Point, summarize_series
from stinger.monitors.process import ProcessMonitor
from stinger.orchestrate.monitor_set import MonitorSet, _resources


class Box:
    """A monitor of a box whose series have names of its own choosing, and declares their roles."""

    name = "box"
    ROLES: ClassVar[dict[str, SeriesInfo]] = {"box.busy": SeriesInfo(Role.CPU, "%"), "box.ram": SeriesInfo(Role.MEMORY, "bytes")}

    def start(self) -> None:
        pass

    def sample(self, t: float) -> list[Point]:
        return [Point(t, "box.busy", 150.0, "%"), Point(t, "box.ram", 3.0 * 2**20, "bytes"),
                Point(t, "box.load", 2.0)]

    def stop(self) -> None:
        pass

    def series_info(self, series: str) -> SeriesInfo | None:
        return self.ROLES.get(series)


class NameAlike:
    """Series whose names end like the process monitor's, with no declaration: not resources."""

    name = "alike"

    def start(self) -> None:
        pass

    def sample(self, t: float) -> list[Point]:
        return [Point(t, "alike.cpu_pct", 99.0, "%"), Point(t, "alike.rss_bytes", 2.0**30, "bytes")]

    def stop(self) -> None:
        pass


def _run(monitors) -> MonitorSet:
    mon = MonitorSet(monitors)
    mon.start(time.perf_counter(), generator_pids=[])
    mon.stop()   # one final sample at least
    return mon


def test_declared_roles_make_resources_and_the_live_view_whatever_the_names():
    assert isinstance(Box(), DeclaresSeries) and not isinstance(NameAlike(), DeclaresSeries)
    mon = _run([Box(), NameAlike()])
    assert mon.roles == {"box.busy": SeriesInfo(Role.CPU, "%"), "box.ram": SeriesInfo(Role.MEMORY, "bytes")}
    res = _resources(summarize_series(mon.points()), mon.roles)
    assert res == {"box": {"cpu_pct": {"mean": 150.0, "peak": 150.0}, "rss_mib": {"mean": 3.0, "peak": 3.0}}}
    # the live view reads the runner's newest points by the same roles
    assert mon.live_extra() == {"box.busy": "150 % of a core", "box.ram": "3 MiB"}


def test_a_gpu_role_with_labels_is_a_resource_of_its_own():
    series = {"box.card{gpu=0}": {"unit": "%", "mean": 40.0, "peak": 90.0, "min": 0.0, "last": 1.0, "n": 3}}
    assert _resources(series, {"box.card": SeriesInfo(Role.GPU, "%")}) == {
        "box{gpu=0}": {"gpu_pct": {"mean": 40.0, "peak": 90.0}}}


def test_the_process_monitor_declares_its_cpu_and_memory():
    pm = ProcessMonitor(pid=os.getpid(), name="self")
    runner = MonitorRunner([pm], t0=time.perf_counter())
    runner.start()
    runner.stop()
    assert runner.roles["self.cpu_pct"].role is Role.CPU
    assert runner.roles["self.cpu_machine_pct"].role is Role.CPU_MACHINE
    assert runner.roles["self.rss_bytes"].role is Role.MEMORY
    assert "self.threads" not in runner.roles
    res = _resources(summarize_series(runner.points), runner.roles)
    assert set(res["self"]) == {"cpu_pct", "cpu_machine_pct", "rss_mib"}
    assert res["self"]["rss_mib"]["peak"] > 1.0   # this Python process holds more than a MiB


def test_the_terminal_shows_a_row_for_each_role_a_monitor_measured():
    import io

    from rich.console import Console

    from stinger.outputs.terminal import print_summary

    hist = {"count": 3, "mean": 1.0, "stddev": 0.0, "min": 1.0, "max": 1.0, "p50": 1.0, "p90": 1.0, "p95": 1.0,
            "p99": 1.0, "p99.9": 1.0}
    v = {"requests": {"scheduled": 3, "ok": 3, "failed": 0, "dropped": 0, "in_flight": 0}, "errors": {},
         "error_rate": 0.0, "throughput": {"offered_rps": 3.0, "achieved_rps": 3.0},
         "latency_ms": hist, "service_time_ms": hist, "schedule_lag_ms": hist}
    res = _resources({"box.card{gpu=0}": {"mean": 40.0, "peak": 90.0}, "endpoint.cpu_pct": {"mean": 5.0, "peak": 9.0}},
                     {"box.card": SeriesInfo(Role.GPU, "%"), "endpoint.cpu_pct": SeriesInfo(Role.CPU, "%")})
    buf = io.StringIO()
    print_summary({"variants": {"default": v}, "resources": res},
                  Console(file=buf, width=160, color_system=None, force_terminal=False))
    text = " ".join(buf.getvalue().split())
    assert "GPU utilisation mean/peak (%) 40.0 / 90.0" in text
    assert "endpoint CPU mean/peak (% core) 5.0 / 9.0" in text
    assert "RSS" not in text   # no monitor measured memory: no row
