"""core/exit_codes.py: one rule from a summary to the exit code (the CLI, the API and the report read it)."""

from __future__ import annotations

import pytest

from stinger.core.exit_codes import ab_capacity_exit_code, capacity_exit_code, compare_exit_code, exit_code_of
from stinger.errors import ExitCode


@pytest.mark.parametrize(("summary", "code"), [
    ({}, 0), ({"slo_passed": False}, 1), ({"no_success": ["A"]}, 1), ({"incomplete": True}, 3),
    ({"aborted": "connect failures"}, 3), ({"interrupted": True}, 130), ({"interrupted": True, "terminated": True}, 143),
    ({"slo_passed": True, "no_success": []}, 0), ({"interrupted": True, "slo_passed": False}, 130),
])
def test_exit_code_of_a_summary(summary, code):
    assert exit_code_of(summary) == code


@pytest.mark.parametrize(("report", "code"), [
    ({"max_sustainable": 20.0, "stop_reason": "converged"}, 0),
    ({"max_sustainable": None, "stop_reason": "failed at start"}, 1),
    ({"max_sustainable": 10.0, "stop_reason": "worker lost"}, 3),     # a step lost a worker, twice
    ({"max_sustainable": 10.0, "interrupted": True}, 130),
    ({"max_sustainable": 10.0, "interrupted": True, "terminated": True}, 143),   # it exited 130 on SIGTERM
])
def test_exit_code_of_a_capacity_search(report, code):
    assert capacity_exit_code(report) == code


@pytest.mark.parametrize(("capacities", "code"), [
    ({"A": {"max_sustainable": 20.0}, "B": {"max_sustainable": 10.0}}, 0),
    ({"A": {"max_sustainable": 20.0}, "B": {"max_sustainable": None}}, 1),    # B met its SLOs at no load
    ({"A": {"max_sustainable": None, "interrupted": True}, "B": {}}, 130),
    ({"A": {"max_sustainable": 5.0, "interrupted": True, "terminated": True}, "B": {}}, 143),   # it exited 130
    ({"A": {"max_sustainable": 5.0, "stop_reason": "worker lost"}, "B": {"max_sustainable": None}}, 3),  # it exited 1
    ({}, 0),
])
def test_exit_code_of_an_ab_test_in_capacity_mode(capacities, code):
    assert ab_capacity_exit_code(capacities) == code


@pytest.mark.parametrize(("regressions", "code"), [((), 0), (["latency p99"], 1), (iter(["ttft"]), 1)])
def test_exit_code_of_a_comparison(regressions, code):
    assert compare_exit_code(regressions) == code


def test_every_code_has_one_number_and_one_meaning_for_every_reader():
    import stinger
    from stinger._results import ExitCode as FromResults
    from stinger.errors import RunError, UsageError

    assert stinger.ExitCode is ExitCode is FromResults
    assert [int(c) for c in ExitCode] == [0, 1, 2, 3, 130, 143]
    assert UsageError.exit_code == ExitCode.USAGE and RunError.exit_code == ExitCode.RUN_ERROR
    assert ExitCode.FAILED.describe() == "1 (an SLO was violated, or a variant had no successful response)"
    assert all(c.describe().startswith(f"{int(c)} (") for c in ExitCode)
    assert str(exit_code_of({"interrupted": True})) == "130"   # written as the number in JSON, HTML and shells
