"""The capacity search against simulated endpoints of known capacity; knee, limits and cost."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from stinger.core.capacity import (
    CapacitySearch,
    StepResult,
    cost_per_million,
    find_knee,
    limiting_factor,
    stability,
)
from stinger.errors import UsageError


def run(search: CapacitySearch, capacity: float, *, client_limit: float = math.inf) -> CapacitySearch:
    """Drive the search against an endpoint that passes iff target <= capacity."""
    for _ in range(1000):  # bounded: the search must end long before this
        target = search.next_target()
        if target is None:
            return search
        assert target == search.next_target()  # idempotent until a result is recorded
        ok = target <= capacity
        search.record(StepResult(target, ok, () if ok else ("p95<300ms",), {},
                                 client_bound=target > client_limit))
    raise AssertionError("the search did not end")


@settings(max_examples=300, deadline=None)
@given(
    capacity=st.floats(min_value=1.0, max_value=5e5, allow_nan=False),
    start=st.floats(min_value=1.0, max_value=1000.0),
    growth=st.sampled_from([1.5, 2.0, 3.0]),
    precision=st.sampled_from([0.01, 0.05, 0.1]),
)
def test_bracket_contains_capacity_within_precision(capacity, start, growth, precision):
    s = run(CapacitySearch(start=start, growth=growth, precision=precision, max_steps=100), capacity)
    lo, hi = s.bracket
    if capacity < 1.0 or (lo is None):
        assert s.stop_reason == "failed at start"
        return
    assert s.stop_reason == "converged"
    assert lo <= capacity < hi
    assert (hi - lo) / lo <= precision
    # logarithmic: growing to the capacity plus bisecting a factor-`growth` bracket
    bound = abs(math.log(capacity / start, growth)) + math.log2(growth / precision) + 3
    assert len(s.steps) <= bound
    assert s.capacity == lo


@settings(max_examples=300, deadline=None)
@given(capacity=st.integers(min_value=1, max_value=5000), start=st.integers(min_value=1, max_value=64))
def test_integer_mode_finds_the_exact_count(capacity, start):
    s = run(CapacitySearch(start=start, precision=0, integer=True, max_steps=100), capacity)
    assert s.stop_reason == "converged"
    assert s.bracket == (capacity, capacity + 1)
    assert all(float(x.target).is_integer() for x in s.steps)
    assert len(s.steps) <= abs(math.log2(capacity / start)) + math.log2(max(capacity, 2)) + 4


@settings(max_examples=200, deadline=None)
@given(capacity=st.integers(min_value=1, max_value=5000), precision=st.sampled_from([0.05, 0.1]))
def test_integer_mode_with_precision(capacity, precision):
    s = run(CapacitySearch(start=4, precision=precision, integer=True), capacity)
    lo, hi = s.bracket
    assert lo <= capacity < hi
    assert hi - lo <= 1 or (hi - lo) / lo <= precision


def test_grow_sequence_and_bisection():
    s = CapacitySearch(start=10, growth=2, precision=0.05)
    seen = []
    while (t := s.next_target()) is not None:
        seen.append(t)
        s.record(StepResult(t, t <= 100, ()))
    assert seen[:5] == [10, 20, 40, 80, 160]
    assert seen[5] == 120  # midpoint of (80, 160)
    assert s.stop_reason == "converged" and s.best_pass <= 100 < s.first_fail


def test_failed_at_start():
    s = run(CapacitySearch(start=10, min_target=1), 0.5)
    assert s.stop_reason == "failed at start"
    assert s.best_pass is None and s.first_fail == 1.0
    assert [x.target for x in s.steps] == [10, 5, 2.5, 1.25, 1.0]


def test_first_step_fails_then_shrinks_and_bisects():
    s = run(CapacitySearch(start=100, precision=0.05), 30.0)
    targets = [x.target for x in s.steps]
    assert targets[:3] == [100, 50, 25]
    assert s.stop_reason == "converged"
    lo, hi = s.bracket
    assert lo <= 30 < hi and (hi - lo) / lo <= 0.05


def test_max_target_reached():
    s = run(CapacitySearch(start=10, max_target=100), 1e9)
    assert s.stop_reason == "max_target reached"
    assert s.bracket == (100, None)
    assert [x.target for x in s.steps] == [10, 20, 40, 80, 100]


def test_max_target_step_fails_then_bisects():
    s = run(CapacitySearch(start=10, max_target=100, precision=0.05), 90)
    assert s.stop_reason == "converged"
    assert s.bracket[0] <= 90 < s.bracket[1] <= 100


def test_generator_bound_bisects_up_to_what_the_generator_can_offer():
    s = run(CapacitySearch(start=10), 1000, client_limit=200)
    assert s.stop_reason == "generator-bound"
    assert s.done and s.next_target() is None
    assert s.first_fail is None
    # the first client-bound step (320) is a ceiling, not the end: the search climbs to the generator's limit
    assert s.steps[5].client_bound and s.steps[5].target == 320
    assert s.best_pass == 200 and s.ceiling is not None and (s.ceiling - 200) / 200 <= 0.05


def test_a_client_bound_step_above_the_capacity_does_not_stop_the_search():
    """Growing past the capacity can make the generator lag (a queue of connections); the capacity below
    is still measured and bracketed."""
    s = run(CapacitySearch(start=10, precision=0.05), 100, client_limit=150)
    assert s.stop_reason == "converged"
    assert s.ceiling == 160
    lo, hi = s.bracket
    assert lo <= 100 < hi and (hi - lo) / lo <= 0.05


def test_client_bound_in_integer_mode_stops_one_below_the_ceiling():
    s = run(CapacitySearch(start=2, integer=True, precision=0.0), 1000, client_limit=37)
    assert s.stop_reason == "generator-bound"
    assert s.best_pass == 37 and s.ceiling == 38


def test_max_steps():
    s = run(CapacitySearch(start=1, max_steps=4, precision=0.01), 1e5)
    assert s.stop_reason == "max_steps" and len(s.steps) == 4
    assert s.best_pass == 8


def test_record_checks_the_target_and_state():
    s = CapacitySearch(start=10)
    with pytest.raises(ValueError, match="step at 10"):
        s.record(StepResult(11, True))
    s = run(CapacitySearch(start=10, max_target=10), 1e9)
    with pytest.raises(RuntimeError):
        s.record(StepResult(10, True))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"start": 0}, "start"),
        ({"growth": 1.0}, "growth"),
        ({"precision": 0}, "precision"),
        ({"precision": -0.1, "integer": True}, "precision"),
        ({"max_steps": 0}, "max_steps"),
        ({"start": 5, "min_target": 10}, r"\[min_target, max_target\]"),
        ({"start": 50, "max_target": 10}, "start must lie"),
        ({"max_target": math.inf}, "max_target"),
    ],
)
def test_arguments_checked(kwargs, match):
    with pytest.raises(UsageError, match=match):
        CapacitySearch(**kwargs)


def test_curve_and_to_dict():
    s = CapacitySearch(start=10)
    for p95, ok in ((5.0, True), (6.0, True), (400.0, False)):
        t = s.next_target()
        s.record(StepResult(t, ok, () if ok else ("p95<300ms",), {"latency_ms": {"p95": p95}}))
    assert s.curve() == [(10, 5.0), (20, 6.0), (40, 400.0)]
    d = s.to_dict()
    assert d["best_pass"] == 20 and d["first_fail"] == 40 and not d["done"]
    assert d["steps"][-1] == {"target": 40, "passed": False, "failed": ["p95<300ms"], "client_bound": False,
                              "limiting": "latency"}


# ---------------------------------------------------------------------- knee
@settings(max_examples=200, deadline=None)
@given(
    knee=st.floats(min_value=100, max_value=900),
    base=st.floats(min_value=1, max_value=100),
    slope=st.floats(min_value=0.5, max_value=50),
    noise=st.floats(min_value=0, max_value=0.02),
)
def test_knee_of_a_hockey_stick(knee, base, slope, noise):
    xs = np.linspace(10, 1000, 100)
    xs = np.sort(np.append(xs, knee))
    ys = base + np.maximum(0.0, xs - knee) * slope
    ys = ys * (1 + noise * np.sin(np.arange(len(xs))))  # deterministic wiggle
    assume(ys[-1] - ys[0] > 10 * noise * ys.max())
    found = find_knee(list(zip(xs, ys)))
    assert found is not None
    assert abs(found - knee) <= 0.05 * (xs[-1] - xs[0])


def test_knee_exact_on_clean_hockey_stick():
    curve = [(x, 20.0 if x <= 400 else 20.0 + (x - 400) * 2) for x in range(100, 1001, 100)]
    assert find_knee(curve) == 400


def test_knee_order_and_duplicates_do_not_matter():
    curve = [(x, 10.0 if x <= 50 else 10.0 + (x - 50) * 20) for x in range(10, 101, 10)]
    shuffled = curve[::-1] + [(50, 10.0), (30, float("nan"))]
    assert find_knee(curve) == find_knee(shuffled) == 50


@pytest.mark.parametrize(
    "curve",
    [
        [],
        [(1, 1), (2, 2)],
        [(1, 5), (2, 5), (3, 5)],           # flat
        [(1, 1), (2, 2), (3, 3), (4, 4)],   # a line has no knee
        [(1, 1), (2, 5), (3, 6), (4, 6.5)],  # concave: rises early, no take-off
        [(1, 9), (2, 5), (3, 1)],           # falling
    ],
)
def test_no_knee(curve):
    assert find_knee(curve) is None


# ------------------------------------------------------- limits and cost
@pytest.mark.parametrize(
    "result, factor",
    [
        (StepResult(10, True), "none"),
        (StepResult(10, False, ("p95<300ms",)), "latency"),
        (StepResult(10, False, ("server.p99<1s", "mean<10ms")), "latency"),
        (StepResult(10, False, ("p95<300ms", "achieved_ratio>=0.95")), "saturation"),
        (StepResult(10, False, ("throughput>=100/s",)), "saturation"),
        (StepResult(10, False, ("p95<300ms", "error_rate<1%", "achieved_ratio>=0.95")), "errors"),
        (StepResult(10, False, ("p95<300ms",), client_bound=True), "generator"),
        (StepResult(10, False, ()), "latency"),
        (StepResult(10, False, ("not an slo",)), "latency"),
    ],
)
def test_limiting_factor(result, factor):
    assert limiting_factor(result) == factor


@pytest.mark.parametrize(
    "price, instances, rps, dollars",
    [
        (3.6, 1, 1.0, 1000.0),       # $3.6/h at 1 req/s: 3600 inferences cost $3.6 -> $1000 per million
        (1.0, 2, 100.0, 2 / 360_000 * 1e6),
        (0.0, 1, 10.0, 0.0),
        (4.0, 4, 1000.0, 16.0 / 3.6e6 * 1e6),
    ],
)
def test_cost_per_million(price, instances, rps, dollars):
    assert cost_per_million(price, instances, rps) == pytest.approx(dollars)


@pytest.mark.parametrize(
    "args, match",
    [((-1.0, 1, 10.0), "price"), ((1.0, 0, 10.0), "instance"), ((1.0, 1, 0.0), "throughput"),
     ((1.0, 1.5, 10.0), "instance")],
)
def test_cost_arguments(args, match):
    with pytest.raises(UsageError, match=match):
        cost_per_million(*args)


@given(st.floats(min_value=0.01, max_value=100), st.integers(1, 64), st.floats(min_value=0.1, max_value=1e5))
def test_cost_scales(price, n, rps):
    c = cost_per_million(price, n, rps)
    assert cost_per_million(price, n, 2 * rps) == pytest.approx(c / 2)
    assert cost_per_million(2 * price, n, rps) == pytest.approx(2 * c)


# ------------------------------------------------------- confirming failures (issue 9, item 7)
def run_noisy(search: CapacitySearch, capacity: float, stalls: set[int]) -> CapacitySearch:
    """An endpoint that passes iff target <= capacity, except that the steps numbered in `stalls`
    (0-based, in the order run) fail whatever their target: a stall of a busy machine."""
    for i in range(1000):
        target = search.next_target()
        if target is None:
            return search
        ok = target <= capacity and i not in stalls
        search.record(StepResult(target, ok, () if ok else ("p95<300ms",)))
    raise AssertionError("the search did not end")


def test_one_stall_halves_the_capacity_without_confirmation():
    """The defect: a stall in the step at 80 (capacity 100) makes the search believe 80 fails."""
    s = run_noisy(CapacitySearch(start=10, precision=0.05), 100, stalls={3})
    assert s.best_pass < 80  # found ~ 60-ish, though 80 holds


def test_a_confirmed_search_sees_through_one_stall():
    s = run_noisy(CapacitySearch(start=10, precision=0.05, confirm=1), 100, stalls={3})
    lo, hi = s.bracket
    assert lo <= 100 < hi and (hi - lo) / lo <= 0.05
    assert s.disagreements == [80]             # 80 failed, then passed its re-test
    assert [x.target for x in s.steps][:5] == [10, 20, 40, 80, 80]
    assert s.retests and s.steps[s.retests[0]].target == 80
    st = stability(s)
    assert st["level"] == "noisy" and st["disagreed_at"] == [80] and "80" in st["note"]


def test_every_failure_is_retested_once_and_counted_when_it_repeats():
    s = run(CapacitySearch(start=10, growth=2, precision=0.05, confirm=1), 100)
    targets = [x.target for x in s.steps]
    assert targets[:6] == [10, 20, 40, 80, 160, 160]  # grow; 160 fails twice before it counts
    fails = [x.target for x in s.steps if not x.passed]
    assert all(fails.count(t) == 2 for t in fails)  # each counted failure was confirmed, once
    assert len(s.retests) == len(fails) // 2
    assert s.disagreements == [] and s.stop_reason == "converged"
    assert s.best_pass <= 100 < s.first_fail
    st = stability(s, busy_steps=2)
    assert st["level"] == "stable" and "confirmed" in st["note"] and "busy during 2 steps" in st["note"]


@pytest.mark.parametrize(
    "confirm, outcomes, counted",
    [
        (1, [False, False], False),        # confirmed
        (1, [False, True], True),          # disagreement: the pass stands
        (2, [False, False, True], True),
        (2, [False, False, False], False),
        (0, [False], False),               # believed at once (the old policy)
    ],
)
def test_confirmation_table(confirm, outcomes, counted):
    s = CapacitySearch(start=10, growth=2, precision=0.05, confirm=confirm)
    for ok in outcomes:
        assert s.next_target() == 10
        s.record(StepResult(10, ok, () if ok else ("p95<300ms",)))
    assert s.bracket == ((10, None) if counted else (None, 10))
    assert s.next_target() == (20 if counted else 5)
    assert s.phase == ("grow" if counted else "shrink")


def test_phase_is_confirm_while_a_failure_waits_for_its_retest():
    s = CapacitySearch(start=10, confirm=1)
    s.record(StepResult(10, False, ("p95<300ms",)))
    assert s.phase == "confirm" and s.next_target() == 10 and s.bracket == (None, None)


def test_a_client_bound_retest_stops_the_search():
    s = CapacitySearch(start=10, confirm=1)
    s.record(StepResult(10, False, ("p95<300ms",)))
    s.record(StepResult(10, False, ("p95<300ms",), client_bound=True))
    assert s.stop_reason == "generator-bound" and s.next_target() is None


def test_max_steps_while_confirming_counts_the_failure():
    s = CapacitySearch(start=10, confirm=1, max_steps=2)
    s.record(StepResult(10, True))
    s.record(StepResult(20, False, ("p95<300ms",)))
    assert s.stop_reason == "max_steps" and s.bracket == (10, 20)


@settings(max_examples=300, deadline=None)
@given(
    capacity=st.floats(min_value=20.0, max_value=5e4),
    start=st.floats(min_value=1.0, max_value=1000.0),
    stall_every=st.integers(min_value=2, max_value=7),
    offset=st.integers(min_value=0, max_value=6),
)
def test_isolated_stalls_never_move_a_confirmed_search(capacity, start, stall_every, offset):
    """Stalls that never hit two steps in a row cannot change what a search with confirm=1 finds."""
    stalls = {i for i in range(200) if i % stall_every == offset % stall_every}
    noisy = run_noisy(CapacitySearch(start=start, precision=0.05, confirm=1, max_steps=200), capacity, stalls)
    clean = run(CapacitySearch(start=start, precision=0.05, confirm=1, max_steps=200), capacity)
    lo, hi = noisy.bracket
    assert noisy.stop_reason == "converged"
    assert lo <= capacity < hi and (hi - lo) / lo <= 0.05
    assert clean.bracket == noisy.bracket


def test_stability_without_confirmation_says_so():
    s = run(CapacitySearch(start=10, precision=0.05), 100)
    assert stability(s)["level"] == "unconfirmed"
    s = run(CapacitySearch(start=10, max_target=40, confirm=1), 1000)
    assert stability(s) == {"level": "stable", "disagreed_at": [], "retests": 0, "inconclusive": 0, "busy_steps": 0,
                            "bracket_width": None, "note": "no step failed"}


@pytest.mark.parametrize("confirm", [-1, 6, 1.5, True])
def test_confirm_argument_checked(confirm):
    with pytest.raises(UsageError, match="confirm"):
        CapacitySearch(confirm=confirm)


def test_a_clear_failure_counts_without_a_retest():
    s = CapacitySearch(start=10, growth=2, precision=0.05, confirm=1)
    s.record(StepResult(10, True))
    s.record(StepResult(20, False, ("achieved_ratio>=0.95",), clear=True))  # saturated throughout
    assert s.bracket == (10, 20) and s.phase == "bisect" and s.next_target() == 15
    s.record(StepResult(15, False, ("p95<300ms",)))                          # not clear: re-tested
    assert s.phase == "confirm" and s.next_target() == 15
    s.record(StepResult(15, False, ("p95<300ms",), clear=True))
    assert s.bracket == (10, 15) and s.retests == [3]


def test_a_failure_of_a_busy_machine_is_run_again_and_not_counted():
    """Failed while the machine was busy and the generator's requests left late: neither pass nor fail."""
    s = CapacitySearch(start=10, growth=2, precision=0.05, confirm=1, busy_retries=2)
    s.record(StepResult(10, True))
    s.record(StepResult(20, False, ("p95<300ms",), inconclusive=True))
    assert s.phase == "confirm" and s.next_target() == 20 and s.bracket == (10, None)
    s.record(StepResult(20, True))  # the machine calmed down
    assert s.bracket == (20, None) and s.next_target() == 40 and s.disagreements == []
    assert s.inconclusive == [1] and s.retests == [2]
    st = stability(s)
    assert st["inconclusive"] == 1 and "failed only while this machine was busy" in st["note"]


