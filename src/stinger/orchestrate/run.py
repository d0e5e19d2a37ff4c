"""One load test from a validated spec to a run directory and a summary.

Order of work: check everything the user gave (dataset, checks, SLOs) in this
process so a mistake is a one-line error before any load; build the worker
plans; start the monitors; execute with the live view; judge SLOs and the
generator; write the run directory; print the summary.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from stinger.core.exit_codes import exit_code_of
from stinger.core.summary import RunSummary, with_blocks, with_events, with_run_end
from stinger.orchestrate.abilities import after_run, extra_monitors
from stinger.orchestrate.abort_watch import abort_watch
from stinger.orchestrate.planning import RunPlan, plan_run
from stinger.orchestrate.preflight import ensure_fd_limit
from stinger.orchestrate.row_files import check_row_sinks, drop_request_logs, merge_request_logs, request_logs
from stinger.orchestrate.summary import breakdown_params, build_summary
from stinger.outputs.otlp import with_otlp
from stinger.scale.base import WorkerBackend, backend_named, check_origins
from stinger.scale.coordinator import RunOutcome, execute, hold_stop_signals
from stinger.spec import Spec


@dataclass
class RunReport:
    summary: dict                       # summary.json (`run_summary.to_json()`)
    run_dir: Path | None
    outcome: RunOutcome
    run_summary: RunSummary | None = None   # the same, typed

    @property
    def exit_code(self) -> int:
        return exit_code_of(self.summary)


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


def run_spec(plan: Spec | RunPlan, *, console: Console | None = None, live: bool = True,
             write: bool = True, workers: int | None = None, monitors=None, quiet: bool = False,
             stop_when=None, outputs: list | None = None, control=None) -> RunReport:
    """One run of a spec (checked now: `planning.plan_run`) or of a plan already checked (a capacity
    step). `outputs` (objects, see `outputs/base.py`) replaces the defaults that
    `console`/`live`/`write`/`quiet` describe.

    Stop signals are held (flags only) until the outputs have finished: the second
    signal of a double Ctrl-C, landing after the workers stopped, must not cut the
    writing of the run directory short (issue 10 item 2)."""
    spec = plan.spec if isinstance(plan, RunPlan) else plan
    with hold_stop_signals():
        backend = backend_named(spec.load.backend)
        try:
            return _run_spec(plan, console=console, live=live, write=write, workers=workers,
                             monitors=monitors, quiet=quiet, stop_when=stop_when, outputs=outputs, backend=backend,
                             control=control)
        finally:
            backend.close()   # also when the run never started (a cluster joined by `connect`)


def _run_spec(plan: Spec | RunPlan, *, console: Console | None, live: bool, write: bool,
              workers: int | None, monitors, quiet: bool, stop_when, outputs: list | None,
              backend: WorkerBackend, control=None) -> RunReport:
    from stinger.outputs.base import (
        OutputThread,
        RunFinished,
        RunInfo,
        run_dir_of,
        snapshot_of,
    )
    from stinger.outputs.live_breakdown import for_outputs

    if outputs is None:
        outputs = default_outputs(console=console, live=live, write=write, quiet=quiet)
    if not isinstance(plan, RunPlan):
        plan = plan_run(plan)   # what the user named, opened and checked: one-line errors before any load
    spec, slos = plan.spec, list(plan.slos)
    outputs = with_otlp(spec, outputs)   # --otlp: exported last, after the run directory is written
    check_row_sinks(spec, backend)   # before the run directory exists
    plan.check_backend(backend.traits)
    plans = plan.workers(workers, cores=connect_backend(backend, spec, workers))
    check_origins(backend, plans)   # an origin that cannot be placed: one line before any load (scale/base.py)
    ensure_fd_limit(plans)
    load = spec.load
    abort = abort_watch(spec, plans[0].interval)
    user_stop = stop_when

    def stop(m, t) -> bool:
        if user_stop is not None and user_stop(m, t):
            return True
        return bool(abort(m, t))

    duration = plans[0].duration
    info = RunInfo(spec=spec, variants=tuple(v.name for v in plans[0].variants),
                   duration=duration, total=load.requests, mode=load.resolved_mode())

    from stinger.orchestrate.monitor_set import MonitorSet

    extra = extra_monitors(spec)   # what the targets' sides add (an endpoint's instance poller)
    if extra:
        monitors = list(monitors or []) + extra
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

        live_outputs = [o for o in outputs if getattr(o, "wants_intervals", True)]
        try:
            with OutputThread(live_outputs) as thread:
                # on the merge path: copy what the live view needs, hand it over, return (and with
                # no live output, not even that: a quiet run's coordinator does no extra work)
                # (the breakdown rows: a view handed over, built off this path, outputs/live_breakdown.py)
                rows_live = for_outputs(live_outputs, **breakdown_params(spec), warmup=load.warmup)
                progress = ((lambda m, t: thread.post(snapshot_of(m, t, mon.live_extra(),
                                                                  rows_live and rows_live.take(m, t))))
                            if live_outputs else None)
                from stinger.outputs.rundir import spill_path

                plans = request_logs(spec, plans, run_dir)
                outcome = execute(plans, on_start=on_start, stop_when=stop, on_progress=progress,
                                  backend=backend, spill_path=spill_path(run_dir), control=control,
                                  on_worker_loss=load.on_worker_loss)
                if rows_live is not None:
                    rows_live.detach()
        finally:
            mon.stop()
    except BaseException:
        drop_request_logs(plans)   # the workers are gone (execute closed them): no hidden file left behind
        for o in started:  # leave a live display before the error is shown
            close = getattr(o, "close", None)
            if callable(close):
                close()
        raise

    typed = build_summary(spec, outcome, slos, mon, workers=len(plans), duration=duration)
    rows: dict = {"warnings": []}   # what the row sinks add: their files (requests_file for csv), or a warning
    if plans[0].rows:
        merge_request_logs(plans, run_dir, rows, outcome)
    typed = with_run_end(typed, aborted=abort.reason, requests_file=rows.get("requests_file"), rows=rows.get("rows"),
                         hooks=dict(plan.hooks) if plan.hooks else None,   # the user's hooks, the request hook's cost
                         stopped_early=False if abort.reason is not None else None,
                         warnings=[*rows["warnings"], *thread.errors], run_dir=None if run_dir is None else str(run_dir))
    typed = with_blocks(typed, after_run(spec, typed.to_json(), mon.points, outcome, outputs))   # the sides' blocks
    typed = with_events(typed, outcome.events)   # live load changes (--control, a rebalance)
    summary = typed.to_json()
    result = RunFinished(summary=summary, metrics=outcome.metrics, started_at=outcome.started_at,
                         series=mon.points())
    _finish_all(outputs, result)
    return RunReport(summary=summary, run_dir=run_dir, outcome=outcome, run_summary=typed)


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
    not this machine's), None for a backend without `ClusterConnect` (this machine's cores). More workers
    than those CPUs is the user's mistake, said at once instead of waiting to place them."""
    from stinger.scale.base import ClusterConnect

    if not isinstance(backend, ClusterConnect):
        return None
    cpus = backend.connect()
    asked = workers or (None if spec.load.workers == "auto" else int(spec.load.workers))
    if asked is not None and asked > cpus:
        from stinger.errors import UsageError

        raise UsageError(f"--workers {asked} on the {spec.load.backend} backend, but its cluster has {cpus} CPUs "
                         f"and each worker takes one; expected --workers {max(cpus, 1)} or fewer, or a bigger "
                         "cluster")
    return cpus


