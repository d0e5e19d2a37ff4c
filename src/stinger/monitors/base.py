"""The monitor plugin interface, the thread that drives monitors, and the series file.

A monitor measures something beside the load engine (the endpoint's CPU, a
Prometheus endpoint, a GPU, the generator itself) and turns it into `Point`s:
one value of one named series at one time on the run clock. Monitors run in the
coordinator process, in one daemon thread (`MonitorRunner`), on their own clock
- never in the engine's worker processes, whose event loops must not wait on a
psutil call or an HTTP scrape.

The run clock is `time.perf_counter() - t0`; on Linux and macOS perf_counter is
a system-wide monotonic clock, so the coordinator's t0 lines up with the
workers' interval timestamps.

A monitor's trouble never stops a run: a failed `start` (MonitorError or any
other exception) disables the monitor with one warning; a failing `sample` gets
one warning (the first time) and disables the monitor after `max_failures`
consecutive failures. Warnings are kept in `MonitorRunner.warnings` and passed to
the optional `on_warning` callback (for the live view).

Each kind of monitor declares its spec fields as a `MonitorConfig` (a pydantic
model: names, types, ranges) beside its class; `stinger.monitors.registry` maps
``type:`` in the spec to both, so a monitor is built only from a validated config.

`write_series`/`read_series` own the run directory's `series.csv`:
`t,series,value,unit,labels`, labels written as `k=v;k=v` with `\\`, `;` and `=`
backslash-escaped. `summarize_series` reduces points to per-series statistics.
"""

from __future__ import annotations

import csv
import math
import os
import threading
import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from os import PathLike
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from stinger.core.series import SeriesInfo
from stinger.errors import StingerError, UsageError

__all__ = [
    "DeclaresSeries",
    "Labels",
    "Monitor",
    "MonitorConfig",
    "MonitorConfigError",
    "MonitorError",
    "MonitorRunner",
    "Point",
    "PointLog",
    "ServerTimeSource",
    "read_series",
    "series_key",
    "summarize_series",
    "write_series",
]

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Point:
    """One value of one series at `t` seconds on the run clock."""

    t: float
    series: str
    value: float
    unit: str = ""
    labels: Labels = ()


class MonitorError(StingerError):
    """A monitor cannot measure (process gone, scrape failed, no NVML).

    Never fatal: the runner turns it into a warning and the run goes on.
    """


class MonitorConfigError(UsageError):
    """A monitor was asked for in a way that cannot work (e.g. two process selectors)."""


