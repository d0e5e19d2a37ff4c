"""The one flag table of `run`, `capacity` and `ab` (all but the target's flags, `cli/targets.py`):
each flag's help section, rank, spec key and click settings, and `overrides_from_flags`, which turns
the flags given into dotted spec keys.

Ranks put the common flags first in their section (`--rate`, `--duration`); a flag with no spec key
is read by a function of its own below (SLOs, checks, server time, the load shape).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import click

from stinger.cli.help import option
from stinger.cli.shapes import shape_overrides


@dataclass(frozen=True)
class Flag:
    group: str
    rank: int
    option: str                   # "--rate"
    key: str | None               # the spec key it sets ("load.rate"); None: read below
    kw: dict[str, Any] = field(default_factory=dict)
    decls: tuple[str, ...] = ()   # click's declarations when more than the option ("-q", a dest)

    @property
    def dest(self) -> str:
        named = [d for d in self.decls if not d.startswith("-")]
        return named[0] if named else self.option.lstrip("-").replace("-", "_")


FLAGS: tuple[Flag, ...] = (
    # -- payload
    Flag("Payload", 0, "--data", "payload.data", {"help": "Dataset of request bodies: .jsonl, .csv, .json array, or a folder of files."}),
    Flag("Payload", 1, "--body", "payload.body", {"help": "A literal request body (instead of --data)."}),
    Flag("Payload", 2, "--content-type", "payload.content_type", {"help": "Content-Type of the bodies (default: from the dataset)."}),
    Flag("Payload", 3, "--format", "payload.format", {"type": click.Choice(["jsonl", "csv", "json", "files", "capture", "mooncake"]), "help": "Dataset format (default: from the file name; capture: a Data Capture JSONL, a file or folder; mooncake: a Mooncake-style LLM trace, prompts built from its lengths and prefix hash ids)."}),
    Flag("Payload", 4, "--label-field", "payload.label_field", {"help": "Field (JSONL) or column (CSV) holding the expected label; removed from what is sent."}),
    Flag("Payload", 5, "--body-field", "payload.body_field", {"help": "Send this field of each JSONL record instead of the whole record."}),
    Flag("Payload", 6, "--order", "payload.order", {"type": click.Choice(["sequential", "random", "weighted"]), "help": "Order of dataset records."}),
    Flag("Payload", 7, "--hook", None, {"multiple": True, "metavar": "[request=|response=]MODULE:FUNCTION", "help": "Your Python: a request hook builds each payload's request once before the run, a response hook reads every answer (prediction, label, tokens, ok); the kind from the prefix, else from the function's decorator or first parameter (spec: hooks:)."}),
    Flag("Payload", 8, "--isl", "payload.isl", {"metavar": "MEAN:STDDEV", "help": "Synthetic LLM prompts instead of a dataset: input lengths in tokens drawn from a normal distribution, e.g. 512:128 (pure in --seed)."}),
    Flag("Payload", 9, "--osl", "payload.osl", {"metavar": "MEAN:STDDEV", "help": "With --isl: each synthetic prompt's max_tokens, drawn likewise, e.g. 256:64."}),
    Flag("Payload", 11, "--sessions", "payload.sessions", {"metavar": "FILE", "help": "Multi-turn sessions from a conversations file (JSONL or a JSON array; ShareGPT conversations, messages or turns): each turn carries the history and the answers streamed; --rate is then sessions per second, --think-time the pause before each next turn (a turn's think_time wins), --requests a number of sessions."}),
    Flag("Payload", 10, "--prompts", "payload.prompts", {"type": int, "help": "With --isl: how many distinct synthetic prompts (default 1000)."}),
    # -- load
    Flag("Load", 0, "--rate", "load.rate", {"help": "Open model: requests per second (e.g. 500 or 30000/m); with --sessions: sessions started per second."}),
    Flag("Load", 1, "--duration", "load.duration", {"help": "How long to send (e.g. 30s, 2m)."}),
    Flag("Load", 2, "--users", "load.users", {"type": int, "help": "Closed model: concurrent users (Locust-style)."}),
    Flag("Load", 3, "--requests", "load.requests", {"type": int, "help": "Stop after this many scheduled requests (with --sessions: sessions)."}),
    Flag("Load", 4, "--warmup", "load.warmup", {"help": "Leading time excluded from the statistics (e.g. 5s)."}),
    Flag("Load", 10, "--arrival", "load.arrival", {"type": click.Choice(["constant", "poisson"]), "help": "Open model arrivals: evenly spaced (default) or Poisson (seeded)."}),
    Flag("Load", 11, "--think-time", "load.think_time", {"help": "Closed model: pause between a response and the user's next request; with --sessions: between an answer and the session's next turn (e.g. 100ms)."}),
    Flag("Load", 12, "--ramp", None, {"help": "Load shape: FROM:TO:OVER, e.g. 10:500:60s (open: rates; closed: users)."}),
    Flag("Load", 13, "--steps", None, {"help": "Load shape: START:STEP:COUNT:EACH, e.g. 100:100:5:20s."}),
    Flag("Load", 14, "--spike", None, {"help": "Spike: BASELINE:HEIGHT:AT:LENGTH, e.g. 50:500:20s:5s (with --duration)."}),
    Flag("Load", 15, "--replay-arrivals", None, {"is_flag": True, "help": "Send each request of a Data Capture payload (--data DIR --format capture) or a Mooncake trace (--data T.jsonl --format mooncake) at its captured arrival time (a trace; spec: load.shape.trace: capture)."}),
    Flag("Load", 16, "--speed", None, {"type": float, "help": "Replay a trace this many times as fast (2: twice as fast; spec: load.shape.speed)."}),
    Flag("Load", 20, "--timeout", "load.timeout", {"help": "Per-request timeout (default 30s)."}),
    Flag("Load", 21, "--connect-timeout", "load.connect_timeout", {"help": "Connect timeout (default 10s)."}),
    Flag("Load", 22, "--max-in-flight", "load.max_in_flight", {"type": int, "help": "Bound on requests in flight (default 10000)."}),
    Flag("Load", 23, "--on-limit", "load.on_limit", {"type": click.Choice(["queue", "drop"]), "help": "At the bound: queue (latency keeps counting) or drop and count."}),
    Flag("Load", 24, "--drain", "load.drain", {"help": "After the schedule ends, wait this long for requests in flight (default 5s)."}),
    Flag("Load", 25, "--max-body", "load.max_body", {"help": "Cap on a response body kept for a check or prediction (default 16MB); past it: body_too_large."}),
    Flag("Load", 26, "--max-header", "load.max_header", {"help": "Cap on a response's head, status line and headers (default 64KiB); past it: header_too_large."}),
    Flag("Load", 27, "--seed", "load.seed", {"type": int, "help": "Seed for Poisson arrivals, random orders and the variant split (default: a fresh one per run, printed and recorded in spec.yaml and summary.json)."}),
    Flag("Load", 28, "--yes", None, {"is_flag": True, "help": "Confirm a load past the safety ceilings (rate, users, workers per machine)."}, ("-y", "confirm")),
    # -- checks and SLOs
    Flag("Checks and SLOs", 0, "--slo", None, {"multiple": True, "help": "Objective such as 'p95<300ms' or 'error_rate<1%'; repeatable. A violation exits 1."}, ("slos",)),
    Flag("Checks and SLOs", 0, "--goodput", None, {"multiple": True, "help": "Per-request objective such as 'ttft<200ms' or 'tpot<30ms'; repeatable. Goodput = the share and rate of requests meeting all of them (an SLO can bound it: 'goodput>=95%')."}, ("goodput",)),
    Flag("Checks and SLOs", 1, "--check-status", "check.status", {"help": "Expected status codes (e.g. 200 or 2xx or 200,201)."}),
    Flag("Checks and SLOs", 2, "--check-json-path", "check.json_path", {"help": "A JSON path that must exist in the response (e.g. $.predictions[0])."}),
    Flag("Checks and SLOs", 3, "--check-regex", "check.regex", {"help": "A regex the response body must match."}),
    Flag("Checks and SLOs", 4, "--prediction", "prediction", {"help": "JSON path of the prediction in a response (model quality)."}),
    Flag("Checks and SLOs", 5, "--abort-on", None, {"multiple": True, "help": "Stop the run when this holds, e.g. 'error_rate>50%' or 'connect_rate>=90%:30s'; repeatable. Without it a run still stops when every request of 5 s fails to connect."}, ("abort_on",)),
    # -- monitors
    Flag("Monitors", 0, "--monitor", None, {"multiple": True, "metavar": "KIND=WHAT", "help": "Watch the endpoint beside the load; repeatable: {forms}. Prometheus presets: {all_presets}; one naming a server-time metric ({presets}) makes its inference time the server time when the endpoint sends no Server-Timing. Adds to the spec's."}, ("monitor_flags",)),
    Flag("Monitors", 1, "--server-time", None, {"help": "Header with the server's own time: server-timing[:metric] (default), or e.g. x-response-time:ms."}),
    Flag("Monitors", 3, "--served-by-header", "served_by.header", {"metavar": "HEADER", "help": "Behind a load balancer: a row per backend, named by this response header (e.g. X-Served-By), with its share of responses and latency (spec: served_by.header)."}),
    Flag("Monitors", 4, "--served-by-weights", "served_by.weights", {"metavar": "NAME=W,...", "help": "The balancer's weights, e.g. a=1,b=1,c=2: a note when a backend's share deviates (with --served-by-header)."}),
    Flag("Monitors", 2, "--no-server-time", None, {"is_flag": True, "default": False, "help": "Do not read a server-time header."}),
    # -- outputs
    Flag("Outputs", 0, "--out", "output.dir", {"help": "Directory under which the run directory is created (default runs/)."}),
    Flag("Outputs", 1, "--name", "name", {"help": "A name for this run (used in the run directory's name)."}),
    Flag("Outputs", 2, "--quiet", None, {"is_flag": True, "default": False, "help": "No live view and no summary table."}, ("-q",)),
    Flag("Outputs", 4, "--save-requests", "output.rows", {"is_flag": False, "flag_value": "csv", "metavar": "[csv|parquet]", "help": "Also write the per-request rows in the run directory, requests.csv (the default) and/or requests.parquet (csv,parquet): one row per request sent (intended, sent, first byte and done times, latency, status, kind, variant)."}),
    Flag("Outputs", 5, "--redact-header", None, {"multiple": True, "help": "A header (or URL query parameter) whose value never reaches an output; repeatable. Secret-looking ones are redacted without it."}, ("redact_headers",)),
    Flag("Outputs", 6, "--request-id-header", "correlation.header", {"metavar": "NAME", "help": "The header carrying each request's ID (default X-Request-Id; '' for none, the traceparent alone); its value is requests.csv's request_id (docs/correlation.md)."}),
    Flag("Outputs", 7, "--request-id", None, {"is_flag": True, "default": None, "help": "Send a request ID and a W3C traceparent with every request, also to plain HTTP (on by default for LLM apis only; spec: correlation.ids)."}, ("request_id_on",)),
    Flag("Outputs", 8, "--no-request-id", None, {"is_flag": True, "default": None, "help": "Send no request ID and no traceparent (spec: correlation.ids: false)."}, ("request_id_off",)),
    Flag("Outputs", 9, "--otlp", "otlp.url", {"metavar": "URL", "help": "At the end, export the run's metrics and one span per request over OTLP/HTTP protobuf to this receiver, e.g. http://127.0.0.1:4318 (docs/correlation.md)."}),
    Flag("Outputs", 10, "--otlp-max-spans", "otlp.max_spans", {"type": int, "metavar": "N", "help": "With --otlp: at most this many spans (default 100000; the export says when it capped)."}),
    # -- scale
    Flag("Scale", 0, "--workers", "load.workers", {"help": "Worker processes (default auto: enough for the load, up to the cores)."}),
    Flag("Scale", 2, "--origin", None, {"multiple": True, "metavar": "NAME:WORKERS[@ADDRESS]", "help": "Where load comes from (repeatable): NAME's workers on the Ray nodes labelled origin=NAME, or locally bound to source ADDRESS (e.g. east:2@127.0.0.2); a breakdown per origin (spec: scale.origins)."}),
    Flag("Scale", 3, "--on-worker-loss", "load.on_worker_loss", {"type": click.Choice(["stop", "continue", "rebalance"]), "help": "A worker lost mid-run: continue without its share (the default; exit 3), stop the run at once (exit 3), or rebalance its share onto the others from then on (the offered rate kept; exit code as a normal end)."}),
    Flag("Scale", 1, "--backend", "load.backend", {"help": "Where workers run: local (forked processes, the default) or ray (Ray actors on the cluster RAY_ADDRESS names, else a private local one; pip install 'stinger[ray]')."}),
)

# what every capacity step sets for itself: these flags would be ignored, so `capacity` does not offer them
STEP_SETS = frozenset({"--rate", "--users", "--duration", "--requests", "--warmup", "--ramp", "--steps", "--spike",
                       "--replay-arrivals", "--speed"})


def load_options(fn: Any = None, *, exclude: frozenset[str] = frozenset()) -> Any:
    """Every flag of the table (but `exclude`) on a command."""
    if fn is None:
        return lambda f: load_options(f, exclude=exclude)
    for f in reversed(FLAGS):
        if f.option in exclude:
            continue
        kw = {"default": None, **f.kw}
        if f.option == "--monitor":   # the forms every registered monitor kind takes (a vendor's too)
            from stinger.monitors.presets import PRESETS, server_time_presets
            from stinger.monitors.registry import MONITOR_FLAG_FORMS

            kw["help"] = kw["help"].format(forms=", ".join(MONITOR_FLAG_FORMS), all_presets=", ".join(PRESETS),
                                           presets=", ".join(server_time_presets()))
        fn = option(f.option, *f.decls, group=f.group, rank=f.rank, **kw)(fn)
    return fn


def dashboard_option(fn: Any) -> Any:
    fn = option("--dashboard-linger", group="Outputs", rank=4, metavar="DURATION", expose_value=False,
                callback=_linger, help="With --dashboard: keep serving the page's final state this long after "
                                       "the run (e.g. 30s; default: until a watching page has seen it, at most 3 s).")(fn)
    return option("--dashboard", group="Outputs", rank=3, type=click.IntRange(0, 65535), is_flag=False,
                  flag_value=0, default=None, metavar="[PORT]",
                  help="Follow the run live in a browser: a page on http://127.0.0.1:PORT/ "
                       "(no PORT: any free one, printed at the start).")(fn)


def _linger(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """--dashboard-linger in seconds, kept in the context for `cli.outputs.outputs` (no command's signature
    changes for it)."""
    if value is None:
        return
    from stinger.core.units import parse_duration
    from stinger.errors import UsageError

    try:
        ctx.meta["dashboard_linger"] = parse_duration(value)
    except UsageError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def overrides_from_flags(params: dict[str, Any]) -> dict[str, Any]:
    """The table's flags as dotted spec keys (only those given); the target's are `cli/targets.py`'s."""
    ov: dict[str, Any] = {}
    for f in FLAGS:
        if f.key is not None and params.get(f.dest) is not None:
            ov[f.key] = params[f.dest]
    if ov.get("load.workers") is not None and ov["load.workers"] != "auto":
        try:
            ov["load.workers"] = int(ov["load.workers"])
        except ValueError:
            raise click.BadParameter(f"{ov['load.workers']!r} is not a number or 'auto'", param_hint="--workers") from None
    for dest, key in (("slos", "slo"), ("goodput", "goodput"), ("abort_on", "load.abort_on"), ("redact_headers", "output.redact")):
        if params.get(dest):
            ov[key] = list(params[dest])
    if params.get("origin"):   # NAME:WORKERS[@ADDRESS], parsed by the spec (spec/origins.py)
        ov["scale.origins"] = list(params["origin"])
    if params.get("confirm"):
        ov["load.confirm"] = True
    if params.get("request_id_on") and params.get("request_id_off"):
        raise click.BadParameter("--request-id and --no-request-id contradict; expected one of them",
                                 param_hint="--request-id")
    if params.get("request_id_on") or params.get("request_id_off"):
        ov["correlation.ids"] = bool(params.get("request_id_on"))
    ov.update(_server_time(params))
    ov.update(shape_overrides(params))
    ov.update(_hooks(params.get("hook") or ()))
    return ov


