"""Redaction of spec data: a copy safe to write to disk or print.

Every `headers` mapping, wherever it sits (`target.headers`, a variant's
`target.headers` or flat `headers`, a monitor's), has the value of each header
whose name or value looks secret (or that the user marked with
`output.redact` / `--redact-header`) replaced; every string, URLs included,
goes through `core.secrets.scrub` (userinfo, secret-looking query parameters,
`Bearer ...`, any secret value already seen). The text functions live in
`core.secrets` so that every output can apply them too.
"""

from __future__ import annotations

from typing import Any

from stinger.core.secrets import (
    MASK,
    SECRET_HEADERS,
    is_secret_name,
    looks_secret_value,
    mark,
    redact_text,
    redact_url,
    remember_secrets,
    scrub,
)

__all__ = ["MASK", "SECRET_HEADERS", "is_secret_name", "looks_secret_value", "mark", "redact_text", "redact_url",
           "redacted", "remember_secrets", "scrub"]


def redacted(data: Any) -> Any:
    """A copy of spec data safe to write to disk: secret header values and URL credentials replaced."""
    remember_secrets(data)
    return _redact(data, 0)


def _redact(data: Any, depth: int) -> Any:
    if depth > 64:
        return MASK
    if isinstance(data, dict):
        out = {}
        for k, v in data.items():
            if k == "headers" and isinstance(v, dict):
                out[k] = {hk: (MASK if (is_secret_name(hk) or looks_secret_value(hv)) else _redact(hv, depth + 1))
                          for hk, hv in v.items()}
            else:
                out[k] = _redact(v, depth + 1)
        return out
    if isinstance(data, list):
        return [_redact(v, depth + 1) for v in data]
    if isinstance(data, str):
        return scrub(data)
    return data


def _is_secret(name: str) -> bool:  # the older name
    return is_secret_name(name)
