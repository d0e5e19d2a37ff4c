"""engine/pacing.py: the open model's pacing policy, as a table (pure: no loop, no clock)."""

from __future__ import annotations

import pytest

from stinger.engine.pacing import MIN_WAIT, SPIN_ABOVE, TICK_MARGIN, Pace, pace, spin_over


@pytest.mark.parametrize("now, due, action, delay", [
    (10.0, 10.0, Pace.FIRE, 0.0),                  # due now
    (10.0, 9.5, Pace.FIRE, 0.0),                   # late: fire at once, lateness is measured
    (10.0, 10.0001, Pace.SLEEP, MIN_WAIT),         # 0.1 ms ahead: never sleep less than a tick
    (10.0, 10.0009, Pace.SLEEP, MIN_WAIT),
    (10.0, 10.002, Pace.SLEEP, 0.002),             # between a tick and SPIN_ABOVE: sleep the gap
    (10.0, 10.0039, Pace.SLEEP, 0.0039),
    (0.0, 0.004, Pace.SPIN, 0.004 - TICK_MARGIN),    # low rate: wake a tick early, then spin
    (10.0, 10.5, Pace.SPIN, 0.5 - TICK_MARGIN),
])
def test_pace_table(now, due, action, delay):
    got_action, got_delay = pace(now, due)
    assert got_action is action
    assert got_delay == pytest.approx(delay, abs=1e-12)


def test_a_spin_wakes_before_its_arrival_and_a_sleep_is_never_shorter_than_a_tick():
    for gap in (0.0001, 0.001, 0.003, 0.004, 0.01, 1.0):
        action, delay = pace(0.0, gap)
        if action is Pace.SPIN:
            assert gap >= SPIN_ABOVE and delay < gap
        else:
            assert delay >= MIN_WAIT


@pytest.mark.parametrize("now, due, over", [(1.0, 1.0, True), (1.1, 1.0, True), (0.9999, 1.0, False)])
def test_spin_is_over_when_the_arrival_is_due(now, due, over):
    assert spin_over(now, due) is over
