"""A run's summary as one typed value, and its one author (summary.json, docs/summary.md).

`build_summary(SummaryInputs) -> RunSummary` is pure: it is given what the run measured
(the merged `RunMetrics`, the window, the monitors' figures, each variant's server-time
readings, the blocks and warnings the coordinator gathered) and writes every key of the
summary; nothing else writes one. What the run learns after the load goes through the two
functions that return a new summary: `with_run_end` (an abort rule's reason, the output
thread's errors, the requests.csv it kept, the run directory) and `with_blocks` (the targets'
after-run blocks: their data under their key, their warnings, and server time chosen again
with their readings by the one rule in `core.server_time`).

`RunSummary.to_json()` is summary.json (`stinger.summary/1`, unchanged); `RunSummary.from_json`
reads it back, also from older run directories (a key they lack takes its neutral value; a key
this version does not know is kept in `extra` and written back as it was).

The dataclasses are frozen: a summary is never edited in place. Their mappings are plain dicts
(JSON-ready); the builder makes fresh ones and no function here changes one it was given.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from stinger.core.blocks import Block
from stinger.core.catalogue import METRICS
from stinger.core.secrets import redact_text
from stinger.core.server_time import Origin, ServerTimeReading, choose, server_time_note

if TYPE_CHECKING:
    from stinger.core.metrics import RunMetrics
    from stinger.core.slo import Slo

SCHEMA = "stinger.summary/1"
MOSTLY_FAILED = 0.5          # a variant whose error rate reaches this is reported loudly
SAMPLE_BODY_CHARS = 200      # a sample response body is cut to this many characters

Json = dict[str, Any]
QUANTILES = ("p50", "p90", "p95", "p99", "p99.9")


# ------------------------------------------------------------------------------------------- values
@dataclass(frozen=True, slots=True)
class Bound:
    """Where a quantile known only from histogram buckets can lie (ms); `le` None: unbounded above."""

    ge: float
    le: float | None


@dataclass(frozen=True, slots=True)
class Hist:
    """HIST: a histogram's statistics (ms, tokens, ...); every figure but `count` is None without values."""

    count: int
    mean: float | None = None
    stddev: float | None = None
    min: float | None = None
    max: float | None = None
    p50: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None
    p999: float | None = None
    bounds: Mapping[str, Bound] | None = None   # server time from a Prometheus histogram

    def quantile(self, key: str) -> float | None:
        """A quantile by its JSON key ("p50" .. "p99.9")."""
        return self.p999 if key == "p99.9" else getattr(self, key)

    def to_json(self) -> Json:
        out: Json = {"count": self.count, "mean": self.mean, "stddev": self.stddev, "min": self.min,
                     "max": self.max, "p50": self.p50, "p90": self.p90, "p95": self.p95, "p99": self.p99,
                     "p99.9": self.p999}
        if self.bounds is not None:
            out["bounds"] = {k: {"ge": b.ge, "le": b.le} for k, b in self.bounds.items()}
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Hist:
        b = d.get("bounds")
        return cls(count=int(d.get("count") or 0), mean=d.get("mean"), stddev=d.get("stddev"), min=d.get("min"),
                   max=d.get("max"), p50=d.get("p50"), p90=d.get("p90"), p95=d.get("p95"), p99=d.get("p99"),
                   p999=d.get("p99.9"),
                   bounds=None if b is None else {k: Bound(v["ge"], v["le"]) for k, v in b.items()})

    def absent_as_null(self) -> Hist:
        """No value (no successful response) has no percentiles: null, never 0.00."""
        return self if self.count else Hist(0)


def is_hist(x: Any) -> bool:
    """A HIST-shaped JSON value (what an older run directory's unknown `*_ms` key is read as)."""
    return isinstance(x, Mapping) and "count" in x and "p50" in x


@dataclass(frozen=True, slots=True)
class Requests:
    """scheduled = ok + failed + dropped + in_flight (unaccounted is there so a reader can check)."""

    scheduled: int
    ok: int
    failed: int
    dropped: int
    in_flight: int = 0
    unaccounted: int = 0
    warmup: int = 0

    @property
    def ended(self) -> int:
        return self.ok + self.failed + self.dropped

    def to_json(self) -> Json:
        return {"scheduled": self.scheduled, "ok": self.ok, "failed": self.failed, "dropped": self.dropped,
                "in_flight": self.in_flight, "unaccounted": self.unaccounted, "warmup": self.warmup}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Requests:
        return cls(**{k: int(d.get(k) or 0) for k in ("scheduled", "ok", "failed", "dropped", "in_flight",
                                                       "unaccounted", "warmup")})


