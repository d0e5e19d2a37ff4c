"""Terminal rendering: the end-of-run summary and the live view while a run goes.

Both render from plain data (a `summary.json` dict, or `RunMetrics` for the
live view) and never reach into the engine, so `stinger report RUN_DIR`
renders exactly what a run printed.
"""

from __future__ import annotations

import math

from rich import box
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from stinger.core.records import Kind

PCTS = ("p50", "p90", "p95", "p99", "p99.9")


def _f(x, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if isinstance(x, float):
        return f"{x:,.{digits}f}"
    return f"{x:,}"


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def summary_renderable(summary: dict):
    variants: dict = summary["variants"]
    names = list(variants)
    parts = []
    title = f"stinger run {summary.get('name') or ''}".strip()
    head = Text()
    head.append(title, style="bold")
    head.append(f"  {summary.get('mode', '')} model, {summary.get('workers', '?')} worker(s), "
                f"{_f(summary.get('elapsed_s'), 1)} s")
    if summary.get("interrupted"):
        head.append("  (stopped by Ctrl-C: partial results)", style="yellow")
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
    if any("server_time_ms" in variants[n] for n in names):
        row("server time mean (ms)", lambda v: _f(v.get("server_time_ms", {}).get("mean")))
        row("server time p50/p99 (ms)",
            lambda v: f"{_f(v.get('server_time_ms', {}).get('p50'))} / {_f(v.get('server_time_ms', {}).get('p99'))}")
        row("  rest: network+queue (p50 ms)", lambda v: _f(_rest(v)))
    res = summary.get("resources") or {}
    if res:
        t.add_section()
        for label, key in (("endpoint CPU mean/peak (% core)", "cpu_pct"), ("endpoint RSS mean/peak (MiB)", "rss_mib")):
            t.add_row(label, *[_resource(res, n, key) for n in names])
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
            st.add_row(r.get("variant", ""), r["slo"], _f(r.get("observed"), 3),
                       Text("pass", style="green") if r["passed"] else Text("FAIL", style="bold red"))
        parts.append(st)
    for name, sp in (summary.get("spike") or {}).items():
        d = sp["during"]
        rec = (f"recovered {sp['recovery_s']:.0f} s after the spike" if sp["recovered"]
               else "did not recover within the run")
        parts.append(Text(f"spike ({name}): {d['seconds']:.0f} s at t={sp['at_s']:g}s: errors {d['failed']:,} "
                          f"({100 * d['error_rate']:.2f}%), worst {sp['metric'].replace('_ms', '')} "
                          f"{_f(d.get('worst_' + sp['metric']))} ms, worst p99 {_f(d['worst_p99_ms'])} ms; "
                          f"{rec} ({sp['metric'].replace('_ms', '')} < {sp['threshold_ms']:g} ms)",
                          style="bold"))
    gen = summary.get("generator") or {}
    if gen.get("client_bound"):
        parts.append(Text(f"WARNING {gen.get('message', 'client-bound')}", style="bold yellow"))
    for w in summary.get("warnings", []):
        parts.append(Text(f"warning: {w}", style="yellow"))
    if summary.get("run_dir"):
        parts.append(Text(f"results: {summary['run_dir']}", style="dim"))
    return Group(*parts)


def _rest(v: dict):
    s = v.get("server_time_ms")
    if not s or s.get("p50") is None:
        return None
    return max(0.0, v["latency_ms"]["p50"] - s["p50"])


def _resource(res: dict, variant: str, key: str) -> str:
    """A variant's own endpoint process if it has one, else the shared endpoint's."""
    r = res.get(variant) or res.get("endpoint")
    if not r or key not in r:
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


class LiveView:
    """What the terminal shows while a run goes: refreshed from `RunMetrics`."""

    def __init__(self, *, duration: float | None, total: int | None, mode: str, console: Console | None = None):
        self.duration = duration
        self.total = total
        self.mode = mode
        self.console = console or Console()
        self._live = None
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

    def update(self, metrics, elapsed: float, extra: dict | None = None) -> None:
        r = self.render(metrics, elapsed, extra or {})
        if self._live is not None:
            self._live.update(r)
        elif elapsed - self._plain_last >= 5.0:  # not a terminal (CI, pipes): a line every 5 s
            self._plain_last = elapsed
            self.console.print(self.plain_line(metrics, elapsed))

    def plain_line(self, metrics, elapsed: float) -> str:
        rows = _last_rows(metrics, elapsed)
        parts = [f"[{elapsed:6.1f}s]"]
        for name, row in rows.items():
            parts.append(f"{name}: {row['achieved_rps']:.0f}/{row['offered_rps']:.0f} req/s "
                         f"p50 {_f(row['p50_ms'])} p99 {_f(row['p99_ms'])} ms errors {row['failed']}")
        return "  ".join(parts)

    def render(self, metrics, elapsed: float, extra: dict):
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
        rows = _last_rows(metrics, elapsed)
        for name, vm in metrics.variants.items():
            row = rows.get(name)
            lat = vm.totals["latency"]
            p = lat.percentiles((50, 90, 99, 99.9)) if lat.total_count else {}
            t.add_row(name,
                      _f(row["offered_rps"], 0) if row else "-",
                      _f(row["achieved_rps"], 0) if row else "-",
                      *[_f(p[q] / 1e3) if q in p else "-" for q in (50, 90, 99, 99.9)],
                      _f(vm.ok), _f(vm.failed), _f(vm.counters["dropped"]))
        parts = [head, t]
        for k, v in extra.items():
            parts.append(Text(f"{k}: {v}", style="dim"))
        return Panel(Group(*parts), title="stinger", subtitle="Ctrl-C stops and keeps what was measured")


def _last_rows(metrics, elapsed: float) -> dict:
    """Per variant, the last complete interval's row (rates of the last second)."""
    out = {}
    last = int(elapsed / metrics.interval) - 1
    for name, vm in metrics.variants.items():
        if last in vm.cells:
            c = vm.cells[last]
            ok = int(c.kinds[Kind.OK])
            lat = c.histogram("latency")
            p = lat.percentiles((50, 99)) if lat.total_count else {}
            out[name] = {
                "offered_rps": c.scheduled / metrics.interval,
                "achieved_rps": ok / metrics.interval,
                "p50_ms": p[50] / 1e3 if 50 in p else None,
                "p99_ms": p[99] / 1e3 if 99 in p else None,
                "failed": int(c.kinds.sum()) - ok,
            }
    return out
