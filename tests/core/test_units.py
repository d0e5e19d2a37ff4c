"""Tests for stinger.core.units: the duration and rate forms users type."""

from __future__ import annotations

import pytest

from stinger.core import schedule, units
from stinger.core.units import parse_duration, parse_rate
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