def _hooks(values: tuple[str, ...]) -> dict[str, str]:
    """`--hook [request=|response=]module:function` as `hooks.request` / `hooks.response`."""
    out: dict[str, str] = {}
    for value in values:
        kind, sep, ref = value.partition("=")
        if not sep or kind not in ("request", "response"):
            kind, ref = _declared_kind(value), value
        if f"hooks.{kind}" in out:
            raise click.BadParameter(f"two {kind} hooks ({out[f'hooks.{kind}']} and {ref}); expected one of each "
                                     "kind", param_hint="--hook")
        out[f"hooks.{kind}"] = ref
    return out


def _declared_kind(ref: str) -> str:
    """The kind a hook given without a prefix declares (its decorator or its first parameter's annotation)."""
    from stinger.core.hooks import hook_kind, load_hook

    try:
        fn = load_hook(ref, "request")   # imports it; a declared response hook is said below, not as a mismatch
    except ValueError as exc:
        if " is a response hook;" in str(exc):
            return "response"
        raise click.BadParameter(str(exc).replace("hooks.request: ", ""), param_hint="--hook") from None
    kind = hook_kind(fn)
    if kind is None:
        raise click.BadParameter(f"{ref} declares no kind; expected request={ref} or response={ref}, or a function "
                                 "marked @stinger.request_hook / @stinger.response_hook", param_hint="--hook")
    return kind


