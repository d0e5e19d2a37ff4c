"""Records that flow one way from the engine to metrics, reports and analyses.

The engine does not build one object per request (that would cost more than
the request itself at 100k req/s); it appends to columns and hands over a
`ResultColumns` batch once per interval. `Result` is the per-request view of one
row, used by the raw stream and by tests; its serialised form is stable.

Error kinds are small integers on the hot path and names everywhere else.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass


class Kind(enum.IntEnum):
    """How one scheduled request ended. OK is the only success."""

    OK = 0
    CONNECT = 1      # connection refused / unreachable / connect timeout
    TIMEOUT = 2      # no complete response within the request timeout
    RESET = 3        # connection closed or reset while the request was in flight
    INVALID = 4      # the response could not be parsed as HTTP/1.1
    HTTP_4XX = 5
    HTTP_5XX = 6
    CHECK = 7        # a 2xx/3xx whose body failed the configured check

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    Kind.OK: "ok",
    Kind.CONNECT: "connect",
    Kind.TIMEOUT: "timeout",
    Kind.RESET: "reset",
    Kind.INVALID: "invalid_response",
    Kind.HTTP_4XX: "http_4xx",
    Kind.HTTP_5XX: "http_5xx",
    Kind.CHECK: "check_failed",
}

ERROR_KINDS: tuple[Kind, ...] = tuple(k for k in Kind if k is not Kind.OK)
ERROR_LABELS: tuple[str, ...] = tuple(k.label for k in ERROR_KINDS)


@dataclass(frozen=True, slots=True)
class Result:
    """One request, as seen by the generator (times in seconds on the run clock).

    `sent`, `first_byte` are NaN when the request never got that far (for
    example a refused connection). `server_ms` is the server's own time from a
    response header, NaN when absent.
    """

    variant: str
    intended: float
    sent: float
    first_byte: float
    done: float
    kind: int
    status: int
    bytes_in: int
    server_ms: float = float("nan")

    @property
    def latency(self) -> float:
        """done - intended: what a caller waits (no coordinated omission)."""
        return self.done - self.intended

    @property
    def service_time(self) -> float:
        """done - sent: what a closed-loop tool would report."""
        return self.done - self.sent

    @property
    def schedule_lag(self) -> float:
        """sent - intended: grows when the generator falls behind."""
        return self.sent - self.intended

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Result":
        return cls(**{f: d[f] for f in cls.__dataclass_fields__})
