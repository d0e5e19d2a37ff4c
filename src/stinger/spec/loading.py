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
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from stinger.errors import SpecError
from stinger.spec.model import LATE_PAIR, Spec
from stinger.targets.base import registry, tag_problem


def _line_map(text: str) -> dict[tuple, int]:
    """Map each key path in a YAML document to its 1-based line number."""
    lines: dict[tuple, int] = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError, ValueError):
        return lines

    seen: set[int] = set()

    def walk(node, path: tuple) -> None:
        if id(node) in seen or len(path) > 64:  # an alias is walked once; nesting is bounded on load
            return
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if not isinstance(k, yaml.ScalarNode):
                    continue
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
    tags = {*registry("pairs"), LATE_PAIR}
    for x in loc:
        if out and out[-1] == "target" and x in tags:
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
    problem = ""
    if e["type"] in ("union_tag_invalid", "union_tag_not_found"):
        # the union is told apart by `type` and `via`: the one of them in error is the field
        bad_field, problem = tag_problem(str((e.get("ctx") or {}).get("tag") or "None@None"))
        loc = loc + (bad_field,)
    loc = _as_written(loc, lines)
    msg = e["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if e["type"] == "extra_forbidden":
        msg = "unknown field (check the spelling; see the README's spec reference)"
    elif e["type"] == "missing":
        msg = "required field is missing"
    elif e["type"] in ("union_tag_invalid", "union_tag_not_found"):
        msg = problem
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
        shown = repr(value)
        shown = f" (got {shown if len(shown) <= 80 else shown[:60] + '...'})"
    if len(field) > 120:
        field = field[:100] + "..."
    if len(msg) > 300:
        msg = msg[:280] + "..."
    text = f"{where}{field}: {msg}{shown}"
    return " ".join(text.split())


def parse_spec(data: dict, *, source: str | None = None, text: str | None = None) -> Spec:
    """Validate a spec dict; errors become one-line SpecErrors."""
    from stinger.core.secrets import remember_secrets
    from stinger.monitors.registry import check_spec_monitors

    remember_secrets(data)  # before validation: an error message that echoes a value is scrubbed too
    lines = _line_map(text) if text else {}
    try:
        spec = Spec.model_validate(data)
        check_spec_monitors(data)  # each monitor's own typed config, errors located like any field
        return spec
    except ValidationError as err:
        raise SpecError(_format_error(err, source, lines)) from None
    except SpecError as err:  # raised inside a validator (durations, rates)
        raise SpecError(f"{source + ': ' if source else ''}{err}") from None


MAX_SPEC_BYTES = 16 * 1024 * 1024   # a spec is a page of YAML; past this it is a mistake (a dataset?)
MAX_NODES = 200_000                 # YAML nodes after aliases are expanded (an alias bomb is refused)
MAX_DEPTH = 64                      # nesting of mappings and sequences


def _short(p: Path) -> str:
    """A file's name as shown in an error: never more than a line."""
    name = p.name or str(p)
    return name if len(name) <= 80 else name[:60] + "..." + name[-12:]


def _given(path: str | os.PathLike) -> str:
    """A path as the user gave it (`/data/x.jsonl`, not `x.jsonl`: which file was meant is the point), on
    one line (a control character shown escaped) and at most ~160 characters."""
    text = os.fspath(path)
    text = text if isinstance(text, str) else os.fsdecode(text)
    if not text.isprintable():
        text = repr(text)[1:-1]
    return text if len(text) <= 160 else text[:100] + "..." + text[-50:]


def check_regular_file(path: str | os.PathLike, what: str, error=SpecError, *, allow_dir: bool = False) -> None:
    """Refuse a path that is not a regular file (a FIFO would block, /dev/zero never ends)."""
    import stat

    p = Path(path)
    try:
        st = p.stat()
    except OSError as exc:
        raise error(f"cannot read {what} {_given(path)}: {exc.strerror or type(exc).__name__}") from None
    except ValueError:  # an embedded NUL byte
        raise error(f"cannot read {what}: the path is not a valid file name") from None
    if stat.S_ISREG(st.st_mode) or (allow_dir and stat.S_ISDIR(st.st_mode)):
        return
    kind = "a folder" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode) else \
        "a device" if (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)) else "not a regular file"
    raise error(f"{what} {_given(path)} is {kind}; expected a regular file")


