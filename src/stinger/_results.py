"""The typed results of the public API: frozen records of plain data.

Each carries the documented dict it stands for (`summary`: summary.json,
docs/summary.md; `verdict`: verdict.json; a capacity search's `summary`:
capacity.json), where it was kept (`run_dir`), and the exit code the
command line would give for it, so a notebook, a CI script and `stinger`
judge a run the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from stinger.errors import ExitCode

if TYPE_CHECKING:
    from stinger.core.summary import RunSummary

__all__ = ["AbResult", "CapacityResult", "CompareResult", "ExitCode", "RunResult"]


@dataclass(frozen=True)
class RunResult:
    """One load test: `stinger.run(...)` or `stinger.read_run(RUN_DIR)`."""

    summary: dict                       # summary.json
    run_dir: Path | None
    exit_code: int
    verdict: dict | None = None         # verdict.json, when the run was an A/B test

    @property
    def run_summary(self) -> RunSummary:
        """The same summary typed (`core.summary.RunSummary`: frozen dataclasses), read from `summary`, so a
        run read back from an older run directory has one too."""
        from stinger.core.summary import RunSummary

        return RunSummary.from_json(self.summary)

    @property
    def slo_passed(self) -> bool:
        return bool(self.summary.get("slo_passed", True))

    @property
    def variants(self) -> dict:
        """variant name -> its summary (requests, errors, latency_ms, throughput, ...)."""
        return self.summary.get("variants", {})

    @property
    def warnings(self) -> list[str]:
        return list(self.summary.get("warnings", []))


@dataclass(frozen=True)
class CapacityResult:
    """A capacity search: `summary` is capacity.json (steps, bracket, knee, cost)."""

    summary: dict
    run_dir: Path | None
    exit_code: int

    @property
    def max_sustainable(self) -> float | None:
        return self.summary.get("max_sustainable")

    @property
    def bracket(self) -> tuple:
        return tuple(self.summary.get("bracket") or (None, None))


class _Verdict:
    """What a result with a `verdict` (verdict.json) says in one word and one sentence."""

    verdict: dict

    @property
    def significant(self) -> bool:
        return bool(self.verdict.get("significant"))

    @property
    def sentence(self) -> str:
        return self.verdict.get("sentence", "")


@dataclass(frozen=True)
class AbResult(_Verdict):
    """An A/B test. `summary` is the run's summary.json (None in capacity mode, where
    `capacity` holds each variant's capacity.json); `verdict` is verdict.json."""

    summary: dict | None
    verdict: dict
    run_dir: Path | None
    exit_code: int
    capacity: dict | None = None

    @property
    def run_summary(self) -> RunSummary | None:
        """The run's summary typed (None in capacity mode)."""
        from stinger.core.summary import RunSummary

        return None if self.summary is None else RunSummary.from_json(self.summary)


@dataclass(frozen=True)
class CompareResult(_Verdict):
    """A comparison of two saved runs; `exit_code` is 1 when the candidate regressed."""

    verdict: dict
    regressions: tuple[str, ...]
    exit_code: int
    warnings: tuple[str, ...] = field(default_factory=tuple)

