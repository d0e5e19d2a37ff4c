"""Datasets of files: every regular, non-hidden file of a folder, sorted by name, is one binary body."""

from __future__ import annotations

import mimetypes
import os
from pathlib import Path

from stinger.datasets import base
from stinger.datasets.base import ListBacked, dataset_error, mib


class FilesDataset(ListBacked):
    """Every regular, non-hidden file of a folder, sorted by name, is one binary body."""

    content_type: str
    has_labels = False
    description: str

    def __init__(self, folder: Path, shown: str, *, content_type: str | None) -> None:
        self._shown = shown
        try:
            entries = sorted((e for e in os.scandir(folder) if not e.name.startswith(".") and e.is_file()),
                             key=lambda e: e.name)
        except OSError as exc:
            raise dataset_error(shown, f"cannot list the folder ({exc.strerror or exc}); expected a readable folder") from None
        if not entries:
            raise dataset_error(shown, "empty dataset (no regular, non-hidden files in the folder); "
                                "expected one file per request body")
        self._paths = [Path(e.path) for e in entries]
        sizes = [e.stat().st_size for e in entries]
        biggest = max(range(len(sizes)), key=sizes.__getitem__)
        if sizes[biggest] > base.MAX_RECORD:   # read whole per request it would be: refused, never read
            raise dataset_error(shown, f"file {entries[biggest].name!r} is {mib(sizes[biggest])}; expected request "
                                f"bodies of at most {mib(base.MAX_RECORD)} each")
        total = sum(sizes)
        guesses = {mimetypes.guess_type(e.name)[0] for e in entries}
        guessed = guesses.pop() if len(guesses) == 1 else None
        self.content_type = content_type or guessed or "application/octet-stream"
        self.description = f"{folder.name or shown}/: {len(entries):,} files ({self.content_type})"
        if total <= base.SMALL_BYTES:
            self._freeze([self._read(i) for i in range(len(self._paths))], [None] * len(self._paths))
        else:
            for p in self._paths[:base.VALIDATE_LIMIT]:
                if not os.access(p, os.R_OK):
                    raise dataset_error(shown, f"file {p.name!r} is not readable; expected readable files")

    def __len__(self) -> int:
        return len(self._paths)

    def _read(self, i: int) -> bytes:
        try:
            return self._paths[i].read_bytes()
        except OSError as exc:
            raise dataset_error(self._shown, f"cannot read file {self._paths[i].name!r} ({exc.strerror or exc}); "
                                      "expected readable files") from None

    def body(self, i: int) -> bytes:
        return self._read(i)

    def label(self, i: int) -> object | None:
        return None
