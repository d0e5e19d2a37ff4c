"""The HTML report: one self-contained `report.html` per run directory, to open and to send.

It reads only the run directory's files (`outputs/rundir.py` wrote them, secrets already
redacted), so `stinger report RUN_DIR` re-renders any saved run, and the page fetches
nothing when viewed: styles inline, charts inline SVG (`outputs/svgchart.py`), no script.

    headline        per variant: verdict (A/B), SLOs, achieved vs offered, error rate,
                    the exit status, and any loud note (failures, no success, abort, Ctrl-C)
    latency         percentiles per variant and metric (latency, service, server, ttft...)
    over time       from intervals.csv: offered vs achieved rate, p50/p95/p99, failed and
                    dropped per second; errors by kind (totals, from summary.json)
    distribution    the percentile curve of each variant's latency, from the HDR log
                    (summary.json's percentiles when there is no log)
    verdict         verdict.json's rows with their confidence intervals
    capacity        capacity.json's curve (offered, achieved, p50/p95/p99 per step)
    resources       monitor series from series.csv (CPU, memory, GPU, ...)
    self-check      the generator: client-bound, machine busy, schedule lag
    settings        spec.yaml (redacted), seed, stinger version

`write_report(run_dir)` is called by `RunDirOutput` after it writes a run, a capacity
search or a verdict; a failure to render is reported, never fatal to the run.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from html import escape
from pathlib import Path
from typing import Any

from stinger.core.atomic import WriteFailed, is_disk_full, write_text
from stinger.core.catalogue import METRICS
from stinger.core.exit_codes import exit_code_of
from stinger.core.format import pct, sig
from stinger.core.secrets import scrub
from stinger.errors import UsageError
from stinger.outputs import breakdown
from stinger.outputs.svgchart import bar_chart, line_chart

__all__ = ["REPORT", "render_report", "write_report"]

REPORT = "report.html"
PERCENTILES = ("p50", "p90", "p95", "p99", "p99.9", "max")
# the percentile curve: p = 1 - 10^(-k/10), k = 0..50 (0 % .. 99.999 %), then the max
_CURVE_K = tuple(range(51))
_EXACT = (50.0, 90.0, 95.0, 99.0, 99.9)   # summary.json's percentiles: on the curve exactly
_SELF_CHECK_METRICS = ("lag", "queue")   # shown in the generator's section, not the latency table



# ------------------------------------------------------------------ reading the run directory
def _json(p: Path) -> dict | None:
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{p}: not valid JSON ({exc})") from None


def _intervals(p: Path) -> list[dict]:
    if not p.is_file():
        return []
    with open(p, newline="") as fp:
        return list(csv.DictReader(fp))


def _latency_histograms(p: Path) -> dict[str, Any]:
    """variant -> the merged latency histogram of every interval in the HDR log (only
    `latency/*` lines are decoded: the others are two thirds of the log)."""
    from stinger.core.histogram import Histogram, read_histogram_log

    if not p.is_file():
        return {}
    with open(p, encoding="utf-8") as fp:
        lines = [line for line in fp if line.startswith(("#", '"', "Tag=latency/"))]
    merged: dict[str, Histogram] = {}
    try:
        items = read_histogram_log(io.StringIO("".join(lines)))
    except ValueError:
        return {}
    for item in items:
        variant = (item.tag or "").split("/", 1)[-1]
        if variant in merged:
            merged[variant].merge(item.hist)
        else:
            merged[variant] = item.hist.copy()
    return merged


def _series(p: Path) -> list:
    if not p.is_file():
        return []
    from stinger.monitors.base import read_series

    try:
        return read_series(p)
    except ValueError:
        return []


# ------------------------------------------------------------------ formatting
NA = "n/a"   # the report's mark for a figure that does not exist (summary.json's null)


def _num(v: Any, digits: int = 3) -> str:
    return sig(v, digits, none=NA)


def _pct(v: Any) -> str:
    return pct(None if v is None else float(v), none=NA)


def _val(key: str, raw: Any, text: str) -> str:
    """A headline number: its raw value rides along (`data-value`) so a test can hold it to summary.json."""
    raw_text = "" if raw is None else json.dumps(raw)
    return f'<span class="num" data-key="{escape(key)}" data-value="{escape(raw_text)}">{escape(text)}</span>'


def _bracket(b: Any) -> str:
    """A capacity bracket [best pass, first fail]; no fail found yet is "not reached"."""
    if not isinstance(b, (list, tuple)) or len(b) != 2:
        return escape(str(b))
    return f"[{_num(b[0])}, {'not reached' if b[1] is None else _num(b[1])}]"


def _f(v: Any) -> float | None:
    if v is None or v == "":
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _table(head: list[str], rows: list[list[str]], cls: str = "") -> str:
    th = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    thead = f"<thead><tr>{th}</tr></thead>" if any(head) else ""
    return f'<table class="{cls}">{thead}<tbody>{body}</tbody></table>'


# the columns of a lost worker's row; keys not named here (a later build's) follow with their own names
_LOST_COLUMNS = {"worker": "worker", "pid": "PID", "reason": "reason", "share": "share of the schedule",
                 "since_s": "lost at (s)"}


def lost_workers_table(lost: list[dict]) -> str:
    """summary.json's `lost_workers` as a table (one row a worker)."""
    keys = list(_LOST_COLUMNS) + [k for w in lost for k in w if k not in _LOST_COLUMNS]
    keys = [k for k in dict.fromkeys(keys) if any(k in w for w in lost)]

    def cell(key: str, v: Any) -> str:
        if v is None:
            return "n/a"
        if key == "share":
            return escape(_pct(v))
        if isinstance(v, float):
            return escape(_num(v))
        return escape(str(v))

    return _table([escape(_LOST_COLUMNS.get(k, k.replace("_", " "))) for k in keys],
                  [[cell(k, w.get(k)) for k in keys] for w in lost], "lost-workers")


