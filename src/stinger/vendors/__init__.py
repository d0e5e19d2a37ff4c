"""Vendor packages: every plugin half one vendor brings, in one package (`vendors/NAME/`).

A vendor package holds its carrier, monitors, dataset format and coordinator abilities
(see `stinger.targets.abilities`), and declares them in its `__init__` as
`PLUGINS: dict[seam, dict[name, "module:attr"]]`, importing nothing heavy. `VENDORS` below
names each package; each seam's lookup adds the vendors' lines to its own registry
(`stinger.core.plugins.vendor_lines`). So a vendor is its package, its tests and one line
here, and nothing below this layer imports a vendor.

Seams: `apis`, `carriers`, `pairs`, `legacy` (targets.base; `legacy` maps an older `type:` name
to its "API@CARRIER"), `sides` (targets.abilities), `monitors` (monitors.registry), `formats`
(datasets.formats), `outputs` (outputs.base), `backends` (scale.base).
"""

from __future__ import annotations

from importlib import import_module

# vendor name -> its package
VENDORS: dict[str, str] = {"sagemaker": "stinger.vendors.sagemaker"}


def plugins(seam: str) -> dict[str, str]:
    """The lines every vendor adds to `seam` (`name -> "module:attr"`), in `VENDORS` order."""
    out: dict[str, str] = {}
    for package in VENDORS.values():
        out.update(getattr(import_module(package), "PLUGINS", {}).get(seam, {}))
    return out
