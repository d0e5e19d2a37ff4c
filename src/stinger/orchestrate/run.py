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

from stinger.core.metrics import RunMetrics
from stinger.orchestrate.planning import build_plans
from stinger.scale.coordinator import RunOutcome, execute
from stinger.spec import Spec, redacted

EXIT_OK = 0
EXIT_SLO = 1
EXIT_INTERRUPTED = 130


@dataclass
class RunReport:
    summary: dict
    run_dir: Path | None
    outcome: RunOutcome

    @property
    def exit_code(self) -> int:
        if self.outcome.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_OK if self.summary.get("slo_passed", True) else EXIT_SLO


def preflight(spec: Spec) -> list:
    """Open what the user named, so their mistakes surface now (exit 2), not in a worker."""
    from stinger.core.slo import parse_slo

    p = spec.payload
    if p.data:
        from stinger.engine.payloads import PayloadOrder, open_dataset

        ds = open_dataset(p.data, format=p.format, label_field=p.label_field, body_field=p.body_field,
                          csv_header=p.csv_header, content_type=p.content_type)
        PayloadOrder(len(ds), p.order, seed=spec.load.seed, weights=p.weights)
    if spec.check is not None:
        from stinger.engine.checks import ResponseCheck

        c = spec.check
        ResponseCheck(status=c.status, json_path=c.json_path, equals=c.equals, regex=c.regex)
    if spec.prediction:
        from stinger.engine.checks import compile_json_path

        compile_json_path(spec.prediction)
    if spec.load.shape is not None and spec.load.shape.trace:
        from stinger.core.schedule import trace_schedule

        trace_schedule(spec.load.shape.trace)
    return [parse_slo(s) for s in spec.slo]


def run_spec(spec: Spec, spec_data: dict, *, console: Console | None = None, live: bool = True,
             write: bool = True, workers: int | None = None, monitors=None, quiet: bool = False,
             stop_when=None) -> RunReport:
    from stinger.outputs.terminal import make_console

    console = console or make_console()
    slos = preflight(spec)
    plans = build_plans(spec, workers=workers)
    run_dir = None
    if write:  # before any load: an unwritable --out is the user's mistake, found now
        from stinger.outputs.rundir import new_run_dir

        run_dir = new_run_dir(spec.output.dir, spec.output.name or spec.name)
    load = spec.load
    duration = plans[0].duration
    mode = load.resolved_mode()

    from stinger.orchestrate.monitor_set import MonitorSet

    mon = MonitorSet.from_spec(spec, extra=monitors, on_warning=lambda w: None)

    def on_start(t0: float, pids: list[int]) -> None:
        mon.start(t0, generator_pids=pids)

    view = None
    if live and not quiet:
        from stinger.outputs.terminal import LiveView

        view = LiveView(duration=duration, total=load.requests, mode=mode, console=console)
    try:
        if view is not None:
            with view:
                outcome = execute(plans, on_start=on_start, stop_when=stop_when,
                                  on_progress=lambda m, t: view.update(m, t, mon.live_extra()))
        else:
            outcome = execute(plans, on_start=on_start, stop_when=stop_when)
    finally:
        mon.stop()

    summary = build_summary(spec, outcome, slos, mon, workers=len(plans), duration=duration)
    if run_dir is not None:
        from stinger.outputs.rundir import write_run

        summary["run_dir"] = str(run_dir)
        write_run(run_dir, summary=summary, spec_data=redacted(spec_data), metrics=outcome.metrics,
                  started_at=outcome.started_at, series_points=mon.points())
    if not quiet:
        from stinger.outputs.terminal import print_summary

        print_summary(summary, console)
    return RunReport(summary=summary, run_dir=run_dir, outcome=outcome)


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
    summary = {
        "schema": "stinger.summary/1",
        "name": spec.name,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(outcome.started_at)),
        "elapsed_s": round(outcome.elapsed, 3),
        "interrupted": outcome.interrupted,
        "stopped_early": outcome.stopped_early,
        "mode": load.resolved_mode(),
        "split": spec.split if len(variants) > 1 else "single",
        "workers": workers,
        "targets": {v.name: v.all_urls() for v in spec.all_variants()},
        "window": {"start_s": round(window[0], 3), "end_s": round(window[1], 3)},
        "variants": variants,
    }
    if len(variants) > 1:
        summary["overall"] = m.overall(window)
    results = []
    for name, vs in variants.items():
        for r in judge(slos, vs):
            d = r.to_dict()
            d["variant"] = name
            results.append(d)
    summary["slo"] = results
    summary["slo_passed"] = all(r["passed"] for r in results)
    shape = load.shape
    if shape is not None and shape.spike is not None:
        summary["spike"] = _spike(m, shape.spike, slos)
    summary.update(mon.summary(m, variants))
    summary["warnings"] = outcome.warnings + mon.warnings
    overflow = sum(vm.counters["overflow"] for vm in m.variants.values())
    if overflow:
        summary["warnings"].append(
            f"{overflow:,} requests were dropped because the in-flight queue was full (a million waiting per "
            f"worker): the endpoint fell far behind; they are counted as dropped")
    return summary


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
