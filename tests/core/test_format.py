"""core/format.py: how every surface writes a number, table-tested (one row per rule)."""

from __future__ import annotations

import math

import pytest

from stinger.core import format as fmt

NAN = float("nan")


@pytest.mark.parametrize("fn, args, kw, text", [
    (fmt.fixed, (1234.5,), {}, "1,234.50"),
    (fmt.fixed, (1234.5, 1), {}, "1,234.5"),
    (fmt.fixed, (1234,), {}, "1,234"),                 # an int stays whole
    (fmt.fixed, (-0.5,), {}, "-0.50"),                 # ASCII minus: terminal columns line up
    (fmt.fixed, (None,), {}, "—"),
    (fmt.fixed, (NAN,), {"none": "n/a"}, "n/a"),
    (fmt.num, (1234.56,), {}, "1,235"),
    (fmt.num, (100.0,), {}, "100"),
    (fmt.num, (12.34,), {}, "12.3"),
    (fmt.num, (1.0,), {}, "1.0"),
    (fmt.num, (0.01234,), {}, "0.012"),
    (fmt.num, (0,), {}, "0"),
    (fmt.num, (-3.21,), {}, "−3.2"),                   # a typographic minus in worded values
    (fmt.num, (math.inf,), {}, "∞"),
    (fmt.num, (-math.inf,), {}, "−∞"),
    (fmt.num, (None,), {}, "—"),
    (fmt.num, (2.5,), {"signed": True}, "+2.5"),
    (fmt.signed, (2.5,), {}, "+2.5"),
    (fmt.signed, (-0.31,), {}, "−0.31"),
    (fmt.signed, (0.0,), {}, "0"),
    (fmt.sig, (1234.56,), {}, "1,235"),
    (fmt.sig, (123.45,), {}, "123.5"),                 # (123.45 is 123.4500000000000028 as a float)
    (fmt.sig, (12.345,), {}, "12.35"),                 # (12.345 is 12.3450000000000006)
    (fmt.sig, (1.2345,), {}, "1.23"),
    (fmt.sig, (0.12345,), {}, "0.123"),
    (fmt.sig, (0.5,), {}, "0.5"),                      # trailing zeros cut below 1
    (fmt.sig, (0,), {}, "0"),
    (fmt.sig, (math.inf,), {"none": "n/a"}, "n/a"),
    (fmt.sig, (None,), {"none": "n/a"}, "n/a"),
    (fmt.pct, (0.0123,), {}, "1.23%"),
    (fmt.pct, (0.5, 1), {}, "50.0%"),
    (fmt.pct, (1.0, 0), {}, "100%"),
    (fmt.pct, (None,), {"none": "-"}, "-"),
    (fmt.count, (12345,), {}, "12,345"),
    (fmt.count, (2.6,), {}, "3"),
    (fmt.count, (None,), {}, "—"),
    (fmt.compact, (0,), {}, "0"),
    (fmt.compact, (0.25,), {}, "0.25"),
    (fmt.compact, (9999,), {}, "9999"),
    (fmt.compact, (25_000,), {}, "25k"),
    (fmt.compact, (-25_000,), {}, "-25k"),
    (fmt.compact, (1_500_000,), {}, "1.5M"),
    (fmt.ms, (1500,), {}, 1.5),
    (fmt.ms, (1234.5678,), {}, 1.235),
    (fmt.ms, (None,), {}, None),
])
def test_format(fn, args, kw, text):
    assert fn(*args, **kw) == text


def test_none_is_one_mark_for_a_figure_that_does_not_exist():
    assert {fmt.fixed(None), fmt.num(NAN), fmt.pct(None), fmt.count(NAN)} == {fmt.NONE}
    assert fmt.missing(None) and fmt.missing(NAN) and not fmt.missing(0.0) and not fmt.missing(0)