@dataclass(frozen=True, slots=True)
class Throughput:
    """Rates over the measured window; `rates` are the catalogue's derived rates (`Metric.rate_key`,
    e.g. output_tokens_per_s = the output tokens' mean x achieved_rps)."""

    offered_rps: float
    achieved_rps: float
    ratio: float | None
    window_s: float
    rates: Mapping[str, float] = field(default_factory=dict)

    def to_json(self) -> Json:
        return {"offered_rps": self.offered_rps, "achieved_rps": self.achieved_rps, "ratio": self.ratio,
                "window_s": self.window_s, **self.rates}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Throughput:
        known = ("offered_rps", "achieved_rps", "ratio", "window_s")
        return cls(offered_rps=d.get("offered_rps") or 0.0, achieved_rps=d.get("achieved_rps") or 0.0,
                   ratio=d.get("ratio"), window_s=d.get("window_s") or 0.0,
                   rates={k: v for k, v in d.items() if k not in known})


_VARIANT_HEAD = ("requests", "errors", "status_codes", "error_rate", "throughput", "bytes", "sample_responses")
_VARIANT_TAIL = ("server_metrics_ms", "unsolicited", "quality", "error_messages")


@dataclass(frozen=True, slots=True)
class VariantSummary:
    """VARIANT: one variant's (or `overall`'s) figures. `hists` holds every HIST by its summary key, in
    the catalogue's order (latency_ms, ..., server_time_ms, ttft_ms, ...)."""

    requests: Requests
    errors: Mapping[str, int]
    status_codes: Mapping[str, int]
    error_rate: float
    throughput: Throughput
    bytes: Mapping[str, int]
    hists: Mapping[str, Hist]
    sample_responses: Mapping[str, str] | None = None
    server_metrics: Mapping[str, Hist] | None = None
    unsolicited: int | None = None
    quality: Mapping[str, Any] | None = None
    error_messages: Mapping[str, str] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def hist(self, summary_key: str) -> Hist | None:
        return self.hists.get(summary_key)

    def to_json(self) -> Json:
        out: Json = {"requests": self.requests.to_json(), "errors": dict(self.errors),
                     "status_codes": dict(self.status_codes), "error_rate": self.error_rate,
                     "throughput": self.throughput.to_json(), "bytes": dict(self.bytes)}
        if self.sample_responses is not None:
            out["sample_responses"] = dict(self.sample_responses)
        out.update((k, h.to_json()) for k, h in self.hists.items())
        if self.server_metrics is not None:
            out["server_metrics_ms"] = {k: h.to_json() for k, h in self.server_metrics.items()}
        for key in ("unsolicited", "quality", "error_messages"):
            v = getattr(self, key)
            if v is not None:
                out[key] = dict(v) if isinstance(v, Mapping) else v
        out.update(self.extra)
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> VariantSummary:
        sm = d.get("server_metrics_ms")
        hists = {k: Hist.from_json(v) for k, v in d.items() if k not in _VARIANT_HEAD + _VARIANT_TAIL and is_hist(v)}
        rest = {k: v for k, v in d.items() if k not in _VARIANT_HEAD + _VARIANT_TAIL and k not in hists}
        return cls(requests=Requests.from_json(d.get("requests") or {}), errors=dict(d.get("errors") or {}),
                   status_codes=dict(d.get("status_codes") or {}), error_rate=d.get("error_rate") or 0.0,
                   throughput=Throughput.from_json(d.get("throughput") or {}), bytes=dict(d.get("bytes") or {}),
                   hists=hists, sample_responses=d.get("sample_responses"),
                   server_metrics=None if sm is None else {k: Hist.from_json(v) for k, v in sm.items()},
                   unsolicited=d.get("unsolicited"), quality=d.get("quality"), error_messages=d.get("error_messages"),
                   extra=rest)


