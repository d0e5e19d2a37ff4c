"""Loading a spec: YAML with a line map, validation, and errors of one line.

A spec error names the file, the line, the field, and what was expected:
`spec.yaml line 7: load.rate: rate must be > 0, got -5`. A target's fields
are named as the user wrote them: `target.url` (the discriminator tag pydantic
puts in the path is dropped), and `variants.0.url` for a variant in the flat
form (its fields are validated inside `target`). Flags given on the command
line override the file's values (`merge_overrides`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from stinger.errors import SpecError
from stinger.spec.model import Spec
from stinger.targets.base import REGISTRY


def _line_map(text: str) -> dict[tuple, int]:
    """Map each key path in a YAML document to its 1-based line number."""
    lines: dict[tuple, int] = {}
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return lines

    def walk(node, path: tuple) -> None:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = k.value
                lines[path + (key,)] = k.start_mark.line + 1
                walk(v, path + (key,))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[path + (i,)] = item.start_mark.line + 1
                walk(item, path + (i,))

    if root is not None:
        walk(root, ())
    return lines


def _as_written(loc: tuple, lines: dict[tuple, int]) -> tuple:
    """The error's path as the user wrote it: without the union's tag after `target`,
    and without `target` itself for a flat variant (its fields sit on the variant)."""
    out: list = []
    for x in loc:
        if out and out[-1] == "target" and x in REGISTRY:
            continue  # the discriminator tag pydantic adds
        out.append(x)
    loc = tuple(out)
    if lines and "target" in loc:
        k = loc.index("target")
        flat = loc[:k] + loc[k + 1:]
        if len(flat) > k and loc[:k + 2] not in lines and flat[:k + 1] in lines:
            return flat
    return loc


def _format_error(err: ValidationError, source: str | None, lines: dict[tuple, int]) -> str:
    e = err.errors()[0]
    loc = tuple(x for x in e["loc"] if not (isinstance(x, str) and x.startswith("function-")))
    if e["type"] in ("union_tag_invalid", "union_tag_not_found"):
        loc = loc + ("type",)  # the union is told apart by `type`: that is the field in error
    loc = _as_written(loc, lines)
    msg = e["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if e["type"] == "extra_forbidden":
        msg = "unknown field (check the spelling; see the README's spec reference)"
    elif e["type"] == "missing":
        msg = "required field is missing"
    elif e["type"] in ("union_tag_invalid", "union_tag_not_found"):
        tag = (e.get("ctx") or {}).get("tag")
        msg = f"unknown target type {tag!r}; expected one of {', '.join(sorted(REGISTRY))}"
    field = ".".join(str(x) for x in loc) or "spec"
    line = None
    for n in range(len(loc), 0, -1):
        if loc[:n] in lines:
            line = lines[loc[:n]]
            break
    where = ""
    if source:
        where = f"{source} line {line}: " if line else f"{source}: "
    value = e.get("input")
    shown = ""
    if e["type"] not in ("missing", "extra_forbidden", "union_tag_invalid") and isinstance(value, (str, int, float)) \
            and str(value) not in msg:
        shown = f" (got {value!r})"
    text = f"{where}{field}: {msg}{shown}"
    return " ".join(text.split())


def parse_spec(data: dict, *, source: str | None = None, text: str | None = None) -> Spec:
    """Validate a spec dict; errors become one-line SpecErrors."""
    from stinger.monitors.registry import check_spec_monitors

    lines = _line_map(text) if text else {}
    try:
        spec = Spec.model_validate(data)
        check_spec_monitors(data)  # each monitor's own typed config, errors located like any field
        return spec
    except ValidationError as err:
        raise SpecError(_format_error(err, source, lines)) from None
    except SpecError as err:  # raised inside a validator (durations, rates)
        raise SpecError(f"{source + ': ' if source else ''}{err}") from None


def load_spec_file(path: str | os.PathLike) -> tuple[dict, str, str]:
    """Read a YAML spec: (data, text, display name). Unreadable or malformed -> SpecError."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise SpecError(f"cannot read spec {p}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(f"{p.name}{where}: invalid YAML: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError(f"{p.name}: a spec must be a mapping of fields (target, load, ...), got {type(data).__name__}")
    return data, text, p.name


def merge_overrides(data: dict, overrides: dict) -> dict:
    """Deep-merge CLI overrides (dotted keys such as 'load.rate') into spec data."""
    out = _deepcopy(data)
    for dotted, value in overrides.items():
        if value is None:
            continue
        node = out
        keys = dotted.split(".")
        for k in keys[:-1]:
            nxt = node.get(k)
            if not isinstance(nxt, dict):
                nxt = {}
                node[k] = nxt
            node = nxt
        node[keys[-1]] = value
    return out


def _deepcopy(d: Any) -> Any:
    if isinstance(d, dict):
        return {k: _deepcopy(v) for k, v in d.items()}
    if isinstance(d, list):
        return [_deepcopy(v) for v in d]
    return d