# ------------------------------------------------------------------ sections
def _headline(summary: dict, verdict: dict | None) -> str:
    parts = []
    code = exit_code_of(summary)
    parts.append(f'<p class="exit {"ok" if code == 0 else "bad"}">exit status '
                 f'{_val("exit_status", code, code.describe())}</p>')
    notes = []
    if summary.get("aborted"):
        notes.append(f"aborted: {summary['aborted']}")
    if summary.get("interrupted"):
        notes.append("the run was stopped before its end: these are partial results")
    for name in summary.get("no_success") or []:
        notes.append(f"{name}: no request succeeded")
    for name, f in (summary.get("failures") or {}).items():
        causes = [f"HTTP {x['status']} ×{x['count']}" for x in f.get("top_status", [])]
        causes += [f"{x['kind']} ×{x['count']}" for x in f.get("top_errors", []) if not x["kind"].startswith("http")]
        notes.append(f"{name}: {pct(f['error_rate'], 1)} of {f['ended']:,} requests failed"
                     + (f" ({', '.join(causes)})" if causes else ""))
        for status, body in (f.get("samples") or {}).items():
            notes.append(f"{name}: a response with status {status}: {body}")
    lost = [w for w in summary.get("lost_workers") or [] if isinstance(w, dict)]
    if lost:
        notes.append(f"{len(lost)} load worker{'s were' if len(lost) > 1 else ' was'} lost: the run is incomplete "
                     "(their share of the schedule was not sent from the time shown)")
    gen = summary.get("generator") or {}
    if gen.get("client_bound") or gen.get("machine_busy"):
        notes.append(gen.get("message") or "the load generator was the bottleneck")
    if notes:
        parts.append('<div class="loud">' + "".join(f"<p>{escape(str(n))}</p>" for n in notes)
                     + (lost_workers_table(lost) if lost else "") + "</div>")
    if verdict is not None:
        parts.append(f'<p class="sentence" id="verdict-sentence">{escape(verdict.get("sentence") or "")}</p>')
    cards = []
    for name, v in (summary.get("variants") or {}).items():
        tp = v.get("throughput") or {}
        lat = v.get("latency_ms") or {}
        slos = [s for s in summary.get("slo") or [] if s.get("variant") in (name, None)]
        slo_html = "".join(
            f'<li class="{"pass" if s.get("passed") else "fail"}">{"pass" if s.get("passed") else "FAIL"}: '
            f'{escape(str(s.get("slo")))} (observed {_num(s.get("observed"))})'
            + (f" {escape(str(s['note']))}" if s.get("note") else "") + "</li>" for s in slos)
        req = v.get("requests") or {}
        cards.append(
            f'<div class="card" data-variant="{escape(name)}"><h3>{escape(name)}</h3>'
            f'<p>achieved {_val("achieved_rps", tp.get("achieved_rps"), _num(tp.get("achieved_rps")))}/s of '
            f'{_val("offered_rps", tp.get("offered_rps"), _num(tp.get("offered_rps")))}/s offered '
            f'(ratio {_val("ratio", tp.get("ratio"), _num(tp.get("ratio")))})</p>'
            f'<p>error rate {_val("error_rate", v.get("error_rate"), _pct(v.get("error_rate")))} · '
            f'{req.get("ok", 0):,} ok, {req.get("failed", 0):,} failed, {req.get("dropped", 0):,} dropped '
            f'of {req.get("scheduled", 0):,} scheduled</p>'
            f'<p>latency p50 {_val("p50", lat.get("p50"), _num(lat.get("p50")))} ms · '
            f'p99 {_val("p99", lat.get("p99"), _num(lat.get("p99")))} ms</p>'
            + _rates(tp) + _goodput(v.get("goodput"))
            + (f"<ul class='slo'>{slo_html}</ul>" if slos else "<p class='muted'>no SLOs set</p>")
            + "</div>")
    if summary.get("slo"):
        ok = summary.get("slo_passed", True)
        parts.append(f'<p class="{"ok" if ok else "bad"}">SLOs: {"all passed" if ok else "violated"}</p>')
    parts.append('<div class="cards">' + "".join(cards) + "</div>")
    for w in summary.get("warnings") or []:
        if w in notes:
            continue
        parts.append(f'<p class="warn">warning: {escape(str(w))}</p>')
    return "".join(parts)