@dataclass(frozen=True, slots=True)
class ServerTime:
    """`server_time`: where each variant's server time came from; who has none, why, and the note."""

    source: Mapping[str, str] = field(default_factory=dict)
    missing: tuple[str, ...] | None = None
    why: str | None = None

    @property
    def note(self) -> str | None:
        return server_time_note(self.missing, self.why or "") if self.missing else None

    def to_json(self) -> Json:
        out: Json = {"source": dict(self.source)}
        if self.missing is not None:
            out["missing"], out["why"] = list(self.missing), self.why
            if self.note is not None:
                out["note"] = self.note
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ServerTime:
        m = d.get("missing")
        return cls(source=dict(d.get("source") or {}), missing=None if m is None else tuple(m), why=d.get("why"))


# The top-level keys in summary.json's order; `_OPTIONAL` are written only when they hold something.
_HEAD = ("schema", "name", "seed", "started_at", "elapsed_s", "interrupted", "terminated", "incomplete",
         "lost_workers", "stopped_early", "mode", "split", "pairing", "workers", "targets", "window", "variants",
         "overall")
_TAIL = ("slo", "slo_passed", "spike", "series", "resources", "generator", "server_time", "warnings", "failures",
         "no_success", "requests_file", "rows", "hooks", "aborted", "events")
_OPTIONAL = ("pairing", "overall", "spike", "series", "resources", "generator", "failures", "requests_file",
             "rows", "hooks", "aborted", "run_dir", "events")


@dataclass(frozen=True, slots=True)
class RunSummary:
    """summary.json as a value (docs/summary.md). `blocks` are the after-run blocks and the attribution of
    an endpoint-split run, each written under its key; `extra` keeps keys this version does not know."""

    name: str | None
    seed: int | None
    started_at: str
    elapsed_s: float
    mode: str
    split: str
    workers: int
    targets: Mapping[str, Sequence[str]]
    window: Mapping[str, float]
    variants: Mapping[str, VariantSummary]
    interrupted: bool = False
    terminated: bool = False
    incomplete: bool = False
    lost_workers: Sequence[Mapping[str, Any]] = ()
    stopped_early: bool = False
    pairing: str | None = None
    overall: VariantSummary | None = None
    slo: Sequence[Mapping[str, Any]] = ()
    slo_passed: bool = True
    spike: Mapping[str, Any] | None = None
    series: Mapping[str, Any] | None = None
    resources: Mapping[str, Any] | None = None
    generator: Mapping[str, Any] | None = None
    server_time: ServerTime = field(default_factory=ServerTime)
    warnings: tuple[str, ...] = ()
    failures: Mapping[str, Any] | None = None
    no_success: tuple[str, ...] = ()
    requests_file: Mapping[str, Any] | None = None
    # the row sinks' files ({sink, path, rows, t0_unix} each: rows/base.py) and the user's hooks with their cost
    rows: Sequence[Mapping[str, Any]] | None = None
    hooks: Mapping[str, Any] | None = None
    aborted: str | None = None
    # live load changes, in order ({"t", "kind": "load_change", "rate"|"users", "source"}: scale/control.py)
    events: Sequence[Mapping[str, Any]] | None = None
    blocks: Mapping[str, Block] = field(default_factory=dict)
    run_dir: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    schema: str = SCHEMA
    # which origin gave each variant its server time (in memory only: `with_blocks` chooses again with it)
    origins: Mapping[str, Origin] = field(default_factory=dict, compare=False)

    def to_json(self) -> Json:
        """summary.json: fresh dicts and lists all the way down (the caller may change them)."""
        out: Json = {}
        for key in _HEAD + _TAIL:
            v = getattr(self, key)
            if key in _OPTIONAL and v is None:
                continue
            out[key] = _json(v)
        for key, block in self.blocks.items():
            out[key] = _json(block.data)
        if self.run_dir is not None:
            out["run_dir"] = self.run_dir
        out.update((k, _json(v)) for k, v in self.extra.items())
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> RunSummary:
        """A summary.json read back (older ones too: what they lack takes its neutral value)."""
        known = set(_HEAD + _TAIL) | {"run_dir"}
        # a key the schema does not name holding an object is a block (an endpoint split's attribution,
        # a cloud endpoint's own metrics: whatever a target's side added under its key)
        blocks = {k: Block(k, v) for k, v in d.items() if k not in known and isinstance(v, Mapping)}
        ov = d.get("overall")
        return cls(
            schema=d.get("schema", SCHEMA), name=d.get("name"), seed=d.get("seed"), started_at=d.get("started_at", ""),
            elapsed_s=d.get("elapsed_s", 0.0), interrupted=bool(d.get("interrupted")),
            terminated=bool(d.get("terminated")), incomplete=bool(d.get("incomplete")),
            lost_workers=tuple(d.get("lost_workers") or ()), stopped_early=bool(d.get("stopped_early")),
            mode=d.get("mode", "open"), split=d.get("split", "single"), pairing=d.get("pairing"),
            workers=int(d.get("workers") or 0), targets={k: tuple(v) for k, v in (d.get("targets") or {}).items()},
            window=dict(d.get("window") or {}),
            variants={k: VariantSummary.from_json(v) for k, v in (d.get("variants") or {}).items()},
            overall=None if ov is None else VariantSummary.from_json(ov),
            slo=tuple(d.get("slo") or ()), slo_passed=bool(d.get("slo_passed", True)), spike=d.get("spike"),
            series=d.get("series"), resources=d.get("resources"), generator=d.get("generator"),
            server_time=ServerTime.from_json(d.get("server_time") or {}), warnings=tuple(d.get("warnings") or ()),
            failures=d.get("failures"), no_success=tuple(d.get("no_success") or ()),
            requests_file=d.get("requests_file"), rows=d.get("rows"), hooks=d.get("hooks"), aborted=d.get("aborted"),
            events=d.get("events"),
            blocks=blocks, run_dir=d.get("run_dir"),
            extra={k: v for k, v in d.items() if k not in known and k not in blocks})

    def hists_of(self, summary_key: str) -> dict[str, Hist]:
        """Each variant's HIST under this key, where it has one."""
        return {n: h for n, v in self.variants.items() if (h := v.hist(summary_key)) is not None}