def _read_spec_text(p: Path) -> str:
    check_regular_file(p, "spec")
    try:
        # O_NONBLOCK: should the path become a FIFO between the check and the open, never block
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as fh:
            raw = fh.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise SpecError(f"cannot read spec {_short(p)}: {exc.strerror or type(exc).__name__}") from None
    except ValueError:
        raise SpecError("cannot read spec: the path is not a valid file name") from None
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError(f"{_short(p)}: a spec must be at most {MAX_SPEC_BYTES // (1024 * 1024)} MB; "
                        "is this a dataset? give it with --data / payload.data")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(f"{_short(p)}: not UTF-8 text (byte {exc.start}); a spec is a UTF-8 YAML file") from None


class _BoundedLoader(yaml.SafeLoader):
    """A safe loader that refuses alias bombs and deep nesting before building anything."""


def _check_tree(root, name: str) -> None:
    """Count nodes as aliases expand them (shared nodes counted at every use) and the depth."""
    seen = 0
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            raise SpecError(f"{name}: the YAML expands to more than {MAX_NODES:,} values (an alias bomb?)")
        if depth > MAX_DEPTH:
            raise SpecError(f"{name}: the YAML nests deeper than {MAX_DEPTH} levels")
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                stack.append((k, depth + 1))
                stack.append((v, depth + 1))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((x, depth + 1) for x in node.value)


_QUOTED = re.compile(r"'[^'\n]*'|\"(?:\\.|[^\"\\\n])*\"")
_BRACKET = re.compile(r"[\[\]{}]")
_LEAD = re.compile(r"^[ \t-]*", re.M)


def _precheck_depth(text: str, name: str) -> None:
    """PyYAML's scanner is quadratic in flow nesting (`[[[[...`: 16 s for 5,000 levels): refuse
    deep nesting from the text itself, before the parser sees it."""
    if text.count("[") + text.count("{") > MAX_DEPTH:
        depth = 0
        for m in _BRACKET.finditer(_QUOTED.sub("", text)):
            depth += 1 if m.group() in "[{" else -1
            if depth > MAX_DEPTH:
                raise SpecError(f"{name}: the YAML nests deeper than {MAX_DEPTH} levels")
    if max((len(m.group()) for m in _LEAD.finditer(text)), default=0) > 4 * MAX_DEPTH:
        raise SpecError(f"{name}: the YAML nests deeper than {MAX_DEPTH} levels (a line indented past "
                        f"{4 * MAX_DEPTH} columns)")


def safe_yaml(text: str, name: str):
    """`yaml.safe_load` bounded in nodes (after aliases) and depth; errors are one-line SpecErrors."""
    import sys

    _precheck_depth(text, name)

    limit = sys.getrecursionlimit()
    try:
        sys.setrecursionlimit(max(limit, 10_000))  # the composer recurses per level; the depth is checked after
        loader = _BoundedLoader(text)
        try:
            root = loader.get_single_node()
            if root is None:
                return None
            _check_tree(root, name)
            return loader.construct_document(root)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(" ".join(f"{name}{where}: invalid YAML: {problem}".split())) from None
    except RecursionError:
        raise SpecError(f"{name}: the YAML nests too deep") from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. a timestamp out of range
        raise SpecError(" ".join(f"{name}: invalid YAML value: {exc}".split())[:300]) from None
    finally:
        sys.setrecursionlimit(limit)


def load_spec_file(path: str | os.PathLike) -> tuple[dict, str, str]:
    """Read a YAML spec: (data, text, display name). Unreadable, malformed, not UTF-8, not a
    regular file, larger than `MAX_SPEC_BYTES`, nested past `MAX_DEPTH` or expanding past
    `MAX_NODES` -> a one-line SpecError, in bounded time and memory."""
    p = Path(path)
    text = _read_spec_text(p)
    data = safe_yaml(text, _short(p))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError(f"{_short(p)}: a spec must be a mapping of fields (target, load, ...), "
                        f"got {type(data).__name__}")
    return data, text, _short(p)


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
