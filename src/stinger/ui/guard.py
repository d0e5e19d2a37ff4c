"""Who may ask the UI what (issue 20 item 3).

- The Host header must name this listener: on loopback, 127.0.0.1 / localhost / [::1] with its port
  (the dashboard's rule, `outputs.dashboard.host_allowed`); bound beyond loopback, also an IP address
  or this machine's own name. Anything else is 403: a page elsewhere whose name resolves to this
  machine (DNS rebinding) cannot read the state or reach the routes.
- A change of state (start, change the load, stop; and the check, which reads local files) is a POST
  carrying the token in the `X-Stinger-Token` header, which only the page's own script sets: no
  header, 401; a wrong one, 403. A cookie is never read, so another site cannot launch a run through
  the user's browser (no header crosses origins without CORS, which this app never grants); an
  `Origin` naming another site is refused too.
- Bound beyond loopback, every route (the page, the state, the runs and their files) needs the token,
  in the header or as `?token=` (the URL printed at the start, like Jupyter's).
- The token is compared in constant time and never logged (uvicorn's access log is off: the URL
  printed at the start is the only place it appears).
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from stinger.outputs.dashboard import host_allowed

HEADER = "x-stinger-token"
LOOPBACK = ("127.0.0.1", "localhost", "::1")

Scope = MutableMapping[str, Any]
App = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


def new_token() -> str:
    return secrets.token_urlsafe(32)


def is_loopback(host: str) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _split_host(value: str) -> tuple[str, str]:
    value = value.strip().lower()
    if value.startswith("["):
        name, _, rest = value.partition("]")
        return name + "]", rest[1:] if rest.startswith(":") else ("\0" if rest else "")
    name, _, port = value.partition(":")
    return name, port


def _own_names() -> set[str]:
    names = {socket.gethostname().lower()}
    try:
        names.add(socket.getfqdn().lower())
    except OSError:
        pass
    return names


def public_host_allowed(value: str | None, port: int) -> bool:
    """Bound beyond loopback: loopback names, any IP address literal, or this machine's name, with the port."""
    if not value:
        return False
    name, given = _split_host(value)
    if given != str(port) and not (not given and port == 80):
        return False
    try:
        ipaddress.ip_address(name.strip("[]"))
        return True
    except ValueError:
        return name in ("localhost", *_own_names())


class Guard:
    """ASGI middleware: every request's Host, method and token checked before any route sees it."""

    def __init__(self, app: Any, *, token: str, port: int, public: bool) -> None:
        self.app, self.token, self.port, self.public = app, token, port, public

    def _token_ok(self, given: str | None) -> bool:
        return given is not None and secrets.compare_digest(given.encode(), self.token.encode())

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or ()}
        problem = self.refuse(scope["method"], headers, scope.get("query_string", b"").decode("latin-1"))
        if problem is None:
            await self.app(scope, receive, send)
            return
        status, text = problem
        body = text.encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                (b"content-length", str(len(body)).encode()), (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body", "body": body})

    def refuse(self, method: str, headers: dict[str, str], query: str) -> tuple[int, str] | None:
        """(status, reason) for a request refused, None for one let through."""
        host = headers.get("host")
        allowed = public_host_allowed(host, self.port) if self.public else host_allowed(host, self.port)
        if not allowed:
            return 403, "this app answers only to the address it listens on (Host header refused)"
        if method not in ("GET", "HEAD", "POST"):
            return 405, "GET to read, POST to change"
        given = headers.get(HEADER)
        if method == "POST":
            origin = headers.get("origin")
            if origin is not None and origin.split("://", 1)[-1].lower() != (host or "").lower():
                return 403, "a change must come from this app's own page (Origin refused)"
            if given is None:
                return 401, "a change needs the token in the X-Stinger-Token header (the URL printed at the start)"
            if not self._token_ok(given):
                return 403, "wrong token"
            if not headers.get("content-type", "").startswith("application/json"):
                return 415, "expected application/json"
            return None
        if self.public:
            if given is None:
                from stinger.core.secrets import parse_qsl

                given = next((v for k, v in parse_qsl(query) if k == "token"), None)
            if given is None:
                return 401, "bound beyond loopback, every page needs the token (the URL printed at the start)"
            if not self._token_ok(given):
                return 403, "wrong token"
        return None
