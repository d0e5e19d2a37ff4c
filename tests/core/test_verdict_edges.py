"""Issue 15 items 9 and 11: the verdict at its edges, as tables of rows -> words and decisions.

- the rank row carries the variants' names in the row itself (every surface: the table,
  verdict.json, compare's "regression:" line), never `P(B faster)` beside `P(candidate faster)`;
- an interval whose end is just past "no difference" prints with the digits that show it
  (a significant row never reads "CI 0.5–0.52");
- a row of two separate runs counts only beyond its band (margin, drift): "within margin";
- catalogue metrics are worded from the catalogue (time to first token, tokens/s);
- the sequential test reports an estimate with the interval that belongs to it.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from stinger.core.stats import Comparison, SequentialTest
from stinger.core.verdict import verdict
from stinger.orchestrate.compare import regressed


def row(metric="latency p50 (ms)", *, a=10.0, b=11.0, diff=1.0, lo=0.5, hi=1.5, p=0.001, kind="latency",
        unit="ms", favours="a", **kw) -> Comparison:
    return Comparison(metric=metric, a=a, b=b, diff=diff, ci_low=lo, ci_high=hi, p_value=p, p_adjusted=p,
                      significant=False, better=None, method="m", kind=kind, unit=unit, favours=favours, **kw)


def rank_row(diff=0.51, lo=0.5003, hi=0.52, p=0.02) -> Comparison:
    return row("latency P(B faster) (Mann-Whitney)", diff=diff, lo=lo, hi=hi, p=p, kind="latency_rank", unit="",
               favours="b" if diff > 0.5 else "a")


def test_the_rank_row_is_named_with_the_variants_on_every_surface():
    slower = rank_row(diff=0.3, lo=0.25, hi=0.35, p=1e-6)
    v = verdict([slower], a_name="baseline", b_name="candidate")
    assert v.rows[0].metric == "latency P(candidate faster) (Mann-Whitney)"
    assert regressed(v) == ["latency P(candidate faster) (Mann-Whitney)"]   # compare's stderr line
    assert "P(B" not in v.to_markdown() and "P(B" not in str(v.rows[0].to_dict())
    # variants called A and B keep the plain name
    assert verdict([slower]).rows[0].metric == "latency P(B faster) (Mann-Whitney)"


@pytest.mark.parametrize(("diff", "lo", "hi", "null", "must", "never"), [
    (0.51, 0.5003, 0.52, 0.5, "0.5003", "CI 0.5–"),        # a rank row just past 0.5
    (0.49, 0.48, 0.4996, 0.5, "0.4996", "–0.5)"),
])
def test_an_interval_end_near_no_difference_prints_the_digits_that_show_its_side(diff, lo, hi, null, must, never):
    v = verdict([rank_row(diff=diff, lo=lo, hi=hi, p=0.01)])
    assert v.rows[0].significant
    assert must in v.sentence and never not in v.sentence, v.sentence
    assert must in v.to_markdown()


def test_a_latency_ci_end_just_above_zero_is_not_printed_as_zero():
    v = verdict([row(diff=0.4, lo=0.0004, hi=0.8, p=0.02)])
    assert v.rows[0].significant
    assert "CI 0.0004–0.8" in v.sentence or "CI 0.0004–0.8000" in v.sentence, v.sentence


def test_a_row_inside_its_band_is_within_margin_and_no_regression():
    # identical runs on a busy machine: p50 +0.96 ms, CI excluding 0, Holm calls it; the band (the
    # runs' own half-to-half drift, 1.2 ms) holds it: no regression, said so in table and sentence
    held = row(diff=0.96, lo=0.6, hi=1.3, p=1e-4, margin=0.5, drift=1.2)
    beyond = row("latency p95 (ms)", a=20.0, b=30.0, diff=10.0, lo=8.0, hi=12.0, p=1e-5, margin=1.0, drift=0.4)
    v = verdict([held, beyond], a_name="baseline", b_name="candidate")
    p50, p95 = v.rows
    assert not p50.significant and p50.within_margin and p50.better is None
    assert p95.significant and not p95.within_margin and p95.better == "a"
    assert regressed(v) == ["latency p95 (ms)"]
    md = v.to_markdown()
    assert "| margin (±) |" in md
    assert "| 1.2 (drift) | no (within margin) |" in md and "| 1.0 | yes (baseline better) |" in md
    assert "within the margin, so not called: latency p50 +0.96 ms (band ±1.2 (drift))" in v.sentence
    assert "†" not in md   # Holm's decision and the row's own CI agree; the band is a rule of its own


def test_without_a_band_the_table_has_no_margin_column():
    v = verdict([row()])
    assert "margin" not in v.to_markdown() and v.rows[0].significant


def test_catalogue_metrics_are_worded_from_the_catalogue():
    ttft = row("time to first token p50 (ms)", a=40.0, b=50.0, diff=10.0, lo=9.6, hi=10.2, p=1e-9, kind="ttft")
    tps = row("output tokens/s per request p50 (tokens/s)", a=100.0, b=90.0, diff=-10.0, lo=-12.0, hi=-8.0,
              p=1e-9, kind="output_tps", unit="tokens/s", favours="a")
    lat = row(diff=0.0, lo=-0.3, hi=0.3, p=1.0, favours=None)
    v = verdict([lat, ttft, tps])
    assert v.sentence.startswith("B is slower than A in time to first token at p50 by 10.0 ms (95 % CI 9.6–10.2 ms); "
                                 "B's output tokens/s per request is lower than A's at p50 by 10.0 tokens/s"), v.sentence
    assert v.sentence.endswith("with no significant difference in latency.")
    quiet = verdict([dataclasses.replace(ttft, p_value=0.5, p_adjusted=0.5, ci_low=-1.0)])
    assert quiet.sentence.startswith("No significant difference between A and B in time to first token")


def test_the_sequential_estimate_lies_in_the_interval_it_is_reported_with():
    # issue 15 item 11: the running intersection of the looks' intervals ends at bounds from
    # different looks; after the deciding look the estimate moves on and can leave it
    # ("-2.54 ms, CI [-0.87, 0.49]"). Reported: the deciding look's estimate and its own interval.
    rng = np.random.default_rng(3)
    t = SequentialTest(alpha=0.05, tau=5.0, min_n=10, paired=True)
    for _ in range(12):
        t.update(np.zeros(1), rng.normal(6.0, 2.0, 1))
    assert t.decision == "different"
    for _ in range(200):   # the later seconds say the opposite
        t.update(np.zeros(1), rng.normal(-4.0, 2.0, 1))
    lo, hi = t.interval
    assert not lo <= t.estimate <= hi            # the old pair contradicts itself
    est, r_lo, r_hi, n = t.reported
    assert r_lo <= est <= r_hi and r_lo > 0 and n < 20   # the deciding look, which excluded 0


def test_a_token_metric_s_name_survives_the_secrets_scrubber():
    # verdict.md and verdict.json are scrubbed before they are written; "token <word>" looked like a
    # credential, and "inter-token latency" became "inter-token <redacted>" in the saved verdict
    from stinger.core.secrets import scrub

    itl = row("inter-token latency p50 (ms)", kind="itl")
    md = scrub(verdict([itl]).to_markdown())
    assert "inter-token latency p50 (ms)" in md and "B is slower than A in inter-token latency at p50" in md
    assert scrub("Authorization: Token abcdef123456") == "Authorization: Token <redacted>"