def _server_time(params: dict[str, Any]) -> dict[str, Any]:
    if params.get("no_server_time"):
        return {"server_time": None}
    if not params.get("server_time"):
        return {}
    from stinger.core.servertiming import parse_server_time_option

    src = parse_server_time_option(params["server_time"])
    return {"server_time": {"header": src.header, "metric": src.metric, "unit": src.unit}}


def control_option(fn: Any) -> Any:
    return option("--control", group="Outputs", rank=6, default=None, metavar="-",
                  help='Steer the run from standard input, one JSON line each: {"rate": "200/s"} (open model), '
                       '{"users": 20} (closed model), optional "at": s since the start; {"stop": true} ends it '
                       "early and cleanly. Each change is an event in events.jsonl and summary.json.")(fn)


def jsonl_option(fn: Any) -> Any:
    return option("--jsonl", group="Outputs", rank=7, default=None, metavar="PATH",
                  help="Also write one JSON line per live snapshot (with the load changes so far) and one at the "
                       "end to PATH (- for standard output; appended).")(fn)


def control_from(value: str | None) -> Any:
    """`--control -`: a `RunControl` fed by standard input's lines (on a thread of their own)."""
    if value is None:
        return None
    if value != "-":
        raise click.UsageError(f"--control {value}: expected - (JSON lines on standard input)")
    import sys

    from stinger._api import RunControl

    control = RunControl()
    control.follow(sys.stdin)
    return control
