"""What a monitor's series measures (its role), declared by the monitor, never guessed from its name.

A monitor that implements `monitors.base.DeclaresSeries` says, per series, what it is: the
endpoint's CPU, its memory, a GPU's utilisation, ... The summary's `resources` and the live view
read these roles; a series named anything at all takes its place there by its declared role.
`RESOURCES` is the one table of how a role is written under `resources` (docs/summary.md keys).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    SERVER_TIME = "server_time"
    CPU = "cpu"                  # % of one core
    CPU_MACHINE = "cpu_machine"  # % of the whole machine
    MEMORY = "memory"            # resident bytes
    GPU = "gpu"                  # utilisation %
    GPU_MEMORY = "gpu_memory"    # bytes used
    REQUESTS = "requests"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    role: Role
    unit: str = ""
    label: str = ""


@dataclass(frozen=True, slots=True)
class ResourceKey:
    """How a role's series is summarised under `resources.<monitor>`: the JSON key, the factor from the
    series' unit to the key's, and how the live view words one value (`live`, after the factor)."""

    key: str
    factor: float
    live: str
    row: str = ""   # the summary table's row for it ("" : not a row of its own)


RESOURCES: dict[Role, ResourceKey] = {
    Role.CPU: ResourceKey("cpu_pct", 1.0, "% of a core", "endpoint CPU mean/peak (% core)"),
    Role.CPU_MACHINE: ResourceKey("cpu_machine_pct", 1.0, ""),
    Role.MEMORY: ResourceKey("rss_mib", 2.0 ** -20, "MiB", "endpoint RSS mean/peak (MiB)"),
    Role.GPU: ResourceKey("gpu_pct", 1.0, "% GPU", "GPU utilisation mean/peak (%)"),
    Role.GPU_MEMORY: ResourceKey("gpu_mem_mib", 2.0 ** -20, "MiB GPU", "GPU memory mean/peak (MiB)"),
}
