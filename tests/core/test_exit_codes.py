"""core/exit_codes.py: one rule from a summary to the exit code (the CLI, the API and the report read it)."""

from __future__ import annotations

import pytest

from stinger.core.exit_codes import capacity_exit_code, exit_code_of


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
