"""What every dataset is: the `Dataset` protocol, the size limits, the one-line error, the list-backed fast path.

A dataset turns "the k-th record" into the exact bytes to send. Datasets up to
`SMALL_BYTES` are validated record by record and their prepared bodies kept in a
list, because ``body(i)`` sits next to the hot path: there ``body`` *is*
``list.__getitem__`` (`ListBacked`). Larger datasets validate only their first
`VALIDATE_LIMIT` records and prepare bodies on demand; a bad record further in
surfaces as a `DatasetError` when (and if) it is used.

The format modules read the limits as ``SMALL_BYTES`` (not a copy of the
value) so that a test can lower them in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from stinger.errors import DatasetError

__all__ = ["MAX_JSON_ARRAY", "MAX_RECORD", "SMALL_BYTES", "VALIDATE_LIMIT", "Dataset", "ListBacked", "dataset_error",
           "mib"]

SMALL_BYTES = 64 * 1024 * 1024   # up to this total size: validate everything, keep bodies in memory
VALIDATE_LIMIT = 10_000          # records validated up front in larger datasets
# One request body past this is a mistake (a 2 GB file with no newline, a 2.5 GB file in a folder): it
# would be read whole for every request that sends it. Refused when the dataset is opened, from its size.
MAX_RECORD = 64 * 1024 * 1024
MAX_JSON_ARRAY = 256 * 1024 * 1024   # a .json array is parsed whole (several times its size in memory)


def mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


@runtime_checkable
class Dataset(Protocol):
    """What the engine needs from a dataset: bodies, labels, and how to describe them."""

    content_type: str
    has_labels: bool
    description: str

    def __len__(self) -> int: ...

    def body(self, i: int) -> bytes: ...

    def label(self, i: int) -> object | None: ...


@runtime_checkable
class TimedFormat(Protocol):
    """Optional ability of a dataset format's class: its records carry their arrival times (a capture of
    production traffic), so the load can replay them (`load.shape.trace: capture`, orchestrate/replay.py)."""

    @classmethod
    def arrival_offsets(cls, path: str) -> Any:
        """Seconds from the first record, one per record in the order the dataset sends them (a read-only
        numpy array); a one-line SpecError when the files hold none."""
        ...


def dataset_error(shown: str, what: str) -> DatasetError:
    """A one-line DatasetError: '<file>: <what>' (newlines in names or reasons escaped)."""
    text = f"{shown}: {what}"
    return DatasetError(text.replace("\r", "\\r").replace("\n", "\\n"))


class ListBacked:
    """Small datasets: `body` and `label` become bound `list.__getitem__` (the hot path)."""

    body: Callable[[int], bytes]
    label: Callable[[int], object | None]

    def _freeze(self, bodies: list[bytes], labels: list[object | None]) -> None:
        self._bodies = bodies
        self._labels = labels
        # Instance attributes shadow the methods: one C call per lookup, no Python frame.
        self.body = bodies.__getitem__
        self.label = labels.__getitem__
