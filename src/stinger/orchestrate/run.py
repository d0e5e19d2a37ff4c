"""One load test from a validated spec to a run directory and a summary.

Order of work: check everything the user gave (dataset, checks, SLOs) in this
process so a mistake is a one-line error before any load; build the worker
plans; start the monitors; execute with the live view; judge SLOs and the
generator; write the run directory; print the summary.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from stinger.core.exit_codes import exit_code_of
from stinger.core.metrics import RunMetrics
from stinger.orchestrate.planning import build_plans
from stinger.scale.base import WorkerBackend, backend_named
from stinger.scale.coordinator import RunOutcome, execute, hold_stop_signals
from stinger.spec import Spec, redacted
from stinger.spec.redact import redact_text, redact_url

MOSTLY_FAILED = 0.5          # a variant whose error rate reaches this is reported loudly
SAMPLE_BODY_CHARS = 200      # a sample response body is cut to this many characters


# Safety ceilings per machine: past these a run needs confirmation (--yes, load.confirm).
# One Python worker drives ~20,000 req/s; a rate far past what the machine can generate
# measures the generator, not the endpoint, and blames the endpoint for it.
SAFE_RATE = 100_000.0        # requests per second
SAFE_USERS = 10_000          # concurrent users (one connection, one file descriptor each)
WORKERS_PER_CORE = 4         # worker processes per core
FD_RESERVE = 64              # file descriptors a worker needs besides its connections


@dataclass
class RunReport:
    summary: dict
    run_dir: Path | None
    outcome: RunOutcome

    @property
    def exit_code(self) -> int:
        return exit_code_of(self.summary)


def _target_preflights(spec: Spec) -> None:
    """Each distinct target with the optional `preflight` ability checks its endpoint now
    (e.g. a KServe model is ready): an unknown model is a one-line error, not a run of 404s."""
    from stinger.targets.base import build_target, target_class

    seen: set[str] = set()
    for v in spec.all_variants():
        cfg = v.target
        key = cfg.model_dump_json()
        if key in seen or not hasattr(target_class(cfg.type), "preflight"):
            continue
        seen.add(key)
        build_target(cfg).preflight()


def preflight(spec: Spec) -> list:
    """Open what the user named, so their mistakes surface now (exit 2), not in a worker."""
    from stinger.core.slo import parse_slo

    check_ceilings(spec)
    p = spec.payload
    from stinger.datasets import PayloadOrder

    records = 1   # without a dataset, the one body (or none) - as a worker's slots count it
    if p.data:
        from stinger.datasets import open_dataset
        from stinger.errors import DatasetError
        from stinger.spec.loading import check_regular_file

        # a FIFO would block the run and /dev/zero never ends: refused before anything reads them
        check_regular_file(p.data, "dataset", DatasetError, allow_dir=True)

        ds = open_dataset(p.data, format=p.format, label_field=p.label_field, body_field=p.body_field,
                          csv_header=p.csv_header, content_type=p.content_type)
        records = len(ds)
    # the order a worker builds, built here first: its mistakes are the user's (exit 2), not a worker's
    PayloadOrder(records, p.order, seed=spec.load.seed, weights=p.weights)
    if spec.check is not None:
        from stinger.core.checks import ResponseCheck

        c = spec.check
        ResponseCheck(status=c.status, json_path=c.json_path, equals=c.equals, regex=c.regex)
    if spec.prediction:
        from stinger.core.checks import compile_json_path

        compile_json_path(spec.prediction)
    _target_preflights(spec)
    if spec.load.shape is not None and spec.load.shape.trace:
        from stinger.orchestrate.replay import CAPTURE, trace_offsets

        if spec.load.shape.trace != CAPTURE:
            from stinger.errors import SpecError
            from stinger.spec.loading import check_regular_file

            check_regular_file(spec.load.shape.trace, "trace", SpecError)
        trace_offsets(spec.load, spec.payload)   # a bad trace or capture: one line, before any load
    return [parse_slo(s) for s in spec.slo]


def check_ceilings(spec: Spec) -> None:
    """The per-machine safety ceilings (rate, users, workers); past one, a one-line error naming
    the ceiling and `--yes`, unless the user confirmed."""
    import os

    from stinger.errors import UsageError
    from stinger.orchestrate.planning import peak_rate, peak_users

    load = spec.load
    from stinger.scale.base import REGISTRY as BACKENDS

    if load.backend not in BACKENDS:
        raise UsageError(f"load.backend: unknown worker backend {load.backend!r}; expected one of "
                         f"{', '.join(sorted(BACKENDS))}")
    if load.confirm:
        return
    cores = os.cpu_count() or 1
    rate = peak_rate(load) if load.resolved_mode() == "open" else None
    if rate is not None and rate > SAFE_RATE:
        raise UsageError(f"a rate of {rate:,.0f} req/s is past the safety ceiling of {SAFE_RATE:,.0f} req/s per "
                         f"machine (one worker drives about 20,000 req/s); confirm with --yes (load.confirm: true)")
    users = peak_users(load) if load.resolved_mode() == "closed" else None
    if users is not None and users > SAFE_USERS:
        raise UsageError(f"{users:,} users is past the safety ceiling of {SAFE_USERS:,} users per machine; "
                         f"confirm with --yes (load.confirm: true)")
    # the per-core ceiling is this machine's: a cluster backend (ray) has the cluster's CPUs
    if load.backend == "local" and load.workers != "auto" and int(load.workers) > cores * WORKERS_PER_CORE:
        raise UsageError(f"{load.workers} workers is past the safety ceiling of {cores * WORKERS_PER_CORE} "
                         f"({WORKERS_PER_CORE} per core, {cores} cores); confirm with --yes (load.confirm: true)")


def ensure_fd_limit(plans: list) -> None:
    """Each worker holds a connection (a file descriptor) per user (closed model) or per request
    in flight (open model). Raise the soft limit toward the hard one as far as needed (forked
    workers inherit it); a closed-model run that still cannot fit is a one-line error now, not
    a run that sends nothing."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return
    from stinger.errors import UsageError

    plan = plans[0]
    if plan.closed is not None:
        need = -(-plan.closed.profile.peak // len(plans)) + FD_RESERVE
    else:
        need = max(p.max_in_flight for p in plans) + FD_RESERVE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or need <= soft:
        return
    target = need if hard == resource.RLIM_INFINITY else min(need, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        target = soft
    if plan.closed is not None and target < need:
        raise UsageError(f"{plan.closed.profile.peak:,} users over {len(plans)} worker(s) need about {need:,} open "
                         f"files per worker, but the limit is {target:,} (hard limit {hard:,}); raise it "
                         f"(ulimit -n {need}) or use fewer users or more workers (--workers)")


def default_outputs(*, console: Console | None = None, live: bool = True, write: bool = True,
                    quiet: bool = False) -> list:
    """What the CLI shows and keeps: the terminal (unless quiet) and the run directory (if writing)."""
    outs: list = []
    if not quiet:
        from stinger.outputs.terminal import TerminalOutput

        outs.append(TerminalOutput(console, live=live))
    if write:
        from stinger.outputs.rundir import RunDirOutput

        outs.append(RunDirOutput())
    return outs


def run_spec(spec: Spec, spec_data: dict, *, console: Console | None = None, live: bool = True,
             write: bool = True, workers: int | None = None, monitors=None, quiet: bool = False,
             stop_when=None, outputs: list | None = None) -> RunReport:
    """One run. `outputs` (objects, see `outputs/base.py`) replaces the defaults that
    `console`/`live`/`write`/`quiet` describe.

    Stop signals are held (flags only) until the outputs have finished: the second
    signal of a double Ctrl-C, landing after the workers stopped, must not cut the
    writing of the run directory short (issue 10 item 2)."""
    with hold_stop_signals():
        backend = backend_named(spec.load.backend)
        try:
            return _run_spec(spec, spec_data, console=console, live=live, write=write, workers=workers,
                             monitors=monitors, quiet=quiet, stop_when=stop_when, outputs=outputs, backend=backend)
        finally:
            backend.close()   # also when the run never started (a cluster joined by `connect`)


def _run_spec(spec: Spec, spec_data: dict, *, console: Console | None, live: bool, write: bool,
              workers: int | None, monitors, quiet: bool, stop_when, outputs: list | None,
              backend: WorkerBackend) -> RunReport:
    from stinger.outputs.base import (
        OutputThread,
        RunFinished,
        RunInfo,
        run_dir_of,
        snapshot_of,
    )

    if outputs is None:
        outputs = default_outputs(console=console, live=live, write=write, quiet=quiet)
    slos = preflight(spec)
    if spec.output.save_requests and spec.load.backend == "ray":   # before the run directory is created
        from stinger.errors import UsageError

        raise UsageError("--save-requests works with the local backend: Ray workers may run on other machines, "
                         "whose files the coordinator cannot read")
    plans = build_plans(spec, workers=workers, cores=connect_backend(backend, spec, workers))
    ensure_fd_limit(plans)
    load = spec.load
    abort = _abort_watch(spec, plans[0].interval)
    user_stop = stop_when

    def stop_when(m, t):
        if user_stop is not None and user_stop(m, t):
            return True
        return abort(m, t)

    duration = plans[0].duration
    info = RunInfo(spec=spec, spec_data=redacted(spec_data), variants=tuple(v.name for v in plans[0].variants),
                   duration=duration, total=load.requests, mode=load.resolved_mode())

    from stinger.orchestrate.monitor_set import MonitorSet

    sagemaker = None
    if any(getattr(v.target, "type", "") == "sagemaker" for v in spec.all_variants()):
        from stinger.orchestrate import sagemaker_summary as sagemaker  # DescribeEndpoint polled during the run

        sagemaker.preflight(spec)   # credentials, region, endpoint and variant: one line each, before any load
        if not sagemaker.sagemaker_variants(spec):   # a local runtime emulator without a control plane
            sagemaker = None
        else:
            monitors = list(monitors or []) + sagemaker.endpoint_monitors(spec)
    if sagemaker is None and any(isinstance(d, dict) and d.get("type") == "cloudwatch" for d in spec.monitors):
        from stinger.orchestrate import sagemaker_summary

        if sagemaker_summary.asks_cloudwatch(spec):   # a named endpoint read after the run, whatever the target
            sagemaker = sagemaker_summary
    mon = MonitorSet.from_spec(spec, extra=monitors, on_warning=lambda w: None)
    started: list = []
    try:
        # before any load: an output that cannot work (an unwritable --out) is the user's mistake, found now
        for o in outputs:
            o.start(info)
            started.append(o)
        run_dir = run_dir_of(outputs)

        def on_start(t0: float, pids: list[int]) -> None:
            mon.start(t0, generator_pids=pids)

        live = [o for o in outputs if getattr(o, "wants_intervals", True)]
        try:
            with OutputThread(live) as thread:
                # on the merge path: copy what the live view needs, hand it over, return (and with
                # no live output, not even that: a quiet run's coordinator does no extra work)
                progress = (lambda m, t: thread.post(snapshot_of(m, t, mon.live_extra()))) if live else None
                from stinger.outputs.rundir import spill_path

                plans = _request_logs(spec, plans, run_dir)
                outcome = execute(plans, on_start=on_start, stop_when=stop_when, on_progress=progress,
                                  backend=backend, spill_path=spill_path(run_dir))
        finally:
            mon.stop()
    except BaseException:
        _drop_request_logs(plans)   # the workers are gone (execute closed them): no hidden file left behind
        for o in started:  # leave a live display before the error is shown
            close = getattr(o, "close", None)
            if callable(close):
                close()
        raise

    summary = build_summary(spec, outcome, slos, mon, workers=len(plans), duration=duration)
    if plans[0].requests_path is not None:
        _merge_request_logs(plans, run_dir, summary, outcome)
    if abort.reason is not None:
        summary["aborted"] = abort.reason
        summary["warnings"].insert(0, abort.reason)
        summary["stopped_early"] = bool(user_stop is not None and not abort.reason)
    summary["warnings"].extend(thread.errors)
    if sagemaker is not None:
        _sagemaker_block(sagemaker, spec, summary, mon, outcome, outputs)
    if run_dir is not None:
        summary["run_dir"] = str(run_dir)
    result = RunFinished(summary=summary, metrics=outcome.metrics, started_at=outcome.started_at,
                         series=mon.points())
    _finish_all(outputs, result)
    return RunReport(summary=summary, run_dir=run_dir, outcome=outcome)


def _finish_all(outputs: list, result) -> None:
    """Every output finishes, even after one could not write (a full disk); then that failure is raised
    (`core.atomic.WriteFailed`: one line naming the path, exit code 3)."""
    from stinger.core.atomic import WriteFailed

    failed: WriteFailed | None = None
    for o in outputs:
        try:
            o.finish(result)
        except WriteFailed as exc:
            failed = failed or exc
    if failed is not None:
        raise failed
def connect_backend(backend: WorkerBackend, spec: Spec, workers: int | None) -> int | None:
    """A cluster backend joins its cluster now, before any run directory exists, so a wrong address
    is a one-line error (exit 2); returns the CPUs it has for workers (`--workers auto` counts those,
    not this machine's), None for a backend without a `connect` (this machine's cores). More workers
    than those CPUs is the user's mistake, said at once instead of waiting to place them."""
    connect = getattr(backend, "connect", None)
    if connect is None:
        return None
    cpus = connect()
    asked = workers or (None if spec.load.workers == "auto" else int(spec.load.workers))
    if asked is not None and asked > cpus:
        from stinger.errors import UsageError

        raise UsageError(f"--workers {asked} on the {spec.load.backend} backend, but its cluster has {cpus} CPUs "
                         f"and each worker takes one; expected --workers {max(cpus, 1)} or fewer, or a bigger "
                         "cluster")
    return cpus


def _request_logs(spec: Spec, plans: list, run_dir) -> list:
    """--save-requests: each worker writes its own file in the run directory (merged after the run)."""
    if not spec.output.save_requests:
        return plans
    from stinger.errors import UsageError

    if run_dir is None:
        raise UsageError("save_requests needs a run directory (this run writes none); drop it or write the run")
    from dataclasses import replace

    return [replace(p, requests_path=str(Path(run_dir) / f".requests-w{p.worker}.bin")) for p in plans]


def _merge_request_logs(plans: list, run_dir, summary: dict, outcome: RunOutcome) -> None:
    """The workers' row files -> requests.csv; a full disk costs the rows (a warning), never the run."""
    from stinger.core.atomic import WriteFailed
    from stinger.engine.requests_log import CSV_FILE, merge

    try:
        rows = merge([Path(p.requests_path) for p in plans if p.requests_path], Path(run_dir) / CSV_FILE,
                     [v.name for v in plans[0].variants])
    except WriteFailed as exc:
        summary["warnings"].append(f"--save-requests: requests.csv was not written ({exc}); the per-request rows "
                                   "are lost, the run's results are kept")
        return
    # the wall-clock instant of t = 0 to the microsecond, to join the rows with the endpoint's own logs
    summary["requests_file"] = {"path": CSV_FILE, "rows": rows, "t0_unix": round(outcome.started_at, 6)}


def _drop_request_logs(plans: list) -> None:
    for p in plans:
        if getattr(p, "requests_path", None):
            Path(p.requests_path).unlink(missing_ok=True)


def _sagemaker_block(sagemaker, spec: Spec, summary: dict, mon, outcome: RunOutcome, outputs: list) -> None:
    """After a SageMaker run: CloudWatch read back (with a visible countdown), beside client latency."""
    console = next((c for o in outputs if (c := getattr(o, "console", None)) is not None), None)

    def countdown(left: float) -> None:
        if console is not None:
            console.print(f"CloudWatch: waiting for the run's last minute to be published ({left:.0f} s left at most)")

    off = any(isinstance(d, dict) and d.get("type") == "cloudwatch" and d.get("enabled") is False
              and not d.get("endpoint") for d in spec.monitors)
    if console is not None and not off:
        console.print("CloudWatch: reading ModelLatency, OverheadLatency, invocations and utilization ...")
    summary["sagemaker"] = sagemaker.collect(spec, summary, mon.points(), outcome.started_at,
                                             outcome.started_at + outcome.elapsed, on_wait=countdown)
    from stinger.orchestrate.monitor_set import cloudwatch_server_time

    cloudwatch_server_time(summary, summary["sagemaker"])
    if console is not None:
        sagemaker.render(summary["sagemaker"], console)


class _AbortWatch:
    """The run's abort rules (`core.abort`) as a stop condition over the merged metrics."""

    def __init__(self, policy) -> None:
        self.policy = policy
        self.reason: str | None = None

    def __call__(self, m: RunMetrics, t: float) -> bool:
        if self.reason is not None:
            return True
        from stinger.core.abort import DEAD_ENDPOINT, IntervalCounts
        from stinger.core.records import Kind

        rows: dict[int, list[int]] = {}
        longest = max((r.window for r in self.policy.rules), default=0.0)
        hi = int(t // m.interval) + 1
        lo = max(0, hi - int(longest // m.interval) - 3)   # only the intervals a rule can look at
        for vm in m.variants.values():
            for i in range(lo, hi):
                cell = vm.cells.get(i)
                if cell is None:
                    continue
                k = cell.kinds
                ok = int(k[Kind.OK])
                row = rows.setdefault(i, [0, 0, 0])
                row[0] += ok
                row[1] += int(k.sum()) - ok
                row[2] += int(k[Kind.CONNECT])
        # the workers' worst event-loop lag over the default rule's window (and the lag it allows)
        since = t - DEAD_ENDPOINT.window - 2 * m.interval
        lag_ms = 0.0
        for at, ms in reversed(m.loop_lag_ms):
            if at < since:
                break
            lag_ms = max(lag_ms, ms)
        reason = self.policy.check({i: IntervalCounts(*r) for i, r in rows.items()}, t, generator_lag=lag_ms / 1e3)
        if reason is not None:
            self.reason = reason
            return True
        return False


def _abort_watch(spec: Spec, interval: float) -> _AbortWatch:
    from stinger.core.abort import AbortPolicy

    return _AbortWatch(AbortPolicy.from_texts(spec.load.abort_on, interval=interval))


def build_summary(spec: Spec, outcome: RunOutcome, slos: list, mon, *, workers: int,
                  duration: float | None = None) -> dict:
    """`duration`: the run's planned length (from --duration or the load shape)."""
    from stinger.core.slo import judge

    m: RunMetrics = outcome.metrics
    load = spec.load
    plans_duration = duration if duration is not None else load.duration
    cut = outcome.interrupted or outcome.stopped_early
    window = m.window(load.warmup, plans_duration if not cut else None,
                      elapsed=None if plans_duration and not cut else outcome.elapsed)
    variants = m.summary(window)
    # before the generator's judgment, which compares its lag with the server's own time
    server_time = mon.server_time(spec, window, variants)
    monitored = mon.summary(m, variants)   # reads the raw figures (before absent ones become null)
    for vs in variants.values():
        _absent_as_null(vs)
    summary = {
        "schema": "stinger.summary/1",
        "name": spec.name,
        "seed": load.seed,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(outcome.started_at)),
        "elapsed_s": round(outcome.elapsed, 3),
        "interrupted": outcome.interrupted,
        # SIGTERM (not Ctrl-C) stopped the run: exit code 143
        "terminated": outcome.interrupted_by == "SIGTERM",
        # a load worker was lost: part of the schedule was never sent (exit code 3)
        "incomplete": outcome.incomplete,
        "lost_workers": [{"worker": lw.worker, "pid": lw.pid, "reason": lw.reason, "share": round(lw.share, 4),
                          "since_s": round(lw.since, 3), "lost_requests": lw.lost_requests}
                         for lw in outcome.lost_workers],
        "stopped_early": outcome.stopped_early,
        "mode": load.resolved_mode(),
        "split": spec.split if len(variants) > 1 else "single",
        **({"pairing": spec.pairing} if spec.split == "paired" and len(variants) > 1 else {}),
        "workers": workers,
        "targets": {v.name: [redact_url(u) for u in v.all_urls()] for v in spec.all_variants()},
        "window": {"start_s": round(window[0], 3), "end_s": round(window[1], 3)},
        "variants": variants,
    }
    if len(variants) > 1:
        summary["overall"] = _absent_as_null(m.overall(window))
    attributed = spec.split == "sagemaker" and len(variants) > 1
    judged = dict(variants)
    if attributed:
        from stinger.orchestrate.sagemaker_split import attribution_block
        from stinger.spec.model import UNATTRIBUTED

        summary["attribution"] = attribution_block(spec, variants, mon.points())
        # requests no response named a variant for belong to the run, not to a variant: the SLOs
        # judge each attributed variant and the whole run (so their errors still count)
        judged.pop(UNATTRIBUTED, None)
        judged["overall"] = summary["overall"]
    results = []
    for name, vs in judged.items():
        for r in judge(slos, vs):
            d = r.to_dict()
            d["variant"] = name
            results.append(d)
    summary["slo"] = results
    summary["slo_passed"] = all(r["passed"] for r in results)
    shape = load.shape
    if shape is not None and shape.spike is not None:
        summary["spike"] = _spike(m, shape.spike, slos)
    summary.update(monitored)
    summary["server_time"] = server_time
    for name, q in model_quality(m.predictions).items():
        variants[name]["quality"] = q
    summary["warnings"] = outcome.warnings + mon.warnings + error_messages(variants, m.notes)
    failures = {name: f for name, vs in variants.items() if (f := failure_report(vs)) is not None}
    if attributed:
        # `unattributed` has no success by construction (a response that named its variant moved
        # there): its failures are the run's story only when most of the run ended there
        un = failures.get(UNATTRIBUTED)
        run_ended = sum(summary["overall"]["requests"][k] for k in ("ok", "failed", "dropped"))
        if un is not None and 2 * un["ended"] < run_ended:
            del failures[UNATTRIBUTED]
    if failures:
        summary["failures"] = failures
    # a variant that never got a successful answer measured nothing: the run must not look like a pass
    summary["no_success"] = sorted(n for n, f in failures.items() if f["ok"] == 0 and n in judged)
    if attributed and not summary["overall"]["requests"]["ok"] and run_ended:
        summary["no_success"].append("overall")   # nothing succeeded, whichever variant it was meant for
    for name, vm in m.variants.items():
        extra = vm.counters["unsolicited"]
        variants[name]["unsolicited"] = extra
        if extra:
            summary["warnings"].append(
                f"{name}: {extra:,} responses arrived with no request waiting for them (a duplicated "
                "response, or a 408 on an idle connection): the endpoint's protocol error, counted as "
                "'unsolicited', never as requests; their connections were closed")
    summary["warnings"].extend(unfinished_warnings(variants, load))
    overflow = sum(vm.counters["overflow"] for vm in m.variants.values())
    if overflow:
        summary["warnings"].append(
            f"{overflow:,} requests were dropped because the in-flight queue was full (a million waiting per "
            f"worker): the endpoint fell far behind; they are counted as dropped")
    return summary


def unfinished_warnings(variants: dict, load) -> list[str]:
    """What `unfinished` means, where some requests ended so: no answer within the drain."""
    out = []
    for name, vs in variants.items():
        n = vs["errors"].get("unfinished", 0)
        if n:
            out.append(f"{name}: {n:,} requests had no answer when the run ended ({load.drain:g} s of drain after "
                       f"the schedule; request timeout {load.timeout:g} s): counted as failed, 'unfinished'")
    return out


def model_quality(predictions: list) -> dict[str, dict]:
    """Per variant, from labelled predictions: accuracy (classes) or mean absolute error (numbers)."""
    if not predictions:
        return {}  # and no statistics import (scipy costs the coordinator ~0.5 CPU-s per run)
    from stinger.orchestrate.compare import _is_classification

    by_variant: dict[str, list[dict]] = {}
    for variant, _payload, pred, label in predictions:
        if label is not None:
            by_variant.setdefault(variant, []).append({"prediction": pred, "label": label})
    out = {}
    for name, preds in by_variant.items():
        if _is_classification(preds):
            right = sum(1 for p in preds if p["prediction"] == p["label"])
            out[name] = {"labelled": len(preds), "accuracy": round(right / len(preds), 6)}
        else:
            try:
                err = sum(abs(float(p["prediction"]) - float(p["label"])) for p in preds) / len(preds)
            except (TypeError, ValueError):
                continue  # a prediction that is not a number cannot be scored against a numeric label
            out[name] = {"labelled": len(preds), "mae": round(err, 6)}
    return out


def _absent_as_null(vs: dict) -> dict:
    """A histogram with no value (no successful response) has no percentiles: null, not 0.00."""
    for h in vs.values():
        if isinstance(h, dict) and h.get("count") == 0 and "p50" in h:
            for k in h:
                if k != "count":
                    h[k] = None
    return vs


def error_messages(variants: dict, notes: list[str]) -> list[str]:
    """What endpoints said with their errors (`core.error_notes`), put beside their counts: per variant
    `error_messages` {kind: the first message}; returns the other notes (the run's warnings)."""
    from stinger.core.error_notes import parse

    rest = []
    for text in notes:
        got = parse(text)
        if got is None or not any(v in variants for v in got[1]):
            rest.append(text)
            continue
        kind, names, message = got
        for name in names:
            if name in variants:
                variants[name].setdefault("error_messages", {}).setdefault(kind, redact_text(message))
    return rest


def failure_report(vs: dict) -> dict | None:
    """When most of a variant's requests failed: what they got back (top status codes and error
    kinds, one sample body per status when the engine kept one). None when most succeeded."""
    req = vs["requests"]
    ended = req["ok"] + req["failed"] + req["dropped"]
    if not ended or vs["error_rate"] < MOSTLY_FAILED:
        return None
    codes = sorted(((int(c), n) for c, n in (vs.get("status_codes") or {}).items() if not 200 <= int(c) < 300),
                   key=lambda cn: -cn[1])
    kinds = sorted(((k, n) for k, n in vs["errors"].items() if n), key=lambda kn: -kn[1])
    samples = {str(code): redact_text(body)[:SAMPLE_BODY_CHARS]
               for code, body in (vs.get("sample_responses") or {}).items()}
    said = vs.get("error_messages") or {}
    return {
        "ok": req["ok"],
        "ended": ended,
        "error_rate": vs["error_rate"],
        "top_status": [{"status": c, "count": n} for c, n in codes[:3]],
        "top_errors": [{"kind": k, "count": n, **({"message": said[k]} if k in said else {})} for k, n in kinds[:3]],
        "samples": samples,
    }


def _spike(m: RunMetrics, spike, slos: list) -> dict:
    """Per variant: the spike's errors and latency, and the time to recover within the latency SLO."""
    from stinger.core.spike import spike_report

    key, threshold = "p95_ms", 300.0
    for slo in slos:  # the first latency-percentile SLO sets the bar
        if slo.metric in ("p50", "p90", "p95", "p99", "p99.9") and slo.op in ("<", "<="):
            key, threshold = f"{slo.metric.replace('.', '')}_ms", slo.threshold
            break
    rows = m.interval_rows()
    return {name: spike_report([r for r in rows if r["variant"] == name], at=spike.at, length=spike.length,
                               threshold_ms=threshold, key=key, interval=m.interval)
            for name in m.variants}
