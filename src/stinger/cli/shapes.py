"""The load-shape flags (`--ramp`, `--steps`, `--spike`, `--replay-arrivals`, `--speed`) as the spec's
`load.shape` (and `load.mode: closed` when users, not a rate, set the load)."""

from __future__ import annotations

from typing import Any

import click

EXAMPLES = {"ramp": "10:500:60s", "steps": "100:100:5:20s", "spike": "50:500:20s:5s"}


def shape_overrides(params: dict[str, Any]) -> dict[str, Any]:
    given = [k for k in ("ramp", "steps", "spike", "replay_arrivals") if params.get(k)]
    speed: dict[str, Any] = {} if params.get("speed") is None else {"load.shape.speed": params["speed"]}
    if params.get("speed") is not None and not params["speed"] > 0:
        raise click.BadParameter(f"must be a positive factor such as 2 or 0.5, got {params['speed']:g}",
                                 param_hint="--speed")
    if not given:
        return speed
    if len(given) > 1:
        raise click.BadParameter("give one of --ramp, --steps, --spike, --replay-arrivals",
                                 param_hint="--" + given[1].replace("_", "-"))
    if given[0] == "replay_arrivals":
        if params.get("rate") is not None or params.get("users") is not None:
            raise click.BadParameter("the capture's arrival times set the load: give no --rate or --users with it",
                                     param_hint="--replay-arrivals")
        return {"load.shape": {"trace": "capture", **({"speed": params["speed"]} if speed else {})}}
    kind = given[0]
    closed = params.get("users") is not None and params.get("rate") is None
    try:
        shape = _shape(kind, params[kind].split(":"), closed)
    except ValueError:
        raise click.BadParameter(f"{params[kind]!r} is not a {kind}; expected e.g. {EXAMPLES[kind]}",
                                 param_hint="--" + kind) from None
    out: dict[str, Any] = {"load.shape": shape, **speed}
    if closed:
        out["load.mode"] = "closed"
    return out


def _shape(kind: str, parts: list[str], closed: bool) -> dict[str, Any]:
    """One shape from its colon-separated parts; ValueError when they do not fit it."""
    if len(parts) != {"ramp": 3, "steps": 4, "spike": 4}[kind]:
        raise ValueError(kind)
    if kind == "ramp":
        if closed:
            return {"ramp": {"from": int(parts[0]), "to": int(parts[1]), "over": parts[2]}}
        return {"ramp": {"from": parts[0], "to": parts[1], "over": parts[2]}}
    if kind == "steps":
        start, step, count, each = float(parts[0]), float(parts[1]), int(parts[2]), parts[3]
        field = "users" if closed else "rate"
        return {"steps": [{field: (int(start + k * step) if closed else start + k * step), "duration": each}
                          for k in range(count)]}
    return {"spike": {"baseline": parts[0], "height": parts[1], "at": parts[2], "length": parts[3]}}
