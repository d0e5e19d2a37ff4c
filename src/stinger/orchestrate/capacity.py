"""`stinger capacity`: find the highest load an endpoint sustains within its SLOs.

Orchestration only: the search policy is `stinger.core.capacity.CapacitySearch`
(pure). Each step is a short load run of its own (warm-up + measurement
window, judged on the window only) at the rate (open model) or user count
(closed model, `--mode concurrency`) the policy asks for. A step whose
generator was the bottleneck is never taken for the endpoint's limit: the
search stops there and says so.

Repeatability on a busy machine: a failing step is re-tested at the same
target (`confirm`, default once) before the policy counts it, because noise
only ever makes a step look worse. The report keeps every step (re-tests are
marked `retest`), says where steps disagreed, how many ran while the machine
was busy, and gives the result with its bracket and a stability note
(`stability`). Each row also carries the share of the step's one-second
intervals that met the latency and error SLOs on their own
(`intervals_ok_share`): a failure where most seconds were fine was a stall.
A failure saturated in every one of at least five seconds (`clear`) is
counted without a re-test. A failure while the machine was busy and the
generator's own requests left late (`inconclusive`) is run again; when that
keeps happening the search stops with "machine busy" rather than report the
machine's limit as the endpoint's.

A step that lost a load worker (killed, crashed, silent past its deadline)
sent only part of its schedule: it is run again once, and when a worker is
lost again the search stops ("worker lost", exit 3) and says so. SIGINT and
SIGTERM stop the search wherever it is (a step, a cool-down) and keep what was
measured: the interrupted step is kept as a row but judges nothing, and the
command exits 130 or 143, as a run does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stinger.core.capacity import (
    CapacitySearch,
    StepResult,
    cost_per_million,
    find_knee,
    limiting_factor,
    stability,
)
from stinger.core.slo import DEFAULT_CAPACITY_SLOS, judge, parse_slo
from stinger.errors import UsageError
from stinger.spec import LoadSpec, Spec

if TYPE_CHECKING:
    from rich.console import Console

    from stinger.orchestrate.planning import RunPlan


@dataclass
class CapacityOptions:
    mode: str = "rate"                 # rate (open model) | concurrency (closed model)
    start: float = 10.0
    growth: float = 2.0
    precision: float = 0.05
    max_target: float = 100_000.0
    min_target: float = 1.0
    max_steps: int = 20
    confirm: int = 1                   # re-tests of a failing step before it counts
    step_duration: float = 8.0         # measured window of each step (s)
    step_warmup: float = 2.0           # warm-up of each step (s), excluded from the verdict
    slos: list[str] = field(default_factory=list)
    hold: float = 0.0                  # after the search, run the best pass this long (s) and judge it (0: no)
    adaptive: bool = False             # one run ramping through live load changes, then holding (orchestrate/adaptive.py)
    price_per_hour: float | None = None
    instances: int = 1


def _check_goodput(slos: list, spec: Spec) -> None:
    """A goodput SLO without objectives: the run's rule (`preflight.check_goodput_slos`), before any step."""
    from stinger.orchestrate.preflight import check_goodput_slos

    check_goodput_slos(slos, spec)


def _step_load(spec: Spec, opts: CapacityOptions, target: float, step: int = 0) -> LoadSpec:
    """The load of one step: the spec's own, at `target` (a rate, open model; users, closed model) for
    warm-up + window, with no shape or request count. A `model_copy` of the validated load: the values
    set here are in range by construction (the search's targets are, and so are the options' times).

    Each step (`step`: its index) draws its arrivals and orders from a seed of its own, derived from the
    run's (so `--seed` still reproduces the search): a re-test is a new sample, not the same Poisson
    schedule replayed, which matters for a goodput share, whose noise is the sample's."""
    update: dict[str, Any] = {"shape": None, "requests": None, "duration": opts.step_warmup + opts.step_duration,
                              "warmup": opts.step_warmup}
    if spec.load.seed is not None and step:
        update["seed"] = (int(spec.load.seed) + 1_000_003 * step) % 2**31
    if opts.mode == "rate":
        update.update(rate=float(target), users=None, mode="open")
    else:
        update.update(users=int(target), rate=None, mode="closed")
    return spec.load.model_copy(update=update)