class MonitorConfig(BaseModel):
    """The spec fields of one monitor (``monitors: [{type: ..., ...}]``); each kind extends it.

    Unknown fields are errors (a misspelt option must not be silently ignored);
    ``name`` prefixes the monitor's series. `kwargs` is what the monitor's
    constructor takes.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: str
    name: str

    def kwargs(self) -> dict:
        return self.model_dump(exclude={"type"})

    # the `--monitor KIND=VALUE` forms of a kind whose flag `monitors.registry` does not parse itself
    # (a vendor's monitor), shown when a value is wrong; `from_flag` reads VALUE
    flag_forms: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_flag(cls, value: str) -> dict[str, Any] | None:
        """The `monitors:` entry `--monitor KIND=VALUE` means, None when VALUE is not a form of this kind."""
        return None

    @classmethod
    def default_name(cls) -> str:
        """The name a monitor of this kind gets when the spec gives none (its `name` field's default:
        the one place it is written); a second one of a kind is numbered after it (`prom2`)."""
        default = cls.model_fields["name"].default
        return default if isinstance(default, str) else cls.model_fields["type"].default


@runtime_checkable
class Monitor(Protocol):
    """What the runner needs from a monitor. All calls come from one thread."""

    name: str

    def start(self) -> None:
        """Find what to watch and take a baseline; raise MonitorError if impossible."""

    def sample(self, t: float) -> list[Point]:
        """Measure now; `t` is the run-clock time to stamp the points with."""
        ...

    def stop(self) -> None:
        """Release resources; must not raise."""


@runtime_checkable
class DeclaresSeries(Protocol):
    """A monitor that says what each of its series measures (`core.series.Role`: the endpoint's CPU,
    memory, a GPU, ...). The runner records the role the first time a series appears; the summary's
    `resources` and the live view read roles, never series names."""

    def series_info(self, series: str) -> SeriesInfo | None:
        """The role of `series` (a `Point.series` this monitor emits); None: nothing to say."""
        ...


@runtime_checkable
class ServerTimeSource(Protocol):
    """A monitor that reads the server's own time from the model server's metrics (a Prometheus preset).

    `server_time` is the time per request between the samples that bracket [start, end] on the run
    clock, of the series whose labels name one of `match` (a URL's path segments: the model), as
    ``{"count", "mean", "p50".., "bounds", "family", "kind", "labels"}`` in ms; None when it saw none.
    Orchestration asks it by this protocol (`isinstance`), never by name."""

    name: str

    @property
    def server_time_families(self) -> tuple[str, ...]:
        """The metric families it would read server time from (for the note when none saw requests)."""
        ...

    def server_time(self, start: float, end: float | None, *, match: Sequence[str] = ()) -> dict | None:
        ...


class PointLog:
    """Every point of a run, in arrival order, 21 bytes each: columns (t, value as
    float64; whether the value was an int, so it comes back one; which series, unit
    and labels as a u32 into a table of the distinct ones).

    A run samples its monitors every second for as long as it lasts; as `Point`
    objects (with a fresh labels tuple each) that was ~250 bytes a point, ~150 MB
    a day with two workers' generator series alone. Iterating yields `Point`s.
    """

    __slots__ = ("_t", "_v", "_int", "_k", "_keys", "_ids")

    def __init__(self, points: Iterable[Point] = ()) -> None:
        self._t = array("d")
        self._v = array("d")
        self._int = array("B")
        self._k = array("I")
        self._keys: list[tuple[str, str, Labels]] = []
        self._ids: dict[tuple[str, str, Labels], int] = {}
        self.extend(points)

    def extend(self, points: Iterable[Point]) -> None:
        for p in points:
            key = (p.series, p.unit, p.labels)
            k = self._ids.get(key)
            if k is None:
                k = self._ids[key] = len(self._keys)
                self._keys.append(key)
            self._t.append(p.t)
            self._v.append(p.value)
            self._int.append(type(p.value) is int)
            self._k.append(k)

    def __iter__(self) -> Iterator[Point]:
        keys = self._keys
        for t, v, is_int, k in zip(self._t, self._v, self._int, self._k, strict=True):
            series, unit, labels = keys[k]
            yield Point(t, series, int(v) if is_int else v, unit, labels)

    def __len__(self) -> int:
        return len(self._t)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PointLog | list | tuple):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable


def series_key(series: str, labels: Labels = ()) -> str:
    """`series` or `series{k=v,k=v}`: the identity of one time series."""
    if not labels:
        return series
    return series + "{" + ",".join(f"{k}={v}" for k, v in labels) + "}"


def _message(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    if isinstance(exc, MonitorError) and first:
        return first
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _yield_to_workers() -> None:
    """Lower this thread's scheduling priority (Linux: nice is per thread). Sampling /proc costs about a
    millisecond of CPU a second; on a core shared with a load worker, a worker woken by a response used to
    wait for that slice to end (a burst of answers late by 1-3 ms at the same instant every second). At
    nice +10 the worker preempts it at once; the sampling still gets its share of an idle or busy core."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10))
    except (AttributeError, OSError):   # not Linux, or not allowed: sample at the usual priority
        pass


class MonitorRunner:
    """Samples every monitor each `interval` seconds in a daemon thread.

    Ticks are aligned to `start() + k * interval` on the run clock; a tick that
    is missed because sampling took longer is skipped, not made up in a burst.
    `stop()` joins the thread and then takes one final sample, so a run shorter
    than one interval still gets a measurement.
    """

    def __init__(
        self,
        monitors: Sequence[Monitor],
        *,
        t0: float,
        interval: float = 1.0,
        on_warning: Callable[[str], None] | None = None,
        max_failures: int = 3,
    ) -> None:
        if not interval > 0:
            raise MonitorConfigError(f"monitor interval must be > 0 seconds, got {interval!r}")
        self.t0 = t0
        self.interval = float(interval)
        self.max_failures = max(1, int(max_failures))
        self.points = PointLog()
        self.warnings: list[str] = []
        self.disabled: dict[str, str] = {}  # monitor name -> why
        self._monitors = list(monitors)
        self._active: list[Monitor] = []
        self._failures: dict[int, int] = {}
        self._warned: set[int] = set()
        self._on_warning = on_warning
        self._lock = threading.Lock()
        self._latest: dict[str, Point] = {}
        self.roles: dict[str, SeriesInfo] = {}   # Point.series -> what it measures (`DeclaresSeries`)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def now(self) -> float:
        return time.perf_counter() - self.t0

    def _warn(self, text: str) -> None:
        self.warnings.append(text)
        if self._on_warning is not None:
            try:
                self._on_warning(text)
            except Exception:  # a broken callback must not kill the sampling thread
                pass

    def start(self) -> None:
        """Start every monitor (in the caller's thread, so start-up warnings come
        before the run begins) and then the sampling thread."""
        if self._thread is not None:
            return
        for monitor in self._monitors:
            try:
                monitor.start()
            except Exception as exc:
                why = _message(exc)
                self.disabled[monitor.name] = why
                self._warn(f"monitor {monitor.name} disabled: {why}")
            else:
                self._active.append(monitor)
        self._thread = threading.Thread(target=self._loop, name="stinger-monitors", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        _yield_to_workers()
        first = self.now()
        ticks = 1
        while True:
            due = first + ticks * self.interval
            if self._stop.wait(max(0.0, due - self.now())):
                return
            self._sample_all()
            # Skip ticks that already passed while sampling (no catch-up burst).
            ticks = max(ticks + 1, math.floor((self.now() - first) / self.interval) + 1)

    def _sample_all(self) -> None:
        for monitor in list(self._active):
            try:
                points = monitor.sample(self.now())
            except Exception as exc:
                self._failed(monitor, exc)
                continue
            self._failures[id(monitor)] = 0
            if points:
                declares = isinstance(monitor, DeclaresSeries)
                with self._lock:
                    self.points.extend(points)
                    for point in points:
                        self._latest[series_key(point.series, point.labels)] = point
                        if declares and point.series not in self.roles:
                            info = monitor.series_info(point.series)  # type: ignore[attr-defined]  # declares
                            if info is not None:
                                self.roles[point.series] = info

    def _failed(self, monitor: Monitor, exc: Exception) -> None:
        key = id(monitor)
        count = self._failures.get(key, 0) + 1
        self._failures[key] = count
        why = _message(exc)
        if key not in self._warned:
            self._warned.add(key)
            self._warn(f"monitor {monitor.name}: {why}")
        if count >= self.max_failures:
            self._active.remove(monitor)
            self.disabled[monitor.name] = f"{count} consecutive failures, last: {why}"
            self._stop_one(monitor)

    @staticmethod
    def _stop_one(monitor: Monitor) -> None:
        try:
            monitor.stop()
        except Exception:  # stopping is best effort; the run's results matter more
            pass

    def stop(self) -> None:
        """Join the sampling thread, take one final sample, stop every monitor."""
        if self._stopped:
            return
        self._stopped = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._sample_all()
        for monitor in self._active:
            self._stop_one(monitor)
        self._active = []

    def latest(self) -> dict[str, Point]:
        """The newest point of every series (key: `series_key`), for the live view."""
        with self._lock:
            return dict(self._latest)

    def snapshot(self) -> list[Point]:
        """A copy of every point so far, safe to read while the thread runs."""
        with self._lock:
            return list(self.points)

    def __enter__(self) -> MonitorRunner:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- series.csv --------------------------------------------------------------

SERIES_HEADER = ("t", "series", "value", "unit", "labels")


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace("=", "\\=")


def format_labels(labels: Labels) -> str:
    return ";".join(f"{_escape(k)}={_escape(v)}" for k, v in labels)


def parse_labels(text: str) -> Labels:
    """Inverse of format_labels; raises ValueError on a malformed field."""
    if not text:
        return ()
    pairs: list[tuple[str, str]] = []
    key: str | None = None
    buf: list[str] = []
    chars = iter(text)
    for ch in chars:
        if ch == "\\":
            buf.append(next(chars, ""))
        elif ch == "=" and key is None:
            key, buf = "".join(buf), []
        elif ch == ";":
            if key is None:
                raise ValueError(f"label without '=': {''.join(buf)!r}")
            pairs.append((key, "".join(buf)))
            key, buf = None, []
        else:
            buf.append(ch)
    if key is None:
        raise ValueError(f"label without '=': {''.join(buf)!r}")
    pairs.append((key, "".join(buf)))
    return tuple(pairs)


def write_series(points: Iterable[Point], path: str | PathLike[str]) -> None:
    """Write points to a CSV file (`t,series,value,unit,labels`); floats round-trip."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(SERIES_HEADER)
        for p in points:
            writer.writerow((repr(float(p.t)), p.series, repr(float(p.value)), p.unit, format_labels(p.labels)))


def read_series(path: str | PathLike[str]) -> list[Point]:
    """Read a file written by write_series."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            return []
        if tuple(header) != SERIES_HEADER:
            raise ValueError(f"{path}: not a series file (header {header!r})")
        return [
            Point(float(t), series, float(value), unit, parse_labels(labels))
            for t, series, value, unit, labels in reader
        ]


def summarize_series(points: Iterable[Point]) -> dict[str, dict[str, object]]:
    """Per series (key: `series_key`): unit, mean, peak, min, last, n.

    NaN values are ignored; a series with no finite value has n = 0 and NaN
    statistics. `last` is the value with the largest t.
    """
    groups: dict[str, list[Point]] = {}
    for p in points:
        groups.setdefault(series_key(p.series, p.labels), []).append(p)
    out: dict[str, dict[str, object]] = {}
    for key, group in groups.items():
        finite = sorted((p for p in group if math.isfinite(p.value)), key=lambda p: p.t)
        values = [p.value for p in finite]
        nan = float("nan")
        out[key] = {
            "unit": group[0].unit,
            "mean": math.fsum(values) / len(values) if values else nan,
            "peak": max(values) if values else nan,
            "min": min(values) if values else nan,
            "last": values[-1] if values else nan,
            "n": len(values),
        }
    return out
