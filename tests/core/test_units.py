"""Tests for stinger.core.units: the duration and rate forms users type."""

from __future__ import annotations

import pytest

from stinger.core import schedule, units
from stinger.core.units import parse_duration, parse_fraction, parse_rate
from stinger.errors import UsageError


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("30s", 30.0),
        ("2m", 120.0),
        ("1h30m", 5400.0),
        ("1m30s", 90.0),
        ("500ms", 0.5),
        ("250us", 250e-6),
        ("1.5s", 1.5),
        (" 10 s ", 10.0),
        ("90", 90.0),
        ("0.25", 0.25),
        ("0", 0.0),
        (45, 45.0),
        (2.5, 2.5),
    ],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "10 parsecs", "-5s", "-3", "1h-30m", "s", "inf", "nan", None, True, "5s5"])
def test_parse_duration_rejects(text):
    with pytest.raises(UsageError) as e:
        parse_duration(text)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    "text, rate",
    [("100", 100.0), ("100/s", 100.0), ("6000/m", 100.0), ("6000/min", 100.0), ("2.5rps", 2.5), ("3600/h", 1.0),
     (50, 50.0), (0.5, 0.5), ("1e3", 1000.0), ("100 / s", 100.0)],
)
def test_parse_rate(text, rate):
    assert parse_rate(text) == pytest.approx(rate)


@pytest.mark.parametrize("text", ["0", "-1", 0, -3.0, "fast", "100/fortnight", "", None, "inf"])
def test_parse_rate_rejects(text):
    with pytest.raises(UsageError) as e:
        parse_rate(text)
    msg = str(e.value)
    assert "\n" not in msg and ("rate" in msg)


def test_parse_rate_message_names_the_value():
    with pytest.raises(UsageError, match=r"rate must be > 0, got '0'"):
        parse_rate("0")


def test_schedule_keeps_the_parsers_importable():
    # Callers import the parsers from the schedule; units owns them.
    assert schedule.parse_duration is units.parse_duration
    assert schedule.parse_rate is units.parse_rate


@pytest.mark.parametrize("text, share", [("5%", 0.05), (" 5% ", 0.05), ("0.05", 0.05),
                                         (0.25, 0.25), ("100%", 1.0), ("0", 0.0), ("0%", 0.0), ("1", 1.0),
                                         ("12.5%", 0.125), ("1e-3", 0.001)])
def test_parse_fraction(text, share):
    assert parse_fraction(text, what="--x") == pytest.approx(share)


@pytest.mark.parametrize("text, words", [("5x", "'5x' is not a fraction"), ("%", "is not a fraction"),
                                         ("nan", "finite"), ("inf%", "finite"), ("150%", "between 0 and 1"),
                                         ("-1%", "between 0 and 1"), ("1.5", "between 0 and 1")])
def test_parse_fraction_rejects_in_one_line_naming_the_flag(text, words):
    with pytest.raises(UsageError) as info:
        parse_fraction(text, what="--error-rate")
    assert words in str(info.value) and str(info.value).startswith("--error-rate") and "\n" not in str(info.value)


def test_parse_fraction_over_one_when_the_caller_allows_it():
    assert parse_fraction("150%", what="precision", allow_over_one=True) == 1.5
    with pytest.raises(UsageError, match="finite"):
        parse_fraction("nan", what="precision", allow_over_one=True)


@pytest.mark.parametrize("call", [
    lambda t: __import__("stinger.core.slo", fromlist=["x"]).parse_slo(f"error_rate<{t}").threshold,
    lambda t: __import__("stinger.core.abort", fromlist=["x"]).parse_abort_rule(f"error_rate>{t}").threshold,
    lambda t: __import__("stinger.orchestrate.ab_plan", fromlist=["x"])._fraction_arg(t, "--error-rate"),
    lambda t: __import__("stinger.orchestrate.compare", fromlist=["x"]).parse_margin(t).relative,
    lambda t: __import__("stinger._api", fromlist=["x"])._capacity_options({"precision": t}).precision,
], ids=["slo", "abort", "plan", "compare-margin", "api-precision"])
def test_every_percent_parser_reads_a_share_as_parse_fraction_does(call):
    for text in ("5%", "12.5%", "0%"):
        assert call(text) == parse_fraction(text, what="x")
