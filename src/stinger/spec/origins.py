"""Where load comes from: `scale.origins`, named groups of workers (issue 19 item 1).

An origin is a name and a number of workers, optionally a source address its workers' connections
leave from. On the Ray backend an origin's workers run on the nodes labelled `origin=NAME` (`ray start
--labels origin=east`); on the local backend they are processes of this machine, told apart by their
source address (`127.0.0.2`, any address of this machine). Given on the command line as
`--origin NAME:WORKERS[@ADDRESS]` (repeatable), in a spec as a list of mappings or of those strings:

    scale:
      origins:
        - {name: east, workers: 2, source_address: 127.0.0.2}
        - west:2@127.0.0.3

The origins' workers add up to the run's workers (`load.workers` must then be `auto` or that sum).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
MAX_ORIGINS = 64   # core.breakdown.MAX_LABELS: an origin's latency is a breakdown row
FORM = "NAME:WORKERS[@ADDRESS], e.g. east:2 or east:2@127.0.0.2"


class OriginSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    workers: int = Field(ge=1, le=1024)
    # the local address this origin's connections are bound to (None: the system picks)
    source_address: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        # a Ray label value (letters, digits, - _ ., at most 63) and a row label
        if not _NAME.fullmatch(v):
            raise ValueError(f"origin name {v!r}: expected letters, digits, '-', '_' or '.', at most 63")
        return v

    @field_validator("source_address")
    @classmethod
    def _address(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            return str(ipaddress.ip_address(v))
        except ValueError:
            raise ValueError(f"origin source address {v!r} is not an IP address (e.g. 127.0.0.2)") from None


def parse_origin(text: str) -> dict[str, Any]:
    """`east:2@127.0.0.2` -> {"name": "east", "workers": 2, "source_address": "127.0.0.2"}; ValueError
    naming the form otherwise (the model checks the parts)."""
    head, at, address = text.strip().partition("@")
    name, colon, workers = head.rpartition(":")
    if not colon or not name or not workers.strip().isdigit() or (at and not address):
        raise ValueError(f"origin {text!r}: expected {FORM}")
    out: dict[str, Any] = {"name": name.strip(), "workers": int(workers)}
    if at:
        out["source_address"] = address.strip()
    return out


class ScaleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    origins: list[OriginSpec] = Field(default_factory=list)

    @field_validator("origins", mode="before")
    @classmethod
    def _forms(cls, v: Any) -> Any:
        if isinstance(v, list):
            return [parse_origin(x) if isinstance(x, str) else x for x in v]
        return v

    @model_validator(mode="after")
    def _unique(self) -> ScaleSpec:
        names = [o.name for o in self.origins]
        if len(names) > MAX_ORIGINS:   # each is a row a variant, and a label of the breakdown (at most 64)
            raise ValueError(f"{len(names)} origins; expected at most {MAX_ORIGINS}")
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"origin {twice[0]!r} is given twice; expected each origin once")
        return self

    def total_workers(self) -> int:
        return sum(o.workers for o in self.origins)

    def worker_origins(self) -> list[OriginSpec]:
        """Worker w's origin at index w: the origins' workers in the order given."""
        return [o for o in self.origins for _ in range(o.workers)]
