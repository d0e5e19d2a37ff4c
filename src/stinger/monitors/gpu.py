"""GPU utilisation, memory and power of this machine's NVIDIA GPUs, via NVML.

`pynvml` (package `nvidia-ml-py`, extra `stinger[gpu]`) is imported lazily in
`start()`, so stinger imports and runs on machines without it or without a GPU:
there `start()` raises `MonitorError("NVML not available: ...")` and the runner
skips the monitor with one warning.

Series (labels `gpu=<index>`): `gpu.util_pct` (% of time a kernel ran in the
last sample period, as nvidia-smi shows), `gpu.mem_used_bytes`, `gpu.power_w`
(left out on boards that do not report power). NVML sees every process's use of
the GPU, not just the endpoint's.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, ClassVar, Literal

from pydantic import Field

from stinger.core.series import Role, SeriesInfo
from stinger.monitors.base import MonitorConfig, MonitorConfigError, MonitorError, Point

__all__ = ["GpuMonitor"]


class GpuConfig(MonitorConfig):
    """``{type: gpu, index, name}``: one GPU by NVML index, or all of them when index is absent."""

    type: Literal["gpu"] = "gpu"
    name: str = "gpu"
    index: int | None = Field(default=None, ge=0)


class GpuMonitor:
    """Samples one GPU (`index`) or all of them (`index=None`)."""

    Config = GpuConfig
    # what its series measure (`monitors.base.DeclaresSeries`), by the part after "<name>."
    ROLES: ClassVar[dict[str, SeriesInfo]] = {"util_pct": SeriesInfo(Role.GPU, "%", "GPU utilisation"),
             "mem_used_bytes": SeriesInfo(Role.GPU_MEMORY, "bytes", "GPU memory used")}

    def series_info(self, series: str) -> SeriesInfo | None:
        name, _, metric = series.partition(".")
        return self.ROLES.get(metric) if name == self.name else None

    def __init__(self, index: int | None = None, *, name: str = "gpu") -> None:
        if index is not None and index < 0:
            raise MonitorConfigError(f"GPU index must be >= 0, got {index}")
        self.index = index
        self.name = name
        self._nvml: ModuleType | None = None
        self._handles: list[tuple[int, Any]] = []

    def start(self) -> None:
        try:
            nvml = importlib.import_module("pynvml")
        except ImportError:
            raise MonitorError("NVML not available: nvidia-ml-py is not installed (pip install 'stinger[gpu]')") from None
        try:
            nvml.nvmlInit()
        except Exception as exc:  # NVMLError_LibraryNotFound, _DriverNotLoaded, ...
            raise MonitorError(f"NVML not available: {exc}") from None
        self._nvml = nvml
        try:
            count = nvml.nvmlDeviceGetCount()
            if count == 0:
                raise MonitorError("NVML not available: no GPU found")
            indices = range(count) if self.index is None else [self.index]
            if self.index is not None and self.index >= count:
                raise MonitorError(f"GPU {self.index} does not exist ({count} GPU(s) found)")
            self._handles = [(i, nvml.nvmlDeviceGetHandleByIndex(i)) for i in indices]
        except MonitorError:
            self.stop()
            raise
        except Exception as exc:
            self.stop()
            raise MonitorError(f"NVML not available: {exc}") from None

    def sample(self, t: float) -> list[Point]:
        nvml = self._nvml
        if nvml is None:
            raise MonitorError("GPU monitor not started")
        points: list[Point] = []
        try:
            for i, handle in self._handles:
                labels = (("gpu", str(i)),)
                util = nvml.nvmlDeviceGetUtilizationRates(handle)
                mem = nvml.nvmlDeviceGetMemoryInfo(handle)
                points.append(Point(t, f"{self.name}.util_pct", float(util.gpu), "%", labels))
                points.append(Point(t, f"{self.name}.mem_used_bytes", float(mem.used), "bytes", labels))
                try:
                    milliwatts = nvml.nvmlDeviceGetPowerUsage(handle)
                except nvml.NVMLError:  # not supported on this board: leave the series out
                    continue
                points.append(Point(t, f"{self.name}.power_w", milliwatts / 1000.0, "W", labels))
        except nvml.NVMLError as exc:
            raise MonitorError(f"NVML: {exc}") from None
        return points

    def stop(self) -> None:
        nvml, self._nvml, self._handles = self._nvml, None, []
        if nvml is not None:
            try:
                nvml.nvmlShutdown()
            except Exception:  # shutting down is best effort
                pass
