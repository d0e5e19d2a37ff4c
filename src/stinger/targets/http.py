"""The `http` carrier: HTTP/1.1 requests to one URL or several, for any api.

Owns the http fields every api over http shares (`HttpFields`: url, headers,
insecure), the plain-over-http config (`Config`: + urls served round-robin and
the method), URL parsing into `Endpoint`s, and the request bytes: a head
(request line, the api's headers, the user's, the api's content type) built
once per endpoint and content type, and the full request (head,
Content-Length, the api's body) built once per payload and cached by the
engine for the whole run (`NEVER_EXPIRES`). Nothing here runs per request:
the engine sends cached bytes.

A response is read by the engine's transport (`stinger.engine.http`); the http
carrier reads nothing of its own at flush time (`unwrap = None`: the api reads
the batch as it is).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, field_validator

from stinger.errors import TargetError
from stinger.targets.abilities import TargetFlag
from stinger.targets.base import NEVER_EXPIRES, Endpoint, Needs, TargetConfig

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


class HttpFields(TargetConfig):
    """The fields of every target over http: where (`url`), the user's headers, TLS checking.

    The api's fields mixin says what a base URL becomes (`api_url`: plain sends to it as it is,
    openai and kserve append their paths)."""

    via: Literal["http"] = "http"
    url: str | None = None
    headers: Headers = Field(default_factory=dict)
    insecure: bool = False

    def base_urls(self) -> list[str]:
        """The URLs as the user gave them (url, then urls where the pair has them)."""
        out = list(getattr(self, "urls", None) or [])
        if self.url:
            out.insert(0, self.url)
        return out

    def api_url(self, base: str) -> str:
        """What a base URL becomes for this pair's api (the api's fields override it)."""
        return base

    def all_urls(self) -> list[str]:
        return [self.api_url(u) for u in self.base_urls()]

    def endpoints(self) -> tuple[Endpoint, ...]:
        return tuple(parse_endpoint(u, verify=not self.insecure) for u in self.all_urls())

    def missing_address(self) -> bool:
        return not self.base_urls()


class Config(HttpFields):
    """plain over http: `target: {url: ..., urls: [...], method: POST, headers: {...}, insecure: false}`
    (`type: plain`, `via: http`, both the defaults; `type: http` is read as this pair)."""

    type: Literal["plain"] = "plain"
    urls: list[str] | None = None
    method: str = "GET"

    @field_validator("method")
    @classmethod
    def _method(cls, v: str) -> str:
        v = v.strip().upper()
        if not v.isalpha():
            raise ValueError(f"HTTP method must be a word such as GET or POST, got {v!r}")
        return v

    def with_payload(self, has_body: bool) -> Config:
        """A body implies POST unless the user named a method (the same rule everywhere:
        `target:`, every variant's target, flags and the Python API)."""
        if has_body and "method" not in self.model_fields_set:
            return self.model_copy(update={"method": "POST"})
        return self


class HttpCarrier:
    """HTTP/1.1 to one URL or several (round-robin, one pool each), around any api's body."""

    name: ClassVar[str] = "http"
    unwrap = None   # nothing of its own to read in an answer: the api reads the batch as it is

    def __init__(self, config: HttpFields, api: Any) -> None:
        self.config = config
        self.api = api
        self._endpoints = config.endpoints()
        # the api's headers first (openai: Accept, Authorization), then the user's
        self._headers = api.request_headers() + tuple((k, str(v)) for k, v in config.headers.items())
        self._heads: dict[tuple[Endpoint, str | None], bytes] = {}

    def endpoints(self) -> tuple[Endpoint, ...]:
        return self._endpoints

    def needs(self) -> Needs:
        return Needs()

    def request(self, endpoint: Endpoint, body: bytes, now: float,
                content_type: str | None = None) -> tuple[bytes, float]:
        key = (endpoint, content_type)
        head = self._heads.get(key)
        if head is None:
            spec = RequestSpec(method=self.api.method, headers=self._headers,
                               content_type=self.api.content_type(content_type))
            head = self._heads[key] = build_head(endpoint, spec)
        return build_request(head, body, self.api.method), NEVER_EXPIRES


class HttpSide:
    """The coordinator half of the http carrier: its flags (`--url URL` is plain over http)."""

    alias: ClassVar[str | None] = "--url"
    alias_metavar: ClassVar[str] = "URL"
    alias_help: ClassVar[str] = "An HTTP endpoint's URL, each payload row sent as the request body"
    flags: ClassVar[tuple[TargetFlag, ...]] = (
        TargetFlag("--method", "method", "HTTP method (default GET, or POST with --data/--body)."),
        TargetFlag("--header", "headers", "Request header 'Name: value'; repeatable.", multiple=True),
        TargetFlag("--insecure", "insecure", "Do not verify TLS certificates.", type=bool, is_flag=True),
    )
    variant_key: ClassVar[str] = "url"

    def from_flag(self, arg: str) -> dict[str, Any]:
        return {"type": "plain", "via": "http", "url": arg}
