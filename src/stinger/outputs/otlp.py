"""`--otlp URL`: at the end of a run, its metrics and one span per request over OTLP/HTTP protobuf.

Built from what the run already made, after every other output finished (so nothing here is on the
engine's path, and the SDK is not needed): the metric messages from the merged measured-window
histograms (`RunMetrics`, the summary's own), the spans from requests.csv (which `--otlp` keeps:
orchestrate/row_files.py). POSTed to `URL/v1/metrics` and `URL/v1/traces` as
`application/x-protobuf` (opentelemetry-proto's messages).

Metrics (cumulative, one data point per variant, attribute `stinger.variant`):
- `stinger.requests` (sum): the summary's request counts by `stinger.outcome` (ok, failed, dropped);
- `stinger.errors` (sum): failed requests by `error.type` (the summary's error kinds);
- `stinger.<metric>` (explicit-bucket histogram, the catalogue's unit): every histogram the run
  recorded (latency, service, lag, ttft, itl, tpot, tokens, ...), bucketed from the HDR histogram's
  values (each at its bucket's median-equivalent value, 3 significant figures), count and sum kept;
- `gen_ai.server.time_to_first_token` and `gen_ai.server.time_per_output_token` (seconds), the
  GenAI semantic conventions' names for ttft and tpot, when the target measured them.

Spans (kind CLIENT, one a request that ended; capped at `otlp.max_spans`, said in a warning): start =
the intended send time (latency = done - intended, the run's definition; `stinger.sent_offset_ms` is
the schedule lag), end = done; the trace id and span id are the ones the request carried in its
`traceparent` (core/correlation.py), so a server's spans are its children; a request that carried none
gets ids of the same form from its row. Attributes: `http.response.status_code`, `error.type`,
`stinger.variant`, `stinger.worker`, `stinger.request_id`, and for an LLM api the GenAI conventions'
`gen_ai.operation.name`, `gen_ai.request.model`, `gen_ai.system` (and `gen_ai.usage.*`,
`gen_ai.server.time_to_first_token` where the rows carry them). No header, URL credential or key:
`server.address` is scrubbed (core/secrets.py).

An export that fails (no receiver, a refusal, a timeout) is one warning line on standard error; the
run's results and exit code are unchanged.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any

from stinger.core.secrets import scrub

__all__ = ["OtlpOutput", "metrics_request", "spans_requests", "with_otlp"]

# explicit bucket bounds, in the metric's shown unit (ms for times): 1-1.5-2-3-5-7.5 per decade
_BOUNDS = tuple(round(m * 10.0 ** e, 6) for e in range(-2, 6) for m in (1, 1.5, 2, 3, 5, 7.5))
_SPANS_PER_POST = 5000
_SEMCONV = {"ttft": "gen_ai.server.time_to_first_token", "tpot": "gen_ai.server.time_per_output_token"}


def _attrs(pairs: dict[str, Any]) -> list:
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    out = []
    for k, v in pairs.items():
        if v is None or v == "":
            continue
        if isinstance(v, bool):
            val = AnyValue(bool_value=v)
        elif isinstance(v, int):
            val = AnyValue(int_value=v)
        elif isinstance(v, float):
            val = AnyValue(double_value=v)
        else:
            val = AnyValue(string_value=str(v))
        out.append(KeyValue(key=k, value=val))
    return out


def _resource(run: dict) -> Any:
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource

    return Resource(attributes=_attrs({"service.name": "stinger", "stinger.run": run.get("name"),
                                       "stinger.seed": run.get("seed")}))


def _scope() -> Any:
    from importlib.metadata import PackageNotFoundError, version

    from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope

    try:
        ours = version("stinger")
    except PackageNotFoundError:   # pragma: no cover - a source tree not installed
        ours = "unknown"
    return InstrumentationScope(name="stinger", version=ours)


def _histogram_point(h: Any, scale: float, factor: float, attrs: list, start_ns: int, end_ns: int) -> Any:
    """An explicit-bucket data point from an HDR histogram (stored units / scale * factor = exported)."""
    import numpy as np
    from opentelemetry.proto.metrics.v1.metrics_pb2 import HistogramDataPoint

    values, counts = h.values_counts()
    shown = values.astype(np.float64) / scale
    bounds = np.asarray(_BOUNDS)
    idx = np.searchsorted(bounds, shown, side="left")   # OTLP: bucket i holds (bounds[i-1], bounds[i]]
    per = np.bincount(idx, weights=counts, minlength=len(bounds) + 1).astype(np.int64)
    return HistogramDataPoint(
        attributes=attrs, start_time_unix_nano=start_ns, time_unix_nano=end_ns, count=int(counts.sum()),
        sum=float((shown * counts).sum()) * factor, bucket_counts=per.tolist(),
        explicit_bounds=[b * factor for b in _BOUNDS],
        min=h.min / scale * factor, max=h.max / scale * factor)


def metrics_request(summary: dict, metrics: Any, started_at: float, ended_at: float) -> Any:
    """The run's ExportMetricsServiceRequest (see the module docstring)."""
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
    from opentelemetry.proto.metrics.v1.metrics_pb2 import (
        AGGREGATION_TEMPORALITY_CUMULATIVE,
        Histogram,
        Metric,
        NumberDataPoint,
        ResourceMetrics,
        ScopeMetrics,
        Sum,
    )

    from stinger.core.catalogue import BY_NAME

    start_ns, end_ns = int(started_at * 1e9), int(ended_at * 1e9)
    cum = AGGREGATION_TEMPORALITY_CUMULATIVE
    req_points, err_points = [], []
    hists: dict[str, list] = {}
    for name, v in (summary.get("variants") or {}).items():
        r = v.get("requests") or {}
        for outcome in ("ok", "failed", "dropped"):
            req_points.append(NumberDataPoint(attributes=_attrs({"stinger.variant": name, "stinger.outcome": outcome}),
                                              start_time_unix_nano=start_ns, time_unix_nano=end_ns,
                                              as_int=int(r.get(outcome) or 0)))
        for kind, n in (v.get("errors") or {}).items():
            if n:
                err_points.append(NumberDataPoint(attributes=_attrs({"stinger.variant": name, "error.type": kind}),
                                                  start_time_unix_nano=start_ns, time_unix_nano=end_ns, as_int=int(n)))
        vm = metrics.variants.get(name) if metrics is not None else None
        for mname, h in (vm.totals.items() if vm is not None else ()):
            m = BY_NAME.get(mname)
            if m is None or not h.total_count:
                continue
            attrs = _attrs({"stinger.variant": name})
            hists.setdefault(f"stinger.{mname}", [m.shown_unit, []])[1].append(
                _histogram_point(h, m.scale, 1.0, attrs, start_ns, end_ns))
            if mname in _SEMCONV and m.shown_unit == "ms":
                hists.setdefault(_SEMCONV[mname], ["s", []])[1].append(
                    _histogram_point(h, m.scale, 1e-3, attrs, start_ns, end_ns))
    out = [Metric(name="stinger.requests", unit="{request}", description="requests by outcome (summary.json)",
                  sum=Sum(data_points=req_points, aggregation_temporality=cum, is_monotonic=True))]
    if err_points:
        out.append(Metric(name="stinger.errors", unit="{request}", description="failed requests by kind",
                          sum=Sum(data_points=err_points, aggregation_temporality=cum, is_monotonic=True)))
    for name, (unit, points) in hists.items():
        out.append(Metric(name=name, unit=unit, histogram=Histogram(data_points=points, aggregation_temporality=cum)))
    return ExportMetricsServiceRequest(resource_metrics=[ResourceMetrics(
        resource=_resource(summary), scope_metrics=[ScopeMetrics(scope=_scope(), metrics=out)])])


