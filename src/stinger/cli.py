"""The `stinger` command line: a thin layer over the public API (`stinger._api`).

Each command parses its flags into a spec, calls the API, prints through the
terminal output, and exits with the result's exit code.

    stinger run [SPEC] [flags]     one load test (flags override the spec file)
    stinger capacity [SPEC]        the highest load that meets the SLOs
    stinger ab [SPEC]              an A/B test of two variants, with a verdict
    stinger compare RUN_A RUN_B    compare two saved runs (a regression gate)
    stinger plan                   how long an A/B test must run
    stinger report RUN_DIR         re-render a saved run, and its HTML report (report.html)
    stinger demo                   the embedded demo, end to end
    stinger serve-demo             the demo model endpoint alone

Exit codes, the same for every command (`stinger.ExitCode`):
0 success; 1 an SLO was violated, a variant had no successful response, a
capacity search found no load meeting the SLOs, or `compare` found a regression;
2 the user's mistake (bad flag, spec, URL, dataset), one line on stderr, no
traceback; 3 the run could not proceed or is incomplete (a load worker was lost, or an abort rule
stopped it: --abort-on, or every request of 5 s failed to connect); 130 stopped by Ctrl-C and 143 by
SIGTERM (results kept).
"""

from __future__ import annotations

import sys
from typing import Any

import click

from stinger import __version__
from stinger.errors import ExitCode, StingerError

SAVE_REQUESTS_LOST = "--save-requests:"   # the prefix of the warnings of rows a full disk cost


def _outputs(quiet: bool, dashboard: int | None = None) -> list:
    """What a command shows and keeps: the terminal (unless --quiet), the run directory, and
    the live dashboard when asked (`--dashboard [PORT]`)."""
    outs: list = ["rundir"]
    if not quiet:
        from stinger.outputs.terminal import TerminalOutput, make_console

        outs.insert(0, TerminalOutput(make_console()))
    if dashboard is not None:
        from stinger.outputs.dashboard import DashboardOutput

        outs.append(DashboardOutput(port=dashboard, announce=lambda url: click.echo(f"dashboard: {url}", err=True)))
    return outs


def _dashboard_option(fn):
    return click.option("--dashboard", type=click.IntRange(0, 65535), is_flag=False, flag_value=0, default=None,
                        metavar="[PORT]",
                        help="Follow the run live in a browser: a page on http://127.0.0.1:PORT/ "
                             "(no PORT: any free one, printed at the start).")(fn)


def _warn_failures(summary: dict | None, quiet: bool) -> None:
    """With --quiet nothing else is printed: a run whose requests mostly failed still says so (stderr)."""
    if summary and summary.get("aborted"):
        click.echo(f"stinger: {summary['aborted']} (exit code 3)", err=True)  # on screen, quiet or not
    if not quiet or not summary:
        return
    for w in summary.get("warnings", []):
        if w.startswith(SAVE_REQUESTS_LOST):   # the run is kept, its rows are not: said even when quiet
            click.echo(f"stinger: warning: {w}", err=True)
    for name, f in (summary.get("failures") or {}).items():
        what = "no request succeeded" if not f["ok"] else "most requests failed"
        causes = [f"HTTP {x['status']} x{x['count']}" for x in f.get("top_status", [])]
        causes += [f"{x['kind']} x{x['count']}" + (f" ({x['message']})" if x.get("message") else "")
                   for x in f.get("top_errors", []) if not x["kind"].startswith("http")]
        click.echo(f"stinger: warning: {name}: {what} ({100 * f['error_rate']:.1f}% of {f['ended']:,} failed"
                   + (f": {', '.join(causes)}" if causes else "") + ")", err=True)


def _fail(message: str, code: int) -> None:
    from stinger.core.secrets import scrub

    message = " ".join(scrub(message).split())
    if len(message) > 500:
        message = message[:480] + "..."
    click.echo(f"stinger: error: {message}", err=True)
    sys.exit(code)


# -- flag -> spec key mapping ------------------------------------------------
RUN_FLAGS: list[tuple[str, str, dict[str, Any]]] = [
    # (option, spec key, click kwargs)
    ("--method", "target.method", {"help": "HTTP method (default GET, or POST with --data/--body)."}),
    ("--data", "payload.data", {"help": "Dataset of request bodies: .jsonl, .csv, .json array, or a folder of files."}),
    ("--format", "payload.format", {"type": click.Choice(["jsonl", "csv", "json", "files", "capture"]), "help": "Dataset format (default: from the file name; capture: SageMaker Data Capture JSONL, a file or folder)."}),
    ("--label-field", "payload.label_field", {"help": "Field (JSONL) or column (CSV) holding the expected label; removed from what is sent."}),
    ("--body-field", "payload.body_field", {"help": "Send this field of each JSONL record instead of the whole record."}),
    ("--order", "payload.order", {"type": click.Choice(["sequential", "random", "weighted"]), "help": "Order of dataset records."}),
    ("--body", "payload.body", {"help": "A literal request body (instead of --data)."}),
    ("--content-type", "payload.content_type", {"help": "Content-Type of the bodies (default: from the dataset)."}),
    ("--rate", "load.rate", {"help": "Open model: requests per second (e.g. 500 or 30000/m)."}),
    ("--arrival", "load.arrival", {"type": click.Choice(["constant", "poisson"]), "help": "Open model arrivals: evenly spaced (default) or Poisson (seeded)."}),
    ("--users", "load.users", {"type": int, "help": "Closed model: concurrent users (Locust-style)."}),
    ("--think-time", "load.think_time", {"help": "Closed model: pause between a response and the user's next request (e.g. 100ms)."}),
    ("--duration", "load.duration", {"help": "How long to send (e.g. 30s, 2m)."}),
    ("--requests", "load.requests", {"type": int, "help": "Stop after this many scheduled requests."}),
    ("--warmup", "load.warmup", {"help": "Leading time excluded from the statistics (e.g. 5s)."}),
    ("--timeout", "load.timeout", {"help": "Per-request timeout (default 30s)."}),
    ("--connect-timeout", "load.connect_timeout", {"help": "Connect timeout (default 10s)."}),
    ("--max-in-flight", "load.max_in_flight", {"type": int, "help": "Bound on requests in flight (default 10000)."}),
    ("--on-limit", "load.on_limit", {"type": click.Choice(["queue", "drop"]), "help": "At the bound: queue (latency keeps counting) or drop and count."}),
    ("--max-body", "load.max_body", {"help": "Cap on a response body kept for a check or prediction (default 16MB); past it: body_too_large."}),
    ("--max-header", "load.max_header", {"help": "Cap on a response's head, status line and headers (default 64KiB); past it: header_too_large."}),
    ("--drain", "load.drain", {"help": "After the schedule ends, wait this long for requests in flight (default 5s)."}),
    ("--workers", "load.workers", {"help": "Worker processes (default auto: enough for the load, up to the cores)."}),
    ("--backend", "load.backend", {"help": "Where workers run: local (forked processes, the default) or ray (Ray actors "
                                          "on the cluster RAY_ADDRESS names, else a private local one; "
                                          "pip install 'stinger[ray]')."}),
    ("--seed", "load.seed", {"type": int, "help": "Seed for Poisson arrivals, random orders and the variant split (default: a fresh one per run, printed and recorded in spec.yaml and summary.json)."}),
    ("--out", "output.dir", {"help": "Directory under which the run directory is created (default runs/)."}),
    ("--name", "name", {"help": "A name for this run (used in the run directory's name)."}),
    ("--save-requests", "output.rows", {"is_flag": False, "flag_value": "csv", "metavar": "[csv|parquet]", "help": "Also write the per-request rows in the run directory, requests.csv (the default) and/or requests.parquet (csv,parquet): one row per request sent (intended, sent, first byte and done times, latency, status, kind, variant)."}),
    ("--prediction", "prediction", {"help": "JSON path of the prediction in a response (model quality)."}),
]


