"""The target's flags, generated from what each kind declares (`targets/abilities.py`: `TargetFlags`).

A kind with flags (an api, a carrier or a vendor's) gives the command line:

- `--target KIND=ARG`, ARG read by the kind's own `from_flag` (as `--monitor KIND=WHAT` is read by
  the monitor's registry);
- its alias (`--url URL`, `--openai URL`, `--kserve URL`, and a vendor's), the same as
  `--target KIND=ARG`;
- the flags that set its fields (`--model`, `--max-tokens`, `--header`, ...). A flag two kinds
  declare is one option. A flag whose kind the target is not of is a one-line usage error naming
  the targets it needs ("--max-tokens needs --openai URL"); a field the target requires and no flag
  set is one too ("--openai needs --model MODEL").

The CLI never names a kind: the kinds come from `SIDES` and the vendors' lines, and what a flag does
is its declaration (a target field, environment variables, a monitor entry).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import click

from stinger.cli.help import option
from stinger.targets.abilities import SIDES, TargetFlag, TargetFlags, VariantDiscovery, coordinator_side
from stinger.targets.base import registry

# the click destinations that keep their older names (resolve_spec's callers pass them)
_DESTS = {"--url": "urls", "--header": "headers"}
_SHORT = {"--header": "-H"}


@dataclass(frozen=True)
class Kind:
    """One kind with flags: its name (`--target NAME=ARG`) and its coordinator half."""

    name: str
    side: TargetFlags

    @property
    def usage(self) -> str:
        """How the command line names it: `--openai URL`, else `--target fake=DELAY`."""
        if self.side.alias is not None:
            return f"{self.side.alias} {self.side.alias_metavar}"
        return f"--target {self.name}={self.side.alias_metavar}"


def kinds() -> list[Kind]:
    """Every kind with command-line flags, in the registry's order (a side shared by two kinds once)."""
    from stinger.core.plugins import vendor_lines

    out: list[Kind] = []
    for name in {**SIDES, **vendor_lines("sides")}:
        side = coordinator_side(name)
        if isinstance(side, TargetFlags) and all(side is not k.side for k in out):
            out.append(Kind(name, side))
    return out


def dest(opt: str) -> str:
    return _DESTS.get(opt, opt.lstrip("-").replace("-", "_"))


def _owned() -> dict[str, tuple[TargetFlag, list[Kind]]]:
    """Each target flag once, with the kinds that declare it."""
    owned: dict[str, tuple[TargetFlag, list[Kind]]] = {}
    for k in kinds():
        for f in k.side.flags:
            owned.setdefault(f.option, (f, []))[1].append(k)
    return owned


def target_options(fn: Any) -> Any:
    """The target section: `--url` first, `--target`, the other aliases, then the kinds' flags."""
    opts = []
    for k in kinds():
        if k.side.alias is not None:
            many = "; repeat for several (served round-robin)" if k.side.variant_key == "url" else ""
            opts.append(option(k.side.alias, dest(k.side.alias), group="Target", rank=0 if many else 2,
                               multiple=True, metavar=k.side.alias_metavar,
                               help=f"{k.side.alias_help}{many} (= --target {k.name}={k.side.alias_metavar})."))
    names = ", ".join(f"{k.name}={k.side.alias_metavar}" for k in kinds())
    opts.insert(1, option("--target", "target_flag", group="Target", rank=1, metavar="KIND=ARG", default=None,
                          help=f"The target, read by its kind: {names}."))
    carriers = registry("carriers")
    for opt, (f, owners) in _owned().items():
        # an api's flag names its alias; a carrier's applies to every target over it
        which = ", ".join(f"over {k.name}" if k.name in carriers else k.usage.split()[0] for k in owners)
        kw: dict[str, Any] = {"help": f"{which}: {f.help}", "default": None, "multiple": f.multiple}
        if f.is_flag:
            kw["is_flag"] = True
        else:
            kw["type"] = f.type
            kw["metavar"] = f.metavar
        decls = (opt, *([_SHORT[opt]] if opt in _SHORT else []), dest(opt))
        opts.append(option(*decls, group="Target", rank=10, **kw))
    for o in reversed(opts):
        fn = o(fn)
    return fn


def target_params() -> tuple[str, ...]:
    """The click destinations of every target option (popped from a command's params)."""
    return ("target_flag", *(dest(k.side.alias) for k in kinds() if k.side.alias), *map(dest, _owned()))


# ------------------------------------------------------------------ flags -> the target
@dataclass
class Named:
    """The target the command line names (or None: the spec file's), and what the flags add."""

    kind: Kind | None
    target: dict[str, Any]        # the `target:` keys the flags set (merged over the spec's)
    monitors: list[str]           # `--monitor` entries the flags add
    given: dict[str, Any]         # the target flags given: option -> value