def _rates(tp: dict) -> str:
    """The catalogue's derived rates a variant has (`Metric.rate_key`: output tokens a second)."""
    shown = [(m.rate_key, m.rate_label) for m in METRICS if m.rate_key and tp.get(m.rate_key) is not None]
    return "".join(f"<p>{escape(label)} {_val(key, tp[key], _num(tp[key]))}</p>" for key, label in shown)


def _goodput(g: Any) -> str:
    """Goodput (core/goodput.py), when objectives were given: the share meeting all of them, its rates."""
    if not isinstance(g, dict):
        return ""
    tokens = (f" · {_val('goodput_tokens_per_s', g.get('tokens_per_s'), _num(g.get('tokens_per_s')))} good output "
              f"tokens/s" if g.get("output_tokens") else "")
    return (f"<p>goodput {_val('goodput', g.get('share'), _pct(g.get('share')))} "
            f"({g.get('good', 0):,} of {g.get('of', 0):,} met {escape(', '.join(g.get('objectives') or ()))}) · "
            f"{_val('goodput_rps', g.get('rate_rps'), _num(g.get('rate_rps')))} good requests/s{tokens}</p>")


def _latency_table(summary: dict) -> str:
    rows = []
    for name, v in (summary.get("variants") or {}).items():
        for m in METRICS:
            if m.name in _SELF_CHECK_METRICS:
                continue
            h = v.get(m.summary_key)
            if not isinstance(h, dict) or not h.get("count"):
                continue
            rows.append([escape(name), escape(m.label), escape(m.shown_unit), f"{h['count']:,}", _num(h.get("mean"))]
                        + [_num(h.get(p)) for p in PERCENTILES])
        for sname, h in (v.get("server_metrics_ms") or {}).items():
            if isinstance(h, dict) and h.get("count") and len(v.get("server_metrics_ms") or {}) > 1:
                rows.append([escape(name), f"server: {escape(sname)}", "ms", f"{h['count']:,}", _num(h.get("mean"))]
                            + [_num(h.get(p)) for p in PERCENTILES])
    if not rows:
        return "<p class='muted'>no latency recorded</p>"
    return _table(["variant", "metric", "unit", "count", "mean", *PERCENTILES], rows, "lat")


_SESSION_COLUMNS = (("started", "started"), ("done", "done"), ("failed", "failed"), ("cut", "cut by the run's end"),
                    ("turns_scheduled", "turns sent"), ("turns_planned", "turns planned"),
                    ("turns_unsent", "turns never sent"))


