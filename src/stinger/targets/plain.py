"""The `plain` api: the payload is the request body, as it is; nothing is read from the answers.

The first api and the default (`type: plain`, or no type). Its only choice is the method
(plain over http: the config's `method`; a carrier without methods ignores it, a cloud
runtime's invoke call is always a POST): HEAD requests end with their headers, which the engine
must know (`Needs.head`). The payload's content type is the request's. Status codes are
classified by the engine's transport and server time comes from the run's server-time
header, so `interpret` adds nothing.
"""

from __future__ import annotations

from typing import Any, ClassVar

from stinger.targets.base import Interpretation, Needs, ResponseBatch


class PlainApi:
    """The payload as the body (see the module docstring)."""

    name: ClassVar[str] = "plain"
    body = None   # the payload is the body: the composed target sends through the carrier directly

    def __init__(self, config: Any) -> None:
        self.method: str = getattr(config, "method", "POST")

    def request_headers(self) -> tuple[tuple[str, str], ...]:
        return ()

    def content_type(self, payload_type: str | None) -> str | None:
        return payload_type

    def needs(self) -> Needs:
        return Needs(head=self.method == "HEAD")

    def interpret(self, batch: ResponseBatch) -> Interpretation:
        return Interpretation()
