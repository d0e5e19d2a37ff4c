"""Every rule that picks an exit code: a run's, a capacity search's, an A/B test's and a comparison's.

One home for the rules (the CLI, the API and the HTML report read them); the numbers and
their meanings are `stinger.errors.ExitCode`. Each rule reads the result's own data (the
summary, capacity.json, the comparison's regressions), so a saved run gives the code it
gave live.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from stinger.errors import ExitCode


def _signal(result: Mapping[str, Any]) -> ExitCode:
    return ExitCode.TERMINATED if result.get("terminated") else ExitCode.INTERRUPTED


def exit_code_of(summary: Mapping[str, Any]) -> ExitCode:
    """A run (summary.json): 130/143 stopped by Ctrl-C / SIGTERM; 3 incomplete (a load worker was
    lost, or an abort rule stopped it); 1 an SLO was violated or a variant had no successful
    response; else 0."""
    if summary.get("interrupted"):
        return _signal(summary)
    if summary.get("incomplete") or summary.get("aborted"):
        return ExitCode.RUN_ERROR
    if not summary.get("slo_passed", True) or summary.get("no_success"):
        return ExitCode.FAILED
    return ExitCode.OK


def capacity_exit_code(report: Mapping[str, Any]) -> ExitCode:
    """A capacity search (capacity.json): 130/143 stopped by a signal; 3 stopped because a load
    worker was lost in a step and again in its re-run; 1 no step met the SLOs, or the load found did
    not hold its SLOs when held (`--hold`); else 0."""
    if report.get("interrupted"):
        return _signal(report)
    if report.get("stop_reason") == "worker lost":
        return ExitCode.RUN_ERROR
    if report.get("hold") is not None and not report["hold"].get("passed"):
        return ExitCode.FAILED
    return ExitCode.OK if report.get("max_sustainable") is not None else ExitCode.FAILED


def ab_capacity_exit_code(capacities: Mapping[str, Mapping[str, Any]]) -> ExitCode:
    """An A/B test in capacity mode (one capacity.json per variant): each search's own code
    (`capacity_exit_code`), the first signal's (130/143) before a lost worker's (3) before a
    variant that met its SLOs at no load (1); else 0. (A split or paired A/B test has its run's
    code: `exit_code_of`.)"""
    for c in capacities.values():
        if c.get("interrupted"):
            return _signal(c)
    codes = [capacity_exit_code(c) for c in capacities.values()]
    for code in (ExitCode.RUN_ERROR, ExitCode.FAILED):
        if code in codes:
            return code
    return ExitCode.OK


def compare_exit_code(regressions: Iterable[str]) -> ExitCode:
    """`stinger compare`: 1 when the candidate regressed on any compared metric, else 0."""
    return ExitCode.FAILED if any(True for _ in regressions) else ExitCode.OK