def _sessions(summary: dict) -> str:
    """Multi-turn sessions' outcomes per variant (summary.json `sessions`, core/sessions.py), as the
    terminal shows them, with the duration of the sessions answered whole."""
    rows = []
    for name, v in (summary.get("variants") or {}).items():
        s = (v or {}).get("sessions")
        if not isinstance(s, dict):
            continue
        dur = (v.get("session_ms") or {}) if isinstance(v.get("session_ms"), dict) else {}
        rows.append([escape(name)] + [f"{int(s.get(k) or 0):,}" for k, _ in _SESSION_COLUMNS]
                    + [_num(dur.get("p50")), _num(dur.get("p99"))])
    return _table(["variant", *(escape(h) for _, h in _SESSION_COLUMNS), "duration p50 (ms)", "duration p99 (ms)"],
                  rows, "sessions")


def event_marks(summary: dict) -> list[tuple[float, str]]:
    """The charts' vertical markers: each live load change (summary.json `events`) and each lost worker."""
    marks: list[tuple[float, str]] = []
    for e in summary.get("events") or []:
        if not isinstance(e, dict) or not isinstance(e.get("t"), (int, float)):
            continue
        what = f"{e['rate']:g}/s" if isinstance(e.get("rate"), (int, float)) else f"{e.get('users')} users"
        marks.append((float(e["t"]), f"rebalanced: {what}" if e.get("source") == "rebalance" else what))
    for lw in summary.get("lost_workers") or []:
        if isinstance(lw, dict) and isinstance(lw.get("since_s"), (int, float)):
            marks.append((float(lw["since_s"]), f"worker {lw.get('worker')} lost"))
    return sorted(marks)


def _over_time(intervals: list[dict], summary: dict) -> str:
    if not intervals:
        return "<p class='muted'>no intervals.csv</p>"
    by: dict[str, list[dict]] = {}
    for r in intervals:
        by.setdefault(r.get("variant", ""), []).append(r)
    rate, lat, err = [], [], []
    for name, rows in by.items():
        t = [_f(r["t"]) or 0.0 for r in rows]
        rate.append((f"{name} offered", t, [_f(r.get("offered_rps")) for r in rows]))
        rate.append((f"{name} achieved", t, [_f(r.get("achieved_rps")) for r in rows]))
        for p in ("p50", "p95", "p99"):
            lat.append((f"{name} {p}", t, [_f(r.get(f"{p}_ms")) for r in rows]))
        err.append((f"{name} failed", t, [_f(r.get("failed")) for r in rows]))
        err.append((f"{name} dropped", t, [_f(r.get("dropped")) for r in rows]))
    warm = [float(r["t"]) for r in intervals if (_f(r.get("warmup")) or 0) > 0]  # requests of the warm-up
    note = (f"<p class='muted'>the first {max(warm) + 1:g} s were warm-up (not in the summary's figures)</p>"
            if warm else "")
    marks = event_marks(summary)
    parts = [note,
             line_chart(rate, title="offered vs achieved rate", chart_id="chart-rate", x_label="run time (s)",
                        y_label="requests/s", unit="/s", dashed=lambda n: n.endswith(" offered"), marks=marks),
             line_chart(lat, title="latency per second", chart_id="chart-latency", x_label="run time (s)",
                        y_label="ms", unit=" ms", marks=marks),
             line_chart(err, title="failed and dropped requests per second", chart_id="chart-errors",
                        x_label="run time (s)", y_label="requests", marks=marks)]
    kinds = []
    for name, v in (summary.get("variants") or {}).items():
        for kind, n in (v.get("errors") or {}).items():
            if n:
                kinds.append((f"{name} {kind}", float(n)))
    kinds.sort(key=lambda kv: -kv[1])
    parts.append(bar_chart(kinds, title="errors by kind (whole run)", chart_id="chart-error-kinds"))
    return "".join(parts)


def _curve_ticks() -> list[tuple[float, str]]:
    return [(0.0, "0%"), (1.0, "90%"), (2.0, "99%"), (3.0, "99.9%"), (4.0, "99.99%"), (5.0, "99.999%")]


