"""The errors stinger raises on purpose.

    StingerError                 base; never shown with a traceback
    ├── UsageError               the user's mistake: one line, exit code 2
    │   ├── SpecError            an invalid spec field (names the field and the line)
    │   ├── DatasetError         a dataset that cannot be read or parsed
    │   └── TargetError          a malformed URL or target description
    └── RunError                 the run itself could not proceed (exit code 3)

Faults of the endpoint (refused connections, timeouts, 5xx) are *measured*,
never raised: they become error counts in the results.
"""

from __future__ import annotations


class StingerError(Exception):
    """Base of every error stinger raises on purpose; the command exits with `exit_code`."""

    exit_code = 3


class UsageError(StingerError):
    """A mistake in what the user asked for; reported in one line, exit code 2."""

    exit_code = 2


class SpecError(UsageError):
    """An invalid spec: the message names the field (and the file line when known)."""


class DatasetError(UsageError):
    """A dataset that cannot be read, or whose records cannot be parsed."""


class TargetError(UsageError):
    """A malformed URL or target description."""


class RunError(StingerError):
    """The run could not proceed for a reason that is not the user's input."""

    exit_code = 3
