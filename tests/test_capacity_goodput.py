"""Capacity on goodput (issue 18 item 2): the highest load whose goodput SLO holds, against an LLM server
whose time to first token grows with the requests in flight (`llm_server --ttft-per-inflight-ms`), so the
boundary is known by construction: TTFT = 20 ms + 10 ms x N, with N the requests in flight at a request's
read (itself included). In the closed model at U users N = U, so 'ttft<95ms' holds up to U = 7 (90 ms)
and never at 8 (100 ms); `hold` runs the load found again and judges it on the same SLO.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from stinger.core.capacity import CapacitySearch, StepResult, limiting_factor
from stinger.core.exit_codes import capacity_exit_code
from stinger.orchestrate.capacity import CapacityOptions, run_capacity
from stinger.spec import parse_spec
from stinger.testing.llm_server import LlmServer

BASE_MS, PER_MS, TOKENS, OBJECTIVE_MS = 20.0, 10.0, 4, 95.0


def test_a_step_that_failed_goodput_is_limited_by_goodput() -> None:
    r = StepResult(target=8, passed=False, failed=("goodput>=95%",), summary={})
    assert limiting_factor(r) == "goodput"
    both = StepResult(target=8, passed=False, failed=("goodput>=95%", "error_rate<1%"), summary={})
    assert limiting_factor(both) == "errors"


def _feed(search: CapacitySearch, outcomes: dict[float, list[tuple[bool, bool]]]) -> list[float]:
    """Run the pure search against scripted steps: target -> [(passed, marginal), ...] in the order run."""
    ran = []
    while (t := search.next_target()) is not None:
        ran.append(t)
        passed, marginal = outcomes[t].pop(0)
        search.record(StepResult(target=t, passed=passed, marginal=marginal,
                                 failed=() if passed else ("goodput>=95%",)))
    return ran


def test_a_marginal_pass_counts_only_when_its_re_test_passes_too() -> None:
    # 40 passes within the share's noise, and its re-test fails: 40 is the first fail (before: the best pass)
    s = CapacitySearch(start=10, growth=2, precision=0.34, confirm=1, max_steps=20)
    ran = _feed(s, {10: [(True, False)], 20: [(True, False)], 40: [(True, True), (False, False)],
                    30: [(True, True), (True, False)]})
    assert ran == [10, 20, 40, 40, 30, 30], ran
    assert s.bracket == (30, 40) and s.stop_reason == "converged"
    assert s.disagreements == [40] and len(s.retests) == 2
    # a failing step that passes its re-test marginally is a pass, as any passing re-test (no third run)
    s2 = CapacitySearch(start=10, growth=2, precision=0.34, confirm=1, max_steps=20)
    ran2 = _feed(s2, {10: [(True, False)], 20: [(False, False), (True, True)], 40: [(False, False)] * 2,
                      30: [(True, False)]})
    assert ran2 == [10, 20, 20, 40, 40, 30] and s2.bracket == (30, 40), ran2
    # confirm 0 believes every step, a marginal pass too
    s3 = CapacitySearch(start=10, growth=2, precision=0.34, confirm=0, max_steps=20)
    _feed(s3, {10: [(True, True)], 20: [(False, False)], 15: [(True, False)]})
    assert s3.bracket == (15, 20) and not s3.retests


def test_a_goodput_slo_without_objectives_is_one_line_before_any_load(tmp_path) -> None:
    p = subprocess.run([sys.executable, "-m", "stinger.cli", "capacity", "--openai", "http://127.0.0.1:9/v1",
                        "--model", "m", "--body", '"hi"', "--slo", "goodput>=95%", "-q", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert len(p.stderr.strip().splitlines()) == 1 and "--goodput" in p.stderr, p.stderr
    assert not list(tmp_path.iterdir())   # refused before a run directory


@pytest.mark.slow
def test_capacity_on_goodput_finds_the_users_the_server_s_rule_allows() -> None:
    predicted = int((OBJECTIVE_MS - BASE_MS) // PER_MS)   # the most users whose TTFT stays under 95 ms: 7
    with LlmServer(ttft_ms=BASE_MS, itl_ms=5, tokens=TOKENS, ttft_per_inflight_ms=PER_MS) as s:
        spec = parse_spec({"target": {"type": "openai", "url": s.url, "model": "m", "max_tokens": TOKENS},
                           "payload": {"body": "hi"}, "load": {"users": 1, "duration": 1},
                           "goodput": [f"ttft<{OBJECTIVE_MS:g}ms"], "server_time": None})
        opts = CapacityOptions(mode="concurrency", start=2, step_duration=3, step_warmup=1,
                               slos=["goodput>=95%"], max_steps=12, hold=4)
        out = run_capacity(spec, opts, quiet=True, write=False)
        recs = s.records()
    assert out["stop_reason"] == "converged", out
    steps = {r["target"]: r for r in out["steps"] if not r["retest"]}
    # at predicted + 1 users the rule gives every request 100 ms: the step fails, and on goodput
    fail = steps[predicted + 1]
    assert not fail["passed"] and fail["limiting"] == "goodput" and fail["goodput"] < 0.5, fail
    # the server's own record: the requests it read with N <= 7 in flight were due under 95 ms
    assert all(r["ttft_due"] * 1e3 < OBJECTIVE_MS for r in recs if r["in_flight"] <= predicted)
    # found: the prediction; lower only where the server's own record shows the machine made it late: of
    # the requests it read at the first failing load, more than 5 % handed their first token past 95 ms
    found = out["max_sustainable"]
    assert found is not None and found <= predicted and out["bracket"][1] == found + 1, out
    # (or the step says the machine was busy: then the client's own reading may be what was late)
    if found < predicted:
        at = [r for r in recs if r["in_flight"] == found + 1]
        late = sum((r["first"] - r["recv"]) * 1e3 >= OBJECTIVE_MS for r in at) / max(1, len(at))
        busy = all(r["machine_busy"] for r in out["steps"] if r["target"] == found + 1)
        assert late > 0.05 or busy, (out["steps"], late)
    assert out["at_max"]["goodput"] >= 0.95
    # held: the load found run again (4 s) on the same SLO, a row of its own beside the steps
    hold = out["hold"]
    assert hold["target"] == out["max_sustainable"] and hold["duration_s"] == 4 and hold["hold"], hold
    assert hold["passed"] and hold["goodput"] >= 0.95, hold
    assert capacity_exit_code(out) == 0
    assert capacity_exit_code({**out, "hold": {**hold, "passed": False}}) == 1   # found, but did not hold


def test_each_step_draws_a_schedule_of_its_own_from_the_run_s_seed() -> None:
    # a re-test replayed the very same Poisson schedule (goodput 93 %, 93 %, 93 % at one rate): it tested the
    # machine again but never the sample, whose noise is what a share's re-test is for
    from stinger.orchestrate.capacity import _step_load

    spec = parse_spec({"target": {"url": "http://127.0.0.1:9/"}, "load": {"rate": 1, "duration": 1, "seed": 42,
                                                                          "arrival": "poisson"}})
    opts = CapacityOptions()
    seeds = [_step_load(spec, opts, 20.0, k).seed for k in range(4)]
    assert seeds[0] == 42 and len(set(seeds)) == 4, seeds
    assert seeds == [_step_load(spec, opts, 20.0, k).seed for k in range(4)]   # --seed still reproduces


def test_the_terminal_says_whether_the_load_found_held() -> None:
    from rich.console import Console

    from stinger.outputs.terminal import _print_hold

    console = Console(record=True, width=200)
    _print_hold({"unit": "req/s", "hold": {"target": 25.0, "duration_s": 20.0, "passed": False,
                                           "failed": ["goodput>=95%"], "goodput": 0.774, "p95_ms": 410.2}}, console)
    _print_hold({"unit": "users"}, console)   # no --hold: nothing
    text = console.export_text()
    assert text.strip() == "hold: 25 req/s for 20 s: did not hold (goodput>=95%) (p95 410.2 ms, goodput 77.4%)"
