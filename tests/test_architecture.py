"""One-way dependencies, checked rather than hoped for (STYLE.md habit 6).

core/ is pure: no asyncio, no network, no engine, no monitors, no CLI. engine/
does not reach up into orchestration or reports. Checked on the source's
import statements, so a violation fails here before it spreads.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "stinger"


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


FORBIDDEN = {
    "core": ("asyncio", "socket", "ssl", "httptools", "uvloop", "urllib", "http", "multiprocessing",
             "stinger.engine", "stinger.monitors", "stinger.cli", "stinger.orchestrate.run", "stinger.scale.coordinator",
             "stinger.outputs", "stinger.demo", "stinger.orchestrate.capacity", "stinger.orchestrate.ab"),
    "engine": ("stinger.cli", "stinger.orchestrate.run", "stinger.scale.coordinator", "stinger.outputs", "stinger.orchestrate.capacity",
               "stinger.orchestrate.ab", "stinger.orchestrate.monitor_set", "stinger.demo"),
    "monitors": ("stinger.engine", "stinger.cli", "stinger.orchestrate.run", "stinger.scale.coordinator", "stinger.outputs"),
}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layers_import_only_downwards(package: str) -> None:
    bad = []
    for path in sorted((SRC / package).glob("*.py")):
        for name in imports(path):
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN[package]):
                bad.append(f"{path.relative_to(SRC)} imports {name}")
    assert not bad, bad
