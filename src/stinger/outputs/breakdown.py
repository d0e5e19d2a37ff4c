"""summary.json's `breakdown` (core/breakdown.py) as tables: per backend (the served-by header),
per URL and per origin (core/origins.py: the identity's terms, where the origin ran), each row's share of its variant's responses and its latency percentiles; the terminal and
the report render the same rows from these (`tables`)."""

from __future__ import annotations

from html import escape
from typing import Any

from stinger.core.format import pct, sig

HEAD = ["variant", "{what}", "responses", "share", "weight", "ok", "failed", "p50 ms", "p90 ms", "p99 ms",
        "max ms"]


def tables(summary: dict) -> list[tuple[str, list[str], list[list[str]], list[str]]]:
    """(title, head, rows, notes) per breakdown the summary holds, in text."""
    out = []
    b = summary.get("breakdown") or {}
    sb = b.get("served_by")
    if sb:
        weights = sb.get("weights") or {}
        total = sum(weights.values())
        out.append((f"per backend (response header {sb['header']})", _head("backend"),
                    [_row(r, weights.get(r["label"]), total) for r in sb["rows"]], list(sb.get("notes") or ())))
    url = b.get("url")
    if url:
        out.append(("per URL", _head("url"), [_row(r, None, 0) for r in url["rows"]], []))
    turn = b.get("turn")
    if turn:   # multi-turn sessions: turn k of every session (its latency from its own intended send)
        out.append(("per turn (sessions)", _head("turn"), [_row(r, None, 0) for r in turn["rows"]], []))
    origin = b.get("origin")
    if origin:
        rows = [_origin_row(r) for r in origin["rows"]]
        head = ORIGIN_HEAD if any(r[-1] for r in rows) else ORIGIN_HEAD[:-1]   # errors: a column when any
        out.append(("per origin", head, [r[:len(head)] for r in rows], _placement(origin)))
    return out


ORIGIN_HEAD = ["variant", "origin", "workers", "scheduled", "ok", "failed", "dropped", "in flight", "p50 ms",
               "p90 ms", "p99 ms", "max ms", "errors"]


def _origin_row(r: dict[str, Any]) -> list[str]:
    q = r["requests"]
    lat = r.get("latency_ms") or {}
    errors = ", ".join(f"{k} {n:,}" for k, n in (r.get("errors") or {}).items())
    return [r["variant"], r["origin"], str(r["workers"]),
            *(f"{q[k]:,}" for k in ("scheduled", "ok", "failed", "dropped", "in_flight")),
            *(sig(lat.get(k), 3, none="n/a") for k in ("p50", "p90", "p99", "max")), errors]


def _placement(origin: dict[str, Any]) -> list[str]:
    """Where each origin ran: its source address and the nodes (shown under the table, not warnings)."""
    out = []
    for o in origin.get("origins") or ():
        where = [f"source {o['source_address']}"] if o.get("source_address") else []
        if o.get("nodes"):
            where.append("node" + ("s " if len(o["nodes"]) > 1 else " ") + ", ".join(n[:12] for n in o["nodes"]))
        if where:
            out.append(f"origin {o['name']}: " + "; ".join(where))
    return out


def _head(what: str) -> list[str]:
    return [h.format(what=what) for h in HEAD]


def _row(r: dict[str, Any], weight: float | None, total: float) -> list[str]:
    lat = r.get("latency_ms") or {}
    return [r["variant"], r["label"], f"{r['responses']:,}", pct(r.get("share"), 1, none="n/a"),
            "" if weight is None or not total else pct(weight / total, 1), f"{r['ok']:,}", f"{r['failed']:,}",
            *(sig(lat.get(k), 3, none="n/a") for k in ("p50", "p90", "p99", "max"))]


def renderables(summary: dict) -> list[Any]:
    """The terminal's tables and notes (rich)."""
    from rich.table import Table

    parts: list[Any] = []
    for title, head, rows, notes in tables(summary):
        t = Table(title=title, title_justify="left", show_edge=False)
        for i, h in enumerate(head):
            t.add_column(h, justify="left" if i < 2 or h == "errors" else "right")
        for r in rows:
            t.add_row(*r)
        parts.append(t)   # a weight note is among the run's warnings, printed below
        if head[1] == "origin" and notes:   # where the origins ran is no warning: said here
            parts.append("\n".join(notes))
    return parts


def html(summary: dict) -> str:
    """The report's section ("" when the run has no breakdown)."""
    out = []
    for title, head, rows, notes in tables(summary):
        cls = "note" if head[1] == "origin" else "warn"   # where origins ran is no warning
        th = "".join(f"<th>{escape(h)}</th>" for h in head)
        body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows)
        out.append(f"<h3>{escape(title)}</h3><table class='breakdown'><thead><tr>{th}</tr></thead>"
                   f"<tbody>{body}</tbody></table>" + "".join(f"<p class='{cls}'>{escape(n)}</p>" for n in notes))
    return "".join(out)
