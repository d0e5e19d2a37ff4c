"""The `fake` carrier: in memory, for fast tests: no sockets, answers after a configured delay.

`{via: fake, delay: 2ms, status: 200, body: '{"predictions":[1]}', error_rate: 0.1}`
(`type: fake` is read as plain via fake).

Like httpx's `MockTransport`, but one level lower: the fake carrier names the
`fake` transport (`engine/fake_wire.py`), so the engine's connections write to
an in-memory socket instead of a TCP connection, and everything above the socket runs for real —
the engine's pacing, in-flight bound and timeouts, the `httptools` parser
reading real HTTP/1.1 response bytes, the flush thread, batch, metrics and the
run directory. Each `write` of a request schedules one response on the event
loop after `delay`: the configured status and body, or with probability
`error_rate` the `error_status`, or with probability `reset_rate` a closed
connection (counted as a reset). Draws come from a `random.Random(seed)` per
target, so a run is repeatable.

`ttl` makes the request bytes expire (as a signed request's do), so a test can
watch the engine's byte cache rebuild them; `built` and `requests` count what
the carrier was asked for.
"""

from __future__ import annotations

import random
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from stinger.targets.abilities import TargetFlag
from stinger.targets.base import NEVER_EXPIRES, Endpoint, Needs, TargetConfig

_ENDPOINT = Endpoint(scheme="fake", host="fake", port=0, path="/", url="fake:")
_REASONS = {200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 404: "Not Found",
            429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


def _seconds(v: Any) -> Any:
    if v is None:
        return None
    from stinger.core.schedule import parse_duration
    from stinger.errors import UsageError

    try:
        return parse_duration(v)
    except UsageError as exc:  # pydantic attaches the field's location to a ValueError
        raise ValueError(str(exc)) from None


class Config(TargetConfig):
    """plain via fake (the one pair the fake carries: its answers are its own)."""

    type: Literal["plain"] = "plain"
    via: Literal["fake"] = "fake"
    delay: float = 0.0                    # seconds (or "2ms"): from a request's write to its answer
    status: int = Field(default=200, ge=100, le=599)
    body: str = '{"predictions":[1]}'
    headers: dict[str, str] = Field(default_factory=dict)   # extra response headers (e.g. Server-Timing)
    error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    error_status: int = Field(default=500, ge=100, le=599)
    reset_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    ttl: float | None = None              # request bytes expire this long after they were built
    seed: int = 0

    @field_validator("delay", "ttl", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> Any:
        return _seconds(v)

    @field_validator("delay")
    @classmethod
    def _non_negative(cls, v: float) -> float:
        if v < 0:
            raise ValueError(f"must be >= 0, got {v}")
        return v

    @field_validator("ttl")
    @classmethod
    def _positive(cls, v: float | None) -> float | None:
        if v is not None and v <= 0:
            raise ValueError(f"must be > 0, got {v}")
        return v

    def endpoints(self) -> tuple[Endpoint, ...]:
        return (_ENDPOINT,)

    def all_urls(self) -> list[str]:
        return []  # nothing to connect to, nothing to monitor


def _response(status: int, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class FakeCarrier:
    """Answers in memory; see the module docstring."""

    name: ClassVar[str] = "fake"
    transport: ClassVar[str] = "fake"   # engine/fake_wire.py: answers in memory (engine.transport)
    unwrap = None   # its answers are read by the api as they are

    def __init__(self, config: Config, api: Any = None) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        body = config.body.encode()
        self.ok = _response(config.status, body, config.headers)
        self.error = _response(config.error_status, b"fake error", config.headers)
        self.built = 0      # request bytes built (cache misses and expiries)
        self.requests = 0   # requests answered or reset

    def endpoints(self) -> tuple[Endpoint, ...]:
        return self.config.endpoints()

    def needs(self) -> Needs:
        return Needs()

    def request(self, endpoint: Endpoint, body: bytes, now: float,
                content_type: str | None = None) -> tuple[bytes, float]:
        self.built += 1
        ct = f"Content-Type: {content_type}\r\n".encode("latin-1") if content_type else b""
        raw = b"POST / HTTP/1.1\r\nHost: fake\r\n" + ct + b"Content-Length: %d\r\n\r\n" % len(body) + body
        ttl = self.config.ttl
        return raw, (now + ttl if ttl is not None else NEVER_EXPIRES)

    def answer(self) -> bytes | None:
        """The next response's bytes, or None for a reset."""
        self.requests += 1
        c = self.config
        if not (c.reset_rate or c.error_rate):
            return self.ok
        r = self.rng.random()
        if r < c.reset_rate:
            return None
        if r < c.reset_rate + c.error_rate:
            return self.error
        return self.ok


class FakeSide:
    """The coordinator half of the fake carrier: `--target fake=DELAY` (no alias of its own)."""

    alias: ClassVar[str | None] = None
    alias_metavar: ClassVar[str] = "DELAY"
    alias_help: ClassVar[str] = "An in-memory endpoint answering after DELAY (no network: the generator's own cost)"
    flags: ClassVar[tuple[TargetFlag, ...]] = ()
    variant_key: ClassVar[str] = "delay"

    def from_flag(self, arg: str) -> dict[str, Any]:
        return {"type": "plain", "via": "fake", "delay": arg}
