"""Targets: what a request means (an api: plain, openai, kserve) over how it travels (a carrier:
http, a cloud runtime, the in-memory fake).

`base.py` holds the protocols, the composition and the registries; `abilities.py` the
coordinator halves' abilities. See `stinger.targets.base` for how to add an api or a carrier.
"""

from stinger.targets.base import (
    APIS,
    CARRIERS,
    NEVER_EXPIRES,
    PAIRS,
    REGISTRY,
    Api,
    Carrier,
    ComposedTarget,
    Endpoint,
    Interpretation,
    Needs,
    ResponseBatch,
    Target,
    TargetConfig,
    build_target,
    config_class,
)

__all__ = ["APIS", "CARRIERS", "NEVER_EXPIRES", "PAIRS", "REGISTRY", "Api", "Carrier", "ComposedTarget",
           "Endpoint", "Interpretation", "Needs", "ResponseBatch", "Target", "TargetConfig", "build_target",
           "config_class"]
