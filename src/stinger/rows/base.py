"""The row-sink seam: per-request rows as an output stream, in two halves.

- The WORKER half (`RowWriter`) runs on each worker's flush thread, once per interval, never on the
  event loop: `write(RowBatch)`. Every sink here shares one worker half, the spill file of fixed-size
  binary records (rows/spill.py), so asking for csv and parquet costs the flush one write.
- The COORDINATOR half (`RowSink.collect`) runs after the run, before the summary is built (the summary
  names each file and its row count): the workers' parts become the sink's file in the run directory.

A sink is one file and one line in `REGISTRY` (name -> "module:attr", imported on first use, so a plain
run imports no pyarrow). `check()` runs before any run directory exists: a sink whose optional package
is missing is a one-line `UsageError` naming the package to install.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol, runtime_checkable

from stinger.core.rows import RowBatch

__all__ = ["REGISTRY", "RowSink", "RowWriter", "RowsFile", "names", "sink", "writers"]

REGISTRY: dict[str, str] = {
    "csv": "stinger.rows.csv:CsvRows",
    "parquet": "stinger.rows.parquet:ParquetRows",
}


class RowWriter(Protocol):
    """The worker half: one flush's rows at a time; a write that fails stops the rows, not the run."""

    def write(self, rows: RowBatch) -> str | None:
        """Write the rows; returns a one-line warning the first time writing fails (then writes nothing)."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class RowsFile:
    """What a sink wrote: summary.json's `rows` entry."""

    sink: str
    path: str          # relative to the run directory
    rows: int
    t0_unix: float     # the wall-clock instant of t = 0, to join the rows with the endpoint's own logs

    def as_dict(self) -> dict[str, object]:
        return {"sink": self.sink, "path": self.path, "rows": self.rows, "t0_unix": self.t0_unix}


@runtime_checkable
class RowSink(Protocol):
    name: ClassVar[str]
    file: ClassVar[str]          # its file's name in the run directory
    local_files: ClassVar[bool]  # the worker half writes files the coordinator reads (a shared filesystem)

    def check(self) -> None:
        """Before any run: its optional package is installed (else a one-line UsageError naming it)."""
        ...

    def writer(self, path: str, worker: int) -> RowWriter:
        """The worker half, writing to `path` (this worker's part)."""
        ...

    def collect(self, parts: Sequence[Path], out_dir: Path, variants: Sequence[str], t0_unix: float,
                trace_hi: int = 0) -> RowsFile:
        """The coordinator half: the workers' parts -> this sink's file in `out_dir` (written whole or not
        at all: `core.atomic.WriteFailed`). Leaves the parts (the caller removes them once every sink read them).
        `trace_hi`: the run's upper 64 bits of every request ID (core/correlation.py), with each row's number."""
        ...


def names() -> list[str]:
    from stinger.core.plugins import vendor_lines

    return sorted(REGISTRY | vendor_lines("rows"))


def sink(name: str) -> RowSink:
    """The sink registered as `name` (a vendor's line counts); an unknown name is a one-line UsageError."""
    from importlib import import_module

    from stinger.core.plugins import vendor_lines

    lines = REGISTRY | vendor_lines("rows")
    if name not in lines:
        from stinger.errors import UsageError

        raise UsageError(f"unknown row sink {name!r}; expected one of {', '.join(sorted(lines))}")
    module, _, attr = lines[name].partition(":")
    made: RowSink = getattr(import_module(module), attr)()
    return made


def writers(sinks: Sequence[str], path: str | None, worker: int) -> list[RowWriter]:
    """A worker's writers for the sinks `sinks`: the sinks whose coordinator half reads local files share
    one (the first one's, writing `path`: rows/spill.py), every other sink has its own."""
    out: list[RowWriter] = []
    shared = False
    for name in sinks:
        s = sink(name)
        if s.local_files:
            if shared or path is None:
                continue
            shared = True
        out.append(s.writer(path or "", worker))
    return out