def run_capacity(spec: Spec, opts: CapacityOptions, *, console: Console | None = None,
                 quiet: bool = False, write: bool = True, outputs: list | None = None,
                 variant: str | None = None) -> dict:
    """Run the search; return the capacity report (`capacity.json`).

    `outputs` (see `outputs/base.py`) are told the plan, each step and the report;
    by default the terminal (unless quiet) and a run directory (if `write`).
    `variant` names the variant being searched when an A/B test runs one search each.
    """
    from stinger.orchestrate.run import default_outputs
    from stinger.outputs.base import run_dir_of, tell
    from stinger.scale.coordinator import hold_stop_signals

    if outputs is None:
        outputs = default_outputs(console=console, write=write, quiet=quiet)
    if len(spec.all_variants()) != 1:
        raise UsageError("capacity searches one target at a time; for several variants use "
                         "'stinger ab --split capacity'")
    slo_texts = opts.slos or list(spec.slo) or list(DEFAULT_CAPACITY_SLOS)
    if opts.mode == "concurrency":
        # a closed model offers what it achieves: the ratio says nothing there
        slo_texts = [s for s in slo_texts if not s.replace(" ", "").startswith("achieved_ratio")]
    slos = [parse_slo(s) for s in slo_texts]
    _check_goodput(slos, spec)
    search = CapacitySearch(start=opts.start, growth=opts.growth, precision=opts.precision,
                            max_target=opts.max_target, min_target=opts.min_target,
                            max_steps=opts.max_steps, integer=opts.mode == "concurrency", confirm=opts.confirm)
    unit = "req/s" if opts.mode == "rate" else "users"
    # before any load: the run directory is created here, so an unwritable --out fails now
    tell(outputs, "capacity_start", {"spec": spec, "mode": opts.mode, "unit": unit, "slo": slo_texts,
                                     "step_warmup": opts.step_warmup, "step_duration": opts.step_duration,
                                     "variant": variant})
    run_dir = run_dir_of(outputs)
    # THE plan of the command: the dataset opened, checks compiled, targets' preflights run once;
    # every step is this plan at another load (`RunPlan.for_step`), nothing parsed or opened again
    from stinger.orchestrate.planning import plan_run

    plan = plan_run(spec.model_copy(update={"slo": []}))
    rows: list[dict[str, Any]] = []
    # held for the whole search: a signal in a cool-down, between two steps, stops it as one in a step does
    adaptive: dict[str, Any] | None = None
    with hold_stop_signals() as signals:
        if opts.adaptive:   # the same policy, its steps as windows of one run (orchestrate/adaptive.py)
            from stinger.orchestrate.adaptive import ramp_run

            held, events, adaptive = ramp_run(search, plan, opts, slos, rows, outputs, signals)
            adaptive["events"] = events
        else:
            while (target := search.next_target()) is not None and not signals.received:
                _step(search, target, plan, opts, slos, rows, outputs, signals)
            best = search.bracket[0]
            held = (_hold(plan, opts, slos, best, rows, outputs)
                    if opts.hold > 0 and best is not None and not signals.received else None)
    interrupted_by = signals.received[0] if signals.received else None
    out = capacity_report(search, rows, slo_texts, opts, unit)
    if held is not None:
        out["hold"] = held
    if adaptive is not None:
        out["adaptive"] = adaptive
        out["events"] = adaptive.pop("events")   # the run directory's events.jsonl (outputs/rundir.py)
    out["interrupted"] = interrupted_by is not None
    out["terminated"] = interrupted_by == "SIGTERM"   # exit 143, as a run stopped by SIGTERM
    out["target"] = spec.all_variants()[0].all_urls()
    if run_dir is not None:
        out["run_dir"] = str(run_dir)
    tell(outputs, "capacity_finish", out)
    return out


