"""Flags and a spec file -> a validated `Spec`: `resolve_spec` (tests and scripts use it too), the
`--monitor` entries, and `--price-per-hour` on the targets that are priced (`Priced`)."""

from __future__ import annotations

from typing import Any

import click

from stinger.cli.flags import overrides_from_flags
from stinger.cli.targets import Named, check_flags, kinds, named_target
from stinger.targets.abilities import Priced, coordinator_side


def resolve_spec(spec_file: str | None, params: dict[str, Any], extra: dict[str, Any] | None = None,
                 named: Named | None = None) -> tuple[Any, dict[str, Any]]:
    """(Spec, its data) from a spec file and/or flags (flags win). `params` are a command's flags by
    click destination (`{"urls": (URL,), "rate": "10", ...}`); the target's are popped from it unless
    `named` (read already) is given; `extra` adds dotted spec keys (`variants` replaces the target)."""
    from stinger.spec import load_spec_file, merge_overrides, parse_spec

    named = named if named is not None else named_target(params)
    data: dict = {}
    text = source = None
    if spec_file:
        data, text, source = load_spec_file(spec_file)
    ov = {f"target.{k}": v for k, v in named.target.items()}
    ov.update(overrides_from_flags(params))
    ov.update(extra or {})
    if "variants" in ov:  # variants given on the command line replace the spec's target
        data = {k: v for k, v in data.items() if k not in ("target", "variants")}
        ov = {k: v for k, v in ov.items() if not k.startswith("target.")}
    merged = merge_overrides(data, ov)
    _flag_picks_the_model(merged, ov)
    if "variants" not in ov:
        target = merged.get("target")
        check_flags(named, target if isinstance(target, dict) else None)
    entries = monitor_entries(tuple(params.get("monitor_flags") or ()) + tuple(named.monitors))
    if entries:
        merged["monitors"] = list(merged.get("monitors") or []) + entries
    # (a body implies POST for plain HTTP: the spec's own rule, `targets.http.Config.with_payload`)
    spec = parse_spec(merged, source=source, text=text)
    return spec, spec.model_dump(mode="json", by_alias=True, exclude_none=True)


def _flag_picks_the_model(merged: dict, ov: dict[str, Any]) -> None:
    """Flags win: `--rate` over a spec of `users:` runs open, `--users` over a spec's rate runs closed (the
    spec's setting of the other model is dropped); `--rate` and `--users` together stay a mistake (spec/model.py)."""
    load = merged.get("load")
    if not isinstance(load, dict) or ("load.rate" in ov) == ("load.users" in ov):
        return
    drop = {"users"} if "load.rate" in ov else {"rate"}
    payload = merged.get("payload")
    if "load.rate" in ov and "load.think_time" not in ov and not (isinstance(payload, dict) and payload.get("sessions")):
        drop.add("think_time")   # the closed model's, with its users
    merged["load"] = {k: v for k, v in load.items() if k not in drop}


def monitor_entries(texts: tuple[str, ...]) -> list[dict]:
    """``--monitor`` values as spec ``monitors:`` entries; a second monitor of a kind gets a numbered name."""
    from stinger.monitors.registry import default_name, parse_monitor_flag

    entries: list[dict] = []
    seen: dict[str, int] = {}
    for text in texts:
        try:
            entry = parse_monitor_flag(text)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--monitor") from None
        n = seen[entry["type"]] = seen.get(entry["type"], 0) + 1
        if n > 1:
            entry["name"] = f"{default_name(entry['type'])}{n}"
        entries.append(entry)
    return entries


def _priced_side(target: Any) -> Priced | None:
    for kind in (target.type, target.via):
        side = coordinator_side(kind)
        if isinstance(side, Priced):
            return side
    return None


def has_priced(spec: Any) -> bool:
    return any(_priced_side(v.target) is not None for v in spec.all_variants())


def priced_usage() -> str:
    """The targets `--price-per-hour` prices, as the command line names them."""
    return " or ".join(k.usage for k in kinds() if isinstance(k.side, Priced)) or "none"


def with_prices(spec: Any, prices: tuple[float, float]) -> Any:
    """The spec with an instance price on each priced target: the first price for the first variant,
    the second for the others (`--price-per-hour A,B`); recorded in spec.yaml."""
    if not all(p > 0 and p == p and p != float("inf") for p in prices):
        raise click.BadParameter(f"{prices[0]:g}: expected a positive number of US dollars per instance-hour",
                                 param_hint="--price-per-hour")
    if not spec.variants:
        side = _priced_side(spec.target)
        return spec if side is None else spec.model_copy(update={"target": side.with_price(spec.target, prices[0])})
    variants = []
    for k, v in enumerate(spec.variants):
        side = _priced_side(v.target)
        variants.append(v if side is None else
                        v.model_copy(update={"target": side.with_price(v.target, prices[min(k, 1)])}))
    return spec.model_copy(update={"variants": variants})


def pair(text: str | None, kind: Any, flag: str) -> tuple[Any, Any] | None:
    """'X' or 'X,Y' -> (X, X) or (X, Y); None stays None."""
    if text is None:
        return None
    try:
        parts = [kind(x) for x in str(text).split(",")]
    except ValueError:
        raise click.BadParameter(f"{text!r}: expected a number or two separated by a comma", param_hint=flag) from None
    if len(parts) not in (1, 2) or any(x <= 0 for x in parts):
        raise click.BadParameter(f"{text!r}: expected one or two numbers > 0", param_hint=flag)
    return (parts[0], parts[-1])