def _float(text: str | None) -> float | None:
    return float(text) if text else None


def _llm_attrs(target: Any) -> dict[str, Any]:
    """The GenAI conventions' request attributes of a variant's target (none for a plain one)."""
    api = getattr(target, "type", None)
    if api == "openai":
        op = "chat" if getattr(target, "api", "chat") == "chat" else "text_completion"
        return {"gen_ai.operation.name": op, "gen_ai.system": "openai", "gen_ai.request.model": target.model}
    if api == "anthropic":
        return {"gen_ai.operation.name": "chat", "gen_ai.system": "anthropic",
                "gen_ai.request.model": getattr(target, "model", None)}
    return {}


def spans_requests(rows_path: Path, summary: dict, targets: dict[str, Any], t0_unix: float, max_spans: int,
                   seed: int) -> tuple[list, int, int]:
    """(ExportTraceServiceRequests of at most `_SPANS_PER_POST` spans each, spans made, rows left out by the cap).
    A row that never ended (kind `in_flight`) has no span."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

    from stinger.core.correlation import span_id, trace_hi, trace_id

    hi = trace_hi(seed)
    per_variant = {name: _llm_attrs(t) for name, t in targets.items()}
    where = {name: _where(t) for name, t in targets.items()}
    resource, scope = _resource(summary), _scope()
    batches: list = []
    spans: list = []
    made = capped = 0
    with open(rows_path, newline="", encoding="utf-8") as f:
        for i, row in enumerate(csv.DictReader(f)):
            done = _float(row.get("done_s"))
            if done is None:
                continue
            if made >= max_spans:
                capped += 1
                continue
            rid_text = row.get("request_id") or ""
            if rid_text:
                tid, rid = rid_text, int(rid_text[16:], 16)
            else:   # no ID sent: ids of the same form, numbered by row in a range the engine never reaches
                rid = (1 << 62) | i
                tid = trace_id(hi, rid)
            variant = row.get("variant") or ""
            intended = float(row["intended_s"])
            sent = _float(row.get("sent_s"))
            status = int(row.get("status") or 0)
            kind = row.get("kind") or ""
            attrs = {"stinger.variant": variant, "stinger.worker": int(row.get("worker") or 0),
                     "stinger.request_id": rid_text, "stinger.payload": int(row.get("payload") or 0),
                     "http.response.status_code": status or None, "error.type": None if kind == "ok" else kind,
                     "stinger.sent_offset_ms": None if sent is None else round((sent - intended) * 1e3, 3),
                     **per_variant.get(variant, {}), **where.get(variant, {})}
            ttft = _float(row.get("ttft_ms"))
            if ttft is not None:
                attrs["gen_ai.server.time_to_first_token"] = ttft / 1e3
            for col, key in (("input_tokens", "gen_ai.usage.input_tokens"),
                             ("output_tokens", "gen_ai.usage.output_tokens")):
                val = _float(row.get(col))
                if val is not None:
                    attrs[key] = int(val)
            spans.append(Span(
                trace_id=bytes.fromhex(tid), span_id=bytes.fromhex(span_id(hi, rid)),
                name=f"{attrs.get('gen_ai.operation.name') or 'request'} {variant}".strip(),
                kind=Span.SpanKind.SPAN_KIND_CLIENT,
                start_time_unix_nano=int((t0_unix + intended) * 1e9), end_time_unix_nano=int((t0_unix + done) * 1e9),
                attributes=_attrs(attrs),
                status=Status(code=Status.STATUS_CODE_OK if kind == "ok" else Status.STATUS_CODE_ERROR)))
            made += 1
            if len(spans) >= _SPANS_PER_POST:
                batches.append(spans)
                spans = []
    if spans:
        batches.append(spans)
    return ([ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        resource=resource, scope_spans=[ScopeSpans(scope=scope, spans=b)])]) for b in batches], made, capped)


def _where(target: Any) -> dict[str, Any]:
    """`server.address` / `server.port` of a variant's first endpoint, scrubbed (no credential)."""
    try:
        eps = target.endpoints()
    except Exception:   # a target without sockets, or one whose address is its own (a vendor's)
        return {}
    if not eps:
        return {}
    return {"server.address": scrub(eps[0].host), "server.port": eps[0].port}