def _step(search: CapacitySearch, target: float, plan: RunPlan, opts: CapacityOptions, slos: list,
          rows: list[dict[str, Any]], outputs: list, signals) -> None:
    """Run one step at `target`, judge it, feed the policy (unless a signal cut it short), tell the
    outputs, and cool down after a failure (a signal ends the cool-down at once)."""
    from stinger.orchestrate.run import run_spec
    from stinger.outputs.base import tell

    retest = search.phase == "confirm"
    report = run_spec(plan.for_step(_step_load(plan.spec, opts, target, len(rows))), outputs=[])
    summary = report.summary
    vs = next(iter(summary["variants"].values()))
    results = judge(slos, vs)
    failed = tuple(r.slo.text for r in results if not r.passed)
    gen = summary.get("generator", {})
    client_bound = bool(gen.get("client_bound")) and bool(failed)
    share, seconds = _intervals_ok_share(report.outcome.metrics, slos, opts.step_warmup)
    # the generator's requests left late because other processes held the CPUs: the machine failed the step
    # (a failure saturated throughout is the endpoint's whatever the machine did)
    clear = bool(failed) and _clear_failure(vs, share, seconds)
    inconclusive = (bool(failed) and not client_bound and not clear and bool(gen.get("machine_busy"))
                    and bool(gen.get("lagged")))
    lost = report.outcome.incomplete   # a worker was lost: part of the schedule never sent
    marginal = not failed and _marginal_share(slos, vs)
    result = StepResult(target=target, passed=not failed, failed=failed, summary=vs, client_bound=client_bound,
                        clear=clear, inconclusive=inconclusive, lost=lost, marginal=marginal)
    row = _row(result, summary, vs)
    row["retest"] = retest
    row["marginal"] = marginal
    row["intervals_ok_share"] = share
    row["clear"] = result.clear
    row["inconclusive"] = inconclusive
    if lost:
        row["lost_workers"] = summary.get("lost_workers", [])
    interrupted = report.outcome.interrupted
    if interrupted:   # cut short: kept as a row, judged by no one
        row["interrupted"] = True
        row["passed"] = False
    else:
        search.record(result)
    wait = (_cool_down_time(vs) if failed and not interrupted and not lost and search.next_target() is not None
            else 0.0)
    if wait and inconclusive:
        wait += _BUSY_PAUSE  # give a neighbour's burst time to pass
    rows.append(row)
    tell(outputs, "capacity_step", {**row, "step": len(rows), "cool_down_s": wait})
    import time

    end = time.monotonic() + wait
    while not signals.received and time.monotonic() < end:
        time.sleep(min(0.1, max(0.0, end - time.monotonic())))


def _hold(plan: RunPlan, opts: CapacityOptions, slos: list, target: float, rows: list[dict[str, Any]],
          outputs: list) -> dict[str, Any]:
    """Hold the load found: one run at the best pass for `opts.hold` seconds (after the same warm-up),
    judged on the same SLOs. A boundary that passed one short step by luck fails here; the search's
    result stands as measured, and `hold.passed` (and the exit code) says whether it held."""
    from dataclasses import replace

    from stinger.orchestrate.run import run_spec
    from stinger.outputs.base import tell

    report = run_spec(plan.for_step(_step_load(plan.spec, replace(opts, step_duration=opts.hold), target,
                                               len(rows))), outputs=[])
    vs = next(iter(report.summary["variants"].values()))
    failed = tuple(r.slo.text for r in judge(slos, vs) if not r.passed)
    interrupted = bool(report.outcome.interrupted)
    row = _row(StepResult(target=target, passed=not failed and not interrupted, failed=failed, summary=vs),
               report.summary, vs)
    row.update(duration_s=opts.hold, interrupted=interrupted, hold=True, retest=False, client_bound=False)
    tell(outputs, "capacity_step", {**row, "step": len(rows) + 1, "cool_down_s": 0.0})
    return row


