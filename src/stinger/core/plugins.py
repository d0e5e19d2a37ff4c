"""Where a seam's registry meets the vendor packages: the lines they add to it.

Each seam keeps its own `REGISTRY` (`name -> "module:Class"`, imported on first use) and asks
`vendor_lines(seam)` for the lines the vendor packages add (`stinger.vendors.VENDORS`: a vendor
is its package, its tests and one line there). The vendors sit above every seam, so they are
imported by name here, on first use, as every registry's plugins are; nothing else of theirs is.
"""

from __future__ import annotations

from importlib import import_module


def vendor_lines(seam: str) -> dict[str, str]:
    """`name -> "module:attr"` that the vendor packages add to `seam` (none when no vendor adds any)."""
    lines: dict[str, str] = import_module("stinger.vendors").plugins(seam)
    return lines
