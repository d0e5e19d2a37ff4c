"""The errors stinger raises on purpose.

    StingerError                 base; never shown with a traceback
    ├── UsageError               the user's mistake: one line, exit code 2
    │   ├── SpecError            an invalid spec field (names the field and the line)
    │   ├── DatasetError         a dataset that cannot be read or parsed
    │   └── TargetError          a malformed URL or target description
    └── RunError                 the run itself could not proceed (exit code 3)

Faults of the endpoint (refused connections, timeouts, 5xx) are *measured*,
never raised: they become error counts in the results.

`ExitCode` is the one home of the exit codes' numbers and meanings (this is the
bottom layer, so every layer reads it); the rules that pick one for a result live
in `core/exit_codes.py`.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """The exit codes of every `stinger` command (and `result.exit_code`; public as `stinger.ExitCode`)."""

    OK = 0
    FAILED = 1          # an SLO was violated, a variant never succeeded, or `compare` found a regression
    USAGE = 2           # the user's mistake: one line on stderr, no traceback
    # the run could not proceed, or is incomplete: a load worker was lost (--on-worker-loss continue, the
    # default, or stop: its share was not sent); a loss rebalanced onto the others (the load met) is not this code
    RUN_ERROR = 3
    INTERRUPTED = 130   # Ctrl-C (SIGINT): what was measured is kept
    TERMINATED = 143    # SIGTERM: what was measured is kept

    def describe(self) -> str:
        """The code and what it means, as the HTML report words it: `1 (an SLO was violated, ...)`."""
        return f"{int(self)} ({_MEANING[self]})"


_MEANING = {
    ExitCode.OK: "success",
    ExitCode.FAILED: "an SLO was violated, or a variant had no successful response",
    ExitCode.USAGE: "the user's mistake: a bad flag, spec, URL or dataset",
    ExitCode.RUN_ERROR: "incomplete: a load worker was lost (and its share not rebalanced) or an abort rule "
                        "stopped the run",
    ExitCode.INTERRUPTED: "stopped by Ctrl-C; partial results",
    ExitCode.TERMINATED: "stopped by SIGTERM; partial results",
}


class StingerError(Exception):
    """Base of every error stinger raises on purpose; the command exits with `exit_code`."""

    exit_code: int = ExitCode.RUN_ERROR


class UsageError(StingerError):
    """A mistake in what the user asked for; reported in one line, exit code 2."""

    exit_code = ExitCode.USAGE


class SpecError(UsageError):
    """An invalid spec: the message names the field (and the file line when known)."""


class DatasetError(UsageError):
    """A dataset that cannot be read, or whose records cannot be parsed."""


class TargetError(UsageError):
    """A malformed URL or target description."""


class RunError(StingerError):
    """The run could not proceed for a reason that is not the user's input."""

    exit_code = ExitCode.RUN_ERROR
