"""Model servers speaking the KServe inference protocols: V2 (Open Inference Protocol) and V1.

`target: {type: kserve, url: http://127.0.0.1:8080, model: NAME, protocol: v2,
version: "1", input_name: input-0, datatype: FP32}` — MLServer, KServe's
model server, Triton (V2 over HTTP), TorchServe's KServe mode, Seldon.

**Build time** (once per distinct payload, cached for the run):

- V2: `POST /v2/models/NAME[/versions/V]/infer`. A payload that is a JSON
  object with `inputs` is the request itself. Otherwise the payload is the
  data of one input tensor: a list of numbers is one row (shape `[1, n]`), a
  list of lists is rows (`[rows, n]`), `{"instances": rows}` likewise; the
  tensor is named `input_name` and typed `datatype`, else inferred (INT64 for
  integers, FP64 for numbers, BOOL, BYTES for strings).
- V1: `POST /v1/models/NAME:predict` with `{"instances": rows}` (a payload
  that is already such an object is sent as it is).

**Before the run** (`preflight`, in the coordinator): `GET
/v2/models/NAME[/versions/V]/ready` (V1: `GET /v1/models/NAME`) must answer
200, else a one-line error names the model, the URL and what the server said
(an unknown model is the user's mistake, not a run of 404s).

**Flush time**: a 4xx/5xx answer's `error` text is kept once per error kind
(`messages`). Predictions come out through the run's prediction path as for
any JSON answer (e.g. `outputs.0.data.0` for V2, `predictions.0` for V1), and
server time through the Prometheus presets `mlserver`/`kserve`/`triton`.
"""

from __future__ import annotations

import json
from typing import Literal

import numpy as np
from pydantic import Field

from stinger.errors import TargetError
from stinger.targets.base import NEVER_EXPIRES, Endpoint, Interpretation, Needs, ResponseBatch, TargetConfig
from stinger.targets.http import Headers, JsonPost, parse_endpoint, wire_url

_DATATYPES = ("BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
              "FP16", "FP32", "FP64", "BYTES")


class Config(TargetConfig):
    """The `kserve` target's config (see the module docstring)."""

    type: Literal["kserve"] = "kserve"
    url: str
    model: str = Field(min_length=1)
    protocol: Literal["v2", "v1"] = "v2"
    version: str | None = None
    input_name: str = "input-0"
    datatype: Literal[_DATATYPES] | None = None     # type: ignore[valid-type]
    headers: Headers = Field(default_factory=dict)   # checked as -H is (one Latin-1 line each)
    insecure: bool = False

    def model_path(self) -> str:
        if self.protocol == "v1":
            return f"/v1/models/{self.model}"
        version = f"/versions/{self.version}" if self.version else ""
        return f"/v2/models/{self.model}{version}"

    def infer_url(self) -> str:
        base = self.url.rstrip("/")
        return base + self.model_path() + (":predict" if self.protocol == "v1" else "/infer")

    def ready_url(self) -> str:
        return self.url.rstrip("/") + self.model_path() + ("" if self.protocol == "v1" else "/ready")

    def endpoints(self) -> tuple[Endpoint, ...]:
        return (parse_endpoint(self.infer_url(), verify=not self.insecure),)


def _datatype(values: list) -> str:
    flat = np.asarray(values, dtype=object).ravel().tolist()
    if all(isinstance(v, bool) for v in flat):
        return "BOOL"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in flat):
        return "INT64"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in flat):
        return "FP64"
    return "BYTES"


def _rows(obj: object) -> list | None:
    """The rows of a payload that is tensor data (a row, rows, or {"instances": rows}); None otherwise."""
    if isinstance(obj, dict) and isinstance(obj.get("instances"), list):
        obj = obj["instances"]
    if isinstance(obj, list) and obj:
        return obj if isinstance(obj[0], list) else [obj]
    return None


class KServeTarget:
    """V2 or V1 inference requests to one model on one server."""

    type = "kserve"

    def __init__(self, config: Config) -> None:
        self.config = config
        self._endpoints = config.endpoints()
        self._post = JsonPost(tuple((k, str(v)) for k, v in config.headers.items()))
        self.messages: dict[int, str] = {}

    def endpoints(self) -> tuple[Endpoint, ...]:
        return self._endpoints

    def needs(self) -> Needs:
        return Needs(error_bodies=True)

    # -- before the run -----------------------------------------------------
    def preflight(self, timeout: float = 10.0) -> None:
        """The model must be ready; a one-line TargetError otherwise."""
        import urllib.error
        import urllib.request

        from stinger.core.secrets import scrub

        url = self.config.ready_url()
        req = urllib.request.Request(wire_url(url), headers=dict(self.config.headers))
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                if resp.status == 200:
                    return
                said = f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            body = exc.read()[:200].decode("utf-8", "replace").strip()
            said = f"HTTP {exc.code}" + (f": {body}" if body else "")
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TargetError(f"kserve: cannot reach {scrub(url)} ({reason}); is the model server running?") from None
        raise TargetError(f"kserve: model {self.config.model!r} is not ready at {scrub(url)} ({' '.join(said.split())}); "
                          f"expected HTTP 200 from the {self.config.protocol.upper()} readiness endpoint")

    # -- build time ---------------------------------------------------------
    def body(self, payload: bytes) -> bytes:
        c = self.config
        try:
            obj = json.loads(payload) if payload else None
        except ValueError:
            raise TargetError(f"kserve: a payload is not JSON ({payload[:60]!r}); expected a V2 request, "
                              "a row of features or a list of rows") from None
        if c.protocol == "v1":
            if isinstance(obj, dict) and "instances" in obj:
                return payload
            rows = _rows(obj)
            if rows is None:
                raise TargetError(f"kserve v1: a payload must be a row, rows or {{'instances': rows}}, got {obj!r:.60}")
            return json.dumps({"instances": rows}, separators=(",", ":")).encode()
        if isinstance(obj, dict) and "inputs" in obj:
            return payload
        rows = _rows(obj)
        if rows is None:
            raise TargetError(f"kserve v2: a payload must be a V2 request, a row or rows, got {obj!r:.60}")
        width = len(rows[0])
        if any(not isinstance(r, list) or len(r) != width for r in rows):
            raise TargetError(f"kserve v2: the rows of a payload must all have {width} values")
        tensor = {"name": c.input_name, "shape": [len(rows), width], "datatype": c.datatype or _datatype(rows),
                  "data": [v for r in rows for v in r]}
        return json.dumps({"inputs": [tensor]}, separators=(",", ":")).encode()

    def request(self, endpoint: Endpoint, body: bytes, now: float,
                content_type: str | None = None) -> tuple[bytes, float]:
        return self._post.request(endpoint, self.body(body)), NEVER_EXPIRES

    # -- flush time ---------------------------------------------------------
    def interpret(self, batch: ResponseBatch) -> Interpretation:
        said: dict[int, str] = {}
        if batch.bodies is not None:
            for i in np.flatnonzero(batch.status >= 400).tolist():
                body = batch.bodies[i]
                if not body:
                    continue
                try:
                    obj = json.loads(body)
                    text = obj.get("error") if isinstance(obj, dict) else None
                except ValueError:
                    text = body[:200].decode("utf-8", "replace")
                if text:
                    message = f"HTTP {int(batch.status[i])}: {str(text)[:300]}"
                    self.messages.setdefault(int(batch.kind[i]), message)
                    said.setdefault(int(batch.kind[i]), message)
        return Interpretation(messages=said or None)   # the worker passes each on once (a record note)
