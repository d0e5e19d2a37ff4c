"""stinger: load-test and A/B-test machine-learning model endpoints.

    import stinger

    result = stinger.run({"target": {"url": "http://127.0.0.1:8080/invocations"},
                          "load": {"rate": 50, "duration": "10s"}, "slo": ["p95<300ms"]})
    result.summary["variants"]["default"]["latency_ms"]["p95"]
    result.exit_code                      # 0 ok, 1 an SLO failed or nothing succeeded, 130 Ctrl-C

    stinger.capacity(spec, slos=["p95<300ms"])          # -> CapacityResult (capacity.json)
    stinger.ab(spec_with_two_variants, mode="paired")   # -> AbResult (summary + verdict.json)
    stinger.compare("runs/base", "runs/candidate")      # -> CompareResult (exit_code 1 = regression)
    stinger.read_run("runs/20260101-120000-demo")       # -> RunResult from the files alone

    control = stinger.RunControl()     # from any thread while the run runs: change its load, or end it
    stinger.run(spec, control=control) # control.set_rate("200/s"), .set_users(20), .stop()

User hooks (spec `hooks: {request: "mod:fn", response: "mod:fn"}`): `stinger.Request` ->
`stinger.Request` builds each payload's request once before the run; `stinger.Response` ->
`stinger.Reading` reads each OK answer (prediction, label, token counts, ok) off the event loop.

A spec is a `Spec`, a dict in the YAML spec's shape, or a YAML file's path.
`outputs=[...]` chooses what is shown and kept: "rundir" (the default),
"terminal" (live view and tables), "jsonl", or your own `Output` object.

Only the names in `stinger.__all__` are public. Every module under `stinger.`
is an implementation module that may change between releases.

Errors (all `StingerError`; a `UsageError` is the caller's mistake):

    StingerError
    ├── UsageError
    │   ├── SpecError
    │   ├── DatasetError
    │   └── TargetError
    └── RunError

Importing stinger is cheap: everything is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "AbResult",
    "CapacityResult",
    "CompareResult",
    "DatasetError",
    "ExitCode",
    "Output",
    "Reading",
    "Request",
    "Response",
    "RunControl",
    "RunError",
    "RunResult",
    "Spec",
    "SpecError",
    "StingerError",
    "TargetError",
    "UsageError",
    "__version__",
    "ab",
    "capacity",
    "cluster_init",
    "compare",
    "load_spec",
    "read_run",
    "request_hook",
    "response_hook",
    "run",
]

# public name -> the module that defines it (imported on first access: `import stinger`
# must not pull numpy, scipy, pydantic or rich)
_LAZY = {
    "run": "stinger._api",
    "capacity": "stinger._api",
    "ab": "stinger._api",
    "compare": "stinger._api",
    "cluster_init": "stinger._api",
    "read_run": "stinger._api",
    "load_spec": "stinger._api",
    "RunResult": "stinger._results",
    "RunControl": "stinger.scale.control",
    "CapacityResult": "stinger._results",
    "AbResult": "stinger._results",
    "CompareResult": "stinger._results",
    "ExitCode": "stinger._results",
    "Spec": "stinger.spec",
    "Output": "stinger.outputs.base",
    "StingerError": "stinger.errors",
    "UsageError": "stinger.errors",
    "SpecError": "stinger.errors",
    "DatasetError": "stinger.errors",
    "TargetError": "stinger.errors",
    "RunError": "stinger.errors",
    "Request": "stinger.core.hooks",
    "Response": "stinger.core.hooks",
    "Reading": "stinger.core.hooks",
    "request_hook": "stinger.core.hooks",
    "response_hook": "stinger.core.hooks",
}

if TYPE_CHECKING:  # for type checkers and IDEs; at run time these come from __getattr__
    from stinger._api import ab, capacity, cluster_init, compare, load_spec, read_run, run
    from stinger._results import (
        AbResult,
        CapacityResult,
        CompareResult,
        ExitCode,
        RunResult,
    )
    from stinger.core.hooks import Reading, Request, Response, request_hook, response_hook
    from stinger.errors import (
        DatasetError,
        RunError,
        SpecError,
        StingerError,
        TargetError,
        UsageError,
    )
    from stinger.outputs.base import Output
    from stinger.scale.control import RunControl
    from stinger.spec import Spec


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'stinger' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later accesses skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
