"""Independent pairing (the default paired schedule, issue 15): every payload to every variant, each
request at an instant of its own, the variant that follows a variant close to random; a pure function
of (seed, slot id), so workers agree without talking."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest

from stinger.core.schedule import constant, spread_trace
from stinger.datasets import PayloadOrder
from stinger.engine.slots import PAIR_BLOCK, Slots, independent_pairs
from stinger.orchestrate.planning import build_plans
from stinger.spec import parse_spec


def _slots(workers: int = 1, nvar: int = 2, seed: int = 3, **load) -> list[Slots]:
    spec = parse_spec({"variants": [{"name": f"v{i}", "type": "fake"} for i in range(nvar)], "split": "paired",
                       "payload": {"body": "x"}, "load": {"rate": 100, "duration": 10, "seed": seed, **load}})
    return [Slots(p) for p in build_plans(spec, workers=workers)]


def _all(workers: int = 1, **kw):
    """(time, variant, payload slot) of every request of every worker, in time order."""
    out = []
    for s in _slots(workers, **kw):
        for times, variants, payloads in s.open_chunks():
            out += list(zip(times.tolist(), variants.tolist(), payloads.tolist(), strict=True))
    return sorted(out)


@pytest.mark.parametrize("nvar", [2, 3])
def test_every_pair_reaches_every_variant_once(nvar):
    keys = PayloadOrder(1 << 62, "random", seed=9)
    ids = np.arange(nvar * PAIR_BLOCK * 40)
    variants, pairs = independent_pairs(ids, nvar, keys)
    by_pair: dict[int, list[int]] = {}
    for v, p in zip(variants.tolist(), pairs.tolist(), strict=True):
        by_pair.setdefault(p, []).append(v)
    assert sorted(by_pair) == list(range(PAIR_BLOCK * 40))
    assert all(sorted(vs) == list(range(nvar)) for vs in by_pair.values())
    # each pair's requests stay within their block of slots
    for p in range(0, PAIR_BLOCK * 40, 37):
        where = ids[pairs == p]
        assert where.max() - where.min() < nvar * PAIR_BLOCK


def test_a_slot_is_placed_the_same_whatever_else_is_asked():
    keys = PayloadOrder(1 << 62, "random", seed=9)
    ids = np.arange(2 * PAIR_BLOCK * 10)
    whole = independent_pairs(ids, 2, keys)
    odd = independent_pairs(ids[1::2], 2, keys)     # a worker of two asks for its own slots only
    assert whole[0][1::2].tolist() == odd[0].tolist() and whole[1][1::2].tolist() == odd[1].tolist()


def test_rate_per_variant_and_no_pair_at_one_instant():
    rows = _all()
    counts = Counter(v for _, v, _ in rows)
    assert counts[0] == counts[1] == 1000        # 100 req/s per variant for 10 s, as before
    times = [t for t, _, _ in rows]
    assert len(set(times)) == len(times)         # no two requests at one intended instant


@pytest.mark.parametrize("load", [{"arrival": "poisson"}, {"rate": 37, "duration": 3.3}, {"requests": 299, "duration": 100}])
def test_a_bounded_run_ends_on_whole_pairs(load):
    """However the run is bounded, the last block is shuffled within itself: the variants' counts
    differ by at most one request (a duration can end a pair halfway), and with a count not at all."""
    rows = _all(workers=2, **load)
    counts = Counter(v for _, v, _ in rows)
    assert abs(counts[0] - counts[1]) <= (0 if "requests" in load else 1), counts


def test_variant_sequence_is_close_to_random():
    rows = _all(seed=11)
    seq = [v for _, v, _ in rows]
    follows = Counter(itertools.pairwise(seq))
    same = (follows[(0, 0)] + follows[(1, 1)]) / (len(seq) - 1)
    # a split's coin flips give 0.5; simultaneous pairs alternate (about 0.25 "same" with a random first)
    assert 0.44 <= same <= 0.52, same


def test_workers_split_one_schedule():
    one = _all(workers=1, seed=5)
    three = _all(workers=3, seed=5)
    assert one == three


def test_pairs_match_payloads_with_a_dataset(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text("".join(f'{{"x": {i}}}\n' for i in range(7)))
    spec = parse_spec({"variants": [{"name": "A", "type": "fake"}, {"name": "B", "type": "fake"}],
                       "split": "paired", "payload": {"data": str(data), "order": "random"},
                       "load": {"rate": 50, "requests": 300, "seed": 4}})
    [plan] = build_plans(spec, workers=1)
    rows = []
    for times, variants, payloads in Slots(plan).open_chunks():
        rows += list(zip(times.tolist(), variants.tolist(), payloads.tolist(), strict=True))
    a = Counter(p for _, v, p in rows if v == 0)
    b = Counter(p for _, v, p in rows if v == 1)
    assert sum(a.values()) == sum(b.values()) == 300    # --requests counts pairs, as it always did
    assert a == b                                         # each variant got exactly the same payloads


def test_simultaneous_is_still_there():
    spec = parse_spec({"variants": [{"name": "A", "type": "fake"}, {"name": "B", "type": "fake"}], "split": "paired",
                       "pairing": "simultaneous", "load": {"rate": 100, "duration": 2, "seed": 1}})
    [plan] = build_plans(spec, workers=1)
    times, variants, _ = next(Slots(plan).open_chunks())
    assert len(times) == 200 and np.all(variants < 0)   # one slot fires every variant at one instant


def test_spread_trace_and_scaled_profile():
    assert spread_trace(np.array([0.0, 1.0, 3.0]), 2).tolist() == [0.0, 0.5, 1.0, 2.0, 3.0, 4.0]
    assert spread_trace(np.array([2.0]), 3).tolist() == [2.0, 2.0, 2.0]
    p = constant(10, 5).scaled(3)
    assert p.total == pytest.approx(150) and p.peak == pytest.approx(30)