def _distribution(hists: dict, summary: dict) -> str:
    series = []
    source = "the HDR log (histograms.hlog)"
    if hists:
        for name, h in hists.items():
            if not h.total_count:
                continue
            # beyond the rank of the last request every percentile is the max: the curve stops there
            top = min(5.0, math.log10(max(h.total_count, 10)))
            xs = sorted({k / 10.0 for k in _CURVE_K if k / 10.0 <= top} | {-math.log10(1 - p / 100) for p in _EXACT})
            ps = [100.0 * (1.0 - 10 ** -x) for x in xs]
            vals = h.percentiles(ps)
            series.append((name, [*xs, min(5.0, xs[-1] + 0.1)], [vals[p] / 1e3 for p in ps] + [h.max / 1e3]))
    else:
        source = "summary.json's percentiles (no HDR log)"
        for name, v in (summary.get("variants") or {}).items():
            lat = v.get("latency_ms") or {}
            pts = [(0.0, lat.get("min")), (math.log10(2), lat.get("p50")), (1.0, lat.get("p90")),
                   (math.log10(20), lat.get("p95")), (2.0, lat.get("p99")), (3.0, lat.get("p99.9"))]
            pts = [(x, y) for x, y in pts if y is not None]
            if pts:
                series.append((name, [x for x, _ in pts], [y for _, y in pts]))
    if not series:
        return "<p class='muted'>no latency recorded</p>"
    return (f"<p class='muted'>latency at each percentile, from {source}; the right end of a curve is "
            f"its maximum</p>"
            + line_chart(series, title="latency by percentile", chart_id="chart-distribution",
                         x_label="percentile", y_label="ms", x_ticks=_curve_ticks(), unit=" ms",
                         x_fmt=lambda x: f"{100 * (1 - 10 ** -x):.4g}%"))


def _verdict(verdict: dict, d: Path) -> str:
    rows = []
    banded = any(r.get("margin") is not None or r.get("drift") is not None for r in verdict.get("rows") or [])
    for r in verdict.get("rows") or []:
        sig = ("yes" if r.get("significant") else f"undecided: {r['undecided']}" if r.get("undecided")
               else "no (within margin)" if r.get("within_margin") else "no")
        better = r.get("better")
        band = [_num(max(r.get("margin") or 0.0, r.get("drift") or 0.0))] if banded else []
        mark = " ‡" if r.get("caveat") else ""   # measured under saturation, or confounded (ab_confounds)
        rows.append([escape(str(r.get("metric"))) + mark, _num(r.get("a")), _num(r.get("b")), _num(r.get("diff")),
                     f"[{_num(r.get('ci_low'))}, {_num(r.get('ci_high'))}]",
                     _num(r.get("p_value"), 4), _num(r.get("p_adjusted"), 4), *band,
                     f'<span class="{"sig" if r.get("significant") else ""}">{escape(sig)}</span>',
                     escape(str(verdict.get(better, better))) if better else "",
                     f'<span class="method">{escape(str(r.get("method") or ""))}</span>'])
    a, b = escape(str(verdict.get("a", "A"))), escape(str(verdict.get("b", "B")))
    html = [f'<p class="sentence">{escape(str(verdict.get("sentence") or ""))}</p>']
    if rows:
        level = (verdict.get("rows") or [{}])[0].get("level") or 0.95
        html.append(_table(["metric", a, b, f"diff ({b} − {a})", f"{100 * level:g} % CI", "p", "p (Holm)",
                            *(["margin (±): max(margin, runs' drift)"] if banded else []),
                            "significant", "better", "method"], rows, "verdict"))
    for caveat in dict.fromkeys(r.get("caveat") for r in verdict.get("rows") or [] if r.get("caveat")):
        html.append(f'<p class="warn">‡ {escape(str(caveat))}</p>')
    for n in verdict.get("notes") or []:
        html.append(f'<p class="muted">{escape(str(n))}</p>')
    caps = verdict.get("capacity")
    if isinstance(caps, dict) and caps:  # `ab --split capacity`: one search per variant, each its own run dir
        rows = []
        for name, c in caps.items():
            c = c if isinstance(c, dict) else {}
            cost = (c.get("cost") or {}).get("per_million")
            link = ""
            if c.get("run_dir") and (Path(c["run_dir"]) / REPORT).is_file():
                rel = os.path.relpath(Path(c["run_dir"]) / REPORT, d)
                link = f'<a href="{escape(Path(rel).as_posix())}">{escape(Path(c["run_dir"]).name)}</a>'
            rows.append([escape(str(name)), _num(c.get("max_sustainable")), _bracket(c.get("bracket")),
                         _num(c.get("throughput_at_max_rps")), "" if cost is None else f"${cost:,.4g}", link])
        html.append(_table(["variant", "max sustainable", "bracket", "throughput at max (req/s)",
                            "cost per million", "its report"], rows, "caps"))
    extra = {k: v for k, v in verdict.items() if k not in ("a", "b", "significant", "sentence", "rows", "notes")
             and isinstance(v, (str, int, float, bool))}
    if extra:
        html.append(_table(["", ""], [[escape(k), escape(str(v))] for k, v in extra.items()], "kv"))
    return "".join(html)


