"""How stinger writes a number for a person: one home for every surface (terminal, report, dashboard,
verdict, SVG axes, vendor blocks).

Pure: text in, text out, no I/O. A figure that does not exist (summary.json's null: no successful
response; NaN from an empty window) is `NONE` unless the caller names its own mark. Minus signs are
the typographic `−` where a value is worded (verdict rows); `fixed` keeps the ASCII `-` of tables
that line up in a terminal.

    fixed(1234.5)        '1,234.50'   a table cell: thousands separators, fixed digits (ints as '1,234')
    num(0.01234)         '0.012'      a worded value: digits by size (>= 100 whole, >= 1 one decimal,
                                      below 1 two significant), '∞', '−3.2'
    sig(12.345)          '12.35'      a headline figure: about `digits` significant (>= 1000 whole with
                                      separators, >= 100 one decimal, >= 10 two, below 1 trailing 0s cut)
    signed(2.5)          '+2.5'       a difference
    pct(0.0123)          '1.23%'      a share as a percentage
    count(12345)         '12,345'     a whole count
    compact(25000)       '25k'        an axis tick: k and M past 10,000
    ms(1500)             1.5          microseconds (records) -> milliseconds (JSON), 3 decimals
"""

from __future__ import annotations

import math

NONE = "—"   # the one mark for a figure that does not exist


def missing(x: object) -> bool:
    """None (summary.json's null) or NaN: nothing to show."""
    return x is None or (isinstance(x, float) and math.isnan(x))


def fixed(x: float | int | None, digits: int = 2, *, none: str = NONE) -> str:
    """A table cell: `1,234.50` (a float with `digits` decimals), `1,234` (an int as it is)."""
    if missing(x):
        return none
    if isinstance(x, float):
        return f"{x:,.{digits}f}"
    return f"{x:,}"


def num(x: float | int | None, *, none: str = NONE, signed: bool = False) -> str:
    """A worded value with the digits its size deserves: `1,234`, `12.3`, `0`, `0.012`; `∞`, `−∞`;
    a typographic minus; `signed` puts `+` before a positive value."""
    if missing(x):
        return none
    assert x is not None
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    ax = abs(x)
    text = f"{x:,.0f}" if ax >= 100 else f"{x:.1f}" if ax >= 1 else "0" if ax == 0 else f"{x:.2g}"
    if text.startswith("-"):
        return "−" + text[1:]
    return "+" + text if signed and x > 0 else text


def sig(x: float | int | None, digits: int = 3, *, none: str = NONE) -> str:
    """A headline figure (the report's cards and tables): `1,235`, `123.5`, `12.35`, `1.23`, `0.123`, `0`."""
    if missing(x) or (isinstance(x, float) and math.isinf(x)):
        return none
    assert x is not None
    v = float(x)
    a = abs(v)
    if v == 0:
        return "0"
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.1f}"
    if a >= 10:
        return f"{v:.2f}"
    return f"{v:.{digits}f}".rstrip("0").rstrip(".") if a < 1 else f"{v:.{digits - 1}f}"


def signed(x: float | int | None, *, none: str = NONE) -> str:
    """A difference: `+2.5`, `−0.31`, `0`."""
    return num(x, none=none, signed=True)


def pct(share: float | None, digits: int = 2, *, none: str = NONE) -> str:
    """A share (0..1) as a percentage: `1.23%`."""
    if missing(share):
        return none
    assert share is not None
    return f"{100 * share:.{digits}f}%"


def count(n: int | float | None, *, none: str = NONE) -> str:
    """A whole count with thousands separators: `12,345`."""
    if missing(n):
        return none
    assert n is not None
    return f"{round(n):,}"


def compact(x: float) -> str:
    """An axis tick: `0`, `0.25`, `950`, `25k`, `1.5M` (k and M from 10,000 and 1,000,000)."""
    if x == 0:
        return "0"
    a = abs(x)
    if a >= 1e6:
        return f"{x / 1e6:g}M"
    if a >= 1e4:
        return f"{x / 1e3:g}k"
    return f"{x:.6g}"


def ms(us: float | None) -> float | None:
    """Microseconds (what records hold) as milliseconds for JSON, to the microsecond."""
    return None if us is None else round(us / 1e3, 3)
