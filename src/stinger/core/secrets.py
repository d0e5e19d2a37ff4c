"""Secrets: what stinger writes or prints never carries a credential (pure text functions).

The one home of redaction: the spec's copy in a run directory (`redacted`), the outputs
(`scrub`, `redact_url`) and what endpoints wrote (`redact_text`) all come from here.

Three layers, each a safety net for the one before:

- `redacted(data)`: a copy of spec data safe to write (`spec.yaml`): the value
  of every header whose name *or* value looks secret (or that the user named in
  `output.redact` / `--redact-header`) is replaced, and so is every URL's
  userinfo and secret-looking query parameter (`api_key`, `token`, `sig`,
  `X-Amz-Signature`, ...), wherever a URL sits.
- `redact_url(url)`: one URL (the `targets` of a summary, a capacity report).
- `scrub(text)`: any text about to be shown or written (summary.json,
  capacity.json, an error message): URLs, `Bearer ...` values (after token/basic/digest only a
  credential-looking one: "an HTTP token such as" is prose), AWS access key ids
  and JSON Web Tokens are redacted by pattern, and every secret value seen in a
  parsed spec (`remember_secrets`) is replaced wherever it appears, even outside
  a URL or a header. `scrub_data` does it to every string of a JSON document (so a
  remembered value that is also a number never breaks the document).
- `redact_text(text)`: text an endpoint wrote (a response body, an error message),
  one line: `scrub`, and the value of every `name=value` / `"name": "value"` pair
  whose name looks secret (`password=`, `"api_key": ...`).

Every pattern is linear in the text: it may start only where a run of its own
characters starts (a negative look-behind) and takes its characters possessively,
so a 200 KB body is scrubbed in milliseconds (before: a scheme pattern retried at
every letter of a long alphanumeric run, quadratic: 47 s for a 200 KB body, with
Ctrl-C unanswered inside the one C call).

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
# ... and one whose name has one of these as a whole part ("X-Vendor-Pass", not "bypass")
_SECRET_PARTS = frozenset(("pass", "pw", "otp", "pin"))
# a URL query parameter with one of these names is secret too (an OAuth authorization code)
_SECRET_QUERY = frozenset(("code",))
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
    if any(w in n for w in _SECRET_WORDS):
        return True
    return any(part in _SECRET_PARTS for part in re.split(r"[_.\s]+", n))


def is_secret_query_name(name: Any) -> bool:
    return is_secret_name(name) or str(name).strip().lower() in _SECRET_QUERY


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
            if any(is_secret_query_name(k) for k, _ in pairs):
                # an empty value has nothing to hide (and a URL already redacted must not be masked twice)
                query = "&".join(f"{quote(k, safe='')}={MASK if is_secret_query_name(k) and v else quote(v, safe='')}"
                                 for k, v in pairs)
        frag = parts.fragment
        if frag and ("=" in frag) and any(is_secret_query_name(k) for k, _ in parse_qsl(frag)):
            frag = MASK
        return urlunsplit((parts.scheme, netloc, parts.path, query, frag))
    except ValueError:
        return _USERINFO.sub(_MASK_USERINFO, url)


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
        if is_secret_query_name(k) and v:
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


# A scheme starts where no scheme character precedes it and is at most 32 characters long; the rest
# of a URL is one possessive run. (The old `[A-Za-z][A-Za-z0-9+.-]*://` was retried at every letter
# of a long alphanumeric run and scanned it to its end each time: quadratic.)
_URL = re.compile(r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{0,31}+://[^\s\"'<>]++")
# userinfo after any "://" (a URL the pattern above does not take: an over-long scheme, a bad port)
_USERINFO = re.compile(r"://[^/?#\s@\"'<>]{1,512}+@")
_MASK_USERINFO = "://" + MASK + "@"
# a scheme word standing alone: "inter-token latency" (a metric's name) is no credential
_BEARER = re.compile(r"(?i)(?<![A-Za-z0-9_-])(bearer|basic|token|digest|aws4-hmac-sha256)\s++"
                     r"([A-Za-z0-9._~+/=:,-]{3,}+)")
# "token", "basic" and "digest" are English words too: after them a plain lowercase word ("an HTTP
# token such as X-Served-By", "basic load") is prose, not a credential; after "Bearer" any value is one
_WORDY_SCHEMES = frozenset(("token", "basic", "digest"))
_PROSE_AFTER_BEARER = frozenset(("token", "tokens", "auth", "authentication", "scheme"))


def _scrub_bearer(m: re.Match) -> str:
    scheme, value = m.group(1), m.group(2)
    word = value.rstrip(".,:;")
    low = scheme.lower()
    if word.isalpha() and word.islower() and (low in _WORDY_SCHEMES or word in _PROSE_AFTER_BEARER):
        return m.group(0)
    if low in _WORDY_SCHEMES and len(value) < 4:   # "token 42" in prose; a credential is longer
        return m.group(0)
    return scheme + " " + MASK
# AWS access key ids (long-term AKIA, temporary ASIA, and the other documented prefixes)
_AWS_KEY_ID = re.compile(r"(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA)"
                         r"[A-Z0-9]{16}(?![A-Za-z0-9])")
# JSON Web Tokens: base64url header "{..." (eyJ), payload, signature (empty with alg "none")
_JWT = re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]++\.[A-Za-z0-9_-]++\.[A-Za-z0-9_-]*+")
# name=value, name: value, "name": "value" in text an endpoint wrote: a name before a separator (the
# value not taken, so a name inside another pair's value is still seen), then the value after a secret one
_PAIR_NAME = re.compile(r"(?<![\w-])[\w-]{1,64}+(?=[\"']?\s*+[:=])")
_PAIR_VALUE = re.compile(r"[\"']?\s*+[:=]\s*+[\"']?([^\s\"'&,;}]++)")


def _scrub_url_match(m: re.Match) -> str:
    url = m.group(0)
    try:
        parts = urlsplit(url)
        if "@" in parts.netloc or parts.query or parts.fragment:
            return redact_url(url)
    except ValueError:
        pass
    # an unparsable URL: drop any userinfo by pattern
    return _USERINFO.sub(_MASK_USERINFO, url)


def scrub(text: Any) -> str:
    """Text safe to show: URL credentials, `Bearer ...` values, AWS key ids, JWTs and every remembered
    secret replaced. Linear in the length of the text."""
    out = str(text)
    if "://" in out:
        out = _URL.sub(_scrub_url_match, out)
        out = _USERINFO.sub(_MASK_USERINFO, out)
    out = _BEARER.sub(_scrub_bearer, out)
    if "eyJ" in out:
        out = _JWT.sub(MASK, out)
    out = _AWS_KEY_ID.sub(MASK, out)
    for s in sorted(_secrets, key=len, reverse=True):
        if s in out:
            if len(s) >= _ANYWHERE:
                out = out.replace(s, MASK)
            else:   # a short secret only where it stands alone: "other" must not eat "others"
                out = re.sub(rf"(?<![A-Za-z0-9_]){re.escape(s)}(?![A-Za-z0-9_])", MASK, out)
    return out


def redacted(data: Any) -> Any:
    """A copy of spec data safe to write to disk (`spec.yaml`): every `headers` mapping, wherever it
    sits (a target's, a variant's flat one, a monitor's), has the value of each header whose name or
    value looks secret (or that the user named in `output.redact`) replaced; every string goes
    through `scrub` (URL userinfo, secret query parameters, bearer values, remembered secrets)."""
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


def scrub_data(data: Any, _depth: int = 0) -> Any:
    """A copy of a JSON document with every string (keys too) scrubbed; numbers and the structure kept."""
    if _depth > 64:
        return data
    if isinstance(data, str):
        return scrub(data)
    if isinstance(data, dict):
        return {(scrub(k) if isinstance(k, str) else k): scrub_data(v, _depth + 1) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [scrub_data(v, _depth + 1) for v in data]
    return data


def _mask_pairs(text: str) -> str:
    """Each value after a secret-looking name masked. Linear: a value is scanned once, and names inside
    a value already masked are skipped."""
    parts: list[str] = []
    done = 0
    for m in _PAIR_NAME.finditer(text):
        if m.start() < done or not is_secret_name(m.group()):
            continue
        v = _PAIR_VALUE.match(text, m.end())
        if v is None:
            continue
        parts += [text[done:v.start(1)], MASK]
        done = v.end(1)
    return "".join(parts) + text[done:] if parts else text


def redact_text(text: Any) -> str:
    """Text an endpoint wrote, safe to print and keep: `scrub`, every secret-named value masked, one line."""
    out = scrub(text)
    if "=" in out or ":" in out:
        out = _mask_pairs(out)
    return " ".join(out.split())


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