#: a goodput share this many standard errors or fewer above its bound passed within sampling noise
_MARGIN_SE = 2.0


def _marginal_share(slos: list, vs: dict) -> bool:
    """A passing goodput SLO whose share lies within `_MARGIN_SE` binomial standard errors of its bound
    (the bound's own: sqrt(b (1 - b) / n) over the step's n ended requests): sampling alone could have
    passed it, so the search re-tests it (`core.capacity`: marginal). Requests close in time are
    correlated, so the true noise is wider: the rule errs towards re-testing, never towards believing."""
    import math

    g = vs.get("goodput") or {}
    share, n = g.get("share"), g.get("of") or 0
    if share is None or not n:
        return False
    for s in slos:
        if s.metric == "goodput" and s.op in (">", ">="):
            bound = float(s.threshold)
            se = math.sqrt(max(bound * (1.0 - bound), 1e-12) / n)
            if share - bound < _MARGIN_SE * se:
                return True
    return False


_MAX_COOL_DOWN = 15.0
_BUSY_PAUSE = 2.0
_PER_SECOND = ("p50", "p90", "p95", "p99", "mean", "max", "error_rate", "errors")


_CLEAR_RATIO = 0.9
_CLEAR_SECONDS = 5


def _clear_failure(vs: dict, share: float | None, seconds: int) -> bool:
    """A failure no stall explains, so it needs no re-test: each of at least 5 measured seconds failed
    the latency/error SLOs on its own, and the endpoint completed under 90 % of what was offered
    (saturated throughout). A stall leaves good seconds in a long enough window; in a short one (a
    stall of one second can spoil two) every failure is re-tested."""
    ratio = (vs.get("throughput") or {}).get("ratio")
    return share == 0.0 and seconds >= _CLEAR_SECONDS and ratio is not None and ratio < _CLEAR_RATIO


def _intervals_ok_share(metrics, slos: list, warmup: float) -> tuple[float | None, int]:
    """(share, count) of the step's measured one-second intervals that met the latency and error SLOs
    on their own.

    Throughput objectives are left out (one second is too short to judge a ratio); the share is None
    when no SLO can be judged per second or no interval was measured.
    """
    per_second = [s for s in slos if s.metric in _PER_SECOND]
    if not per_second:
        return None, 0
    rows = [r for r in metrics.interval_rows() if not r.get("warmup") and r["t"] >= warmup and r["scheduled"]]
    if not rows:
        return None, 0
    ok = 0
    for r in rows:
        ended = r["ok"] + r["failed"]
        vs = {"latency_ms": {"count": r["ok"], "p50": r["p50_ms"], "p90": r["p90_ms"], "p95": r["p95_ms"],
                             "p99": r["p99_ms"], "mean": r["mean_ms"], "max": r["max_ms"]},
              "error_rate": r["failed"] / ended if ended else 0.0}
        ok += all(x.passed for x in judge(per_second, vs))
    return round(ok / len(rows), 3), len(rows)


def _cool_down_time(vs: dict) -> float:
    """How long to let an overloaded endpoint drain before the next step.

    The client gives up on what is still queued when a step ends, but the
    server goes on working through it; a step started at once would be judged
    on the previous step's backlog. That backlog is at most about the worst
    latency seen, so wait that long (capped).
    """
    worst = (vs.get("latency_ms") or {}).get("max") or 0.0
    return min(_MAX_COOL_DOWN, worst / 1000.0) + 0.5


