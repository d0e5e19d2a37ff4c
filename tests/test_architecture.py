"""One-way dependencies, checked rather than hoped for (STYLE.md habit 6).

The contracts proper are import-linter's, in pyproject.toml, run by `.ci/run`
(`lint-imports`). This file is their fast complement inside pytest: it reads the
source's import statements (every module, sub-packages included) for the rules a
change breaks most often, and checks that every package under src/stinger sits in
a layer of the import-linter contract, so a new package cannot escape it.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "stinger"


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


UPPER = ("stinger.cli", "stinger.demo", "stinger.orchestrate")
FORBIDDEN = {
    "core": ("asyncio", "socket", "ssl", "httptools", "uvloop", "urllib", "http", "multiprocessing",
             "stinger.engine", "stinger.monitors", "stinger.scale", "stinger.outputs", "stinger.targets",
             "stinger.datasets", "stinger.spec") + UPPER,
    "engine": ("stinger.scale", "stinger.outputs") + UPPER,
    "monitors": ("stinger.engine", "stinger.scale", "stinger.outputs", "stinger.targets") + UPPER,
    "outputs": ("stinger.engine", "stinger.scale", "stinger.targets") + UPPER,
    "datasets": ("stinger.engine", "stinger.scale", "stinger.outputs", "stinger.monitors", "stinger.targets",
                 "stinger.spec") + UPPER,
    "targets": ("stinger.engine", "stinger.scale", "stinger.outputs", "stinger.monitors", "stinger.spec",
                "stinger.datasets") + UPPER,
}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layers_import_only_downwards(package: str) -> None:
    bad = []
    for path in sorted((SRC / package).rglob("*.py")):
        for name in imports(path):
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN[package]):
                bad.append(f"{path.relative_to(SRC)} imports {name}")
    assert not bad, bad


def test_every_package_is_in_a_layer_of_the_import_contract() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c for c in config["contracts"] if c["type"] == "layers")["layers"]
    named = {m for layer in layers for m in re.findall(r"stinger\.\w+", layer)}
    # testing/ holds reference servers for tests and imports nothing of stinger
    packages = {f"stinger.{p.name}" for p in SRC.iterdir()
                if p.is_dir() and any(p.glob("*.py")) and p.name not in ("testing", "__pycache__")}
    modules = {f"stinger.{p.stem}" for p in SRC.glob("*.py") if p.stem != "__init__"}
    assert packages | modules <= named, sorted((packages | modules) - named)
