"""Files written whole or not at all: every file of a run directory goes through here.

A run file is written to a temporary file beside it (same directory, so the same
filesystem), flushed to the disk (`fsync`) and renamed over its name (`os.replace`,
atomic on POSIX). A reader, or a run directory left by a full disk, sees the old
file or the new one, never half of one (before: a full disk left a truncated
summary.json).

A write that fails (a full disk, a quota, a directory made read-only) removes its
temporary file and raises `WriteFailed`: a `RunError` (exit code 3) whose one-line
message names the path and the reason.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stinger.errors import RunError

__all__ = ["WriteFailed", "is_disk_full", "replacing", "write_text"]

# the errors that mean "the disk is full" (a quota counts: the user cannot write more either)
_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class WriteFailed(RunError):
    """A run file could not be written; `path` names it."""

    def __init__(self, path: os.PathLike | str, exc: OSError) -> None:
        self.path = Path(path)
        self.errno = exc.errno
        self.reason = exc.strerror or str(exc)
        super().__init__(f"cannot write {self.path}: {self.reason}")


def is_disk_full(exc: BaseException) -> bool:
    return getattr(exc, "errno", None) in _FULL


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def replacing(path: os.PathLike | str) -> Iterator[Path]:
    """`with replacing(p) as tmp: write tmp` - then `p` is the new file, or unchanged if writing failed.

    The temporary name is hidden and per process (`.NAME.PID.tmp`), so two writers never share one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        _discard(tmp)
        raise WriteFailed(path, exc) from None
    except BaseException:
        _discard(tmp)
        raise
    try:   # the rename itself survives a crash once the directory is on the disk too
        _fsync(path.parent)
    except OSError:
        pass


def write_text(path: os.PathLike | str, text: str) -> None:
    """`text` (UTF-8) as the whole content of `path`, atomically."""
    with replacing(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _discard(tmp: Path) -> None:
    try:
        tmp.unlink()
    except OSError:
        pass