def _json(v: Any) -> Any:
    """A fresh JSON-ready copy: typed parts by their `to_json`, tuples as lists."""
    if hasattr(v, "to_json"):
        return v.to_json()
    if isinstance(v, Mapping):
        return {k: _json(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_json(x) for x in v]
    return v


# ------------------------------------------------------------------------------------------- inputs
@dataclass(frozen=True, slots=True)
class RunFacts:
    """What the run was and how it ended (from the spec and the scheduler's outcome)."""

    name: str | None
    seed: int | None
    started_at: float                 # wall clock of the run clock's zero (unix seconds)
    elapsed: float
    mode: str
    split: str                        # the spec's split ("single" when one variant ran)
    workers: int
    targets: Mapping[str, Sequence[str]]   # each variant's URLs, already redacted
    interrupted: bool = False
    terminated: bool = False
    incomplete: bool = False
    lost_workers: Sequence[Mapping[str, Any]] = ()
    stopped_early: bool = False
    pairing: str | None = None
    drain: float = 0.0                # for the `unfinished` warning's wording
    timeout: float = 0.0
    spike: tuple[float, float] | None = None   # the spike's (at, length) when the load shape had one
    unattributed: str | None = None   # an endpoint-split run: the row of requests no response named a variant for


@dataclass(frozen=True, slots=True)
class MonitorFigures:
    """What the monitors add: per-series statistics, the resources their roles name, the generator check."""

    series: Mapping[str, Any] | None = None
    resources: Mapping[str, Any] | None = None
    generator: Mapping[str, Any] | None = None
    warnings: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class SummaryInputs:
    facts: RunFacts
    metrics: RunMetrics
    window: tuple[float, float]
    slos: Sequence[Slo] = ()
    monitors: MonitorFigures = field(default_factory=MonitorFigures)
    # per variant, every server-time reading a source gave (the header's comes from `metrics`, see
    # `header_reading`); `server_time_why`: why a variant may have none (None: no server time was asked for)
    server_time: Mapping[str, Sequence[ServerTimeReading]] = field(default_factory=dict)
    server_time_why: str | None = None
    quality: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    blocks: Sequence[Block] = ()      # known before the summary (an endpoint split's attribution)
    warnings: Sequence[str] = ()      # the scheduler's (a lost worker, a busy machine)


def header_reading(raw_variant: Mapping[str, Any], source: str) -> ServerTimeReading | None:
    """The server time the engine recorded from a response header, as a reading (None: none recorded)."""
    d = raw_variant.get(_SERVER_KEY)
    return None if d is None else ServerTimeReading(Origin.HEADER, source, Hist.from_json(d))


_SERVER_KEY = next(m.summary_key for m in METRICS if m.name == "server")


# ------------------------------------------------------------------------------------------- builder
def build_summary(inputs: SummaryInputs) -> RunSummary:
    """The one author of a run's summary (module docstring)."""
    from stinger.core.slo import judge

    f, m = inputs.facts, inputs.metrics
    raw = m.summary(inputs.window)
    variants = {n: variant_from_raw(d) for n, d in raw.items()}
    several = len(variants) > 1
    overall = variant_from_raw(m.overall(inputs.window)) if several else None

    chosen = {n: choose(inputs.server_time.get(n, ())) for n in variants}
    variants = {n: _with_server_time(v, chosen[n]) for n, v in variants.items()}
    # a variant with no successful request has nothing a server could time: no note about a missing
    # Server-Timing header there (the run already says loudly that nothing succeeded)
    server_time = _server_time({n: r for n, r in chosen.items() if r is not None or variants[n].requests.ok},
                               inputs.server_time_why)

    for name, q in inputs.quality.items():
        if name in variants:
            variants[name] = replace(variants[name], quality=dict(q))
    variants, rest_notes = _error_messages(variants, m.notes)
    variants = {n: replace(v, unsolicited=m.variants[n].counters["unsolicited"]) if n in m.variants else v
                for n, v in variants.items()}

    attributed = f.unattributed is not None and several
    judged: dict[str, VariantSummary] = dict(variants)
    if attributed:
        # requests no response named a variant for belong to the run, not to a variant: the SLOs
        # judge each attributed variant and the whole run (so their errors still count)
        judged.pop(f.unattributed or "", None)
        assert overall is not None
        judged["overall"] = overall
    slo_rows = [{**r.to_dict(), "variant": name} for name, vs in judged.items()
                for r in judge(list(inputs.slos), vs.to_json())]

    failures = {n: r for n, v in variants.items() if (r := failure_report(v)) is not None}
    run_ended = overall.requests.ended if overall is not None else 0
    if attributed:
        # the unattributed row has no success by construction (a response that named its variant moved
        # there): its failures are the run's story only when most of the run ended there
        un = failures.get(f.unattributed or "")
        if un is not None and 2 * un["ended"] < run_ended:
            del failures[f.unattributed or ""]
    # a variant that never got a successful answer measured nothing: the run must not look like a pass
    no_success = sorted(n for n, r in failures.items() if r["ok"] == 0 and n in judged)
    # nothing succeeded, whichever variant it was meant for (no response named its variant)
    none_at_all = attributed and overall is not None and not overall.requests.ok and bool(run_ended)
    # ... and a variant that got no request at all (a zero weight, every session on the other) has no
    # failure report (nothing failed) but measured nothing just the same ("overall" tells that story
    # when no response named a variant)
    empty = [] if none_at_all else sorted(n for n, v in variants.items()
                                          if n in judged and n not in no_success and not v.requests.ended)
    no_success = sorted([*no_success, *empty]) + (["overall"] if none_at_all else [])

    warnings = [*inputs.warnings, *inputs.monitors.warnings, *rest_notes]
    warnings += _unsolicited_warnings(variants)
    warnings += [f"variant {n} got no requests, so it had no successful response and measured nothing: "
                 "no verdict can be drawn on it (exit code 1)" for n in empty]
    warnings += unfinished_warnings(variants, f.drain, f.timeout)
    warnings += session_warnings(variants)
    overflow = sum(vm.counters["overflow"] for vm in m.variants.values())
    if overflow:
        warnings.append(f"{overflow:,} requests were dropped because the in-flight queue was full (a million waiting "
                        f"per worker): the endpoint fell far behind; they are counted as dropped")

    mon = inputs.monitors
    return RunSummary(
        name=f.name, seed=f.seed, started_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(f.started_at)),
        elapsed_s=round(f.elapsed, 3), interrupted=f.interrupted, terminated=f.terminated, incomplete=f.incomplete,
        lost_workers=tuple(dict(lw) for lw in f.lost_workers), stopped_early=f.stopped_early, mode=f.mode,
        split=f.split if several else "single", pairing=f.pairing if f.split == "paired" and several else None,
        workers=f.workers, targets={k: tuple(v) for k, v in f.targets.items()},
        window={"start_s": round(inputs.window[0], 3), "end_s": round(inputs.window[1], 3)},
        variants=variants, overall=overall, slo=tuple(slo_rows), slo_passed=all(r["passed"] for r in slo_rows),
        spike=_spike(m, f.spike, inputs.slos) if f.spike is not None else None,
        series=mon.series, resources=mon.resources, generator=mon.generator, server_time=server_time,
        warnings=tuple(warnings), failures=failures or None, no_success=tuple(no_success),
        blocks={b.key: b for b in inputs.blocks},
        origins={n: r.origin for n, r in chosen.items() if r is not None})


