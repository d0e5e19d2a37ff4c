"""The exit code of a run, from its summary alone: one rule for the CLI, the API and the report."""

from __future__ import annotations

EXIT_OK = 0
EXIT_SLO = 1
EXIT_INCOMPLETE = 3          # a load worker was lost mid-run, or an abort rule stopped it
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


def exit_code_of(summary: dict) -> int:
    """0 ok; 1 an SLO was violated or a variant had no successful response; 3 the run is
    incomplete (a load worker was lost, or an abort rule stopped it); 130 stopped by Ctrl-C,
    143 by SIGTERM."""
    if summary.get("interrupted"):
        return EXIT_TERMINATED if summary.get("terminated") else EXIT_INTERRUPTED
    if summary.get("incomplete") or summary.get("aborted"):
        return EXIT_INCOMPLETE
    if not summary.get("slo_passed", True) or summary.get("no_success"):
        return EXIT_SLO
    return EXIT_OK


def capacity_exit_code(report: dict) -> int:
    """A capacity search (capacity.json) -> its exit code: 130/143 stopped by a signal; 3 stopped
    because a load worker was lost in a step and again in its re-run; 1 no step met the SLOs; 0 ok."""
    if report.get("interrupted"):
        return EXIT_TERMINATED if report.get("terminated") else EXIT_INTERRUPTED
    if report.get("stop_reason") == "worker lost":
        return EXIT_INCOMPLETE
    return EXIT_OK if report.get("max_sustainable") is not None else EXIT_SLO