def named_target(params: dict[str, Any]) -> Named:
    """Pop the target flags from `params`: the target they name and the fields they set."""
    values = {d: params.pop(d, None) for d in target_params()}
    chosen: list[tuple[Kind, str, list[str]]] = []
    for k in kinds():
        if k.side.alias is not None and values.get(dest(k.side.alias)):
            chosen.append((k, k.side.alias, list(values[dest(k.side.alias)])))
    if values["target_flag"]:
        chosen.append(_target_flag(values["target_flag"]))
    if len(chosen) > 1:
        raise click.UsageError(f"give one target: {chosen[0][1]} or {chosen[1][1]}, not both")
    target: dict[str, Any] = {}
    kind = None
    if chosen:
        kind, _how, args = chosen[0]
        target = dict(kind.side.from_flag(args[0]))
        if len(args) > 1:
            target["urls"] = args[1:]     # more than one address: the pair's `urls` (the spec says if it has none)
    owned = _owned()
    # (by identity: `0 in (None, (), False)` holds, so `--max-tokens 0` was dropped unseen, not refused)
    given = {opt: v for opt in owned if (v := values[dest(opt)]) is not None and v is not False and v != ()}
    monitors: list[str] = []
    for opt, value in given.items():
        f = owned[opt][0]
        if f.field is not None:
            target[f.field] = _header_pairs(value) if f.field == "headers" else (list(value) if f.multiple else value)
        if f.monitor is not None:
            monitors.append(f.monitor)
    return Named(kind, target, monitors, given)


def _target_flag(text: str) -> tuple[Kind, str, list[str]]:
    name, sep, arg = text.partition("=")
    by_name = {k.name: k for k in kinds()}
    if not sep or name.strip() not in by_name or not arg.strip():
        raise click.BadParameter(f"{text!r}: expected KIND=ARG, KIND one of {', '.join(by_name)}",
                                 param_hint="--target")
    return by_name[name.strip()], "--target", [arg.strip()]


def check_flags(named: Named, target: Mapping[str, Any] | None) -> None:
    """Each target flag given must belong to a kind of `target` (the merged `target:`, or the base of
    the variants), and the fields the target's pair requires must be set."""
    from stinger.targets.base import normalise_target

    owned = _owned()
    of = {} if target is None else normalise_target(target)
    present = {of.get("type"), of.get("via")}
    for opt in named.given:
        owners = owned[opt][1]
        if not any(coordinator_side(name) is k.side for name in present if isinstance(name, str) for k in owners):
            raise click.UsageError(f"{opt} needs {' or '.join(k.usage for k in owners)}")
    if named.kind is not None and target is not None:
        _check_required(named.kind, of)


def _check_required(kind: Kind, target: Mapping[str, Any]) -> None:
    from stinger.errors import SpecError
    from stinger.targets.base import config_class, pair_tag

    tag = pair_tag(target)
    try:
        fields = config_class(tag).model_fields if tag else {}
    except SpecError:
        return   # the spec names an unknown pair in its own words
    for f in kind.side.flags:
        if f.field and f.field in fields and fields[f.field].is_required() and f.field not in target:
            raise click.UsageError(f"{kind.usage.split()[0]} needs {f.option} {f.metavar or f.field.upper()}")


def _header_pairs(headers: Any) -> dict[str, str]:
    out = {}
    for h in headers:
        if ":" not in h:
            raise click.BadParameter(f"header {h[:40]!r} must look like 'Name: value'", param_hint="--header")
        k, v = h.split(":", 1)
        if not k.strip():
            raise click.BadParameter("header ':...' has no name", param_hint="--header")
        out[k.strip()] = v.strip()
    return out


# ------------------------------------------------------------------ ab: two variants of one kind
_FIELDS = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def variant_target(base: dict[str, Any], kind: Kind | None, value: str, flag: str) -> dict[str, Any]:
    """`ab --a VALUE`: the base target with VALUE as the kind's `variant_key` (a URL for plain HTTP,
    a model for --kserve), its `url` when VALUE is one (the same model on two servers), or
    `KEY=VALUE[,KEY=VALUE]` as fields."""
    if _FIELDS.match(value):
        fields = {}
        for part in value.split(","):
            key, sep, v = part.partition("=")
            if not sep or not _FIELDS.match(part):
                raise click.BadParameter(f"{value!r}: expected a value or KEY=VALUE[,KEY=VALUE]", param_hint=flag)
            fields[key.strip()] = v.strip()
        return {**base, **fields}
    key = kind.side.variant_key if kind is not None else _default_kind().side.variant_key
    if "://" in value:
        key = "url"
    return {**base, key: value}


def _default_kind() -> Kind:
    """The kind a bare `--a URL` is of: the one whose alias takes a URL to plain HTTP (`--url`)."""
    return next(k for k in kinds() if k.side.variant_key == "url")


def discover(kind: Kind, config: Any, *, pin: bool) -> list[dict[str, Any]]:
    """The variants the named endpoint has (`ab --ALIAS ENDPOINT` without --a/--b) as spec variants,
    through `_api.discover_variants` (its kind's `VariantDiscovery`); a kind that cannot list them is
    told in the flags' words."""
    from stinger._api import discover_variants

    if not isinstance(kind.side, VariantDiscovery):
        raise click.UsageError(f"{kind.usage} names one endpoint: give --a and --b "
                               f"(each a {kind.side.variant_key}) for the two variants")
    return discover_variants(config.model_dump(mode="json", exclude_none=True), pin=pin)