def variant_from_raw(d: Mapping[str, Any]) -> VariantSummary:
    """A variant as `RunMetrics` summarised it (with the catalogue's derived rates, `Metric.rate_key`),
    its HISTs with no value made null."""
    v = VariantSummary.from_json(d)
    return replace(v, hists={k: h.absent_as_null() for k, h in v.hists.items()})


def _with_server_time(v: VariantSummary, reading: ServerTimeReading | None) -> VariantSummary:
    if reading is None or v.hists.get(_SERVER_KEY) == reading.hist:
        return v
    return replace(v, hists={**v.hists, _SERVER_KEY: reading.hist})


def _server_time(chosen: Mapping[str, ServerTimeReading | None], why: str | None) -> ServerTime:
    missing = tuple(n for n, r in chosen.items() if r is None)
    return ServerTime(source={n: r.source for n, r in chosen.items() if r is not None},
                      missing=missing if missing and why is not None else None,
                      why=why if missing and why is not None else None)


def with_run_end(s: RunSummary, *, aborted: str | None = None, stopped_early: bool | None = None,
                 requests_file: Mapping[str, Any] | None = None, warnings: Sequence[str] = (),
                 run_dir: str | None = None, rows: Sequence[Mapping[str, Any]] | None = None,
                 hooks: Mapping[str, Any] | None = None) -> RunSummary:
    """What the run learns once the summary is built: an abort rule's reason (the first warning), the
    row files it kept (requests.csv, ...), the user's hooks, later warnings (the output thread's, the
    row files'), the run directory."""
    return replace(s, aborted=aborted if aborted is not None else s.aborted,
                   rows=rows if rows is not None else s.rows, hooks=hooks if hooks is not None else s.hooks,
                   stopped_early=s.stopped_early if stopped_early is None else stopped_early,
                   requests_file=requests_file if requests_file is not None else s.requests_file,
                   warnings=(*((aborted,) if aborted else ()), *s.warnings, *warnings),
                   run_dir=run_dir if run_dir is not None else s.run_dir)


