"""Plain HTTP/1.1: the first target, and the request bytes every HTTP-like target sends.

Owns the `http` target's config (url or urls served round-robin, method,
headers, insecure), URL parsing into `Endpoint`s, and the request bytes: a
head (request line and headers) built once per endpoint and content type, and
the full request (head, Content-Length, body) built once per payload and
cached by the engine for the whole run (`NEVER_EXPIRES`). Nothing here runs
per request: the engine sends cached bytes.

A response is read by the engine's transport (`stinger.engine.http`); plain
HTTP has nothing to add at flush time (status codes are classified by the
transport, server time comes from the run's server-time header), so
`interpret` returns an empty `Interpretation`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, field_validator

from stinger.errors import TargetError
from stinger.targets.base import NEVER_EXPIRES, Endpoint, Interpretation, Needs, ResponseBatch, TargetConfig

_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOP_BY_HOP = {"content-length", "transfer-encoding", "connection"}   # the engine frames requests itself
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# a request target keeps RFC 3986's unreserved and reserved characters and %XX escapes as
# written; any other character (non-ASCII, space, controls, quotes, braces, ...) is sent as
# its UTF-8 bytes percent-encoded, as browsers do
_KEEP = re.compile(r"(?:[A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=-]|%[0-9A-Fa-f]{2})+")
_HOST = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=%-]+")


def encode_target(text: str) -> str:
    """Path and query as sent on the request line: every character a URL may not hold as
    it is, percent-encoded from UTF-8 (`/v1/models/😀/predict` -> `/v1/models/%F0%9F%98%80/predict`);
    existing escapes, reserved and unreserved characters are kept (a lone `%` becomes `%25`)."""
    out = []
    pos = 0
    for m in _KEEP.finditer(text):
        out.append(_quote(text[pos:m.start()]))
        out.append(m.group())
        pos = m.end()
    out.append(_quote(text[pos:]))
    return "".join(out)


def _quote(text: str) -> str:
    return "".join(f"%{b:02X}" for b in text.encode("utf-8", "surrogatepass"))


def encode_host(host: str) -> str:
    """A host name as it travels (DNS, `Host:`, TLS SNI): an internationalised name in its IDNA
    ASCII form (UTS 46, as browsers do, with the `idna` package when it is installed; else
    Python's IDNA 2003 codec). Raises ValueError for a name that has none."""
    if host.isascii():
        return host
    try:
        import idna
    except ImportError:  # pragma: no cover - idna is installed beside most HTTP stacks
        return host.encode("idna").decode("ascii")
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise ValueError(str(exc)) from None


def parse_endpoint(url: str, verify: bool = True) -> Endpoint:
    """Parse and check an absolute http(s) URL; a malformed one is the user's mistake."""
    if not isinstance(url, str) or not url.strip():
        raise TargetError("URL is empty; expected an absolute URL such as http://127.0.0.1:8080/invocations")
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetError(f"malformed URL {url!r}: {exc}") from None
    if parts.scheme not in _DEFAULT_PORTS:
        raise TargetError(f"URL {url!r} must start with http:// or https://")
    if not parts.hostname:
        raise TargetError(f"URL {url!r} has no host; expected e.g. http://127.0.0.1:8080/path")
    # encoded once, here: every request of the run sends these bytes (never per request)
    try:
        host = encode_host(parts.hostname)
    except (UnicodeError, ValueError) as exc:
        raise TargetError(f"URL {url!r}: the host {parts.hostname!r} is not a valid host name ({exc})") from None
    if ":" not in host and not _HOST.fullmatch(host):   # (an IPv6 literal was checked by urlsplit)
        raise TargetError(f"URL {url!r}: the host {parts.hostname!r} is not a valid host name")
    path = encode_target(parts.path or "/")
    if parts.query:
        path += "?" + encode_target(parts.query)
    return Endpoint(scheme=parts.scheme, host=host, port=port or _DEFAULT_PORTS[parts.scheme],
                    path=path, url=url, verify=verify)


def wire_url(url: str) -> str:
    """`url` as it is sent (see `parse_endpoint`): for a client that takes a URL (urllib)."""
    ep = parse_endpoint(url)
    return f"{ep.scheme}://{ep.host_header}{ep.path}"


@dataclass(frozen=True, slots=True)
class RequestSpec:
    """Method, headers and default content type shared by every request of a variant."""

    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str | None = None
    keep_alive: bool = True


def build_head(endpoint: Endpoint, spec: RequestSpec) -> bytes:
    """Request line and headers up to (not including) Content-Length and the blank line."""
    method = spec.method.upper()
    lines = [f"{method} {endpoint.path} HTTP/1.1", f"Host: {endpoint.host_header}"]
    names = set()
    for name, value in spec.headers:
        low = name.lower()
        if low in _HOP_BY_HOP:
            continue
        if low == "host":   # the user's Host replaces the default one (virtual-host routing: KServe)
            if "host" not in names:
                lines[1] = f"Host: {value}"
                names.add(low)
            continue
        names.add(low)
        lines.append(f"{name}: {value}")
    if spec.content_type and "content-type" not in names:
        lines.append(f"Content-Type: {spec.content_type}")
    if "user-agent" not in names:
        lines.append("User-Agent: stinger")
    if not spec.keep_alive:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n").encode("latin-1")


def build_request(head: bytes, body: bytes | None, method: str) -> bytes:
    """The full request bytes: head, Content-Length when there is a body (or the
    method normally carries one), blank line, body."""
    if body:
        return head + b"Content-Length: %d\r\n\r\n" % len(body) + body
    if method.upper() in ("POST", "PUT", "PATCH"):
        return head + b"Content-Length: 0\r\n\r\n"
    return head + b"\r\n"


class JsonPost:
    """Request bytes for targets that POST JSON they build from each payload (openai, kserve):
    the head once per endpoint, the body the target's."""

    __slots__ = ("_heads", "spec")

    def __init__(self, headers: tuple[tuple[str, str], ...] = ()) -> None:
        self.spec = RequestSpec(method="POST", headers=headers, content_type="application/json")
        self._heads: dict[Endpoint, bytes] = {}

    def request(self, endpoint: Endpoint, body: bytes) -> bytes:
        head = self._heads.get(endpoint)
        if head is None:
            head = self._heads[endpoint] = build_head(endpoint, self.spec)
        return build_request(head, body, "POST")


def check_header(name: str, value: object) -> str:
    """One request header the user gave (`-H`, `target.headers`, `--content-type`): a token for a
    name, one line of Latin-1 for a value (a line break would smuggle a header or a request of
    its own onto the wire); returns the value as text, raises ValueError naming what is wrong."""
    if not _TOKEN.fullmatch(name):
        raise ValueError(f"header name {name!r} is not a valid HTTP token")
    text = str(value)
    if "\r" in text or "\n" in text:
        raise ValueError(f"header {name!r}: a value must not contain line breaks")
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(f"header {name!r}: the value must be Latin-1 text (HTTP/1.1 headers), "
                         f"got {text!r}") from None
    return text


def _check_headers(v: dict[str, str]) -> dict[str, str]:
    for name, value in v.items():
        check_header(name, value)
    return v


# the `headers:` of every target that sends HTTP/1.1 headers the user wrote (http, openai, kserve)
Headers = Annotated[dict[str, str], AfterValidator(_check_headers)]


class Config(TargetConfig):
    """`target: {type: http, url: ..., urls: [...], method: POST, headers: {...}, insecure: false}`."""

    type: Literal["http"] = "http"
    url: str | None = None
    urls: list[str] | None = None
    method: str = "GET"
    headers: Headers = Field(default_factory=dict)
    insecure: bool = False


    @field_validator("method")
    @classmethod
    def _method(cls, v: str) -> str:
        v = v.strip().upper()
        if not v.isalpha():
            raise ValueError(f"HTTP method must be a word such as GET or POST, got {v!r}")
        return v

    def all_urls(self) -> list[str]:
        out = list(self.urls or [])
        if self.url:
            out.insert(0, self.url)
        return out

    def endpoints(self) -> tuple[Endpoint, ...]:
        return tuple(parse_endpoint(u, verify=not self.insecure) for u in self.all_urls())

    def with_payload(self, has_body: bool) -> Config:
        """A body implies POST unless the user named a method (the same rule everywhere:
        `target:`, every variant's target, flags and the Python API)."""
        if has_body and "method" not in self.model_fields_set:
            return self.model_copy(update={"method": "POST"})
        return self

    def request_spec(self) -> RequestSpec:
        return RequestSpec(method=self.method, headers=tuple((k, str(v)) for k, v in self.headers.items()))


class HttpTarget:
    """Plain HTTP/1.1 to one URL or several (round-robin, one pool each)."""

    type = "http"

    def __init__(self, config: Config) -> None:
        self.config = config
        self._endpoints = config.endpoints()
        self._spec = config.request_spec()
        self._heads: dict[tuple[Endpoint, str | None], bytes] = {}

    def endpoints(self) -> tuple[Endpoint, ...]:
        return self._endpoints

    def needs(self) -> Needs:
        return Needs(head=self._spec.method == "HEAD")

    def request(self, endpoint: Endpoint, body: bytes, now: float,
                content_type: str | None = None) -> tuple[bytes, float]:
        key = (endpoint, content_type)
        head = self._heads.get(key)
        if head is None:
            spec = self._spec
            if content_type and not spec.content_type:
                spec = RequestSpec(method=spec.method, headers=spec.headers, content_type=content_type,
                                   keep_alive=spec.keep_alive)
            head = self._heads[key] = build_head(endpoint, spec)
        return build_request(head, body, self._spec.method), NEVER_EXPIRES

    def interpret(self, batch: ResponseBatch) -> Interpretation:
        return Interpretation()
