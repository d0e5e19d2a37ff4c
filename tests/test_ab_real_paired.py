"""Simultaneous paired A/A on real runs (slow, ~32 s of load): no order bias, B-A at p50 near the servers' own.

A and B are two routes of one self-timing delay server process (/a and /b, the same
delay): it records when every request arrived, so its arrival log shows which half of each
pair was sent first: it must be A about half the time (issue 9 item 1; always A before the
fix, which measured B slower).

Why one process, not two servers: which of two server processes the scheduler wakes first
decides which of them stamps its read first, and on a busy machine that is a property of
the run (where each process last ran), not of the order the requests were sent in.
Measured beside two CPU hogs at seeds 21-24, 12 runs: with two server processes the
servers' per-pair order agreed with stinger's send order (requests.csv) in only 61-86 % of
pairs and moved the A-first share by up to 0.09 either way from the send order's (stinger's
0.708 once seen at seed 23, whose send order is A first in 0.492 of pairs); with one
process both requests of a pair wait in one epoll ready list in the order they arrived,
and the order agreed in 5,760 of 5,760 pairs. The remaining noise is the seed's own coin.

The mean over the runs of stinger's p50 B-A minus the server's own must be within the noise
those same runs show (a t bound on their own spread, floored at two HDR buckets), and the
verdict (seconds resampled jointly) must not call the identical variants different more than
once. Why not a fixed bound: beside two CPU hogs (load 6-7, 64 runs, seeds 21-48) that
per-run difference had median +1.5 us and IQR -2..+5 us but tails to -55 and +88 us (the
latency p95 reached 111 ms there, so few pairs sit near the p50 and their order coins move
it), and the fixed 20 us on the mean of 4 failed whenever one run drew such a tail (seeds
25-28: mean +21 us). It is noise, not an order bias: one figure per seed, 12 of 28 seeds
positive (Wilcoxon p 0.57), and regressed on the seed's A-first share the difference at a
balanced order is +1.5 +- 2.0 us. The always-A order (the bug) gave +30..+53 us, sd 9 us,
share 0.98-1.0 in 8 runs beside the hogs (two sets of seeds 21-24): the share check fails it
outright, the t bound below rejected both sets (offset +34 and +44 us against bounds of 15 and
19 us), and so did the significance count (2 and 3 of 4 runs significant).
"""

from __future__ import annotations

import numpy as np
import pytest

from stinger.orchestrate.ab import AbOptions, run_ab
from stinger.spec import parse_spec
from stinger.testing.servers import RefServer

pytestmark = pytest.mark.slow

DELAY_MS = 5.0
BUCKET_MS = 0.004   # HDR at 3 significant digits, integer microseconds: 4 us wide from 4,096 to 8,191 us
# The bound on the mean over the runs of stinger's p50 B-A minus the server's own: T_K standard
# errors of that mean, measured from the runs' own differences (the t distribution's two-sided
# 98 % point at 3 degrees of freedom; the differences are heavy-tailed, which makes t conservative:
# resampled from the 64 runs above, 2 in 10,000 sets of 4 A/A runs exceed it), never below
# FLOOR_MS: each p50 is read as its HDR bucket, so stinger's difference is off by up to a bucket,
# and the server's own p50 B-A varied by 2.4 us (sd) from run to run. The bound follows the
# machine: 20 runs of this test beside the hogs at load 4-12 had per-run offsets from -645 to
# +354 us and bounds from 8 us (quiet) to 782 us; where it is that wide, the A-first share (exact,
# whatever the load) is what catches an order bias.
T_K = 4.54
FLOOR_MS = 2 * BUCKET_MS


def _bias_bound_ms(offsets: list[float]) -> float:
    """T_K standard errors of the mean of these per-run offsets (their own spread), at least FLOOR_MS."""
    se = float(np.std(offsets, ddof=1)) / np.sqrt(len(offsets))
    return max(T_K * se, FLOOR_MS)


def _a_first_share(rec_a, rec_b) -> tuple[float, int]:
    """Share of pairs whose A request arrived first: the i-th A arrival against the i-th B arrival.

    Pairs leave in schedule order, so ranks pair them exactly. Matching each A arrival to the
    nearest B arrival (as this test did) read high under load: beside two CPU hogs at load ~12,
    when the client caught up on late pairs in bursts tens of us apart, it read 0.55-0.58 at seed
    21 while stinger's own sent times (requests.csv) and the ranks both gave the seed's coin, 0.521.
    """
    assert len(rec_a) == len(rec_b), (len(rec_a), len(rec_b))   # every pair reached the server whole
    ta, tb = np.sort(rec_a["recv"]), np.sort(rec_b["recv"])
    return float(np.mean(ta < tb)), len(ta)


def _paired_aa(tmp_path, seed: int):
    with RefServer("delay", delay_ms=DELAY_MS, record=True, routes={"/a": DELAY_MS, "/b": DELAY_MS}) as srv:
        data = {"variants": [{"name": "A", "url": srv.url + "/a"}, {"name": "B", "url": srv.url + "/b"}],
                "split": "paired", "pairing": "simultaneous",   # the order within a pair is the subject
                "load": {"rate": 60, "duration": 8, "warmup": "1s", "seed": seed, "timeout": "5s"},
                "server_time": None, "output": {"dir": str(tmp_path / f"aa{seed}")}}
        spec = parse_spec(data)
        verdict = run_ab(spec, AbOptions(mode="paired"), quiet=True).verdict
        srv.stop()
        ra, rb = srv.route_records("/a"), srv.route_records("/b")
    server_p50 = float(np.percentile((rb["send"] - rb["recv"]) * 1e3, 50)
                       - np.percentile((ra["send"] - ra["recv"]) * 1e3, 50))
    return verdict, server_p50, _a_first_share(ra, rb)


def test_paired_aa_order_balanced_and_p50_unbiased(tmp_path):
    significant, diffs, server_diffs, shares = 0, [], [], []
    for seed in (21, 22, 23, 24):
        v, server_p50, (share, matched) = _paired_aa(tmp_path, seed)
        significant += v.significant
        p50 = next(r for r in v.rows if r.metric.startswith("latency p50"))
        diffs.append(p50.diff)
        server_diffs.append(server_p50)
        assert matched >= 300, matched                 # ~480 pairs a run (warm-up included)
        shares.append(share)
    # ~1,700 pairs, each order a fair coin: A first in 0.5 +- 0.012 (sd); always-A gives ~1.0
    assert 0.43 <= float(np.mean(shares)) <= 0.57, shares
    assert all(0.35 <= s <= 0.65 for s in shares), shares
    offsets = [d - s for d, s in zip(diffs, server_diffs)]   # stinger's p50 B-A minus the server's, per run
    bias, bound = float(np.mean(offsets)), _bias_bound_ms(offsets)
    print(f"A-first shares {shares}; p50 B-A stinger {diffs} server {server_diffs} (ms); "
          f"bias {bias * 1e3:+.1f} us, bound {bound * 1e3:.1f} us; significant {significant}")
    assert abs(bias) <= bound, (bias, bound, diffs, server_diffs)
    assert significant <= 1, significant               # 4 runs at alpha 0.05: 2 or more has probability ~1.4 %
