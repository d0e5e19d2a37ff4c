"""The monitor registry: ``type:`` in a spec's ``monitors:`` -> the monitor class and its typed config.

One line per kind in `REGISTRY`. Each class carries its spec fields as ``Config``
(a `MonitorConfig`: names, types, ranges, unknown fields rejected), so a spec is
checked field by field when it is loaded (`check_spec_monitors`), with the YAML
line of the mistake, before any run directory exists (errors carry their path
from the spec's root and are formatted by the spec, like any other field); `build`
then makes the monitor from a validated config.

To add a monitor: write `monitors/NAME.py` (a class with ``Config``, ``start``,
``sample``, ``stop``), its test in ``tests/monitors/``, and one line in `REGISTRY`.
The generator self-check is not here: it is not asked for in a spec, every run has it.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import import_module
from typing import Any

from pydantic import ValidationError
from pydantic_core import InitErrorDetails

from stinger.monitors.base import MonitorConfig

__all__ = ["REGISTRY", "build", "check_spec_monitors", "default_name", "kinds", "monitor_class", "monitor_config",
           "parse_monitor_flag"]

# type name -> "module:Class", imported on first use (gpu needs the optional `gpu` extra only to run)
REGISTRY: dict[str, str] = {
    "process": "stinger.monitors.process:ProcessMonitor",
    "prometheus": "stinger.monitors.prometheus:PrometheusMonitor",
    "gpu": "stinger.monitors.gpu:GpuMonitor",
}

Path = tuple[str | int, ...]


def kinds() -> dict[str, str]:
    """Every monitor kind: `REGISTRY` and the lines vendor packages add (`stinger.vendors`)."""
    from stinger.core.plugins import vendor_lines

    return {**REGISTRY, **vendor_lines("monitors")}


def monitor_class(type_name: str) -> Any:
    """The class registered for `type_name` (KeyError if none: `monitor_config` checks first)."""
    module, _, name = kinds()[type_name].partition(":")
    return getattr(import_module(module), name)


def default_name(type_name: str) -> str:
    """The name a monitor of kind `type_name` gets when the spec gives none (`MonitorConfig.default_name`)."""
    return monitor_class(type_name).Config.default_name()


def _value_error(at: Path, value: Any, text: str) -> ValidationError:
    return ValidationError.from_exception_data(
        "monitor", [{"type": "value_error", "loc": at, "input": value, "ctx": {"error": ValueError(text)}}])


def monitor_config(entry: Any, *, at: Path = ("monitors", 0)) -> MonitorConfig:
    """Validate one ``monitors:`` entry found at `at` in the spec.

    Raises `pydantic.ValidationError` with locations from the spec's root (e.g.
    ``monitors.0.port``), so the spec's own error formatting names the field and
    finds its YAML line, exactly as for any other spec field.
    """
    if not isinstance(entry, dict):
        raise _value_error(at, entry, f"a monitor is a mapping such as {{type: process, port: 8080}}, "
                                      f"got {type(entry).__name__}")
    kind = entry.get("type")
    known = kinds()
    if kind not in known:
        got = "no type given" if kind is None else f"unknown monitor type {kind!r}"
        raise _value_error(at + ("type",), kind, f"{got}; expected one of {', '.join(known)}")
    try:
        return monitor_class(kind).Config.model_validate(entry)
    except ValidationError as err:
        located: list[InitErrorDetails] = []
        for e in err.errors():
            detail: InitErrorDetails = {"type": e["type"], "loc": at + tuple(e["loc"]), "input": e["input"]}
            if "ctx" in e:
                detail["ctx"] = e["ctx"]
            located.append(detail)
        raise ValidationError.from_exception_data("monitor", located) from None


def _entries(data: dict) -> Iterator[tuple[Path, Any]]:
    """Every monitor entry of raw spec data, with its path: top-level, then each variant's own."""
    top = data.get("monitors")
    if isinstance(top, list):
        for i, entry in enumerate(top):
            yield ("monitors", i), entry
    variants = data.get("variants")
    if isinstance(variants, list):
        for j, v in enumerate(variants):
            own = v.get("monitors") if isinstance(v, dict) else None
            if isinstance(own, list):
                for i, entry in enumerate(own):
                    yield ("variants", j, "monitors", i), entry


def check_spec_monitors(data: dict) -> None:
    """Validate every monitor a spec's data asks for; the first mistake raises `pydantic.ValidationError`.

    Called by `stinger.spec.parse_spec` after the spec itself validated, so a bad
    monitor is a one-line SpecError with its YAML line when the spec is loaded.
    """
    for at, entry in _entries(data):
        monitor_config(entry, at=at)


def build(entry: dict, *, at: Path = ("monitors", 0)) -> Any:
    """A monitor from one spec entry (validated again: a spec built in code may skip `parse_spec`)."""
    config = monitor_config(entry, at=at)
    return monitor_class(config.type)(**config.kwargs())


MONITOR_FLAG_FORMS = ("prometheus=URL[:PRESET]", "process=PORT", "process=pid:N", "process=cmd:REGEX", "gpu[=INDEX]")


def flag_forms() -> tuple[str, ...]:
    """Every `--monitor` form: ours, then each other kind's own (`MonitorConfig.flag_forms`)."""
    others = (f for kind in kinds() if kind not in REGISTRY for f in monitor_class(kind).Config.flag_forms)
    return MONITOR_FLAG_FORMS + tuple(others)


def parse_monitor_flag(text: str) -> dict:
    """One ``--monitor`` value -> a spec ``monitors:`` entry, validated; ValueError names what was expected.

    ``prometheus=http://127.0.0.1:8082/metrics:mlserver`` (the preset is the last ``:word`` when
    it is not a port), ``process=8080`` (the process listening there), ``process=pid:1234``,
    ``process=cmd:REGEX``, ``gpu`` or ``gpu=0``; a vendor's kind reads its own value (`MonitorConfig.from_flag`).
    """
    kind, sep, value = text.strip().partition("=")
    kind = kind.strip()
    value = value.strip()
    entry: dict[str, Any] | None = None
    if kind == "prometheus" and value:
        url, colon, tail = value.rpartition(":")
        if colon and tail and "/" not in tail and not tail.isdigit() and "://" in url:
            entry = {"type": "prometheus", "url": url, "preset": tail}
        else:
            entry = {"type": "prometheus", "url": value}
    elif kind == "process" and value:
        how, colon, arg = value.partition(":")
        if not colon and value.isdigit():
            entry = {"type": "process", "port": int(value)}
        elif how == "pid" and arg.isdigit():
            entry = {"type": "process", "pid": int(arg)}
        elif how == "cmd" and arg:
            entry = {"type": "process", "cmdline": arg}
        else:
            raise ValueError(f"{text!r}: a process monitor is process=PORT, process=pid:N or process=cmd:REGEX")
    elif kind == "gpu" and (not sep or value.isdigit()):
        entry = {"type": "gpu"} if not sep else {"type": "gpu", "index": int(value)}
    elif kind not in REGISTRY and kind in kinds():
        entry = monitor_class(kind).Config.from_flag(value)
    if entry is None:
        raise ValueError(f"{text!r}: expected one of {', '.join(flag_forms())}")
    try:
        monitor_config(entry, at=("--monitor",))
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(x) for x in first["loc"][1:])
        msg = str(first.get("ctx", {}).get("error") or first["msg"])
        raise ValueError(f"{text!r}: {where + ': ' if where else ''}{msg}") from None
    return entry
