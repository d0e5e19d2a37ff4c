"""Redaction: a copy of spec data safe to write to disk or print.

Every `headers` mapping, wherever it sits (`target.headers`, a variant's
`target.headers` or flat `headers`, a monitor's), has the values of
secret-looking header names replaced.
"""

from __future__ import annotations

from typing import Any

SECRET_HEADERS = ("authorization", "proxy-authorization", "x-api-key", "api-key", "cookie",
                  "x-amz-security-token", "x-auth-token")


def redacted(data: Any) -> Any:
    """A copy of spec data safe to write to disk: secret header values replaced."""
    if isinstance(data, dict):
        out = {}
        for k, v in data.items():
            if k == "headers" and isinstance(v, dict):
                out[k] = {hk: ("<redacted>" if _is_secret(hk) else hv) for hk, hv in v.items()}
            else:
                out[k] = redacted(v)
        return out
    if isinstance(data, list):
        return [redacted(v) for v in data]
    return data


def _is_secret(name: str) -> bool:
    n = name.lower()
    return n in SECRET_HEADERS or "token" in n or "secret" in n or "key" in n or "password" in n