# what every capacity step sets for itself: these flags would be ignored, so `capacity` does not offer them
STEP_SETS = frozenset({"--rate", "--users", "--duration", "--requests", "--warmup", "--ramp", "--steps", "--spike",
                       "--replay-arrivals", "--speed"})


def _run_options(fn=None, *, exclude: frozenset[str] = frozenset()):
    if fn is None:
        return lambda f: _run_options(f, exclude=exclude)

    def option(*args, **kw):
        return (lambda f: f) if args[0] in exclude else click.option(*args, **kw)

    for opt, _key, kw in reversed(RUN_FLAGS):
        fn = option(opt, default=None, **kw)(fn)
    fn = click.option("--url", "urls", multiple=True, help="Target URL; repeat for several (served round-robin).")(fn)
    fn = click.option("-H", "--header", "headers", multiple=True, help="Request header 'Name: value'; repeatable.")(fn)
    fn = click.option("--slo", "slos", multiple=True, help="Objective such as 'p95<300ms' or 'error_rate<1%'; repeatable. A violation exits 1.")(fn)
    fn = click.option("--check-status", default=None, help="Expected status codes (e.g. 200 or 2xx or 200,201).")(fn)
    fn = click.option("--check-json-path", default=None, help="A JSON path that must exist in the response (e.g. $.predictions[0]).")(fn)
    fn = click.option("--check-regex", default=None, help="A regex the response body must match.")(fn)
    fn = click.option("--server-time", default=None, help="Header with the server's own time: server-timing[:metric] (default), or e.g. x-response-time:ms.")(fn)
    fn = click.option("--no-server-time", is_flag=True, default=False, help="Do not read a server-time header.")(fn)
    fn = click.option("--insecure", is_flag=True, default=None, help="Do not verify TLS certificates.")(fn)
    fn = click.option("--monitor", "monitor_flags", multiple=True, metavar="KIND=WHAT",
                      help="Watch the endpoint beside the load; repeatable: prometheus=URL[:PRESET] (presets: mlserver, "
                           "kserve, triton, torchserve, vllm, demo; their inference time becomes the server time when "
                           "the endpoint sends no Server-Timing), process=PORT, process=pid:N, gpu, "
                           "cloudwatch=ENDPOINT[@REGION] (read after the run), sagemaker-endpoint=ENDPOINT[@REGION] "
                           "(instances polled). Adds to the spec's.")(fn)
    fn = option("--ramp", default=None, help="Load shape: FROM:TO:OVER, e.g. 10:500:60s (open: rates; closed: users).")(fn)
    fn = option("--steps", default=None, help="Load shape: START:STEP:COUNT:EACH, e.g. 100:100:5:20s.")(fn)
    fn = option("--spike", default=None, help="Spike: BASELINE:HEIGHT:AT:LENGTH, e.g. 50:500:20s:5s (with --duration).")(fn)
    fn = option("--replay-arrivals", is_flag=True, default=None,
                help="Send each request of a Data Capture payload (--data DIR --format capture) at its captured "
                     "arrival time (a trace; spec: load.shape.trace: capture).")(fn)
    fn = option("--speed", default=None, type=float,
                help="Replay a trace this many times as fast (2: twice as fast; spec: load.shape.speed).")(fn)
    fn = click.option("--quiet", "-q", is_flag=True, default=False, help="No live view and no summary table.")(fn)
    fn = click.option("--yes", "-y", "confirm", is_flag=True, default=None,
                      help="Confirm a load past the safety ceilings (rate, users, workers per machine).")(fn)
    fn = click.option("--abort-on", "abort_on", multiple=True,
                      help="Stop the run when this holds, e.g. 'error_rate>50%' or 'connect_rate>=90%:30s'; "
                           "repeatable. Without it a run still stops when every request of 5 s fails to connect.")(fn)
    fn = click.option("--redact-header", "redact_headers", multiple=True,
                      help="A header (or URL query parameter) whose value never reaches an output; repeatable. "
                           "Secret-looking ones are redacted without it.")(fn)
    return fn


