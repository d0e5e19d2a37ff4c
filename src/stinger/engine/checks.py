"""Deprecated: response checks moved to `stinger.core.checks`; this module only re-exports its names.

They are pure (status, JSON path, regex over bytes) and targets, which may import only
core, interpret responses with them. Remove once nothing imports this path.
"""

from __future__ import annotations

from stinger.core.checks import MISSING, ResponseCheck, compile_json_path, extract, parse_status

__all__ = ["MISSING", "ResponseCheck", "compile_json_path", "extract", "parse_status"]