def with_events(s: RunSummary, events: Sequence[Mapping[str, Any]]) -> RunSummary:
    """The run's live load changes (none: no `events` key), and a warning when a change met a
    statistic that assumes one constant rate (the plan's drift, an A/B verdict's: they say so)."""
    if not events:
        return s
    n = len(events)
    note = (f"the load changed {n} time{'s' if n > 1 else ''} during the run (events); figures over the "
            "whole run mix the loads, and a statistic assuming one constant rate does not hold across a change")
    return replace(s, events=tuple(dict(e) for e in events), warnings=(*s.warnings, note))


def with_blocks(s: RunSummary, blocks: Sequence[Block]) -> RunSummary:
    """The after-run blocks: each under its key, their warnings appended, and server time chosen again
    for every variant with their readings (the rule: a header or metrics reading still wins)."""
    if not blocks:
        return s
    variants = dict(s.variants)
    source = dict(s.server_time.source)
    origins = dict(s.origins)
    for name, v in s.variants.items():
        have = v.hist(_SERVER_KEY)
        current = None if have is None or name not in source else \
            ServerTimeReading(s.origins.get(name, Origin.HEADER), source[name], have)
        r = choose([current, *(b.server_time[name] for b in blocks if name in b.server_time)])
        if r is not None and r is not current:
            variants[name] = _with_server_time(v, r)
            source[name] = r.source
            origins[name] = r.origin
    st = s.server_time
    missing = None if st.missing is None else tuple(n for n in st.missing if n not in source)
    return replace(s, variants=variants, blocks={**s.blocks, **{b.key: b for b in blocks}},
                   warnings=(*s.warnings, *(w for b in blocks for w in b.warnings)), origins=origins,
                   server_time=replace(st, source=source, missing=missing or (None if st.missing is None else ())))


