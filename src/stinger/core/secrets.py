"""Secrets: what stinger writes or prints never carries a credential (pure text functions).

`spec.redact` applies these to spec data; `outputs` to every file it writes.

Three layers, each a safety net for the one before:

- `redacted(data)`: a copy of spec data safe to write (`spec.yaml`): the value
  of every header whose name *or* value looks secret (or that the user named in
  `output.redact` / `--redact-header`) is replaced, and so is every URL's
  userinfo and secret-looking query parameter (`api_key`, `token`, `sig`,
  `X-Amz-Signature`, ...), wherever a URL sits.
- `redact_url(url)`: one URL (the `targets` of a summary, a capacity report).
- `scrub(text)`: any text about to be shown or written (summary.json,
  capacity.json, an error message): URLs and `Bearer ...` values are redacted by
  pattern, and every secret value seen in a parsed spec (`remember_secrets`)
  is replaced wherever it appears, even outside a URL or a header.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

MASK = "<redacted>"

SECRET_HEADERS = ("authorization", "proxy-authorization", "x-api-key", "api-key", "cookie", "set-cookie",
                  "x-amz-security-token", "x-auth-token", "x-auth", "x-signature")
# a header or query-parameter name containing one of these is secret
_SECRET_WORDS = ("token", "secret", "key", "password", "passwd", "pwd", "auth", "signature", "credential",
                 "session", "cookie", "sig", "bearer", "jwt", "private")
# a value that is a credential whatever its header's name
_SECRET_VALUE = re.compile(r"(?i)^\s*(bearer|basic|token|digest|aws4-hmac-sha256|apikey|negotiate)\s+\S")

_secrets: set[str] = set()        # values seen in parsed specs, replaced wherever they appear
_marked: set[str] = set()         # names the user marked (lowercase)


def mark(names: Iterable[str]) -> None:
    """Header or query-parameter names whose values are secret (`--redact-header`)."""
    _marked.update(str(n).strip().lower() for n in names if str(n).strip())


def is_secret_name(name: Any) -> bool:
    n = str(name).strip().lower()
    if n in SECRET_HEADERS or n in _marked:
        return True
    n = n.replace("-", "_")
    return any(w in n for w in _SECRET_WORDS)


def looks_secret_value(value: Any) -> bool:
    return isinstance(value, str) and bool(_SECRET_VALUE.match(value))


def _remember(value: Any) -> None:
    v = str(value).strip()
    if len(v) >= 4:
        _secrets.add(v)
        m = _SECRET_VALUE.match(v)
        if m:  # the credential alone, too ("Bearer abc" -> "abc")
            rest = v[m.end() - 1:].strip()
            if len(rest) >= 4:
                _secrets.add(rest)
        q = quote(v, safe="")
        if q != v:
            _secrets.add(q)


def redact_url(url: Any) -> Any:
    """A URL without its userinfo and with secret-looking query values masked."""
    if not isinstance(url, str) or "://" not in url:
        return url
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            netloc = MASK + "@" + netloc.rsplit("@", 1)[1]
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            if any(is_secret_name(k) for k, _ in pairs):
                query = "&".join(f"{quote(k, safe='')}={MASK if is_secret_name(k) else quote(v, safe='')}"
                                 for k, v in pairs)
        frag = parts.fragment
        if frag and ("=" in frag) and any(is_secret_name(k) for k, _ in parse_qsl(frag)):
            frag = MASK
        return urlunsplit((parts.scheme, netloc, parts.path, query, frag))
    except ValueError:
        return re.sub(r"(://)[^/@\s]*@", r"\1" + MASK + "@", url)


def _url_secrets(url: str) -> list[str]:
    out: list[str] = []
    try:
        parts = urlsplit(url)
    except ValueError:
        return out
    if "@" in parts.netloc:
        info = parts.netloc.rsplit("@", 1)[0]
        out.extend([info, unquote(info)])
        if ":" in info:
            out.extend([info.split(":", 1)[1], unquote(info.split(":", 1)[1])])
        else:
            out.append(unquote(info))
    for k, v in parse_qsl(parts.query, keep_blank_values=True):
        if is_secret_name(k) and v:
            out.extend([v, quote(v, safe="")])
    return out


def remember_secrets(data: Any) -> None:
    """Note every secret value in spec data (headers, URLs, marked names), so `scrub` replaces
    it in any text, and the names the spec marks in `output.redact`."""
    if isinstance(data, dict):
        out = data.get("output")
        if isinstance(out, dict) and isinstance(out.get("redact"), list):
            mark(str(x) for x in out["redact"])
    _walk_remember(data, 0)


def _walk_remember(data: Any, depth: int) -> None:
    if depth > 64:
        return
    if isinstance(data, dict):
        for k, v in data.items():
            if k == "headers" and isinstance(v, dict):
                for hk, hv in v.items():
                    if is_secret_name(hk) or looks_secret_value(hv):
                        _remember(hv)
            else:
                _walk_remember(v, depth + 1)
    elif isinstance(data, list):
        for v in data:
            _walk_remember(v, depth + 1)
    elif isinstance(data, str) and "://" in data:
        for s in _url_secrets(data):
            _remember(s)


_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]+")
# a scheme word standing alone: "inter-token latency" (a metric's name) is no credential
_BEARER = re.compile(r"(?i)(?<![\w-])(bearer|basic|token|digest|aws4-hmac-sha256)\s+[A-Za-z0-9._~+/=:,-]{4,}")


def _scrub_url_match(m: re.Match) -> str:
    url = m.group(0)
    try:
        parts = urlsplit(url)
        if "@" in parts.netloc or parts.query or parts.fragment:
            return redact_url(url)
    except ValueError:
        pass
    # an unparsable URL: drop any userinfo by pattern
    return re.sub(r"(://)[^/@\s]*@", r"\1" + MASK + "@", url)


def scrub(text: Any) -> str:
    """Text safe to show: URL credentials, `Bearer ...` values and every remembered secret replaced."""
    out = str(text)
    if "://" in out:
        out = _URL.sub(_scrub_url_match, out)
    out = _BEARER.sub(lambda m: m.group(1) + " " + MASK, out)
    for s in sorted(_secrets, key=len, reverse=True):
        if s in out:
            if len(s) >= _ANYWHERE:
                out = out.replace(s, MASK)
            else:   # a short secret only where it stands alone: "other" must not eat "others"
                out = re.sub(rf"(?<![A-Za-z0-9_]){re.escape(s)}(?![A-Za-z0-9_])", MASK, out)
    return out


# a remembered secret at least this long is replaced anywhere in a text, even inside a longer
# word (a token pasted into a message); a shorter one only as a word of its own, so that a weak
# password such as "other" or "admin" does not mask ordinary words that contain it
_ANYWHERE = 12




# -- URL pieces without urllib (core imports no network module) ------------------
_PCT = re.compile(r"%([0-9A-Fa-f]{2})")
_SPLIT = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<netloc>[^/?#]*)(?P<path>[^?#]*)"
                    r"(?:\?(?P<query>[^#]*))?(?:#(?P<frag>.*))?$", re.S)


def unquote(s: str) -> str:
    try:
        return _PCT.sub(lambda m: chr(int(m.group(1), 16)), s.replace("+", " "))
    except ValueError:
        return s


def quote(s: str, safe: str = "") -> str:
    keep = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~" + safe)
    return "".join(c if c in keep else "".join(f"%{b:02X}" for b in c.encode("utf-8", "surrogatepass"))
                   for c in s)


def parse_qsl(q: str, keep_blank_values: bool = True) -> list[tuple[str, str]]:
    out = []
    for part in re.split(r"[&;]", q):
        if not part:
            continue
        k, _, v = part.partition("=")
        out.append((unquote(k), unquote(v)))
    return out


class _Parts:
    def __init__(self, m: re.Match) -> None:
        self.scheme = m.group("scheme")
        self.netloc = m.group("netloc")
        self.path = m.group("path")
        self.query = m.group("query") or ""
        self.fragment = m.group("frag") or ""
        self.has_query = m.group("query") is not None
        self.has_frag = m.group("frag") is not None


def urlsplit(url: str) -> _Parts:
    m = _SPLIT.match(url)
    if m is None:
        raise ValueError("not a URL")
    return _Parts(m)


def urlunsplit(p: tuple) -> str:
    scheme, netloc, path, query, frag = p
    return scheme + netloc + path + ("?" + query if query else "") + ("#" + frag if frag else "")