def post(url: str, message: Any, timeout: float) -> None:
    import urllib.request

    req = urllib.request.Request(url, data=message.SerializeToString(), method="POST",
                                 headers={"Content-Type": "application/x-protobuf", "User-Agent": "stinger"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        resp.read()


def with_otlp(spec: Any, outputs: list) -> list:
    """The run's outputs, and the OTLP export last when the spec asks for it (once), for a run that writes a
    run directory (a capacity search's steps write none: they are not exported one by one)."""
    from stinger.outputs.rundir import RunDirOutput

    if getattr(spec, "otlp", None) is None or any(isinstance(o, OtlpOutput) for o in outputs):
        return outputs
    if not any(isinstance(o, RunDirOutput) for o in outputs):
        return outputs
    return [*outputs, OtlpOutput()]


class OtlpOutput:
    """The output that exports at `finish` (the last output; see the module docstring)."""

    wants_intervals = False   # nothing live: the export is the run's end

    def __init__(self) -> None:
        self.spec: Any = None
        self.warnings: list[str] = []
        self.exported: dict[str, int] = {}

    def start(self, info: Any) -> None:
        self.spec = info.spec

    def interval(self, snapshot: Any) -> None:
        return None

    def finish(self, result: Any) -> None:
        cfg = getattr(self.spec, "otlp", None)
        if cfg is None:
            return
        try:
            self._export(cfg, result)
        except Exception as exc:   # never fatal: one line, the run's results stand
            self._warn(f"--otlp: export to {scrub(cfg.url)} failed ({_reason(exc)}); the run's results are unaffected")

    def _export(self, cfg: Any, result: Any) -> None:
        summary = result.summary
        started = float(result.started_at)
        ended = started + float(summary.get("elapsed_s") or 0.0)
        post(cfg.url + "/v1/metrics", metrics_request(summary, result.metrics, started, ended), cfg.timeout)
        self.exported["metrics"] = 1
        run_dir, rows = summary.get("run_dir"), summary.get("requests_file")
        if not run_dir or not rows:
            self._warn("--otlp: no per-request rows (no run directory), so no spans; the metrics were exported")
            return
        targets = {v.name: v.target for v in self.spec.all_variants()}
        batches, made, capped = spans_requests(Path(run_dir) / rows["path"], summary, targets,
                                               float(rows.get("t0_unix") or started), cfg.max_spans, int(summary["seed"]))
        for message in batches:
            post(cfg.url + "/v1/traces", message, cfg.timeout)
        self.exported["spans"] = made
        if capped:
            self._warn(f"--otlp: exported the first {made:,} spans of {made + capped:,} (otlp.max_spans); "
                       "the metrics count every request")

    def _warn(self, line: str) -> None:
        self.warnings.append(line)
        print(f"stinger: warning: {line}", file=sys.stderr)


def _reason(exc: BaseException) -> str:
    import urllib.error

    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    return f"{type(exc).__name__}: {exc}"


