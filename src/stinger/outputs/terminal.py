"""The terminal output: the live view while a run goes, the end-of-run summary,
a capacity search's steps and curve, and A/B verdicts.

Everything renders from plain data (a `summary.json` dict, a `Snapshot`, a
`capacity.json` dict, a verdict) and never reaches into the engine, so
`stinger report RUN_DIR` renders exactly what a run printed.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from stinger.core.catalogue import METRICS
from stinger.core.format import fixed, pct
from stinger.core.records import Kind
from stinger.core.secrets import scrub_data
from stinger.core.series import RESOURCES
from stinger.outputs import breakdown

PCTS = ("p50", "p90", "p95", "p99", "p99.9")


NA = "n/a"   # the terminal's mark for a figure that does not exist (summary.json's null: no successful response)


def _f(x, digits: int = 2) -> str:
    return fixed(x, digits, none=NA)


def _pct(x) -> str:
    return pct(x, none="-")


def summary_renderable(summary: dict):
    variants: dict = summary["variants"]
    names = list(variants)
    parts: list[Any] = []
    title = f"stinger run {summary.get('name') or ''}".strip()
    head = Text()
    head.append(title, style="bold")
    head.append(f"  {summary.get('mode', '')} model, {summary.get('workers', '?')} worker(s), "
                f"{_f(summary.get('elapsed_s'), 1)} s")
    if summary.get("seed") is not None:
        head.append(f", seed {summary['seed']} (--seed {summary['seed']} reproduces)", style="dim")
    if summary.get("interrupted"):
        how = "SIGTERM" if summary.get("terminated") else "Ctrl-C"
        head.append(f"  (stopped by {how}: partial results)", style="yellow")
    parts.append(head)

    t = Table(box=box.SIMPLE_HEAVY, show_edge=False, pad_edge=False)
    t.add_column("", style="bold")
    for n in names:
        t.add_column(n, justify="right")

    def row(label, fn, style=None):
        t.add_row(label, *[fn(variants[n]) for n in names], style=style)

    row("requests scheduled", lambda v: _f(v["requests"]["scheduled"]))
    row("  ok", lambda v: _f(v["requests"]["ok"]))
    row("  failed", lambda v: _f(v["requests"]["failed"]))
    row("  dropped", lambda v: _f(v["requests"]["dropped"]))
    row("  in flight at stop", lambda v: _f(v["requests"]["in_flight"]))
    row("error rate", lambda v: _pct(v["error_rate"]))
    row("offered rate (req/s)", lambda v: _f(v["throughput"]["offered_rps"], 1))
    row("throughput (req/s)", lambda v: _f(v["throughput"]["achieved_rps"], 1), style="bold")
    t.add_section()
    row("latency mean (ms)", lambda v: _f(v["latency_ms"]["mean"]))
    for p in PCTS:
        row(f"latency {p} (ms)", lambda v, p=p: _f(v["latency_ms"][p]), style="bold" if p in ("p95", "p99") else None)
    row("latency max (ms)", lambda v: _f(v["latency_ms"]["max"]))
    t.add_section()
    row("service time p50/p99 (ms)", lambda v: f"{_f(v['service_time_ms']['p50'])} / {_f(v['service_time_ms']['p99'])}")
    row("schedule lag p99 (ms)", lambda v: _f(v["schedule_lag_ms"]["p99"]))
    _target_rows(row, t, variants, names)
    _goodput_rows(row, variants, names)
    _session_rows(row, t, variants, names)
    if any("server_time_ms" in variants[n] for n in names):
        row("server time mean (ms)", lambda v: _f(v.get("server_time_ms", {}).get("mean")))
        row("server time p50/p99 (ms)",
            lambda v: f"{_q(v.get('server_time_ms', {}), 'p50')} / {_q(v.get('server_time_ms', {}), 'p99')}")
        row("  rest: network+queue (p50 ms)", lambda v: _f(_rest(v)))
    if any("quality" in variants[n] for n in names):
        t.add_section()
        if any("accuracy" in variants[n].get("quality", {}) for n in names):
            row("accuracy (labelled)", lambda v: _quality(v, "accuracy"), style="bold")
        if any("mae" in variants[n].get("quality", {}) for n in names):
            row("mean absolute error (labelled)", lambda v: _quality(v, "mae"), style="bold")
    res = summary.get("resources") or {}
    if res:
        t.add_section()
        for rk in RESOURCES.values():   # the roles monitors declare (core/series.py), each where some monitor has it
            if rk.row and any(rk.key in r for r in res.values()):
                t.add_row(rk.row, *[_resource(res, n, rk.key) for n in names])
    errs = {k.label for k in Kind if k is not Kind.OK}
    if any(variants[n]["errors"].get(e) for n in names for e in errs):
        t.add_section()
        for e in sorted(errs):
            if any(variants[n]["errors"].get(e) for n in names):
                row(f"errors: {e}", lambda v, e=e: _f(v["errors"].get(e, 0)), style="red")
    parts.append(t)

    slos = summary.get("slo") or []
    if slos:
        st = Table(box=box.SIMPLE, show_edge=False, title="SLOs", title_justify="left")
        st.add_column("variant")
        st.add_column("objective")
        st.add_column("observed", justify="right")
        st.add_column("")
        for r in slos:
            st.add_row(r.get("variant", ""), r["slo"], _observed(r), _slo_mark(r))
        parts.append(st)
        parts.extend(Text(f"{r.get('variant', '')} {r['slo']}: {r['note']}", style="yellow")
                     for r in slos if r.get("undecided"))
        # why an objective was judged on another figure than the table's (requests in flight at a stop)
        parts.extend(Text(f"  {r.get('variant', '')} {r['slo']}: {r['note']}", style="dim")
                     for r in slos if r.get("note") and r.get("observed") is not None and not r.get("undecided"))
    gen_note = generator_note(summary)
    if gen_note:   # beside the SLOs they may have failed because of it, as the report's headline box puts it
        parts.append(Text(f"WARNING {gen_note}", style="bold yellow"))
    for name, sp in (summary.get("spike") or {}).items():
        d = sp["during"]
        rec = (f"recovered {sp['recovery_s']:.0f} s after the spike" if sp["recovered"]
               else "did not recover within the run")
        parts.append(Text(f"spike ({name}): {d['seconds']:.0f} s at t={sp['at_s']:g}s: errors {d['failed']:,} "
                          f"({100 * d['error_rate']:.2f}%), worst {sp['metric'].replace('_ms', '')} "
                          f"{_f(d.get('worst_' + sp['metric']))} ms, worst p99 {_f(d['worst_p99_ms'])} ms; "
                          f"{rec} ({sp['metric'].replace('_ms', '')} < {sp['threshold_ms']:g} ms)",
                          style="bold"))
    failures = summary.get("failures") or {}
    for name in names:   # what the endpoint said, beside the count (a failure report already says it)
        for kind, message in (variants[name].get("error_messages") or {}).items():
            count = variants[name]["errors"].get(kind, 0)
            if count and not any(e["kind"] == kind for e in (failures.get(name) or {}).get("top_errors", [])):
                parts.append(Text(f"errors: {kind} ({name}) x{count:,}: {message}", style="red"))
    if summary.get("attribution"):
        parts.append(attribution_text(summary["attribution"]))
    parts.extend(breakdown.renderables(summary))   # per-backend and per-URL rows
    for name, f in failures.items():
        parts.append(failure_text(name, f))
    for name in names:
        note = above_offered_note(name, variants[name])
        if note:
            parts.append(Text(note, style="dim"))
    parts.extend(server_time_lines(summary))
    for w in summary.get("warnings", []):
        if w != gen_note:   # said above
            lost = w.startswith("worker ") and " was lost (" in w   # loud, also when rebalanced (exit 0)
            parts.append(Text(f"warning: {w}", style="bold red" if lost else "yellow"))
    if summary.get("run_dir"):
        parts.append(Text(f"results: {summary['run_dir']}", style="dim"))
    return Group(*parts)


def _target_rows(row, t: Table, variants: dict, names: list[str]) -> None:
    """A row for every metric a target read from its responses that some variant has, as the catalogue
    describes it (its two figures, its unit, bold when it is the headline), then its derived rate."""
    shown = [m for m in METRICS if m.source == "target" and any(m.summary_key in variants[n] for n in names)]
    if shown:
        t.add_section()
    for m in shown:
        a, b = m.figures
        # a count (tokens) shows its mean to a tenth and its p99 whole; a time both to the hundredth
        da, db = (1, 0) if a == "mean" else (2, 2)
        unit = "" if a == "mean" else f" ({m.shown_unit})"
        row(f"{m.label} {a}/{b}{unit}", lambda v, k=m.summary_key, a=a, b=b, da=da, db=db:
            f"{_f(v.get(k, {}).get(a), da)} / {_f(v.get(k, {}).get(b), db)}", style="bold" if m.headline else None)
        if m.rate_key:   # the run's rate of it (output tokens a second), beside the per-request figures
            row(f"  {m.rate_label}", lambda v, k=m.rate_key: _f(v["throughput"].get(k), 1), style="bold")


def _session_rows(row, t: Table, variants: dict, names: list[str]) -> None:
    """Multi-turn sessions (core/sessions.py): how they ended, the turns never sent, and the totals of the
    sessions answered whole (duration from the first turn's intended send, turns, output tokens)."""
    if not any(variants[n].get("sessions") for n in names):
        return
    t.add_section()
    row("sessions started / done", lambda v: "{started:,} / {done:,}".format(**v.get("sessions") or
                                                                           {"started": 0, "done": 0}), style="bold")
    row("  failed / cut by the run's end", lambda v: "{failed:,} / {cut:,}".format(**v.get("sessions") or
                                                                                 {"failed": 0, "cut": 0}))
    row("  turns sent / never sent", lambda v: "{turns_scheduled:,} / {turns_unsent:,}".format(
        **v.get("sessions") or {"turns_scheduled": 0, "turns_unsent": 0}))
    for key, label, digits in (("session_ms", "session duration p50/p99 (ms)", 2),
                               ("session_turns", "turns per session mean/max", 1),
                               ("session_output_tokens", "output tokens per session mean/p99", 1)):
        if any(key in variants[n] for n in names):
            a, b = ("p50", "p99") if key == "session_ms" else ("mean", "max" if key == "session_turns" else "p99")
            row(f"  {label}", lambda v, k=key, a=a, b=b, d=digits:
                f"{_f(v.get(k, {}).get(a), d)} / {_f(v.get(k, {}).get(b), d if a == 'p50' else 0)}")


def _goodput_rows(row, variants: dict, names: list[str]) -> None:
    """Goodput (core/goodput.py), when objectives were given: the share of requests meeting all, its rate."""
    g0 = next((variants[n]["goodput"] for n in names if variants[n].get("goodput")), None)
    if g0 is None:
        return
    row(f"goodput ({', '.join(g0['objectives'])})", lambda v: _pct((v.get("goodput") or {}).get("share")),
        style="bold")
    row("  good requests/s", lambda v: _f((v.get("goodput") or {}).get("rate_rps")))
    if any((variants[n].get("goodput") or {}).get("output_tokens") for n in names):
        row("  good output tokens/s", lambda v: _f((v.get("goodput") or {}).get("tokens_per_s"), 1))


def generator_note(summary: dict) -> str | None:
    """What the report's headline box says of the load generator (outputs/report.py `_headline`: the same
    condition, the same words): a client-bound run or a busy machine, whatever the SLOs said."""
    gen = summary.get("generator") or {}
    if gen.get("client_bound") or gen.get("machine_busy"):
        return gen.get("message") or "the load generator was the bottleneck"
    return None


def attribution_text(att: dict) -> Text:
    """A split the endpoint made (`summary["attribution"]`): each variant's achieved share beside its weight's."""

    rows = [f"{name} {pct(r['share'], 1, none='?')} of {att['attributed']:,} "
            f"(weight {pct(r['weight_share'], 1, none='?')})"
            for name, r in att["variants"].items()]
    un = att["unattributed"]["scheduled"]
    return Text(f"endpoint split (by {att['header']}): " + ", ".join(rows)
                + (f"; {un:,} requests got no header (unattributed)" if un else ""), style="bold")


def server_time_lines(summary: dict) -> list[Text]:
    """Where server time came from when not from a response header, or where it could come from."""
    st = summary.get("server_time") or {}
    out = [Text(f"server time of {name}: from {src}", style="dim")
           for name, src in (st.get("source") or {}).items() if not src.startswith("response header")]
    if st.get("note"):
        out.append(Text(f"note: {st['note']}", style="dim"))
    return out


def _q(section: dict, key: str) -> str:
    """A quantile, or where it lies when only bounds are known (a Prometheus histogram: "≤0.46")."""
    v = section.get(key)
    b = (section.get("bounds") or {}).get(key)
    if v is not None or b is None:
        return _f(v)
    if b.get("le") is None:
        return f"≥{_f(b['ge'])}"
    return f"≤{_f(b['le'])}" if b["ge"] <= 0 else f"{_f(b['ge'])}–{_f(b['le'])}"


def _observed(r: dict) -> str:
    b = r.get("bound")
    if r.get("observed") is not None or not b:
        return _f(r.get("observed"), 3)
    return _q({"bounds": {"x": b}}, "x")


def _slo_mark(r: dict) -> Text:
    if r["passed"]:
        return Text("pass", style="green")
    return Text("FAIL (cannot tell)" if r.get("undecided") else "FAIL", style="bold red")


def _quality(v: dict, key: str) -> str:
    q = v.get("quality") or {}
    if key not in q:
        return "-"
    value = f"{100 * q[key]:.2f}%" if key == "accuracy" else _f(q[key], 4)
    return f"{value} of {q['labelled']:,}"


def _rest(v: dict):
    s = v.get("server_time_ms")
    if not s or s.get("p50") is None:
        return None
    return max(0.0, v["latency_ms"]["p50"] - s["p50"])


def _resource(res: dict, variant: str, key: str) -> str:
    """A variant's own endpoint process if it has one, else the shared endpoint's, else the one monitor
    that measured it (a GPU)."""
    having = [r for r in res.values() if key in r]
    r = next((r for r in (res.get(variant), res.get("endpoint")) if r and key in r),
             having[0] if len(having) == 1 else None)
    if r is None:
        return "-"
    return f"{_f(r[key].get('mean'), 1)} / {_f(r[key].get('peak'), 1)}"


def make_console(**kw) -> Console:
    """A console that does not squeeze tables to 80 columns when writing to a file or pipe."""
    c = Console(**kw)
    if not c.is_terminal:
        c = Console(width=max(c.width, 120), **kw)
    return c


def print_summary(summary: dict, console: Console | None = None) -> None:
    (console or make_console()).print(summary_renderable(summary))




def above_offered_note(name: str, v: dict) -> str | None:
    """Throughput above the offered rate is never shown without saying why."""
    tp = v.get("throughput") or {}
    offered, achieved = tp.get("offered_rps") or 0.0, tp.get("achieved_rps") or 0.0
    if offered <= 0 or achieved <= offered * 1.01:
        return None
    return (f"note: {name}'s throughput ({achieved:,.1f} req/s) is above its offered rate ({offered:,.1f} req/s): "
            f"requests sent before the measured window (during the warm-up, or a backlog) completed inside it")


def failure_text(name: str, f: dict) -> Text:
    """Said loudly: most of a variant's requests failed (what they got back, and one sample)."""
    t = Text()
    what = "NO REQUEST SUCCEEDED" if not f.get("ok") else "MOST REQUESTS FAILED"
    t.append(f"{what} ({name}): {100 * f['error_rate']:.1f}% of {f['ended']:,} failed", style="bold red")
    causes = [f"HTTP {s['status']} x{s['count']:,}" for s in f.get("top_status", [])]
    causes += [f"{e['kind']} x{e['count']:,}" + (f" ({e['message']})" if e.get("message") else "")
               for e in f.get("top_errors", []) if not e["kind"].startswith("http")]
    if causes:
        t.append("; " + ", ".join(causes), style="red")
    for status, body in (f.get("samples") or {}).items():
        t.append(f"\n  sample response (HTTP {status}): {body}", style="red")
    if not f.get("ok"):
        t.append("\n  latency figures are n/a: they describe successful responses only", style="red")
    return t


class LiveView:
    """What the terminal shows while a run goes: refreshed from `Snapshot`s."""

    def __init__(self, *, duration: float | None, total: int | None, mode: str, console: Console | None = None):
        self.duration = duration
        self.total = total
        self.mode = mode
        self.console = console or Console()
        self._live: Any = None   # a rich Live while on a terminal
        self._plain_last = -1e9

    def __enter__(self):
        if self.console.is_terminal:
            from rich.live import Live

            self._live = Live(Text("starting..."), console=self.console, refresh_per_second=4, transient=True)
            self._live.__enter__()
        return self

    def __exit__(self, *exc):
        if self._live is not None:
            self._live.__exit__(*exc)
            self._live = None

    def update(self, snap) -> None:
        if self._live is not None:
            self._live.update(self.render(snap))
        elif snap.elapsed - self._plain_last >= 5.0:  # not a terminal (CI, pipes): a line every 5 s
            if all(v.last_offered_rps is None for v in snap.variants):
                return  # nothing complete to report yet
            self._plain_last = snap.elapsed
            self.console.print(self.plain_line(snap))

    def plain_line(self, snap) -> str:
        parts = [f"[{snap.elapsed:6.1f}s]"]
        for v in snap.variants:
            if v.last_offered_rps is None:
                continue
            parts.append(f"{v.name}: {v.last_achieved_rps:.0f}/{v.last_offered_rps:.0f} req/s "
                         f"p50 {_f(v.last_p50_ms)} p99 {_f(v.last_p99_ms)} ms errors {v.last_failed}")
        return "  ".join(parts)

    def render(self, snap):
        elapsed = snap.elapsed
        head = Text()
        if self.duration:
            frac = min(1.0, max(0.0, elapsed / self.duration))
            bar = "█" * int(frac * 30) + "░" * (30 - int(frac * 30))
            head.append(f"{bar} {elapsed:5.1f}s / {self.duration:.0f}s  (remaining {max(0, self.duration - elapsed):.0f}s)")
        else:
            head.append(f"elapsed {elapsed:5.1f}s")
        t = Table(box=box.SIMPLE, show_edge=False)
        for col in ("variant", "offered/s", "achieved/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "ok", "errors", "dropped"):
            t.add_column(col, justify="right" if col != "variant" else "left")
        for v in snap.variants:
            p = v.latency.percentiles((50, 90, 99, 99.9)) if v.latency.total_count else {}
            t.add_row(v.name, _f(v.last_offered_rps, 0) if v.last_offered_rps is not None else "-",
                      _f(v.last_achieved_rps, 0) if v.last_achieved_rps is not None else "-",
                      *[_f(p[q] / 1e3) if q in p else "-" for q in (50, 90, 99, 99.9)],
                      _f(v.ok), _f(v.failed), _f(v.dropped), style="red" if v.failed > v.ok else None)
        parts: list[Any] = [head, t]
        for k, val in snap.extra.items():
            parts.append(Text(f"{k}: {val}", style="dim"))
        return Panel(Group(*parts), title="stinger", subtitle="Ctrl-C stops and keeps what was measured")


# ----------------------------------------------------------------- capacity
def capacity_step_line(row: dict, unit: str) -> str:
    verdict = "[red]FAIL[/] " + ", ".join(row["failed"]) if row["failed"] else "[green]pass[/]"
    if row["client_bound"]:
        verdict = "[yellow]generator-bound[/]"
    if row.get("retest"):
        verdict += " [dim](re-test)[/]"
    if row.get("hold"):
        verdict += f" [dim](held {row['duration_s']:g} s at the load found)[/]"
    if row.get("marginal") and not row.get("retest"):
        verdict += " [dim](within sampling noise of the goodput bound: re-tested)[/]"
    if row.get("inconclusive"):
        verdict += " [yellow](the machine was busy and requests left late: not counted, run again)[/]"
    share = row.get("intervals_ok_share")
    if row["failed"] and share is not None and share >= 0.5:
        verdict += f" [dim]({100 * share:.0f}% of its seconds met the SLOs: a stall?)[/]"
    if row.get("lost_workers"):
        verdict = "[yellow]a load worker was lost: not counted, run again[/]"
    if row.get("interrupted"):
        verdict = "[yellow]interrupted: not counted[/]"
    return (f"  step {row['step']:2d}: {row['target']:10,.1f} {unit:5s} -> {row['achieved_rps']:10,.1f} req/s, "
            f"p50 {_f1(row['p50_ms'])} p95 {_f1(row['p95_ms'])} p99 {_f1(row['p99_ms'])} ms, "
            f"errors {100 * row['error_rate']:.2f}%{_goodput_part(row)}  {verdict}")


def _goodput_part(row: dict) -> str:
    """A capacity step's goodput share, when the search had goodput objectives."""
    return f", goodput {100 * row['goodput']:.1f}%" if row.get("goodput") is not None else ""


def print_capacity(out: dict, console: Console) -> None:
    t = Table(title="capacity curve", title_justify="left")
    for col in (out["unit"], "achieved req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "server p50 ms",
                "endpoint CPU %", "verdict"):
        t.add_column(col, justify="right")
    for r in sorted(out["steps"], key=lambda r: r["target"]):
        verdict = "pass" if r["passed"] else ("generator" if r["client_bound"] else r["limiting"])
        if r.get("inconclusive"):
            verdict = "machine busy"
        if r.get("lost_workers"):
            verdict = "worker lost"
        if r.get("interrupted"):
            verdict = "interrupted"
        if r.get("retest"):
            verdict += " (re-test)"
        t.add_row(f"{r['target']:,.1f}", f"{r['achieved_rps']:,.1f}", _f1(r["p50_ms"]), _f1(r["p95_ms"]),
                  _f1(r["p99_ms"]), f"{100 * r['error_rate']:.2f}%", _f1(r["server_time_p50_ms"]),
                  _f1(r["cpu_pct_mean"]), verdict, style=None if r["passed"] else "red")
    console.print(t)
    lo, hi = out["bracket"]
    if lo is None:
        counted = [r["target"] for r in out["steps"] if not r.get("lost_workers") and not r.get("interrupted")]
        lowest = min(counted, default=None)
        console.print(("[bold red]no step met the SLOs[/]" if counted else "[bold red]no step was counted[/]")
                      + (f" (lowest tried: {lowest:g} {out['unit']})" if lowest is not None else ""))
    else:
        hi_s = f"{hi:,.1f}" if hi is not None else "not reached"
        console.print(f"[bold]max sustainable: {lo:,.1f} {out['unit']}[/] "
                      f"(throughput {out['throughput_at_max_rps']:,.1f} req/s; bracket {lo:,.1f} .. {hi_s}; "
                      f"stop: {out['stop_reason']})")
    _print_hold(out, console)
    stab = out.get("stability")
    if stab:
        style = "yellow" if stab.get("level") != "stable" else "dim"
        console.print(f"[{style}]stability: {stab['level']}: {stab['note']}[/]")
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


def _print_hold(out: dict, console: Console) -> None:
    """--hold: whether the load found met the SLOs again when held."""
    h = out.get("hold")
    if not h:
        return
    what = "[green]held[/]" if h.get("passed") else "[bold red]did not hold[/] (" + ", ".join(h.get("failed") or ()) + ")"
    good = f", goodput {100 * h['goodput']:.1f}%" if h.get("goodput") is not None else ""
    console.print(f"hold: {h['target']:g} {out['unit']} for {h['duration_s']:g} s: {what} "
                  f"(p95 {_f1(h.get('p95_ms'))} ms{good})")


def _f1(x) -> str:
    return fixed(x if x is None else float(x), 1, none="-")


# ------------------------------------------------------------------ verdicts
def print_verdict(v, extra: dict, console: Console, summary: dict | None = None) -> None:
    from rich.markdown import Markdown

    seq = extra.get("sequential")
    if seq and seq.get("stopped_early"):
        # The result of a test that stopped early is its always-valid interval;
        # say so first, and label the table as the reference it is.
        console.print(f"[bold]{_sequential_line(seq)}[/]")
        console.print("[dim]fixed-sample table below, for reference only "
                      "(its p-values do not account for stopping early):[/]")
    console.print(Markdown(v.to_markdown()))
    note = generator_note(summary or {})
    if note:   # the verdict was measured on this machine: say so beside it
        console.print(Text(f"WARNING {note}", style="bold yellow"))
    if "agreement" in extra:
        console.print(f"prediction agreement (paired): {100 * extra['agreement']:.1f}% of {extra['pairs']:,} pairs")
    if seq and not seq.get("stopped_early"):
        console.print(_sequential_line(seq))
    costs = {n: c["cost"]["per_million"] for n, c in (extra.get("capacity") or {}).items() if c.get("cost")}
    if len(costs) == 2:
        console.print("cost per million inferences at max sustainable throughput: "
                      + ", ".join(f"{n} ${c:,.4f}" for n, c in costs.items()))
    for w in extra.get("warnings", []):
        console.print(f"[yellow]warning: {w}[/]")


def _sequential_line(seq: dict) -> str:
    text = (f"sequential test (mSPRT on per-second B − A mean latency): {seq['decision']}, "
            f"always-valid p = {seq['p_value']:.4g}")
    if seq.get("ci_low_ms") is not None and seq.get("ci_high_ms") is not None:
        from stinger.core.verdict import _nums

        d, lo, hi = _nums((seq["estimate_ms"], seq["ci_low_ms"], seq["ci_high_ms"]))
        text += (f"; B − A = {d} ms, always-valid {100 * seq.get('level', 0.95):g} % CI [{lo}, {hi}] ms "
                 f"after {seq['seconds']} s per variant")
    if seq.get("stopped_early"):
        text = "stopped early: " + text
    tau = seq.get("tau_ms")
    if tau is not None:
        source = "--min-effect" if seq.get("min_effect_ms") is not None else "the sd of per-second differences"
        text += f" (mixture scale {tau:.3g} ms, from {source})"
    return text


# -------------------------------------------------------------------- output
class TerminalOutput:
    """The terminal as an output: live view (`live=True`), summary, capacity steps and curve, verdicts."""

    name = "terminal"

    def __init__(self, console: Console | None = None, *, live: bool = True) -> None:
        self.console = console or make_console()
        self.live = live
        self.wants_intervals = live
        self._view: LiveView | None = None
        self._unit = "req/s"
        self._run_dir = None
        self._summary: dict | None = None   # the last run's, for the verdict that follows it

    # -- one run
    def start(self, info) -> None:
        if self.live:
            self._view = LiveView(duration=info.duration, total=info.total, mode=info.mode, console=self.console)
            self._view.__enter__()

    def interval(self, snapshot) -> None:
        if self._view is not None:
            self._view.update(snapshot)

    def finish(self, result) -> None:
        self.close()
        self._run_dir = result.summary.get("run_dir")
        self._summary = result.summary
        print_summary(scrub_data(result.summary), self.console)   # e.g. a monitor's URL in a warning

    def close(self) -> None:
        """Leave the live display (also when the run failed before `finish`)."""
        if self._view is not None:
            view, self._view = self._view, None
            view.__exit__(None, None, None)

    # -- a capacity search
    def capacity_start(self, info: dict) -> None:
        self._unit = info["unit"]
        if info.get("variant"):
            self.console.print(f"[bold]variant {info['variant']}[/]")
        self.console.print(f"[bold]capacity search[/] ({info['mode']}): SLOs {', '.join(info['slo'])}; "
                           f"steps of {info['step_warmup']:g}s warm-up + {info['step_duration']:g}s measured")

    def capacity_step(self, row: dict) -> None:
        self.console.print(capacity_step_line(row, self._unit))
        if row.get("cool_down_s"):
            self.console.print(f"  [dim]cooling down {row['cool_down_s']:.1f} s (the endpoint drains its backlog)[/]")

    def capacity_finish(self, report: dict) -> None:
        print_capacity(report, self.console)

    # -- a verdict
    def verdict(self, verdict, extra: dict, run_dir=None) -> None:
        print_verdict(verdict, extra, self.console, self._summary)
        if run_dir is not None:
            self.console.print(f"[dim]verdict: {run_dir}/verdict.md[/]")
