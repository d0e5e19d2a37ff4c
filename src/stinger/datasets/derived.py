"""A dataset made by the user's request hook, once per payload, before the run (core/hooks.py).

`derive` calls the hook on every payload of the source (a dataset, or the one inline body) in the
coordinator and writes what it built to a scratch folder: every body end to end in `bodies.bin`, their
offsets in `offsets.npy`, and `meta.json` (labels, per-record content types, the default content type).
Workers open that folder as the format `derived` (`DerivedDataset`): the request bytes are built from
it as from any dataset, so the hook costs nothing per request at any dataset size. A hook that raises
or returns something that is not a body names the payload row (a `DatasetError`, exit 2).
"""

from __future__ import annotations

import json
import mmap
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stinger.core.hooks import Request, encode_body
from stinger.datasets.base import Dataset, dataset_error
from stinger.errors import DatasetError

__all__ = ["FORMAT", "Derived", "DerivedDataset", "derive"]

FORMAT = "derived"
_BODIES, _OFFSETS, _META = "bodies.bin", "offsets.npy", "meta.json"


@dataclass(frozen=True, slots=True)
class Derived:
    path: str          # the folder workers open with format `derived`
    payloads: int
    seconds: float     # the hook's whole cost, in the coordinator, before the run


def derive(source: Dataset | None, inline: bytes | None, content_type: str | None,
           hook: Callable[[Request], Any], out_dir: Path) -> Derived:
    """The hook applied to each payload of `source` (or to the one `inline` body), written to `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    n = len(source) if source is not None else 1
    own_types = getattr(source, "content_types", None) if source is not None else None
    offsets = np.zeros(n + 1, dtype=np.int64)
    labels: list[Any] = []
    types: list[str | None] = []
    start = time.perf_counter()
    with open(out_dir / _BODIES, "wb") as f:
        for i in range(n):
            body = source.body(i) if source is not None else (inline or b"")
            label = source.label(i) if source is not None else None
            ctype = own_types[i] if own_types is not None else content_type
            try:
                got = hook(Request(body=body, label=label, content_type=ctype))
                req = got if isinstance(got, Request) else Request(body=got, label=label, content_type=ctype)
                data = encode_body(req.body)
            except Exception as exc:   # the user's code: the row it failed on, in one line
                raise DatasetError(f"hooks.request failed on payload row {i}: {type(exc).__name__}: {exc}") from None
            f.write(data)
            offsets[i + 1] = offsets[i] + len(data)
            labels.append(req.label)
            types.append(req.content_type)
    seconds = time.perf_counter() - start
    np.save(out_dir / _OFFSETS, offsets)
    try:
        meta = json.dumps({"labels": labels, "types": types, "content_type": content_type,
                           "has_labels": any(x is not None for x in labels)})
    except TypeError as exc:
        raise DatasetError(f"hooks.request: a label is not JSON data ({exc}); expected str, number, list or dict") \
            from None
    (out_dir / _META).write_text(meta)
    return Derived(path=os.fspath(out_dir), payloads=n, seconds=seconds)


class DerivedDataset:
    """The bodies a request hook built (see `derive`), read from the mapped file."""

    def __init__(self, path: Path, shown: str) -> None:
        try:
            meta = json.loads((path / _META).read_text())
            self._offsets = np.load(path / _OFFSETS)
            with open(path / _BODIES, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                self._data: Any = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        except (OSError, ValueError) as exc:
            raise dataset_error(shown, f"not a derived dataset ({exc})") from None
        self._labels: list[Any] = meta["labels"]
        types = meta["types"]
        self.content_type: str = meta["content_type"] or next((t for t in types if t), None) or "application/json"
        # per-record content types only when the hook set some that differ from the default
        self.content_types = [t or self.content_type for t in types] if any(types) else None
        self.has_labels: bool = bool(meta["has_labels"])
        self.description = f"{len(self._labels):,} payloads built by the request hook"

    def __len__(self) -> int:
        return len(self._labels)

    def body(self, i: int) -> bytes:
        return bytes(self._data[int(self._offsets[i]):int(self._offsets[i + 1])])

    def label(self, i: int) -> object | None:
        return self._labels[i]
