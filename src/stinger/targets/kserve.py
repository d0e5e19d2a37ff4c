"""The `kserve` api: model servers speaking the KServe inference protocols, V2 (Open Inference
Protocol) and V1.

`target: {type: kserve, url: http://127.0.0.1:8080, model: NAME, protocol: v2,
version: "1", input_name: input-0, datatype: FP32}` — MLServer, KServe's
model server, Triton (V2 over HTTP), TorchServe's KServe mode, Seldon
(`KServeFields` are the api's fields, `Config` kserve over http).

**Build time** (once per distinct payload, cached for the run):

- V2: `POST /v2/models/NAME[/versions/V]/infer`. A payload that is a JSON
  object with `inputs` is the request itself. Otherwise the payload is the
  data of one input tensor: a list of numbers is one row (shape `[1, n]`), a
  list of lists is rows (`[rows, n]`), `{"instances": rows}` likewise; the
  tensor is named `input_name` and typed `datatype`, else inferred (INT64 for
  integers, FP64 for numbers, BOOL, BYTES for strings).
- V1: `POST /v1/models/NAME:predict` with `{"instances": rows}` (a payload
  that is already such an object is sent as it is).

**Before the run** (`KServeSide.preflight`, in the coordinator): `GET
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
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from stinger.errors import TargetError
from stinger.targets.abilities import RunTargets, TargetFlag
from stinger.targets.base import Interpretation, Needs, ResponseBatch, TargetConfig
from stinger.targets.http import HttpFields, wire_url

_DATATYPES = ("BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
              "FP16", "FP32", "FP64", "BYTES")


class KServeFields(TargetConfig):
    """The kserve api's fields (see the module docstring), over any carrier."""

    type: Literal["kserve"] = "kserve"
    model: str = Field(min_length=1)
    protocol: Literal["v2", "v1"] = "v2"
    version: str | None = None
    input_name: str = "input-0"
    datatype: Literal[_DATATYPES] | None = None     # type: ignore[valid-type]

    def model_path(self) -> str:
        if self.protocol == "v1":
            return f"/v1/models/{self.model}"
        version = f"/versions/{self.version}" if self.version else ""
        return f"/v2/models/{self.model}{version}"

    def api_url(self, base: str) -> str:
        """The inference URL under a server's base URL."""
        return base.rstrip("/") + self.model_path() + (":predict" if self.protocol == "v1" else "/infer")


class Config(KServeFields, HttpFields):
    """kserve over http (`type: kserve`): the server's base URL."""

    url: str

    def infer_url(self) -> str:
        return self.api_url(self.url)

    def ready_url(self) -> str:
        return self.url.rstrip("/") + self.model_path() + ("" if self.protocol == "v1" else "/ready")


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


def check_ready(config: Config, timeout: float = 10.0) -> None:
    """The model must be ready (`GET .../ready`, V1: the model's URL): a one-line TargetError otherwise."""
    import urllib.error
    import urllib.request

    from stinger.core.secrets import scrub

    url = config.ready_url()
    req = urllib.request.Request(wire_url(url), headers=dict(config.headers))
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
    raise TargetError(f"kserve: model {config.model!r} is not ready at {scrub(url)} ({' '.join(said.split())}); "
                      f"expected HTTP 200 from the {config.protocol.upper()} readiness endpoint")


class KServeSide:
    """The coordinator half of the kserve api: a preflight that each model is ready, and its flags."""

    alias: ClassVar[str | None] = "--kserve"
    alias_metavar: ClassVar[str] = "URL"
    alias_help: ClassVar[str] = ("A KServe V2 model server (MLServer, KServe, Triton), e.g. http://127.0.0.1:8080: "
                                 "POST /v2/models/MODEL/infer with each payload row as a tensor; needs --model")
    flags: ClassVar[tuple[TargetFlag, ...]] = (TargetFlag("--model", "model", "The served model's name."),)
    variant_key: ClassVar[str] = "model"

    def preflight(self, run: RunTargets) -> None:
        """Each distinct kserve-over-http target's model must be ready, before any load."""
        seen: set[str] = set()
        for v in run.all_variants():
            config = v.target
            key = config.model_dump_json()
            if not isinstance(config, Config) or key in seen:
                continue
            seen.add(key)
            check_ready(config)

    def from_flag(self, arg: str) -> dict[str, Any]:
        return {"type": "kserve", "url": arg}

    def server_time_labels(self, config: Any) -> tuple[str, ...]:
        """`ServerTimeLabels`: a model server's per-model metrics carry the model's name."""
        model = getattr(config, "model", None)
        return (model,) if isinstance(model, str) and model else ()


class KServeApi:
    """V2 or V1 inference requests to one model (see the module docstring)."""

    name: ClassVar[str] = "kserve"
    method = "POST"

    def __init__(self, config: KServeFields) -> None:
        self.config = config
        self.messages: dict[int, str] = {}

    def request_headers(self) -> tuple[tuple[str, str], ...]:
        return ()

    def content_type(self, payload_type: str | None) -> str | None:
        return "application/json"

    def needs(self) -> Needs:
        return Needs(error_bodies=True)

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