# ------------------------------------------------------------------------------------ the loud parts
def unfinished_warnings(variants: Mapping[str, VariantSummary], drain: float, timeout: float) -> list[str]:
    """What `unfinished` means, where some requests ended so: no answer within the drain."""
    out = []
    for name, vs in variants.items():
        n = vs.errors.get("unfinished", 0)
        if n:
            out.append(f"{name}: {n:,} requests had no answer when the run ended ({drain:g} s of drain after "
                       f"the schedule; request timeout {timeout:g} s): counted as failed, 'unfinished'")
    return out


def session_warnings(variants: Mapping[str, VariantSummary]) -> list[str]:
    """Multi-turn sessions of which none completed: the session figures are empty, and the run must say why."""
    out = []
    for name, vs in variants.items():
        s = vs.extra.get("sessions")
        if isinstance(s, Mapping) and s.get("started") and not s.get("done"):
            out.append(f"{name}: no session completed ({s['started']:,} started: {s.get('failed', 0):,} failed, "
                       f"{s.get('cut', 0):,} cut by the run's end; {s.get('turns_unsent', 0):,} of "
                       f"{s.get('turns_planned', 0):,} planned turns never sent): lengthen --duration or shorten "
                       "the sessions")
    return out


def _unsolicited_warnings(variants: Mapping[str, VariantSummary]) -> list[str]:
    return [f"{name}: {v.unsolicited:,} responses arrived with no request waiting for them (a duplicated "
            "response, or a 408 on an idle connection): the endpoint's protocol error, counted as "
            "'unsolicited', never as requests; their connections were closed"
            for name, v in variants.items() if v.unsolicited]


def _error_messages(variants: dict[str, VariantSummary], notes: Sequence[str]
                    ) -> tuple[dict[str, VariantSummary], list[str]]:
    """What endpoints said with their errors (`core.error_notes`), put beside their counts: per variant
    `error_messages` {kind: the first message}; returns the other notes (the run's warnings)."""
    from stinger.core.error_notes import parse

    said: dict[str, dict[str, str]] = {}
    rest = []
    for text in notes:
        got = parse(text)
        if got is None or not any(v in variants for v in got[1]):
            rest.append(text)
            continue
        kind, names, message = got
        for name in names:
            if name in variants:
                said.setdefault(name, {}).setdefault(kind, redact_text(message))
    out = {n: replace(v, error_messages={**(v.error_messages or {}), **said[n]}) if n in said else v
           for n, v in variants.items()}
    return out, rest


def failure_report(vs: VariantSummary) -> Json | None:
    """When most of a variant's requests failed: what they got back (top status codes and error
    kinds, one sample body per status when the engine kept one). None when most succeeded."""
    req = vs.requests
    ended = req.ended
    if not ended or vs.error_rate < MOSTLY_FAILED:
        return None
    codes = sorted(((int(c), n) for c, n in vs.status_codes.items() if not 200 <= int(c) < 300),
                   key=lambda cn: -cn[1])
    kinds = sorted(((k, n) for k, n in vs.errors.items() if n), key=lambda kn: -kn[1])
    samples = {str(code): redact_text(body)[:SAMPLE_BODY_CHARS] for code, body in (vs.sample_responses or {}).items()}
    said = vs.error_messages or {}
    return {
        "ok": req.ok,
        "ended": ended,
        "error_rate": vs.error_rate,
        "top_status": [{"status": c, "count": n} for c, n in codes[:3]],
        "top_errors": [{"kind": k, "count": n, **({"message": said[k]} if k in said else {})} for k, n in kinds[:3]],
        "samples": samples,
    }


def _spike(m: RunMetrics, spike: tuple[float, float], slos: Sequence[Slo]) -> Json:
    """Per variant: the spike's errors and latency, and the time to recover within the latency SLO."""
    from stinger.core.spike import spike_report

    key, threshold = "p95_ms", 300.0
    for slo in slos:  # the first latency-percentile SLO sets the bar
        if slo.metric in QUANTILES and slo.op in ("<", "<="):
            key, threshold = f"{slo.metric.replace('.', '')}_ms", slo.threshold
            break
    rows = m.interval_rows()
    at, length = spike
    return {name: spike_report([r for r in rows if r["variant"] == name], at=at, length=length,
                               threshold_ms=threshold, key=key, interval=m.interval)
            for name in m.variants}