def _row(result: StepResult, summary: dict, vs: dict) -> dict:
    res = summary.get("resources") or {}
    endpoint: dict = next(iter(res.values()), {}) if res else {}
    lat = vs.get("latency_ms", {})
    return {
        "target": int(result.target) if float(result.target).is_integer() else result.target,
        "offered_rps": vs["throughput"]["offered_rps"],
        "achieved_rps": vs["throughput"]["achieved_rps"],
        "p50_ms": lat.get("p50"), "p95_ms": lat.get("p95"), "p99_ms": lat.get("p99"),
        "error_rate": vs["error_rate"],
        "passed": result.passed,
        "failed": list(result.failed),
        "limiting": limiting_factor(result),
        "client_bound": result.client_bound,
        "server_time_p50_ms": vs.get("server_time_ms", {}).get("p50"),
        "cpu_pct_mean": endpoint.get("cpu_pct", {}).get("mean"),
        "rss_mib_mean": endpoint.get("rss_mib", {}).get("mean"),
        "generator": summary.get("generator", {}).get("message"),
        "machine_busy": bool(summary.get("generator", {}).get("machine_busy")),
        # the share of the step's requests meeting every goodput objective (None without objectives)
        "goodput": (vs.get("goodput") or {}).get("share"),
    }


def capacity_report(search: CapacitySearch, rows: list[dict], slo_texts: list[str], opts: CapacityOptions,
                    unit: str) -> dict:
    lo, hi = search.bracket
    best = None
    if lo is not None:
        best = max((r for r in rows if r["passed"] and r["target"] == lo), key=lambda r: r["achieved_rps"], default=None)
    # steps that lost a load worker or were cut short by a signal judged nothing: out of the curve and the limits
    counted = [r for r in rows if not r.get("lost_workers") and not r.get("interrupted")]
    # what limited the counted failure (the first fail of the bracket), not a stall that passed its re-test
    first_fail = next((r for r in counted if not r["passed"] and r["target"] == _num(hi, opts)),
                      next((r for r in counted if not r["passed"]), None))
    curve = sorted((r["target"], r["p95_ms"]) for r in counted if r["p95_ms"] is not None)
    knee = find_knee(curve) if len(curve) >= 3 else None
    out: dict[str, Any] = {
        "schema": "stinger.capacity/1",
        "mode": opts.mode,
        "unit": unit,
        "slo": slo_texts,
        "max_sustainable": _num(lo, opts),
        "bracket": [_num(lo, opts), _num(hi, opts)],
        "throughput_at_max_rps": best["achieved_rps"] if best else None,
        "stop_reason": search.stop_reason or "interrupted",
        "first_limit": first_fail["limiting"] if first_fail else None,
        "knee": knee,
        "at_max": {k: best[k] for k in ("p50_ms", "p95_ms", "p99_ms", "error_rate", "server_time_p50_ms",
                                         "cpu_pct_mean", "rss_mib_mean", "goodput")} if best else None,
        "steps": rows,
        "precision": opts.precision,
        "confirm": opts.confirm,
        "stability": stability(search, busy_steps=sum(1 for r in rows if r.get("machine_busy"))),
    }
    if search.stop_reason == "machine busy":
        out["note"] = out["stability"]["note"]
    if search.stop_reason == "worker lost":
        lost = "; ".join(f"worker {w['worker']} ({w['reason']}, at {w['since_s']:g} s)"
                         for w in rows[-1].get("lost_workers", []))
        out["note"] = out["stability"]["note"] + (f" (last: {lost})" if lost else "")
    if search.ceiling is not None:
        out["generator_ceiling"] = _num(search.ceiling, opts)
    if search.stop_reason == "generator-bound":
        out["note"] = ("the load generator became the bottleneck before the endpoint failed its SLOs "
                       f"(it could not offer {_num(search.ceiling, opts):g} {unit}): the endpoint's capacity is at "
                       "least the best pass; add --workers or machines and search again")
    if opts.price_per_hour is not None and best and best["achieved_rps"] > 0:
        out["cost"] = {
            "price_per_hour": opts.price_per_hour,
            "instances": opts.instances,
            "per_million": round(cost_per_million(opts.price_per_hour, opts.instances, best["achieved_rps"]), 4),
        }
    return out


def _num(x: float | None, opts: CapacityOptions):
    return int(x) if x is not None and opts.mode == "concurrency" else x
