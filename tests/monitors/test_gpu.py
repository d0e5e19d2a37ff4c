"""GpuMonitor: unavailable NVML is a clean MonitorError; a real GPU is sampled when present."""

from __future__ import annotations

import importlib.util
import time

import pytest

from stinger.errors import UsageError
from stinger.monitors.base import MonitorError, MonitorRunner
from stinger.monitors.gpu import GpuMonitor


def _nvml_works() -> bool:
    try:
        GpuMonitor().start()
    except MonitorError:
        return False
    return True


def test_importing_the_module_does_not_import_pynvml() -> None:
    import sys

    assert "stinger.monitors.gpu" in sys.modules
    if importlib.util.find_spec("pynvml") is None:
        assert "pynvml" not in sys.modules


def test_unavailable_nvml_is_one_warning_and_the_run_goes_on() -> None:
    if _nvml_works():
        pytest.skip("this machine has a working NVML")
    with pytest.raises(MonitorError, match=r"^NVML not available: ") as info:
        GpuMonitor().start()
    assert "\n" not in str(info.value)
    runner = MonitorRunner([GpuMonitor()], t0=time.perf_counter(), interval=3600)
    runner.start()
    runner.stop()
    assert len(runner.warnings) == 1
    assert runner.warnings[0].startswith("monitor gpu disabled: NVML not available: ")
    assert runner.points == []


def test_sample_before_start_is_a_monitor_error() -> None:
    with pytest.raises(MonitorError):
        GpuMonitor().sample(0.0)


def test_negative_index_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        GpuMonitor(-1)


def test_real_gpu_is_sampled() -> None:
    pytest.importorskip("pynvml")
    if not _nvml_works():
        pytest.skip("NVML present but no usable GPU")
    monitor = GpuMonitor(0)
    monitor.start()
    try:
        points = monitor.sample(1.0)
    finally:
        monitor.stop()
    series = {p.series for p in points}
    assert {"gpu.util_pct", "gpu.mem_used_bytes"} <= series
    assert all(p.labels == (("gpu", "0"),) for p in points)
    assert all(p.value >= 0 for p in points)
