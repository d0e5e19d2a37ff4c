"""SigV4 signing of stinger's own request bytes, with botocore's signer.

This module owns turning (method, URL, headers, body) into the complete
HTTP/1.1 request a worker writes to its socket, signed for an AWS service, and
the instant after which those bytes must not be sent any more.

Why botocore's signer and not our own HMAC code: the canonical request rules
(URI normalisation, header folding, the signed-header blacklist, the session
token) are subtle, and botocore is the reference every AWS SDK is checked
against. We only pin the clock: `SigV4Auth.add_auth` reads the wall clock
itself, so `_PinnedSigV4Auth.sign_at` runs the same steps with a timestamp we
choose (tests compare the result with `add_auth` under a frozen clock,
header for header).

Why signing stays cheap: the engine signs once per distinct request (endpoint,
body) and keeps the bytes until `expires`; at 10k req/s over a few hundred
distinct bodies that is a few hundred signatures every `VALIDITY_S`, not 10k a
second. `bench/sign_cost.py` measures one signature.

Validity: AWS rejects a request whose X-Amz-Date is more than 5 minutes away
from its own clock. We re-sign after `VALIDITY_S` = 4 minutes, which leaves one
minute for the local clock being behind AWS's and for a request that waited in
a queue. Temporary credentials (a role, SSO) end too: a signature made with
them is only used until `CREDENTIAL_MARGIN_S` before they expire, and the next
signature re-reads them through botocore's refreshable credentials
(`get_frozen_credentials()` refreshes when due).

botocore is imported lazily, so stinger without the `aws` extra still imports
this module's callers; `require_botocore` turns its absence into one line.
"""

from __future__ import annotations

import datetime as _dt
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from stinger.errors import RunError, UsageError

VALIDITY_S = 240.0          # re-sign after 4 of the 5 minutes AWS accepts
CREDENTIAL_MARGIN_S = 60.0  # stop using a signature this long before its credentials expire
AWS_EXTRA_HINT = "pip install 'stinger[aws]'"
SIGV4_TIMESTAMP = "%Y%m%dT%H%M%SZ"


def require_botocore() -> Any:
    """The botocore package, or a one-line UsageError naming the extra to install."""
    try:
        import botocore
        import botocore.auth
        import botocore.awsrequest
        import botocore.session
    except ImportError:
        raise UsageError(f"the sagemaker target needs the aws extra: {AWS_EXTRA_HINT}") from None
    return botocore


def default_credentials() -> Any:
    """Credentials from botocore's standard chain (environment, profile, SSO, role).

    Returns botocore's (possibly refreshable) Credentials object; a missing
    chain is a one-line UsageError, raised before any load is sent.
    """
    botocore = require_botocore()
    try:
        creds = botocore.session.get_session().get_credentials()
    except Exception as exc:  # a broken profile or SSO cache: say which, in one line
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UsageError(f"AWS credentials could not be loaded: {first}") from None
    if creds is None:
        raise UsageError(
            "no AWS credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
            "AWS_PROFILE, or run 'aws sso login')"
        )
    return creds


def host_header(url: str) -> str:
    """The Host header for `url`: host, plus the port when it is not the scheme's default."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    default = 443 if parts.scheme == "https" else 80
    if parts.port is not None and parts.port != default:
        return f"{host}:{parts.port}"
    return host


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """Wire bytes and the wall-clock window they may be sent in (seconds since the epoch)."""

    data: bytes
    signed_at: float
    expires: float
    headers: tuple[tuple[str, str], ...]   # as written, for tests and diagnostics


class Signer:
    """Signs requests for one service and region with the credentials' current values.

    `credentials`: a botocore Credentials object (refreshable or not); None reads
    the standard chain. Thread-compatible, not thread-safe: one per worker.
    """

    def __init__(self, region: str, service: str = "sagemaker", credentials: Any = None) -> None:
        require_botocore()
        self.region = region
        self.service = service
        self.credentials = default_credentials() if credentials is None else credentials

    def _frozen(self) -> tuple[Any, float]:
        """(frozen credentials, their expiry as epoch seconds or inf)."""
        creds = self.credentials
        try:
            frozen = creds.get_frozen_credentials() if hasattr(creds, "get_frozen_credentials") else creds
        except Exception as exc:  # a role or SSO session that cannot be refreshed mid-run: one line, no traceback
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise RunError(f"AWS credentials could not be refreshed: {first}") from None
        expiry = getattr(creds, "_expiry_time", None)  # RefreshableCredentials only
        until = expiry.timestamp() if expiry is not None else float("inf")
        return frozen, until

    def sign(self, method: str, url: str, headers: list[tuple[str, str]] | tuple[tuple[str, str], ...],
             body: bytes, at: float | None = None) -> SignedRequest:
        """The whole HTTP/1.1 request, signed at wall time `at` (default: now)."""
        from botocore.awsrequest import AWSRequest

        wall = time.time() if at is None else at
        frozen, cred_expiry = self._frozen()
        if not frozen.access_key or not frozen.secret_key:
            raise UsageError("AWS credentials are incomplete (no access key or secret key)")
        host = host_header(url)
        request = AWSRequest(method=method, url=url, data=body, headers={"Host": host, **dict(headers)})
        _PinnedSigV4Auth(frozen, self.service, self.region).sign_at(request, wall)

        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        out_headers = [(k, v) for k, v in request.headers.items()]
        out_headers.append(("Content-Length", str(len(body))))
        head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in out_headers) + "\r\n"
        expires = min(wall + VALIDITY_S, cred_expiry - CREDENTIAL_MARGIN_S)
        return SignedRequest(head.encode("latin-1") + body, wall, expires, tuple(out_headers))


def _pinned_auth_class() -> type:
    from botocore.auth import SigV4Auth

    class PinnedSigV4Auth(SigV4Auth):
        """`SigV4Auth.add_auth` with the timestamp given instead of read from the clock."""

        def sign_at(self, request: Any, wall: float) -> None:
            when = _dt.datetime.fromtimestamp(wall, _dt.UTC).replace(tzinfo=None)
            request.context["timestamp"] = when.strftime(SIGV4_TIMESTAMP)
            self._modify_request_before_signing(request)
            canonical = self.canonical_request(request)
            string_to_sign = self.string_to_sign(request, canonical)
            self._inject_signature_to_request(request, self.signature(string_to_sign, request))

    return PinnedSigV4Auth


class _LazyPinned:
    """Builds the SigV4Auth subclass on first use (botocore is an optional import)."""

    cls: type | None = None

    def __call__(self, *args: Any) -> Any:
        if _LazyPinned.cls is None:
            _LazyPinned.cls = _pinned_auth_class()
        return _LazyPinned.cls(*args)


_PinnedSigV4Auth = _LazyPinned()
