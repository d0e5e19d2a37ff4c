"""Charts as inline SVG text: line charts and bar charts for the HTML report (`outputs/report.py`).

Why hand-written SVG rather than a chart library: a report is one file a person sends,
and it is written at the end of every run. plotly.min.js alone is 4.8 MB (plotly 6) per run
directory and takes a second to start in a browser; these charts cost a few kilobytes,
need no script (nothing to fail, nothing fetched), and print and zoom crisply. Each
data point carries a `<title>` (the browser shows it on hover) when a series is short
enough for that to stay small.

Every series is one `<polyline class="series">` with `data-name` and `data-points`
(the number of points drawn), so a test can tell a drawn chart from an empty frame.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

from stinger.core.format import compact

__all__ = ["PALETTE", "bar_chart", "line_chart", "nice_ticks"]

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
DASHES = ("", "6 3", "2 3", "8 3 2 3")
MAX_MARKERS = 400          # points per series with a hover marker; longer series draw the line only
LEGEND_CHARS = 30         # a longer series name is cut in the legend (whole on hover)
MAX_POINTS = 4000          # points per series drawn at all (longer: every k-th point, and the extremes kept)

Series = tuple[str, Sequence[float], Sequence[float | None]]


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About `n` round tick values covering [lo, hi] (1, 2, 2.5, 5 x 10^k steps)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0, 1.0]
    if hi <= lo:
        hi = lo + (abs(lo) if lo else 1.0)
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks = []
    k = 0
    while True:
        t = start + k * step
        ticks.append(round(t, 12))
        if t >= hi - 1e-12 * max(1.0, abs(hi)):
            break
        k += 1
    return ticks


def _thin(xs: Sequence[float], ys: Sequence[float | None]) -> tuple[list[float], list[float | None]]:
    n = len(xs)
    if n <= MAX_POINTS:
        return list(xs), list(ys)
    k = math.ceil(n / MAX_POINTS)
    keep = set(range(0, n, k))
    vals = [(y, i) for i, y in enumerate(ys) if y is not None]
    if vals:  # a spike must not vanish by thinning
        keep.add(max(vals)[1])
        keep.add(min(vals)[1])
    idx = sorted(keep)
    return [xs[i] for i in idx], [ys[i] for i in idx]


def _frame(width: int, height: int, title: str, chart_id: str) -> list[str]:
    return [f'<svg class="chart" id="{escape(chart_id)}" role="img" aria-label="{escape(title)}" '
            f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            f'xmlns="http://www.w3.org/2000/svg">',
            f'<text class="ctitle" x="{width / 2:.0f}" y="16" text-anchor="middle">{escape(title)}</text>']


def line_chart(series: Sequence[Series], *, title: str, chart_id: str, x_label: str = "", y_label: str = "",
               width: int = 900, height: int = 280, x_ticks: Sequence[tuple[float, str]] | None = None,
               y_min: float | None = 0.0, unit: str = "", x_fmt: Callable[[float], str] = compact,
               dashed: Callable[[str], bool] = lambda name: False,
               marks: Sequence[tuple[float, str]] = ()) -> str:
    """One SVG line chart. `series`: (name, xs, ys); a None y breaks the line there.

    `marks`: (x, label) vertical markers (a live load change, a lost worker), labelled at the top.

    `x_ticks`: fixed (value, label) pairs (a percentile axis), else round numbers.
    `unit` goes into each point's hover text; a series for which `dashed(name)` is true is drawn dashed
    (an offered rate under its achieved one stays visible where the two agree).
    """
    left, right, top, bottom = 62, 210, 28, 42
    pw, ph = width - left - right, height - top - bottom
    drawn = [(name, *_thin(xs, ys)) for name, xs, ys in series if len(xs)]
    all_x = [x for _, xs, _ in drawn for x in xs]
    all_y = [y for _, _, ys in drawn for y in ys if y is not None and math.isfinite(y)]
    out = _frame(width, height, title, chart_id)
    if not all_x or not all_y:
        out.append(f'<text class="empty" x="{width / 2:.0f}" y="{height / 2:.0f}" text-anchor="middle">'
                   f'no data</text></svg>')
        return "\n".join(out)
    if x_ticks:
        xt = [t for t, _ in x_ticks]
        x0, x1 = min(xt + all_x), max(xt + all_x)
    else:
        xt = nice_ticks(min(all_x), max(all_x), 6)
        x0, x1 = xt[0], xt[-1]
    lo = min(all_y) if y_min is None else min(y_min, min(all_y))
    yt = nice_ticks(lo, max(all_y), 5)
    y0, y1 = yt[0], yt[-1]
    x1 = x1 if x1 > x0 else x0 + 1
    y1 = y1 if y1 > y0 else y0 + 1

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * pw

    def py(y: float) -> float:
        return top + ph - (y - y0) / (y1 - y0) * ph

    out.append('<g class="grid">')
    for t in yt:
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{py(t):.1f}" y2="{py(t):.1f}"/>'
                   f'<text class="tick" x="{left - 6}" y="{py(t) + 4:.1f}" text-anchor="end">{compact(t)}</text>')
    for t, label in (x_ticks or [(t, x_fmt(t)) for t in xt]):
        out.append(f'<line x1="{px(t):.1f}" x2="{px(t):.1f}" y1="{top}" y2="{top + ph}"/>'
                   f'<text class="tick" x="{px(t):.1f}" y="{top + ph + 15}" text-anchor="middle">'
                   f'{escape(label)}</text>')
    out.append("</g>")
    out.append(f'<rect class="plot" x="{left}" y="{top}" width="{pw}" height="{ph}"/>')
    for x, label in marks:
        if x0 <= x <= x1:
            out.append(f'<g class="mark"><line x1="{px(x):.1f}" x2="{px(x):.1f}" y1="{top}" y2="{top + ph}" '
                       f'stroke="#b03030" stroke-width="1.2" stroke-dasharray="3 3"/><text class="tick" '
                       f'x="{px(x) + 3:.1f}" y="{top + 10}" fill="#b03030">{escape(label)}</text>'
                       f'<title>{escape(label)} at {escape(x_fmt(x))}</title></g>')
    if x_label:
        out.append(f'<text class="axis" x="{left + pw / 2:.0f}" y="{height - 6}" text-anchor="middle">'
                   f'{escape(x_label)}</text>')
    if y_label:
        out.append(f'<text class="axis" transform="translate(14 {top + ph / 2:.0f}) rotate(-90)" '
                   f'text-anchor="middle">{escape(y_label)}</text>')
    for k, (name, xs, ys) in enumerate(drawn):
        color = PALETTE[k % len(PALETTE)]
        dash = "6 3" if dashed(name) else DASHES[(k // len(PALETTE)) % len(DASHES)]
        runs: list[list[str]] = [[]]
        n = 0
        for x, y in zip(xs, ys):
            if y is None or not math.isfinite(y):
                if runs[-1]:
                    runs.append([])
                continue
            runs[-1].append(f"{px(x):.1f},{py(y):.1f}")
            n += 1
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(f'<g class="s" data-name="{escape(name)}">')
        for pts in runs:
            if pts:
                out.append(f'<polyline class="series" data-name="{escape(name)}" data-points="{len(pts)}" '
                           f'fill="none" stroke="{color}" stroke-width="1.8"{dash_attr} points="{" ".join(pts)}"/>')
        if n <= MAX_MARKERS:
            for x, y in zip(xs, ys):
                if y is not None and math.isfinite(y):
                    out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.4" fill="{color}">'
                               f'<title>{escape(name)}: {compact(y)}{escape(unit)} at {escape(x_fmt(x))}</title>'
                               f'</circle>')
        out.append("</g>")
        ly = top + 6 + 16 * k
        short = name if len(name) <= LEGEND_CHARS else name[:LEGEND_CHARS - 1] + "…"
        out.append(f'<line x1="{left + pw + 12}" x2="{left + pw + 32}" y1="{ly}" y2="{ly}" stroke="{color}" '
                   f'stroke-width="2.5"{dash_attr}/><text class="legend" x="{left + pw + 37}" y="{ly + 4}">'
                   f'{escape(short)}<title>{escape(name)}</title></text>')
    out.append("</svg>")
    return "\n".join(out)


def bar_chart(bars: Sequence[tuple[str, float]], *, title: str, chart_id: str, unit: str = "",
              width: int = 900, bar_height: int = 20) -> str:
    """Horizontal bars, one per (label, value), longest first as given."""
    left, right, top = 190, 90, 28
    height = top + bar_height * max(len(bars), 1) + 14
    out = _frame(width, height, title, chart_id)
    if not bars:
        out.append(f'<text class="empty" x="{width / 2:.0f}" y="{height / 2 + 6:.0f}" text-anchor="middle">'
                   f'none</text></svg>')
        return "\n".join(out)
    top_v = max(v for _, v in bars) or 1.0
    pw = width - left - right
    for k, (label, v) in enumerate(bars):
        y = top + k * bar_height
        w = max(v / top_v * pw, 1.0)
        out.append(f'<text class="tick" x="{left - 8}" y="{y + bar_height * 0.65:.1f}" text-anchor="end">'
                   f'{escape(label)}</text>'
                   f'<rect class="bar" x="{left}" y="{y + 2}" width="{w:.1f}" height="{bar_height - 5}" '
                   f'fill="{PALETTE[1]}"><title>{escape(label)}: {compact(v)}{escape(unit)}</title></rect>'
                   f'<text class="tick" x="{left + w + 6:.1f}" y="{y + bar_height * 0.65:.1f}">'
                   f'{compact(v)}{escape(unit)}</text>')
    out.append("</svg>")
    return "\n".join(out)
