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
                "stinger.datasets", "stinger.vendors") + UPPER,
    # a vendor package uses the seams below it (targets, monitors, datasets, core), never what runs them
    "vendors": ("stinger.engine", "stinger.scale", "stinger.outputs", "stinger.spec", "stinger._api",
                "stinger._results") + UPPER,
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


# ------------------------------------------------ names stay in their own packages (issue 17)
# A vendor's name appears only in its package (vendors/NAME/), the demo and the test servers; a worker
# backend's name only in scale/ (and as the spec's default). Until each name's package lands, the files
# that still say it are listed here, exactly: the test fails for a new offender, and for a listed file
# that no longer offends (so the lists only shrink; package D empties VENDOR_NAMES' list with the CLI).
VENDOR_NAMES = ("sagemaker",)          # `stinger.vendors.VENDORS` keys join these as their packages land
VENDOR_FREE_OF = ("vendors", "demo", "testing")
STILL_SAY_SAGEMAKER: set[str] = set()   # every file that named SageMaker outside its package is gone (issue 17)
BACKEND_ALLOWED = {"spec/model.py"}    # `load.backend: str = "local"`, the spec's own default
STILL_NAME_A_BACKEND: set[str] = set()


def _sources(skip: tuple[str, ...]) -> dict[str, Path]:
    return {str(p.relative_to(SRC)): p for p in sorted(SRC.rglob("*.py")) if p.relative_to(SRC).parts[0] not in skip}


def test_no_vendor_name_outside_its_package_but_the_listed_files():
    from stinger.vendors import VENDORS

    for name in (*VENDOR_NAMES, *VENDORS):
        saying = {rel for rel, p in _sources(VENDOR_FREE_OF).items() if name in p.read_text().lower()}
        listed = STILL_SAY_SAGEMAKER if name == "sagemaker" else set()
        assert not saying - listed, f"new files naming {name!r} outside its package: {sorted(saying - listed)}"
        assert not listed - saying, f"no longer name {name!r}: take them off the list: {sorted(listed - saying)}"


def test_no_backend_name_outside_scale_but_the_listed_files():
    from stinger.scale.base import REGISTRY

    naming = set()
    for rel, p in _sources(("scale",)).items():
        tree = ast.parse(p.read_text())
        if any(isinstance(n, ast.Constant) and n.value in REGISTRY for n in ast.walk(tree)):
            naming.add(rel)
    assert not naming - BACKEND_ALLOWED - STILL_NAME_A_BACKEND, sorted(naming - BACKEND_ALLOWED)
    assert not STILL_NAME_A_BACKEND - naming, f"take them off the list: {sorted(STILL_NAME_A_BACKEND - naming)}"