def _capacity(cap: dict) -> str:
    steps = cap.get("steps") or []
    unit = cap.get("unit") or "req/s"
    facts = [("max sustainable", _val("max_sustainable", cap.get("max_sustainable"),
                                      f"{_num(cap.get('max_sustainable'))} {unit}")),
             ("bracket", _bracket(cap.get("bracket"))),
             ("throughput at max", f"{_num(cap.get('throughput_at_max_rps'))} req/s"),
             ("knee", _num(cap.get("knee"))),
             ("first limit", escape(str(cap.get("first_limit")))),
             ("stop reason", escape(str(cap.get("stop_reason")))),
             ("SLOs", escape(", ".join(map(str, cap.get("slo") or []))))]
    stab = cap.get("stability") or {}
    if stab:
        facts.append(("stability", escape(f"{stab.get('level')}: {stab.get('note') or ''}")))
    cost = cap.get("cost") or {}
    if cost.get("per_million") is not None:
        facts.append(("cost per million", escape(f"${cost['per_million']:,.4g} "
                                                 f"({cost.get('instances')} × ${cost.get('price_per_hour')}/h)")))
    html = [_table(["", ""], [[k, v] for k, v in facts], "kv")]
    if steps:
        order = sorted(range(len(steps)), key=lambda i: _f(steps[i].get("offered_rps")) or 0.0)
        xs = [_f(steps[i].get("offered_rps")) or 0.0 for i in order]
        html.append(line_chart(
            [("achieved", xs, [_f(steps[i].get("achieved_rps")) for i in order]),
             ("offered", xs, xs)],
            title="capacity curve: achieved vs offered", chart_id="chart-capacity", x_label="offered req/s",
            y_label="achieved req/s", unit=" req/s", dashed=lambda n: n == "offered"))
        html.append(line_chart(
            [(p, xs, [_f(steps[i].get(f"{p}_ms")) for i in order]) for p in ("p50", "p95", "p99")],
            title="latency by offered rate", chart_id="chart-capacity-latency", x_label="offered req/s",
            y_label="ms", unit=" ms"))
        rows = [[str(k + 1), _num(s.get("target")), _num(s.get("offered_rps")), _num(s.get("achieved_rps")),
                 _num(s.get("p50_ms")), _num(s.get("p95_ms")), _num(s.get("p99_ms")), _pct(s.get("error_rate")),
                 _step_verdict(s), escape(", ".join(map(str, s.get("failed") or []))),
                 escape(str(s.get("generator") or ""))]
                for k, s in enumerate(steps)]
        html.append(_table(["step", "target", "offered", "achieved", "p50", "p95", "p99", "errors", "verdict",
                            "failed", "generator"], rows, "steps"))
    return "".join(html)


def _step_verdict(step: dict) -> str:
    """A capacity step's verdict; a step that lost a load worker or was cut short by a signal judged nothing."""
    if step.get("interrupted"):
        return "interrupted (not counted)"
    if step.get("lost_workers"):
        return "worker lost (not counted)"
    return "pass" if step.get("passed") else "FAIL"


def _resources(points: list) -> str:
    groups: dict[str, list] = {}
    for p in points:
        if p.series.startswith("generator."):
            continue
        groups.setdefault(p.unit or "", []).append(p)
    if not groups:
        return ""
    charts = []
    for k, (unit, pts) in enumerate(sorted(groups.items())):
        scale, shown = (1 / 2**20, "MiB") if unit == "bytes" else (1.0, unit)
        by: dict[str, tuple[list, list]] = {}
        for p in pts:
            label = p.series + "".join(f" {k_}={v}" for k_, v in p.labels)
            xs, ys = by.setdefault(label, ([], []))
            xs.append(p.t)
            ys.append(p.value * scale)
        charts.append(line_chart([(n, xs, ys) for n, (xs, ys) in by.items()], title=f"monitors ({shown or 'count'})",
                                 chart_id=f"chart-resources-{k}", x_label="run time (s)", y_label=shown,
                                 unit=f" {shown}" if shown else ""))
    return "".join(charts)


