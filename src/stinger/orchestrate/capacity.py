"""`stinger capacity`: find the highest load an endpoint sustains within its SLOs.

Orchestration only: the search policy is `stinger.core.capacity.CapacitySearch`
(pure). Each step is a short load run of its own (warm-up + measurement
window, judged on the window only) at the rate (open model) or user count
(closed model, `--mode concurrency`) the policy asks for. A step whose
generator was the bottleneck is never taken for the endpoint's limit: the
search stops there and says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from stinger.core.capacity import CapacitySearch, StepResult, cost_per_million, find_knee, limiting_factor
from stinger.core.slo import DEFAULT_CAPACITY_SLOS, judge, parse_slo
from stinger.errors import UsageError
from stinger.spec import Spec, parse_spec


@dataclass
class CapacityOptions:
    mode: str = "rate"                 # rate (open model) | concurrency (closed model)
    start: float = 10.0
    growth: float = 2.0
    precision: float = 0.05
    max_target: float = 100_000.0
    min_target: float = 1.0
    max_steps: int = 20
    step_duration: float = 8.0         # measured window of each step (s)
    step_warmup: float = 2.0           # warm-up of each step (s), excluded from the verdict
    slos: list[str] = field(default_factory=list)
    price_per_hour: float | None = None
    instances: int = 1


def _step_spec(spec_data: dict, opts: CapacityOptions, target: float) -> Spec:
    data = {k: v for k, v in spec_data.items()}
    load = dict(data.get("load") or {})
    for k in ("shape", "rate", "users", "requests", "mode"):
        load.pop(k, None)
    if opts.mode == "rate":
        load["rate"] = target
        load["mode"] = "open"
    else:
        load["users"] = int(target)
        load["mode"] = "closed"
    load["duration"] = opts.step_warmup + opts.step_duration
    load["warmup"] = opts.step_warmup
    load.setdefault("drain", 2.0)
    data["load"] = load
    data["slo"] = []
    return parse_spec(data, source="capacity step")


def run_capacity(spec: Spec, spec_data: dict, opts: CapacityOptions, *, console: Console | None = None,
                 quiet: bool = False, write: bool = True) -> dict:
    """Run the search; return the capacity report (also written to the run directory)."""
    from stinger.orchestrate.run import run_spec

    from stinger.outputs.terminal import make_console

    console = console or make_console()
    if len(spec.all_variants()) != 1:
        raise UsageError("capacity searches one target at a time; for several variants use 'stinger ab --mode capacity'")
    slo_texts = opts.slos or list(spec.slo) or list(DEFAULT_CAPACITY_SLOS)
    if opts.mode == "concurrency":
        # a closed model offers what it achieves: the ratio says nothing there
        slo_texts = [s for s in slo_texts if not s.replace(" ", "").startswith("achieved_ratio")]
    slos = [parse_slo(s) for s in slo_texts]
    search = CapacitySearch(start=opts.start, growth=opts.growth, precision=opts.precision,
                            max_target=opts.max_target, min_target=opts.min_target,
                            max_steps=opts.max_steps, integer=opts.mode == "concurrency")
    unit = "req/s" if opts.mode == "rate" else "users"
    if not quiet:
        console.print(f"[bold]capacity search[/] ({opts.mode}): SLOs {', '.join(slo_texts)}; "
                      f"steps of {opts.step_warmup:g}s warm-up + {opts.step_duration:g}s measured")
    rows: list[dict[str, Any]] = []
    interrupted = False
    while (target := search.next_target()) is not None:
        step = _step_spec(spec_data, opts, target)
        report = run_spec(step, {}, console=console, quiet=True, write=False)
        summary = report.summary
        vs = next(iter(summary["variants"].values()))
        results = judge(slos, vs)
        failed = tuple(r.slo.text for r in results if not r.passed)
        gen = summary.get("generator", {})
        client_bound = bool(gen.get("client_bound")) and bool(failed)
        result = StepResult(target=target, passed=not failed, failed=failed, summary=vs, client_bound=client_bound)
        row = _row(result, summary, vs)
        rows.append(row)
        if not quiet:
            verdict = "[red]FAIL[/] " + ", ".join(failed) if failed else "[green]pass[/]"
            if client_bound:
                verdict = "[yellow]generator-bound[/]"
            console.print(f"  step {len(rows):2d}: {target:10,.1f} {unit:5s} -> {vs['throughput']['achieved_rps']:10,.1f} req/s, "
                          f"p50 {_ms(vs, 'p50')} p95 {_ms(vs, 'p95')} p99 {_ms(vs, 'p99')} ms, "
                          f"errors {100 * vs['error_rate']:.2f}%  {verdict}")
        search.record(result)
        if report.outcome.interrupted:
            interrupted = True
            break
        if failed and search.next_target() is not None:
            _cool_down(vs, quiet, console)
    out = capacity_report(search, rows, slo_texts, opts, unit)
    out["interrupted"] = interrupted
    out["target"] = spec.all_variants()[0].all_urls()
    if write:
        import json

        from stinger.outputs.rundir import new_run_dir

        run_dir = new_run_dir(spec.output.dir, (spec.output.name or spec.name or "capacity"))
        (run_dir / "capacity.json").write_text(json.dumps(out, indent=2, default=str) + "\n")
        out["run_dir"] = str(run_dir)
    if not quiet:
        print_capacity(out, console)
    return out


_MAX_COOL_DOWN = 15.0


def _cool_down(vs: dict, quiet: bool, console) -> None:
    """Let an overloaded endpoint drain before the next step.

    The client gives up on what is still queued when a step ends, but the
    server goes on working through it; a step started at once would be judged
    on the previous step's backlog. That backlog is at most about the worst
    latency seen, so wait that long (capped).
    """
    import time

    worst = (vs.get("latency_ms") or {}).get("max") or 0.0
    wait = min(_MAX_COOL_DOWN, worst / 1000.0) + 0.5
    if not quiet:
        console.print(f"  [dim]cooling down {wait:.1f} s (the endpoint drains its backlog)[/]")
    time.sleep(wait)


def _ms(vs: dict, key: str) -> str:
    v = vs.get("latency_ms", {}).get(key)
    return "-" if v is None else f"{v:,.1f}"


def _row(result: StepResult, summary: dict, vs: dict) -> dict:
    res = summary.get("resources") or {}
    endpoint = next(iter(res.values()), {}) if res else {}
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
    }


def capacity_report(search: CapacitySearch, rows: list[dict], slo_texts: list[str], opts: CapacityOptions,
                    unit: str) -> dict:
    lo, hi = search.bracket
    best = None
    if lo is not None:
        best = max((r for r in rows if r["passed"] and r["target"] == lo), key=lambda r: r["achieved_rps"], default=None)
    first_fail = next((r for r in rows if not r["passed"]), None)
    curve = sorted((r["target"], r["p95_ms"]) for r in rows if r["p95_ms"] is not None)
    knee = find_knee(curve) if len(curve) >= 3 else None
    out: dict[str, Any] = {
        "schema": "stinger.orchestrate.capacity/1",
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
                                         "cpu_pct_mean", "rss_mib_mean")} if best else None,
        "steps": rows,
        "precision": opts.precision,
    }
    if search.stop_reason == "generator-bound":
        out["note"] = ("the load generator became the bottleneck before the endpoint failed its SLOs: "
                       "the endpoint's capacity is at least the best pass; add --workers or machines and search again")
    if opts.price_per_hour is not None and best and best["achieved_rps"] > 0:
        out["cost"] = {
            "price_per_hour": opts.price_per_hour,
            "instances": opts.instances,
            "per_million": round(cost_per_million(opts.price_per_hour, opts.instances, best["achieved_rps"]), 4),
        }
    return out


def _num(x: float | None, opts: CapacityOptions):
    return int(x) if x is not None and opts.mode == "concurrency" else x


def print_capacity(out: dict, console: Console) -> None:
    t = Table(title="capacity curve", title_justify="left")
    for col in (out["unit"], "achieved req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "server p50 ms",
                "endpoint CPU %", "verdict"):
        t.add_column(col, justify="right")
    for r in sorted(out["steps"], key=lambda r: r["target"]):
        verdict = "pass" if r["passed"] else ("generator" if r["client_bound"] else r["limiting"])
        t.add_row(f"{r['target']:,.1f}", f"{r['achieved_rps']:,.1f}", _f(r["p50_ms"]), _f(r["p95_ms"]),
                  _f(r["p99_ms"]), f"{100 * r['error_rate']:.2f}%", _f(r["server_time_p50_ms"]),
                  _f(r["cpu_pct_mean"]), verdict, style=None if r["passed"] else "red")
    console.print(t)
    lo, hi = out["bracket"]
    if lo is None:
        console.print(f"[bold red]no step met the SLOs[/] (lowest tried: {min(r['target'] for r in out['steps']):g} {out['unit']})")
    else:
        hi_s = f"{hi:,.1f}" if hi is not None else "not reached"
        console.print(f"[bold]max sustainable: {lo:,.1f} {out['unit']}[/] "
                      f"(throughput {out['throughput_at_max_rps']:,.1f} req/s; bracket {lo:,.1f} .. {hi_s}; "
                      f"stop: {out['stop_reason']})")
    if out.get("first_limit"):
        console.print(f"first limit hit: {out['first_limit']}")
    if out.get("knee") is not None:
        console.print(f"knee of the latency curve: ~{out['knee']:,.1f} {out['unit']}")
    if out.get("cost"):
        c = out["cost"]
        console.print(f"cost: ${c['per_million']:,.4f} per million inferences "
                      f"({c['instances']} x ${c['price_per_hour']}/h at the max sustainable throughput)")
    if out.get("note"):
        console.print(f"[yellow]{out['note']}[/]")
    if out.get("run_dir"):
        console.print(f"[dim]results: {out['run_dir']}[/]")


def _f(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:,.1f}"
