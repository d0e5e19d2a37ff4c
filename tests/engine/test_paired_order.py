"""Simultaneous pairing: which variant of a pair is sent first is drawn per request, not always A (issue 9 item 1)."""

from __future__ import annotations

from stinger.engine.loop import Engine
from stinger.orchestrate.planning import build_plans
from stinger.spec import parse_spec


def dispatch_order(seed: int, n_variants: int = 2, requests: int = 400) -> list[tuple[int, ...]]:
    """The order in which the engine dispatches each pair's variants (no network: dispatch is recorded)."""
    spec = parse_spec({"variants": [{"name": f"v{i}", "type": "fake"} for i in range(n_variants)],
                       "split": "paired", "pairing": "simultaneous",
                       "load": {"rate": 1000, "requests": requests, "seed": seed}})
    [plan] = build_plans(spec, workers=1)
    engine = Engine(plan, emit=lambda msg: None)
    sent: list[tuple[float, int, int]] = []
    engine._dispatch = lambda intended, v, p, user, queued=0: sent.append((intended, v, p))
    for times, variants, payloads in engine.slots.open_chunks():
        for t, v, p in zip(times.tolist(), variants.tolist(), payloads.tolist(), strict=True):
            engine._fire(t, v, p)
    pairs = [tuple(v for _, v, _ in sent[i:i + n_variants]) for i in range(0, len(sent), n_variants)]
    # every pair is one payload at one instant, every variant once
    assert len(pairs) == requests
    for i in range(0, len(sent), n_variants):
        group = sent[i:i + n_variants]
        assert len({(t, p) for t, _, p in group}) == 1
    return pairs


def test_each_variant_goes_first_in_about_half_the_pairs():
    pairs = dispatch_order(seed=0)
    assert all(sorted(pair) == [0, 1] for pair in pairs)
    a_first = sum(pair[0] == 0 for pair in pairs)
    assert 150 <= a_first <= 250, a_first      # 400 fair coin flips: 200 +- 5 sd


def test_the_order_is_a_pure_function_of_the_seed():
    assert dispatch_order(seed=5) == dispatch_order(seed=5)
    assert dispatch_order(seed=5) != dispatch_order(seed=6)


def test_with_three_variants_each_leads_a_third_of_the_time():
    pairs = dispatch_order(seed=1, n_variants=3, requests=600)
    assert all(sorted(pair) == [0, 1, 2] for pair in pairs)
    leads = [sum(pair[0] == v for pair in pairs) for v in range(3)]
    assert all(140 <= n <= 260 for n in leads), leads