def test_a_machine_busy_for_too_long_stops_the_search():
    s = CapacitySearch(start=10, growth=2, precision=0.05, confirm=1, busy_retries=2)
    s.record(StepResult(10, True))
    for _ in range(3):
        assert s.next_target() == 20
        s.record(StepResult(20, False, ("p95<300ms",), inconclusive=True))
    assert s.stop_reason == "machine busy" and s.next_target() is None
    assert s.bracket == (10, None)  # the best pass stands as a lower bound
    st = stability(s)
    assert st["level"] == "busy" and "lower bound" in st["note"]


def test_busy_retries_checked():
    with pytest.raises(UsageError, match="busy_retries"):
        CapacitySearch(busy_retries=-1)


# -------------------------------------------------------- a step that lost a load worker (issue 16 item 4)
def test_a_step_that_lost_a_worker_is_run_again_and_not_counted():
    """A worker lost mid-step: part of the schedule was never sent, so the step judged nothing (it passed
    at 12 of 20 req/s before this): run again; the re-run's verdict is the one that counts."""
    s = CapacitySearch(start=10, growth=2, precision=0.05, confirm=1)
    s.record(StepResult(10, True))
    s.record(StepResult(20, True, lost=True))
    assert s.phase == "confirm" and s.next_target() == 20 and s.bracket == (10, None)
    s.record(StepResult(20, True))
    assert s.bracket == (20, None) and s.next_target() == 40
    assert s.lost == [1] and s.retests == [2] and s.to_dict()["lost"] == [1]
    st = stability(s)
    assert st["level"] == "stable" and "1 step lost a load worker and was run again" in st["note"]


@pytest.mark.parametrize("passed", [True, False])
def test_a_worker_lost_again_in_the_re_run_stops_the_search(passed):
    s = CapacitySearch(start=10, growth=2, precision=0.05, confirm=1)
    s.record(StepResult(10, True))
    s.record(StepResult(20, passed, () if passed else ("error_rate<1%",), lost=True))
    s.record(StepResult(20, passed, () if passed else ("error_rate<1%",), lost=True))
    assert s.stop_reason == "worker lost" and s.next_target() is None and s.done
    assert s.bracket == (10, None)    # neither a pass nor a fail at 20: the best pass stands as a lower bound
    st = stability(s)
    assert st["level"] == "incomplete" and "lost in the step at 20 and again" in st["note"]


def test_lost_retries_checked():
    with pytest.raises(UsageError, match="lost_retries"):
        CapacitySearch(lost_retries=11)
    s = CapacitySearch(start=10, lost_retries=0)
    s.record(StepResult(10, True, lost=True))
    assert s.stop_reason == "worker lost"