def _self_check(summary: dict, points: list) -> str:
    gen = summary.get("generator") or {}
    if not gen:
        return ""
    verdict = ("client-bound: the generator, not the endpoint, limited these results" if gen.get("client_bound")
               else "the machine was busy" if gen.get("machine_busy") else "the generator kept up")
    rows = [["verdict", escape(verdict)], ["client-bound", str(bool(gen.get("client_bound")))],
            ["machine busy", str(bool(gen.get("machine_busy")))]]
    for key, label in (("schedule_lag_p99_ms", "schedule lag p99 (ms)"), ("loop_lag_p90_ms", "event-loop lag p90 (ms)"),
                       ("worker_cpu_pct_p90", "worker CPU p90 (%)"), ("worker_demand_pct_p90", "worker demand p90 (%)"),
                       ("worker_wait_pct_p90", "worker waiting for a CPU p90 (%)")):
        if gen.get(key) is not None:
            rows.append([label, _num(gen[key])])
    for r in (gen.get("reasons") or []) + (gen.get("busy_reasons") or []):
        rows.append(["reason", escape(str(r))])
    html = [_table(["", ""], rows, "kv")]
    lag = []
    for name, v in (summary.get("variants") or {}).items():
        for m in METRICS:
            h = v.get(m.summary_key)
            if m.name in _SELF_CHECK_METRICS and isinstance(h, dict) and h.get("count"):
                lag.append([escape(name), escape(m.label), f"{h['count']:,}", _num(h.get("mean"))]
                           + [_num(h.get(p)) for p in PERCENTILES])
    if lag:
        html.append(_table(["variant", "metric (ms)", "count", "mean", *PERCENTILES], lag, "lat"))
    gpts = [p for p in points if p.series.startswith("generator.")]
    if gpts:
        by: dict[str, tuple[list, list]] = {}
        for p in gpts:
            xs, ys = by.setdefault(p.series.removeprefix("generator."), ([], []))
            xs.append(p.t)
            ys.append(p.value)
        html.append(line_chart([(n, xs, ys) for n, (xs, ys) in by.items()], title="load generator",
                               chart_id="chart-generator", x_label="run time (s)", y_label="%", unit=" %"))
    return "".join(html)


def _settings(run_dir: Path, summary: dict | None, cap: dict | None) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:   # the installed distribution's (outputs sit below the package root in the layers)
        __version__ = version("stinger")
    except PackageNotFoundError:
        __version__ = "unknown"

    src = summary or cap or {}
    rows = [[label, escape(str(src[key]))] for key, label in (("seed", "seed"), ("started_at", "started"))
            if src.get(key) is not None]
    rows.append(["stinger version", escape(str(src.get("stinger_version") or src.get("version") or
                                               f"{__version__} (the version that rendered this report)"))])
    if summary or cap:
        rows.append(["run directory", escape(str(run_dir))])
    if summary:
        rows += [["mode", escape(f"{summary.get('mode')} · split {summary.get('split')} · "
                                 f"{summary.get('workers')} worker(s)")],
                 ["elapsed", f"{_num(summary.get('elapsed_s'))} s"],
                 ["targets", escape(json.dumps(summary.get("targets") or {}))]]
    spec = run_dir / "spec.yaml"
    text = spec.read_text(errors="replace") if spec.is_file() else "(no spec.yaml)"
    return _table(["", ""], rows, "kv") + f"<h3>spec.yaml (secrets redacted)</h3><pre>{escape(text)}</pre>"


CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1100px;
padding:16px 24px;color:#222}
h1{font-size:22px;margin:4px 0}h2{font-size:18px;border-bottom:1px solid #ddd;padding-bottom:3px;margin-top:28px}
h3{font-size:15px;margin:8px 0 4px}.muted{color:#777}.warn{color:#a60}
.ok{color:#176b2c;font-weight:600}.bad{color:#b00020;font-weight:600}
.loud{border:2px solid #b00020;background:#fff0f0;padding:4px 12px;margin:8px 0}
.sentence{font-size:15px;background:#f4f7fb;border-left:4px solid #1f77b4;padding:8px 12px}
.cards{display:flex;flex-wrap:wrap;gap:12px}.card{border:1px solid #ddd;border-radius:6px;padding:6px 14px;
min-width:280px;flex:1}.card p{margin:4px 0}.num{font-weight:600}
ul.slo{margin:4px 0;padding-left:18px}li.pass{color:#176b2c}li.fail{color:#b00020;font-weight:600}
table{border-collapse:collapse;margin:8px 0;font-size:13px}th,td{border:1px solid #ddd;padding:3px 8px;
text-align:right;vertical-align:top;white-space:nowrap}th{background:#f6f6f6}td:first-child,th:first-child{text-align:left}
table.kv td{text-align:left;white-space:normal}table.steps td:last-child{text-align:left;max-width:380px;
white-space:normal}td:has(.method){white-space:normal}
.method{color:#666;font-size:11px;display:inline-block;max-width:320px;text-align:left}.sig{font-weight:700}
pre{background:#f7f7f7;padding:8px;overflow:auto;font-size:12px}
svg.chart{display:block;margin:10px 0;max-width:100%;height:auto}
svg .ctitle{font-size:13px;font-weight:600}svg .tick,svg .legend,svg .axis{font-size:11px;fill:#444}
svg .grid line{stroke:#e6e6e6}svg .plot{fill:none;stroke:#999}svg .empty{fill:#999}
@media print{svg.chart{break-inside:avoid}}
"""


def render_report(run_dir: str | os.PathLike, title: str | None = None) -> str:
    """The report of a run directory as HTML text (read from its files alone); `title` replaces
    the default "stinger KIND: NAME"."""
    from stinger.outputs.rundir import CAPACITY, HLOG, INTERVALS, SERIES, SUMMARY, VERDICT_JSON

    d = Path(run_dir)
    if not d.is_dir():
        raise UsageError(f"run directory {d} does not exist; expected a directory written by 'stinger run'")
    summary = _json(d / SUMMARY)
    cap = _json(d / CAPACITY)
    verdict = _json(d / VERDICT_JSON)
    if summary is None and cap is None and verdict is None:
        raise UsageError(f"{d} is not a stinger run directory: no {SUMMARY}, {CAPACITY} or {VERDICT_JSON}")
    kind = "A/B test" if verdict is not None else "capacity search" if cap is not None else "load test"
    name = (summary or {}).get("name") or (cap or {}).get("name") or d.name
    sections: list[tuple[str, str, str]] = []
    points = _series(d / SERIES)
    if summary is not None:
        sections.append(("headline", "Headline", _headline(summary, verdict)))
        sections.append(("latency", "Latency percentiles", _latency_table(summary)))
        if summary.get("breakdown"):
            sections.append(("breakdown", "Per backend, URL and origin", breakdown.html(summary)))
        if any((v or {}).get("sessions") for v in (summary.get("variants") or {}).values()):
            sections.append(("sessions", "Sessions", _sessions(summary)))
        sections.append(("over-time", "Over time", _over_time(_intervals(d / INTERVALS), summary)))
        sections.append(("distribution", "Latency distribution",
                         _distribution(_latency_histograms(d / HLOG), summary)))
    if verdict is not None:
        sections.append(("verdict", "A/B verdict", _verdict(verdict, d)))
    if cap is not None:
        sections.append(("capacity", "Capacity", _capacity(cap)))
    res = _resources(points)
    if res:
        sections.append(("resources", "Resources", res))
    if summary is not None:
        check = _self_check(summary, points)
        if check:
            sections.append(("self-check", "Load generator self-check", check))
    sections.append(("settings", "Settings", _settings(d, summary, cap)))
    nav = " · ".join(f'<a href="#{sid}">{escape(title)}</a>' for sid, title, _ in sections)
    body = "".join(f'<section id="{sid}"><h2>{escape(title)}</h2>{html}</section>' for sid, title, html in sections)
    started = (summary or cap or {}).get("started_at") or ""
    title = title or f"stinger {kind}: {name}"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
            "img-src data:\">"
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
            f"<h1>{escape(title)}</h1><p class='muted'>{escape(str(started)) + ' · ' if started else ''}{nav}</p>{body}"
            "</body></html>\n")


def write_report(run_dir: str | os.PathLike, path: str | os.PathLike | None = None, *,
                 title: str | None = None) -> Path:
    """Render `run_dir` into `path` (default RUN_DIR/report.html); secrets are scrubbed once more."""
    out = Path(path) if path is not None else Path(run_dir) / REPORT
    html = scrub(render_report(run_dir, title))
    try:
        write_text(out, html)   # whole or not at all (core.atomic)
    except WriteFailed as exc:
        if is_disk_full(exc):   # not the user's mistake: exit 3, naming the path
            raise
        raise UsageError(f"cannot write the report to {out}: {exc.reason}") from None
    return out
