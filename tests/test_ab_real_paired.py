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
pairs and moved the A-first share by up to 0.09 either way from the send order's (the
0.708 once seen at seed 23, whose send order is A first in 0.492 of pairs); with one
process both requests of a pair wait in one epoll ready list in the order they arrived,
and the order agreed in 5,760 of 5,760 pairs. The remaining noise is the seed's own coin. The mean B-A at p50 over the runs must stay within a few HDR buckets of what
the servers themselves timed, and the verdict (seconds resampled jointly) must not call the
identical variants different more than once.
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
# The mean over 4 runs of stinger's p50 B-A minus the servers' own: per-run noise is ~15 us, so
# the bound is 5 buckets (about 2.5 standard errors of the mean). The always-A order measured
# +27 us (15 runs) and +48 us (these 4 seeds) against servers that timed ~-10 us; the arrival-order
# check above it is the sharp one (A first in ~0.85 of pairs then).
P50_BOUND_MS = 5 * BUCKET_MS


def _a_first_share(rec_a, rec_b, window: float = 0.002) -> tuple[float, int]:
    """Share of pairs whose A request arrived first (each A arrival matched to the nearest B arrival)."""
    ta, tb = np.sort(rec_a["recv"]), np.sort(rec_b["recv"])
    idx = np.clip(np.searchsorted(tb, ta), 1, len(tb) - 1)
    left, right = tb[idx - 1], tb[idx]
    gap = np.where(np.abs(ta - left) <= np.abs(ta - right), left, right) - ta
    ok = np.abs(gap) <= window
    return float(np.mean(gap[ok] > 0)), int(ok.sum())


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
        assert matched >= 300, matched                 # ~420 pairs a run, nearly all matched
        shares.append(share)
    # ~1,700 pairs, each order a fair coin: A first in 0.5 +- 0.012 (sd); always-A gives ~1.0
    assert 0.43 <= float(np.mean(shares)) <= 0.57, shares
    assert all(0.35 <= s <= 0.65 for s in shares), shares
    bias = float(np.mean(diffs)) - float(np.mean(server_diffs))
    assert abs(bias) <= P50_BOUND_MS, (diffs, server_diffs)
    assert significant <= 1, significant               # 4 runs at alpha 0.05: 2 or more has probability ~1.4 %
