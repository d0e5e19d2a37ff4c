"""Targets: the kinds of endpoint stinger sends to (plain HTTP, the in-memory fake, ...).

`base.py` holds the protocol and the one registry; each target is a module with
its `Config` and its class. See `stinger.targets.base` for how to add one.
"""

from stinger.targets.base import (
    NEVER_EXPIRES,
    REGISTRY,
    Connector,
    Endpoint,
    Interpretation,
    Needs,
    Preflight,
    ResponseBatch,
    Target,
    TargetConfig,
    build_target,
    config_class,
    target_class,
)

__all__ = ["NEVER_EXPIRES", "REGISTRY", "Connector", "Endpoint", "Interpretation", "Needs", "Preflight",
           "ResponseBatch", "Target", "TargetConfig", "build_target", "config_class", "target_class"]