def _header_pairs(headers: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for h in headers:
        if ":" not in h:
            raise click.BadParameter(f"header {h[:40]!r} must look like 'Name: value'", param_hint="--header")
        k, v = h.split(":", 1)
        if not k.strip():
            raise click.BadParameter("header ':...' has no name", param_hint="--header")
        out[k.strip()] = v.strip()
    return out


def overrides_from_flags(params: dict[str, Any]) -> dict[str, Any]:
    """CLI flags as dotted spec keys (only those given)."""
    ov: dict[str, Any] = {}
    for opt, key, _ in RUN_FLAGS:
        name = opt.lstrip("-").replace("-", "_")
        if params.get(name) is not None:
            ov[key] = params[name]
    if ov.get("load.workers") is not None and ov["load.workers"] != "auto":
        try:
            ov["load.workers"] = int(ov["load.workers"])
        except ValueError:
            raise click.BadParameter(f"{ov['load.workers']!r} is not a number or 'auto'", param_hint="--workers") from None
    urls = params.get("urls") or ()
    if urls:
        ov["target.url"] = urls[0]
        if len(urls) > 1:
            ov["target.urls"] = list(urls[1:])
    if params.get("headers"):
        ov["target.headers"] = _header_pairs(params["headers"])
    if params.get("insecure"):
        ov["target.insecure"] = True
    if params.get("slos"):
        ov["slo"] = list(params["slos"])
    if params.get("confirm"):
        ov["load.confirm"] = True
    if params.get("abort_on"):
        ov["load.abort_on"] = list(params["abort_on"])
    if params.get("redact_headers"):
        ov["output.redact"] = list(params["redact_headers"])
    for flag, key in (("check_status", "check.status"), ("check_json_path", "check.json_path"),
                      ("check_regex", "check.regex")):
        if params.get(flag) is not None:
            ov[key] = params[flag]
    if params.get("no_server_time"):
        ov["server_time"] = None
    elif params.get("server_time"):
        from stinger.core.servertiming import parse_server_time_option

        src = parse_server_time_option(params["server_time"])
        ov["server_time"] = {"header": src.header, "metric": src.metric, "unit": src.unit}
    ov.update(_shape_flags(params))
    return ov


def _shape_flags(params: dict[str, Any]) -> dict[str, Any]:
    given = [k for k in ("ramp", "steps", "spike", "replay_arrivals") if params.get(k)]
    speed: dict[str, Any] = {} if params.get("speed") is None else {"load.shape.speed": params["speed"]}
    if params.get("speed") is not None and not params["speed"] > 0:
        raise click.BadParameter(f"must be a positive factor such as 2 or 0.5, got {params['speed']:g}",
                                 param_hint="--speed")
    if not given:
        return speed
    if len(given) > 1:
        raise click.BadParameter("give one of --ramp, --steps, --spike, --replay-arrivals",
                                 param_hint="--" + given[1].replace("_", "-"))
    if given[0] == "replay_arrivals":
        if params.get("rate") is not None or params.get("users") is not None:
            raise click.BadParameter("the capture's arrival times set the load: give no --rate or --users with it",
                                     param_hint="--replay-arrivals")
        return {"load.shape": {"trace": "capture", **({"speed": params["speed"]} if speed else {})}}
    kind = given[0]
    parts = params[kind].split(":")
    closed = params.get("users") is not None and params.get("rate") is None
    try:
        if kind == "ramp":
            if len(parts) != 3:
                raise ValueError
            shape = {"ramp": {"from": parts[0], "to": parts[1], "over": parts[2]}}
            if closed:
                shape = {"ramp": {"from": int(parts[0]), "to": int(parts[1]), "over": parts[2]}}
        elif kind == "steps":
            if len(parts) != 4:
                raise ValueError
            start, step, count, each = float(parts[0]), float(parts[1]), int(parts[2]), parts[3]
            field = "users" if closed else "rate"
            shape = {"steps": [{field: (int(start + k * step) if closed else start + k * step), "duration": each}
                               for k in range(count)]}
        else:
            if len(parts) != 4:
                raise ValueError
            shape = {"spike": {"baseline": parts[0], "height": parts[1], "at": parts[2], "length": parts[3]}}
    except ValueError:
        examples = {"ramp": "10:500:60s", "steps": "100:100:5:20s", "spike": "50:500:20s:5s"}
        raise click.BadParameter(f"{params[kind]!r} is not a {kind}; expected e.g. {examples[kind]}",
                                 param_hint="--" + kind) from None
    out: dict[str, Any] = {"load.shape": shape, **speed}
    if closed:
        out["load.mode"] = "closed"
    return out


# -- SageMaker (issue 11) --------------------------------------------------------
SAGEMAKER_PARAMS = ("sagemaker", "region", "endpoint_url", "control_url", "target_variant", "stream")


def _sagemaker_options(fn):
    """The SageMaker option group: `--sagemaker NAME --region R [--endpoint-url URL] ...`."""
    opts = [
        click.option("--sagemaker", default=None, metavar="ENDPOINT",
                     help="SageMaker: the endpoint to call (signed InvokeEndpoint; needs pip install 'stinger[aws]')."),
        click.option("--region", default=None, help="SageMaker: AWS region (default: AWS_REGION or the profile's)."),
        click.option("--endpoint-url", default=None,
                     help="SageMaker: runtime URL instead of AWS's (a VPC endpoint or a local emulator)."),
        click.option("--control-url", default=None,
                     help="SageMaker: control-plane and CloudWatch URL (a local emulator; default AWS's)."),
        click.option("--target-variant", default=None, help="SageMaker: pin every request to this production variant."),
        click.option("--stream", is_flag=True, default=None,
                     help="SageMaker: InvokeEndpointWithResponseStream (time to first chunk, gaps between chunks)."),
        click.option("--no-cloudwatch", is_flag=True, default=None,
                     help="SageMaker: do not read CloudWatch after the run (no wait for its last minute; "
                          "spec: monitors: [{type: cloudwatch, enabled: false}])."),
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


def _sagemaker_target(params: dict[str, Any]) -> dict[str, Any] | None:
    """The `target:` mapping the SageMaker flags give (None without --sagemaker); pops them from params."""
    sm = {k: params.pop(k, None) for k in SAGEMAKER_PARAMS}
    if sm["control_url"] is not None and sm["sagemaker"] is not None:
        from stinger._api import apply_target_flag

        apply_target_flag("sagemaker", "--control-url", sm["control_url"])
    if sm["sagemaker"] is None:
        given = [k for k in SAGEMAKER_PARAMS if sm[k] is not None]
        if given:
            raise click.UsageError(f"--{given[0].replace('_', '-')} needs --sagemaker ENDPOINT")
        return None
    if params.get("urls"):
        raise click.UsageError("give --sagemaker or --url, not both")
    target: dict[str, Any] = {"type": "sagemaker", "endpoint": sm["sagemaker"]}
    for key in ("region", "endpoint_url", "target_variant"):
        if sm[key] is not None:
            target[key] = sm[key]
    if sm["stream"]:
        target["stream"] = True
    if params.get("content_type"):
        target["content_type"] = params["content_type"]
    return target


def _sagemaker_overrides(params: dict[str, Any]) -> dict[str, Any]:
    target = _sagemaker_target(params)
    return {} if target is None else {f"target.{k}": v for k, v in target.items()}


def _has_sagemaker(spec) -> bool:
    return any(getattr(v.target, "via", "") == "sagemaker" for v in spec.all_variants())


def _priced(spec_file: str | None, params: dict[str, Any], extra: dict[str, Any], data: dict,
            prices: tuple[float, float]):
    """The spec again with `price_per_hour` on each SageMaker target: the first price for the first
    variant, the second for the others (`--price-per-hour A,B`), recorded in spec.yaml."""
    if not all(p > 0 and p == p and p != float("inf") for p in prices):
        raise click.BadParameter(f"{prices[0]:g}: expected a positive number of US dollars per instance-hour",
                                 param_hint="--price-per-hour")
    if "variants" not in data:
        return resolve_spec(spec_file, params, extra={**extra, "target.price_per_hour": prices[0]})
    from stinger.targets.base import normalise_target

    variants = []
    for k, v in enumerate(data["variants"]):
        target = dict(v.get("target") or {})
        if normalise_target(target)["via"] == "sagemaker":
            target["price_per_hour"] = prices[min(k, 1)]
        variants.append({**v, "target": target})
    return resolve_spec(spec_file, params, extra={**extra, "variants": variants})


def _sagemaker_ab_variants(params: dict[str, Any], pin: bool = True) -> tuple[list[dict[str, Any]], str | None]:
    """`ab --sagemaker ENDPOINT`: the production variants from DescribeEndpoint, each pinned with
    TargetVariant, or (`--split sagemaker`, pin False) sharing one unpinned target."""
    from stinger._api import discover_variants

    target = _sagemaker_target(params)
    assert target is not None
    return discover_variants(target, pin=pin), None


def _sagemaker_split_usage(mode: str | None, weights: str | None, a_url: str | None, spec_file: str | None,
                           params: dict[str, Any]) -> None:
    """`ab --split sagemaker`: the one-line usage errors, before anything is asked of AWS."""
    if mode != "sagemaker":
        return
    if weights:
        raise click.UsageError("--weights cannot be used with --split sagemaker: SageMaker's own production "
                               "variant weights split the traffic (change them on the endpoint)")
    if a_url is not None:
        raise click.UsageError("--split sagemaker needs --sagemaker ENDPOINT (SageMaker splits the traffic), "
                               "not --a/--b")
    if params.get("target_variant") is not None:
        raise click.UsageError("--target-variant pins every request; --split sagemaker lets SageMaker pick")
    if params.get("sagemaker") is None and spec_file is None:
        raise click.UsageError("--split sagemaker needs --sagemaker ENDPOINT, or a spec whose variants share "
                               "one unpinned sagemaker target")


# -- model servers: OpenAI-compatible LLMs, KServe V2 ------------------------------
MODEL_SERVER_PARAMS = ("openai", "kserve", "model", "max_tokens")


def _model_server_options(fn):
    """`--openai URL --model NAME [--max-tokens N]` or `--kserve URL --model NAME`."""
    opts = [
        click.option("--openai", default=None, metavar="URL",
                     help="An OpenAI-compatible LLM endpoint (vLLM, TGI, Ollama, ...), its base URL such as "
                          "http://127.0.0.1:8000/v1: streamed chat completions (time to first token, "
                          "inter-token latency, tokens/s); needs --model."),
        click.option("--kserve", default=None, metavar="URL",
                     help="A KServe V2 model server (MLServer, KServe, Triton), e.g. http://127.0.0.1:8080: "
                          "POST /v2/models/MODEL/infer with each payload row as a tensor; needs --model."),
        click.option("--model", default=None, help="--openai/--kserve: the served model's name."),
        click.option("--max-tokens", default=None, type=int, help="--openai: max_tokens of each answer."),
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


def _model_server_overrides(params: dict[str, Any]) -> dict[str, Any]:
    """The `target.*` overrides the model-server flags give ({} without --openai/--kserve); pops them."""
    ms = {k: params.pop(k, None) for k in MODEL_SERVER_PARAMS}
    kinds = [k for k in ("openai", "kserve") if ms[k] is not None]
    if not kinds:
        given = [k for k in ("model", "max_tokens") if ms[k] is not None]
        if given:
            raise click.UsageError(f"--{given[0].replace('_', '-')} needs --openai URL or --kserve URL")
        return {}
    if len(kinds) > 1:
        raise click.UsageError("give --openai or --kserve, not both")
    kind = kinds[0]
    if params.get("urls") or params.get("sagemaker"):
        raise click.UsageError(f"give one endpoint: --{kind} or --url/--sagemaker, not both")
    if not ms["model"]:
        raise click.UsageError(f"--{kind} needs --model NAME (the served model's name)")
    target: dict[str, Any] = {"type": kind, "url": ms[kind], "model": ms["model"]}
    if ms["max_tokens"] is not None:
        if kind != "openai":
            raise click.UsageError("--max-tokens is for --openai")
        target["max_tokens"] = ms["max_tokens"]
    return {f"target.{k}": v for k, v in target.items()}


def resolve_spec(spec_file: str | None, params: dict[str, Any], extra: dict[str, Any] | None = None):
    """(Spec, resolved data) from a spec file and/or flags."""
    from stinger.spec import load_spec_file, merge_overrides, parse_spec

    data: dict = {}
    text = None
    source = None
    if spec_file:
        data, text, source = load_spec_file(spec_file)
    ov = overrides_from_flags(params)
    if extra:
        ov.update(extra)
    if "variants" in ov:  # variants given on the command line replace the spec's target
        data = {k: v for k, v in data.items() if k not in ("target", "variants")}
        ov = {k: v for k, v in ov.items() if not k.startswith("target.")}
    merged = merge_overrides(data, ov)
    flags = _monitor_entries(tuple(params.get("monitor_flags") or ()) +
                             (("cloudwatch=off",) if params.get("no_cloudwatch") else ()))
    if flags:
        merged["monitors"] = list(merged.get("monitors") or []) + flags
    # (a body implies POST for plain HTTP: the spec's own rule, `targets.http.Config.with_payload`)
    spec = parse_spec(merged, source=source, text=text)
    return spec, spec.model_dump(mode="json", by_alias=True, exclude_none=True)


def _monitor_entries(texts: tuple[str, ...]) -> list[dict]:
    """``--monitor`` values as spec ``monitors:`` entries; a second monitor of a kind gets a numbered name."""
    from stinger.monitors.registry import default_name, parse_monitor_flag

    entries: list[dict] = []
    seen: dict[str, int] = {}
    for text in texts:
        try:
            entry = parse_monitor_flag(text)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--monitor") from None
        n = seen[entry["type"]] = seen.get(entry["type"], 0) + 1
        if n > 1:
            entry["name"] = f"{default_name(entry['type'])}{n}"
        entries.append(entry)
    return entries


def _capacity_options(fn):
    opts = [
        click.option("--start", "search_start", default=None, type=float, help="Capacity: first step (default 10 req/s, or 1 user)."),
        click.option("--growth", default=2.0, show_default=True, type=float, help="Capacity: factor between steps while growing."),
        click.option("--precision", default="5%", show_default=True, help="Capacity: stop bisecting when the bracket is this narrow."),
        click.option("--max", "search_max", default=100_000.0, show_default=True, type=float, help="Capacity: highest step tried."),
        click.option("--max-steps", default=20, show_default=True, type=int, help="Capacity: at most this many steps (re-tests included)."),
        click.option("--confirm", default=1, show_default=True, type=click.IntRange(0, 5),
                     help="Capacity: re-test a failing step this many times before it counts (a pass is believed at once)."),
        click.option("--step-duration", default="8s", show_default=True, help="Capacity: measured window of each step."),
        click.option("--step-warmup", default="2s", show_default=True, help="Capacity: warm-up of each step (not judged)."),
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


def _capacity_kw(search_mode, search_start, growth, precision, search_max, max_steps, confirm, step_duration,
                 step_warmup, slos, price_per_hour=None, instances=1) -> dict[str, Any]:
    """Capacity flags as `stinger.capacity(...)` options."""
    from stinger.core.schedule import parse_duration

    return {"mode": search_mode, "start": search_start, "growth": growth, "precision": _fraction(precision),
            "max_target": search_max, "max_steps": max_steps, "confirm": confirm, "step_duration": parse_duration(step_duration),
            "step_warmup": parse_duration(step_warmup), "slos": list(slos or ()), "price_per_hour": price_per_hour,
            "instances": instances}


def _pair(text: str | None, kind, flag: str):
    """'X' or 'X,Y' -> (X, X) or (X, Y); None stays None."""
    if text is None:
        return None
    try:
        parts = [kind(x) for x in str(text).split(",")]
    except ValueError:
        raise click.BadParameter(f"{text!r}: expected a number or two separated by a comma", param_hint=flag) from None
    if len(parts) not in (1, 2) or any(x <= 0 for x in parts):
        raise click.BadParameter(f"{text!r}: expected one or two numbers > 0", param_hint=flag)
    return (parts[0], parts[-1])


def _fraction(text: str) -> float:
    from stinger.core.units import parse_fraction

    return parse_fraction(text, what="--precision", allow_over_one=True)   # the search checks its range


# -- commands -----------------------------------------------------------------
@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="stinger")
def cli() -> None:
    """Load-test and A/B-test machine-learning model endpoints.

    \b
    Exit codes (every command):
      0    success
      1    an SLO was violated, a variant had no successful response,
           no load met the SLOs (capacity), or a regression (compare)
      2    your mistake: a bad flag, spec, URL or dataset (one line on stderr)
      3    the run could not proceed, or is incomplete (a load worker was lost,
           or an abort rule stopped it)
      130  stopped by Ctrl-C, 143 by SIGTERM (what was measured is kept)
    """


@cli.command()
@click.argument("spec_file", required=False, metavar="[SPEC]")
@_run_options
@_sagemaker_options
@_model_server_options
@_dashboard_option
@click.option("--price-per-hour", "sm_price", default=None, type=float,
              help="SageMaker: USD per instance-hour for the cost per million inferences (default: the bundled, "
                   "dated indicative table).")
def run(spec_file, quiet, dashboard, sm_price, **params) -> None:
    """Run one load test: from a YAML SPEC, flags, or both (flags win)."""
    from stinger import _api

    extra = {**_sagemaker_overrides(params), **_model_server_overrides(params)}
    spec, data = resolve_spec(spec_file, params, extra=extra)
    if sm_price is not None:
        if not _has_sagemaker(spec):
            raise click.UsageError("--price-per-hour prices SageMaker instances, but this run's target is not "
                                   "SageMaker (a capacity search takes it: stinger capacity --price-per-hour)")
        spec, _ = _priced(spec_file, params, extra, data, (sm_price, sm_price))
    result = _api.run(spec, outputs=_outputs(quiet, dashboard))
    _warn_failures(result.summary, quiet)
    sys.exit(result.exit_code)


@cli.command()
@click.argument("spec_file", required=False, metavar="[SPEC]")
@_run_options(exclude=STEP_SETS | {"--save-requests"})
@click.option("--mode", "search_mode", type=click.Choice(["rate", "concurrency"]), default="rate", show_default=True,
              help="Search over offered rate (open model) or concurrent users (closed model).")
@_capacity_options
@click.option("--price-per-hour", default=None, type=float, help="Instance price (USD/h): prints cost per million inferences.")
@click.option("--instances", default=1, show_default=True, type=int, help="Instances behind the endpoint (for cost).")
@_model_server_options
@_dashboard_option
def capacity(spec_file, quiet, dashboard, search_mode, search_start, growth, precision, search_max, max_steps, confirm,
             step_duration, step_warmup, price_per_hour, instances, **params) -> None:
    """Find the highest load that still meets the SLOs (default p95<300ms, error_rate<1%, achieved_ratio>=0.95).

    Each step sets its own load (--start, --growth, --step-duration, --step-warmup), so the
    flags that set a load (--rate, --users, --duration, --ramp, ...) are not offered here.
    """
    from stinger import _api

    if params.get("rate") is None and params.get("users") is None:
        params["rate"] = "1"  # a placeholder so the spec validates; every step sets its own load
    if params.get("duration") is None and params.get("requests") is None:
        params["duration"] = "1s"
    spec, _ = resolve_spec(spec_file, params, extra=_model_server_overrides(params))
    result = _api.capacity(spec, outputs=_outputs(quiet, dashboard),
                           **_capacity_kw(search_mode, search_start, growth, precision, search_max, max_steps,
                                          confirm, step_duration, step_warmup, params.get("slos"), price_per_hour,
                                          instances))
    if quiet:
        import json

        out = result.summary
        click.echo(json.dumps({k: out.get(k) for k in ("max_sustainable", "bracket", "throughput_at_max_rps",
                                                       "stop_reason", "first_limit", "stability", "cost",
                                                       "run_dir")}, default=str))
    sys.exit(result.exit_code)


@cli.command()
@click.argument("spec_file", required=False, metavar="[SPEC]")
@_run_options
@click.option("--a", "a_url", default=None, help="Variant A's URL (the baseline).")
@click.option("--b", "b_url", default=None, help="Variant B's URL (the candidate).")
@click.option("--a-name", default="A", show_default=True, help="Variant A's name.")
@click.option("--b-name", default="B", show_default=True, help="Variant B's name.")
@click.option("--split", "split_mode", type=click.Choice(["split", "paired", "sagemaker", "capacity"]), default=None,
              help="split: each request to one variant by weight; paired: every payload to every variant (see --pairing); "
                   "sagemaker (with --sagemaker): SageMaker splits by its own weights, each response counted in the "
                   "variant its invoked-variant header names; "
                   "capacity: a capacity search per variant. Default: the spec's, else split.")
@click.option("--weights", default=None, help="Traffic weights for split mode, e.g. 90,10.")
@click.option("--pairing", type=click.Choice(["independent", "simultaneous"]), default=None,
              help="Paired mode: independent (default) sends each payload to every variant at instants of its own "
                   "(variants sharing a worker never wait for each other because of the schedule); simultaneous "
                   "sends them at one instant (latency then measures who went first on shared infrastructure, "
                   "which the verdict detects and says).")
@click.option("--alpha", default=0.05, show_default=True, type=click.FloatRange(0, 1, min_open=True, max_open=True), help="Significance level (family-wise, Holm).")
@click.option("--sequential", is_flag=True,
              help="Stop as soon as the mean-latency difference is decided (mSPRT on per-second B-A means, "
                   "always valid). The earliest possible stop is about warm-up + 12 s (10 complete seconds per variant "
                   "+ 2 s for late worker data); after a stop the result is the always-valid interval.")
@click.option("--min-effect", "min_effect", default=None,
              help="With --sequential: the smallest mean-latency difference worth detecting, e.g. 5ms "
                   "(`stinger plan`'s); the test is tuned to detect it soonest. Default: the spread of "
                   "per-second differences.")
@_capacity_options
@click.option("--price-per-hour", "prices", default=None,
              help="Instance price (USD/h), one for both or A,B for different instance types: the cost per million "
                   "inferences of SageMaker variants (instead of the bundled, dated table) and of capacity mode.")
@click.option("--instances", "instance_counts", default="1", show_default=True,
              help="Capacity mode: instances behind each variant, one for both or A,B.")
@_sagemaker_options
@_dashboard_option
def ab(spec_file, quiet, dashboard, a_url, b_url, a_name, b_name, split_mode, weights, pairing, alpha, sequential,
       min_effect, search_start, growth, precision, search_max, max_steps, confirm, step_duration, step_warmup, prices,
       instance_counts, **params) -> None:
    """A/B test two model variants and state the verdict, with confidence intervals."""
    if not 0 < alpha < 1:
        raise click.BadParameter(f"must be between 0 and 1 (e.g. 0.05), got {alpha:g}", param_hint="--alpha")
    if (a_url is None) != (b_url is None):
        raise click.UsageError("give both --a and --b (or neither, with variants in the spec)")
    if params.get("urls"):
        raise click.UsageError("use --a and --b for the two variants, not --url")
    mode = split_mode
    if mode == "capacity":
        params.setdefault("rate", None)
        if params.get("rate") is None and params.get("users") is None:
            params["rate"] = "1"
        if params.get("duration") is None:
            params["duration"] = "1s"
    extra: dict[str, Any] = {}
    _sagemaker_split_usage(mode, weights, a_url, spec_file, params)
    if params.get("sagemaker") is not None:
        if a_url is not None:
            raise click.UsageError("give --sagemaker ENDPOINT or --a/--b, not both")
        extra["variants"], _region = _sagemaker_ab_variants(params, pin=mode != "sagemaker")
        if mode is None:
            mode = "paired"
    else:
        _sagemaker_target(params)  # a SageMaker flag without --sagemaker is a usage error
    if a_url is not None:
        w = [1.0, 1.0]
        if weights:
            try:
                w = [float(x) for x in weights.split(",")]
            except ValueError:
                raise click.BadParameter(f"{weights!r} is not a list of numbers such as 90,10", param_hint="--weights") from None
            if len(w) != 2 or min(w) < 0 or sum(w) <= 0:
                raise click.BadParameter(f"{weights!r}: give two non-negative weights with a positive sum, e.g. 90,10",
                                         param_hint="--weights")
        headers = _header_pairs(params.get("headers") or ())
        method = params.get("method") or ("POST" if (params.get("data") or params.get("body")) else "GET")
        extra["variants"] = [
            {"name": a_name, "url": a_url, "weight": w[0], "method": method, "headers": headers},
            {"name": b_name, "url": b_url, "weight": w[1], "method": method, "headers": headers},
        ]
    if mode in ("split", "paired", "sagemaker"):
        extra["split"] = mode
    if pairing is not None:
        extra["pairing"] = pairing
    spec, data = resolve_spec(spec_file, params, extra=extra)
    if pairing is not None and (mode or spec.split) != "paired":
        raise click.UsageError(f"--pairing applies to paired traffic (--split paired), not to "
                               f"--split {mode or spec.split}")
    price_pair = _pair(prices, float, "--price-per-hour")
    if price_pair is not None and _has_sagemaker(spec):
        spec, _ = _priced(spec_file, params, extra, data, price_pair)
    from stinger import _api

    min_effect_ms = None
    if min_effect is not None:
        from stinger.core.slo import parse_slo
        from stinger.errors import UsageError

        try:
            min_effect_ms = parse_slo(f"p50<{min_effect}").threshold
        except UsageError:
            raise click.BadParameter(f"{min_effect!r} is not a latency such as 5ms", param_hint="--min-effect") from None
        if not min_effect_ms > 0:
            raise click.BadParameter(f"must be a positive latency such as 5ms, got {min_effect!r}",
                                     param_hint="--min-effect")
    result = _api.ab(spec, mode=mode or spec.split, alpha=alpha, sequential=sequential, min_effect_ms=min_effect_ms,
                     capacity=_capacity_kw("rate", search_start, growth, precision, search_max, max_steps,
                                           confirm, step_duration, step_warmup, params.get("slos")),
                     prices=price_pair,
                     instances=_pair(instance_counts, int, "--instances"), outputs=_outputs(quiet, dashboard))
    if quiet:
        click.echo(result.sentence)
    _warn_failures(result.summary, quiet)
    sys.exit(result.exit_code)


@cli.command()
@click.argument("baseline", metavar="BASELINE_RUN[:VARIANT]")
@click.argument("candidate", metavar="CANDIDATE_RUN[:VARIANT]")
@click.option("--alpha", default=0.05, show_default=True, type=click.FloatRange(0, 1, min_open=True, max_open=True), help="Significance level (family-wise, Holm).")
@click.option("--paired", is_flag=True, help="The runs sent the same payloads in the same order (pairs predictions).")
@click.option("--report", "report_file", default=None, metavar="FILE", help="Also write the verdict as an HTML report.")
@click.option("--margin", default="5%", show_default=True, metavar="SHARE|TIME",
              help="Two separate runs: a difference counts only beyond this share of the baseline's value "
                   "(or a time such as 2ms; 0 for none) and beyond the drift each run shows between its halves.")
def compare(baseline, candidate, alpha, paired, report_file, margin) -> None:
    """Compare two saved runs; exit 1 when the candidate is significantly worse (a regression).

    Two separate runs differ by more than their own noise, so a regression must also clear
    --margin and the runs' own drift; RUN:A RUN:B of one A/B run reproduces its live verdict.
    """
    from stinger import _api
    from stinger.outputs.terminal import TerminalOutput, make_console

    outputs: list = [TerminalOutput(make_console(), live=False)]
    if report_file is None:
        result = _api.compare(baseline, candidate, alpha=alpha, paired=paired, margin=margin, outputs=outputs)
    else:
        import tempfile

        from stinger.outputs.report import write_report
        from stinger.outputs.rundir import RunDirOutput

        with tempfile.TemporaryDirectory(prefix="stinger-compare-") as tmp:  # verdict.json, for the renderer
            result = _api.compare(baseline, candidate, alpha=alpha, paired=paired, margin=margin,
                                  outputs=[*outputs, RunDirOutput(path=tmp)])
            click.echo(f"report: {write_report(tmp, report_file, title=f'stinger compare: {baseline} vs {candidate}')}")
    if result.regressions:
        click.echo(f"regression: the candidate is significantly worse on {', '.join(result.regressions)}", err=True)
    sys.exit(result.exit_code)


@cli.command()
@click.option("--min-effect", required=True, help="Smallest difference worth detecting: a latency (5ms) or a rate (1%).")
@click.option("--baseline", default=None, help="A saved run (RUN_DIR[:VARIANT]) whose latency spread and correlation to plan from.")
@click.option("--sd-ms", default=None, type=float, help="Baseline latency standard deviation (ms), if no --baseline.")
@click.option("--error-rate", default=None, help="Baseline error rate (or accuracy) for a proportion, e.g. 2%.")
@click.option("--power", default=0.8, show_default=True, type=click.FloatRange(0, 1, min_open=True, max_open=True))
@click.option("--alpha", default=0.05, show_default=True, type=click.FloatRange(0, 1, min_open=True, max_open=True))
@click.option("--rate", default=None, type=float, help="Requests per second per variant, to turn requests into time.")
@click.option("--rows", default=None, type=int,
              help="Rows of the verdict Holm adjusts over (default: those of the metrics the --baseline run has; "
                   "5 without one: p50, p95, p99, Mann-Whitney, error rate; 6 with labelled predictions).")
@click.option("--at", "at", default=None, metavar="pQ",
              help="A tail-only effect: the latencies from the baseline's pQ up move by --min-effect, the "
                   "median does not (e.g. --min-effect 28ms --at p95).")
def plan(min_effect, baseline, sd_ms, error_rate, power, alpha, rate, rows, at) -> None:
    """How long an A/B test must run to detect a given difference, planned for the verdict's own tests.

    Latency: simulated from a baseline run's one-second intervals (--baseline): quantiles by block
    bootstrap and Mann-Whitney, Holm over the verdict's rows, never fewer than 10 one-second intervals;
    --at p95 plans for a tail-only increase, which only the quantile rows can see.
    Proportions: Fisher's test at Holm's alpha / rows. A --sd-ms plan assumes normal latencies.
    """
    from stinger.orchestrate.ab_plan import plan_ab

    click.echo(plan_ab(min_effect=min_effect, baseline=baseline, sd_ms=sd_ms, error_rate=error_rate,
                       power=power, alpha=alpha, rate=rate, rows=rows, at=at))


@cli.command()
@click.argument("run_dir")
@click.option("--json", "as_json", is_flag=True, help="Print summary.json (or capacity.json, verdict.json) instead.")
@click.option("-o", "--output", "html_out", default=None, metavar="FILE",
              help="Write the HTML report here (default: RUN_DIR/report.html).")
@click.option("--open", "open_html", is_flag=True, help="Open the HTML report in a web browser.")
def report(run_dir, as_json, html_out, open_html) -> None:
    """Re-render a saved run directory (a run, an A/B test's verdict, a capacity search) from its files,
    and write its self-contained HTML report (RUN_DIR/report.html, or -o FILE)."""
    _report_terminal(run_dir, as_json)
    if as_json and html_out is None and not open_html:
        return
    from stinger.outputs.report import write_report

    path = write_report(run_dir, html_out)
    if not as_json:
        click.echo(f"report: {path}")
    if open_html:
        import webbrowser

        webbrowser.open(path.resolve().as_uri())


def _report_terminal(run_dir: str, as_json: bool) -> None:
    import json
    from pathlib import Path

    from stinger import _api
    from stinger.outputs.rundir import CAPACITY, SUMMARY, VERDICT_JSON, VERDICT_MD, read_json
    from stinger.outputs.terminal import make_console, print_capacity, print_summary

    p = Path(run_dir)
    if p.is_dir() and not (p / SUMMARY).is_file() and ((p / CAPACITY).is_file() or (p / VERDICT_JSON).is_file()):
        data = read_json(p / CAPACITY) or read_json(p / VERDICT_JSON)  # a capacity search, or an A/B's verdict
        if as_json:
            click.echo(json.dumps(data, indent=2))
            return
        console = make_console()
        if (p / CAPACITY).is_file():
            print_capacity(data, console)
    else:
        saved = _api.read_run(run_dir)
        if as_json:
            click.echo(json.dumps(saved.summary, indent=2))
            return
        console = make_console()
        print_summary(saved.summary, console)
    if (p / VERDICT_MD).is_file():
        from rich.markdown import Markdown

        console.print(Markdown((p / VERDICT_MD).read_text()))


@cli.command()
@click.option("--duration", default="12s", show_default=True, help="How long the demo load runs.")
@click.option("--rate", default=None, help="Requests per second to each variant (each payload goes to both; "
                                          "default 20).")
@click.option("--out", default="runs", show_default=True, help="Where the run directory goes.")
@click.option("--quiet", "-q", is_flag=True, help="No live view.")
@click.option("--capacity", "capacity_search", is_flag=True,
              help="Instead: a capacity search on the demo's 'accurate' variant (about a minute).")
@click.option("--sagemaker", "sagemaker_demo", is_flag=True,
              help="Instead: the SageMaker A/B story offline (moto, a SigV4 front, CloudWatch read back; "
                   "needs pip install 'stinger[aws]' and moto).")
@click.option("--split", "demo_split", type=click.Choice(["paired", "sagemaker"]), default=None,
              help="With --sagemaker: paired (each request pinned with TargetVariant, the default) or sagemaker "
                   "(the endpoint splits one stream by its weights; responses attributed from its header).")
def demo(duration, rate, out, quiet, capacity_search, sagemaker_demo, demo_split) -> None:
    """Start the demo model endpoint, A/B-test its two variants (fast vs accurate), print the verdict, stop it."""
    from stinger.demo.run import run_capacity_demo, run_demo, run_sagemaker_demo

    if demo_split is not None and not sagemaker_demo:
        raise click.UsageError("--split needs --sagemaker (the plain demo always pairs)")
    if sagemaker_demo:
        sys.exit(run_sagemaker_demo(duration=duration, rate=rate or "20", out=out, quiet=quiet,
                                    split=demo_split or "paired"))
    rate = rate or "20"   # the two models share one worker: at 40 req/s each it ran at ~80 % (accurate ~19 ms)
    if capacity_search:
        sys.exit(run_capacity_demo(out=out, quiet=quiet))
    sys.exit(run_demo(duration=duration, rate=rate, out=out, quiet=quiet))


from stinger.demo.cli import serve_demo  # noqa: E402 - registered after the group exists

cli.add_command(serve_demo, name="serve-demo")


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="stinger", standalone_mode=False)
    except click.exceptions.Abort:
        _fail("aborted", ExitCode.INTERRUPTED)
    except click.exceptions.NoSuchOption as exc:
        _fail(exc.format_message() + " (see --help)", ExitCode.USAGE)
    except click.ClickException as exc:
        _fail(" ".join(exc.format_message().split()), exc.exit_code if exc.exit_code else ExitCode.USAGE)
    except StingerError as exc:
        _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", ExitCode.INTERRUPTED)
    except SystemExit:
        raise
    except (RecursionError, MemoryError) as exc:  # an input past what any limit caught: still one line
        _fail(f"the input is too large or too deeply nested ({type(exc).__name__})", ExitCode.USAGE)
    except OSError as exc:
        from stinger.core.atomic import is_disk_full

        if not is_disk_full(exc):
            raise
        # a full disk met outside the run files' own writer (a spill file, a dataset cache): still one line
        _fail(f"cannot write {exc.filename or 'a file'}: {exc.strerror or exc}", ExitCode.RUN_ERROR)
    sys.exit(0)


if __name__ == "__main__":  # pragma: no cover
    main()
