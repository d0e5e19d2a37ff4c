"""Arrival processes, load shapes and user profiles (the text forms of durations and rates: test_units.py)."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stinger.core import schedule as sch
from stinger.core.schedule import (
    RateProfile,
    Schedule,
    constant,
    piecewise,
    ramp,
    spike,
    steps,
    steps_linear,
    trace_schedule,
    users_constant,
    users_ramp,
    users_steps,
)
from stinger.errors import DatasetError, UsageError


# ------------------------------------------------------------ rate profiles
def test_constant_spacing_is_exact():
    s = Schedule(constant(250.0, 4.0))
    t = s.times()
    assert len(t) == 1000
    np.testing.assert_array_equal(t, np.arange(1000) / 250.0)


def test_constant_open_ended_needs_a_stop():
    with pytest.raises(UsageError, match="duration or a request count"):
        Schedule(constant(10.0))
    t = Schedule(constant(10.0), max_requests=7).times()
    np.testing.assert_array_equal(t, np.arange(7) / 10.0)


def test_max_requests_cuts_before_duration():
    assert len(Schedule(constant(100.0, 10.0), max_requests=123).times()) == 123
    assert len(Schedule(constant(100.0, 1.0), max_requests=10_000).times()) == 100


def test_duration_kwarg_cuts_the_profile():
    s = Schedule(constant(100.0, 10.0), duration=2.0)
    assert len(s.times()) == 200
    assert s.total_expected == pytest.approx(200.0)


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: constant(0), "rate must be > 0"),
        (lambda: constant(-5, 10), "rate must be > 0"),
        (lambda: constant(10, 0), "duration"),
        (lambda: constant(10, -1), "duration"),
        (lambda: ramp(0, 0, 10), "ramp must reach a rate > 0"),
        (lambda: ramp(0, 10, 0), "ramp length"),
        (lambda: ramp(-1, 10, 5), "ramp start"),
        (lambda: ramp(0, 10, 5, hold=-1), "hold"),
        (lambda: steps([]), "at least one"),
        (lambda: steps([(0, 5), (0, 5)]), "rate > 0"),
        (lambda: steps([(10, 0)]), "step 1 duration"),
        (lambda: steps([(10, 5), (10,)]), "step 2"),
        (lambda: steps_linear(10, 5, 0, 10), "count"),
        (lambda: steps_linear(10, -5, 4, 10), "negative"),
        (lambda: spike(10, 0, at=1, length=1, duration=5), "height"),
        (lambda: spike(10, 50, at=4, length=2, duration=5), "after the duration"),
        (lambda: spike(10, 50, at=-1, length=2, duration=5), "'at'"),
        (lambda: piecewise([(0, 10)]), "two"),
        (lambda: piecewise([(1, 10), (2, 10)]), "t=0"),
        (lambda: piecewise([(0, 10), (5, 10), (5, 20)]), "increase"),
        (lambda: piecewise([(0, 0), (5, 0)]), "rate > 0"),
        (lambda: piecewise([(0, 10), (5, -1)]), "rate"),
    ],
)
def test_profile_validation(build, match):
    with pytest.raises(UsageError, match=match) as e:
        build()
    assert "\n" not in str(e.value)


def test_ramp_rate_and_cumulative():
    p = ramp(0, 100, 10, hold=5)
    assert p.duration == 15
    assert p.rate_at(5.0) == pytest.approx(50.0)
    assert p.rate_at(12.0) == pytest.approx(100.0)
    assert p.rate_at(15.0) == 0.0 and p.rate_at(-1.0) == 0.0
    assert p.cumulative(10.0) == pytest.approx(500.0)
    assert p.cumulative(15.0) == pytest.approx(1000.0)
    assert p.cumulative(99.0) == pytest.approx(1000.0)
    assert p.total == pytest.approx(1000.0)
    assert p.peak == 100.0


def test_spike_shape():
    p = spike(10, 100, at=5, length=2, duration=20)
    np.testing.assert_allclose(p.rate_at(np.array([0.0, 4.99, 5.0, 6.99, 7.0, 19.9])), [10, 10, 100, 100, 10, 10])
    assert p.total == pytest.approx(10 * 18 + 100 * 2)
    assert len(Schedule(p).times()) == 380


def test_steps_linear_levels():
    p = steps_linear(10, 5, 3, 2.0)
    assert p.duration == 6.0
    np.testing.assert_allclose(p.rate_at(np.array([1.0, 3.0, 5.0])), [10, 15, 20])


def test_stepped_piecewise_holds_each_rate():
    p = piecewise([(0, 10), (2, 30), (3, 0)], interpolate=False)
    np.testing.assert_allclose(p.rate_at(np.array([0.5, 1.99, 2.0, 2.5])), [10, 10, 30, 30])
    assert p.total == pytest.approx(50.0)


def test_zero_rate_pause_gets_no_arrivals():
    p = steps([(10, 1.0), (0, 1.0), (10, 1.0)])
    t = Schedule(p).times()
    assert len(t) == 20
    assert not np.any((t >= 1.0) & (t < 2.0))
    assert t[10] == pytest.approx(2.0)


def test_describe_and_repr():
    assert constant(100, 30).describe() == "constant 100/s for 30s"
    assert "ramp 0 -> 50/s over 2m" in ramp(0, 50, 120).describe()
    assert "poisson" in Schedule(constant(5, 5), arrival="poisson").describe()
    assert "RateProfile" in repr(steps([(1, 1)]))


def test_profiles_pickle():
    p = spike(1, 9, at=1, length=1, duration=4)
    q = pickle.loads(pickle.dumps(p))
    assert q == p and q.describe() == p.describe()
    np.testing.assert_array_equal(Schedule(q).times(), Schedule(p).times())
    u = users_ramp(0, 10, 5)
    assert pickle.loads(pickle.dumps(u)).users_at(2.5) == u.users_at(2.5)


# profiles: random piecewise-linear shapes
_rates = st.floats(min_value=0.0, max_value=500.0, allow_nan=False).map(lambda r: round(r, 3))
_gaps = st.floats(min_value=0.05, max_value=5.0, allow_nan=False).map(lambda g: round(g, 3))


@st.composite
def profiles(draw):
    n = draw(st.integers(min_value=1, max_value=6))
    gaps = draw(st.lists(_gaps, min_size=n, max_size=n))
    rates = draw(st.lists(_rates, min_size=n + 1, max_size=n + 1))
    if max(rates) == 0:
        rates[0] = 1.0
    interpolate = draw(st.booleans())
    if not interpolate and max(rates[:-1]) == 0:
        rates[0] = 1.0
    ts = np.concatenate(([0.0], np.cumsum(gaps))).tolist()
    return piecewise(list(zip(ts, rates)), interpolate=interpolate)


@settings(max_examples=150, deadline=None)
@given(profiles(), st.data())
def test_counts_per_window_match_the_integral(p, data):
    """Constant arrivals: arrivals in [a, b) differ from ∫a^b r by less than one on each side."""
    t = Schedule(p).times()
    assert np.all(np.diff(t) >= 0)
    assert np.all((t >= 0) & (t < p.duration))
    a = data.draw(st.floats(min_value=0, max_value=p.duration))
    b = data.draw(st.floats(min_value=a, max_value=p.duration))
    count = np.count_nonzero((t >= a) & (t < b))
    expected = p.cumulative(b) - p.cumulative(a)
    assert abs(count - expected) <= 1 + 1e-6
    assert abs(len(t) - p.total) <= 1 + 1e-6


@settings(max_examples=150, deadline=None)
@given(profiles(), st.data())
def test_inverse_cumulative_inverts(p, data):
    t = data.draw(st.floats(min_value=0, max_value=p.duration, exclude_max=True))
    # where the rate right after t is positive, Λ⁻¹(Λ(t)) is t itself
    if p.rate_at(min(t + 1e-6, p.duration)) > 1e-3 and p.rate_at(t) > 1e-3:
        back = p.inverse_cumulative(p.cumulative(t))
        assert back == pytest.approx(t, rel=1e-7, abs=1e-7)
    x = data.draw(st.floats(min_value=0, max_value=p.total, exclude_max=True))
    assert p.cumulative(p.inverse_cumulative(x)) == pytest.approx(x, rel=1e-7, abs=1e-6)
    assert math.isinf(p.inverse_cumulative(p.total + 1.0))


@settings(max_examples=100, deadline=None)
@given(profiles())
def test_vectorised_matches_scalar(p):
    ts = np.linspace(-1, p.duration + 1, 37)
    vec = p.rate_at(ts)
    assert [p.rate_at(float(x)) for x in ts] == pytest.approx(vec.tolist())
    cum = p.cumulative(ts)
    assert np.all(np.diff(cum) >= -1e-9)  # Λ never decreases


def test_inverse_cumulative_ramp_from_zero():
    p = ramp(0, 100, 10)  # Λ(t) = 5 t²
    xs = np.array([0.0, 5.0, 20.0, 125.0, 499.0])
    np.testing.assert_allclose(p.inverse_cumulative(xs), np.sqrt(xs / 5.0))


def test_decreasing_ramp():
    p = ramp(100, 0, 10)  # Λ(t) = 100 t - 5 t²
    t = Schedule(p).times()
    assert len(t) == 500
    assert np.all(np.diff(t) > 0)
    assert np.count_nonzero(t < 5) == pytest.approx(375, abs=1)


# ------------------------------------------------------------------ Poisson
def test_poisson_mean_rate_and_dispersion():
    t = Schedule(constant(1000.0, 60.0), arrival="poisson", seed=7).times()
    assert len(t) == pytest.approx(60_000, rel=0.02)  # sd is ~0.4 %
    gaps = np.diff(t)
    assert gaps.mean() == pytest.approx(1e-3, rel=0.02)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, abs=0.03)  # exponential: CV = 1


def test_poisson_is_deterministic_per_seed():
    p = ramp(10, 500, 20)
    a = Schedule(p, arrival="poisson", seed=3).times()
    b = Schedule(p, arrival="poisson", seed=3).times()
    c = Schedule(p, arrival="poisson", seed=4).times()
    np.testing.assert_array_equal(a, b)
    assert len(a) != len(c) or not np.array_equal(a, c)


def test_poisson_follows_the_shape():
    p = steps([(100, 20.0), (1000, 20.0)])
    t = Schedule(p, arrival="poisson", seed=11).times()
    low, high = np.count_nonzero(t < 20), np.count_nonzero(t >= 20)
    assert low == pytest.approx(2000, rel=0.1)
    assert high == pytest.approx(20000, rel=0.05)


# ---------------------------------------------------------- chunks and workers
@pytest.mark.parametrize("arrival", ["constant", "poisson"])
@pytest.mark.parametrize("size", [1000, 8192, 100_000])
def test_chunks_do_not_depend_on_size(arrival, size):
    p = ramp(100, 20_000, 10)
    ref = Schedule(p, arrival=arrival, seed=5).times()
    got_ids, got_t = [], []
    for ids, t in Schedule(p, arrival=arrival, seed=5).chunks(size):
        assert ids.dtype == np.int64 and t.dtype == np.float64
        assert len(ids) == len(t) and 0 < len(t) <= size
        got_ids.append(ids)
        got_t.append(t)
    np.testing.assert_array_equal(np.concatenate(got_t), ref)
    np.testing.assert_array_equal(np.concatenate(got_ids), np.arange(len(ref)))


@pytest.mark.parametrize("workers", [1, 2, 3, 8])
def test_worker_shares_reunite(workers):
    s = Schedule(spike(500, 5000, at=2, length=1, duration=5), arrival="poisson", seed=9)
    full = s.times()
    shares = []
    for w in range(workers):
        ids_w, t_w = [], []
        for ids, t in s.chunks(8192):
            mine = ids % workers == w
            ids_w.append(ids[mine])
            t_w.append(t[mine])
        shares.append((np.concatenate(ids_w), np.concatenate(t_w)))
    ids = np.concatenate([x[0] for x in shares])
    ts = np.concatenate([x[1] for x in shares])
    order = np.argsort(ids)
    np.testing.assert_array_equal(ids[order], np.arange(len(full)))
    np.testing.assert_array_equal(ts[order], full)
    # chunk[w::W] of the global sequence is the same share when W divides the chunk size
    if 8192 % workers == 0:
        for w in range(workers):
            strided = np.concatenate([t[w::workers] for _, t in s.chunks(8192)])
            np.testing.assert_array_equal(strided, shares[w][1])


def test_offered_rate_and_total_expected():
    s = Schedule(ramp(0, 100, 10, hold=10))
    assert s.offered_rate(0, 10) == pytest.approx(50.0)
    assert s.offered_rate(10, 20) == pytest.approx(100.0)
    assert s.offered_rate(15, 25) == pytest.approx(50.0)  # half the window is past the end
    assert s.offered_rate(30, 40) == 0.0
    assert s.total_expected == pytest.approx(1500.0)
    assert Schedule(constant(10), max_requests=50).total_expected == 50.0
    with pytest.raises(ValueError):
        s.offered_rate(5, 5)


def test_schedule_arguments_checked():
    with pytest.raises(UsageError, match="arrival must be one of"):
        Schedule(constant(1, 1), arrival="bursty")
    with pytest.raises(UsageError, match="exactly one"):
        Schedule(None)
    with pytest.raises(UsageError, match="exactly one"):
        Schedule(constant(1, 1), trace=np.array([0.0]))
    with pytest.raises(UsageError, match="max requests"):
        Schedule(constant(1, 1), max_requests=0)
    with pytest.raises(UsageError, match="trace"):
        Schedule(None, trace=np.array([0.0, 2.0, 1.0]))


def test_million_arrivals_generate():
    n = 0
    for ids, _t in Schedule(constant(100_000, 10.0), arrival="poisson", seed=1).chunks(8192):
        n += len(ids)
    assert n == pytest.approx(1_000_000, rel=0.01)


# ------------------------------------------------------------------- traces
@pytest.mark.parametrize(
    "content, kind, expected",
    [
        ("0\n0.5\n1.5\n", "auto", [0, 0.5, 1.5]),
        ("timestamp\n1700000000.0\n1700000000.25\n1700000001\n", "auto", [0, 0.25, 1.0]),
        ("# comment\n\n2\n3\n3\n", "timestamps", [0, 1, 1]),
        ("t,extra\n0.1,a\n0.4,b\n", "auto", [0, 0.3]),
        ("gap\n0.5\n0.25\n0.25\n", "gaps", [0, 0.25, 0.5]),
        ("5\n", "auto", [0]),
    ],
)
def test_trace_files(tmp_path, content, kind, expected):
    f = tmp_path / "trace.txt"
    f.write_text(content)
    np.testing.assert_allclose(trace_schedule(f, kind=kind), expected)


@pytest.mark.parametrize(
    "content, kind, match",
    [
        ("0\n1\nfoo\n", "auto", "line 3"),
        ("0\n2\n1\n", "auto", r"line 3.*gaps"),
        ("-1\n2\n", "auto", "line 1"),
        ("0.1\n-0.2\n", "gaps", "line 2"),
        ("header\n", "auto", "no timestamps"),
        ("", "auto", "no timestamps"),
        ("0\ninf\n", "auto", "line 2"),
    ],
)
def test_bad_trace_files(tmp_path, content, kind, match):
    f = tmp_path / "t.csv"
    f.write_text(content)
    with pytest.raises(DatasetError, match=match) as e:
        trace_schedule(f, kind=kind)
    assert "\n" not in str(e.value)


def test_missing_trace_file_and_bad_kind(tmp_path):
    with pytest.raises(DatasetError, match="cannot read"):
        trace_schedule(tmp_path / "nope.txt")
    with pytest.raises(UsageError, match="kind"):
        trace_schedule(tmp_path / "nope.txt", kind="json")


def test_trace_schedule_replays(tmp_path):
    f = tmp_path / "trace.txt"
    f.write_text("\n".join(str(10 + 0.01 * k) for k in range(500)))
    offsets = trace_schedule(f)
    s = Schedule(None, trace=offsets, max_requests=300)
    t = s.times()
    assert len(t) == 300 and s.total_expected == 300
    np.testing.assert_allclose(t, 0.01 * np.arange(300), atol=1e-9)
    assert s.offered_rate(0, 1) == pytest.approx(100.0)
    s2 = Schedule(None, trace=offsets, duration=2.0)
    assert len(s2.times()) == 200
    ids = np.concatenate([i for i, _ in Schedule(None, trace=offsets).chunks(64)])
    np.testing.assert_array_equal(ids, np.arange(500))


# -------------------------------------------------------------- closed model
@pytest.mark.parametrize(
    "profile, t, users",
    [
        (users_constant(5, 10), 0.0, 5),
        (users_constant(5, 10), 9.99, 5),
        (users_constant(5, 10), 10.0, 0),
        (users_constant(5), 1e6, 5),
        (users_ramp(0, 10, 10), 0.0, 0),
        (users_ramp(0, 10, 10), 0.99, 0),
        (users_ramp(0, 10, 10), 1.0, 1),
        (users_ramp(0, 10, 10), 3.0, 3),
        (users_ramp(0, 10, 10, hold=5), 12.0, 10),
        (users_ramp(10, 2, 8), 0.0, 10),
        (users_ramp(10, 2, 8), 4.0, 6),
        (users_steps([(2, 5), (0, 5), (8, 5)]), 4.0, 2),
        (users_steps([(2, 5), (0, 5), (8, 5)]), 5.0, 0),
        (users_steps([(2, 5), (0, 5), (8, 5)]), 10.0, 8),
        (users_steps([(2, 5), (0, 5), (8, 5)]), -1.0, 0),
    ],
)
def test_users_at(profile, t, users):
    assert profile.users_at(t) == users


def test_users_profile_basics():
    u = users_ramp(1, 20, 10, hold=5)
    assert u.duration == 15 and u.peak == 20
    assert "ramp 1 -> 20 users" in u.describe()
    assert users_constant(3).duration is None
    seen = [u.users_at(0.1 * k) for k in range(100)]
    assert seen == sorted(seen)


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: users_constant(0), "users must be an integer >= 1"),
        (lambda: users_constant(2.5), "integer"),
        (lambda: users_constant(3, 0), "duration"),
        (lambda: users_ramp(0, 0, 5), "at least 1 user"),
        (lambda: users_ramp(0, 5, -1), "ramp length"),
        (lambda: users_steps([]), "at least one"),
        (lambda: users_steps([(0, 5)]), ">= 1 user"),
        (lambda: users_steps([(3, 0)]), "duration"),
    ],
)
def test_users_validation(build, match):
    with pytest.raises(UsageError, match=match):
        build()


def test_public_names():
    for name in sch.__all__:
        assert hasattr(sch, name)
    assert isinstance(constant(1, 1), RateProfile)
