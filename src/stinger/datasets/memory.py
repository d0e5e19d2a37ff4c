"""A dataset already in memory: inline payloads and tests."""

from __future__ import annotations

from collections.abc import Sequence

from stinger.datasets.base import ListBacked
from stinger.errors import DatasetError


class MemoryDataset(ListBacked):
    """Bodies (and labels) already in memory: inline payloads and tests."""

    def __init__(self, bodies: Sequence[bytes], *, content_type: str = "application/octet-stream",
                 labels: Sequence[object | None] | None = None, description: str = "inline") -> None:
        if not bodies:
            raise DatasetError(f"{description}: empty dataset; expected at least one body")
        if labels is not None and len(labels) != len(bodies):
            raise DatasetError(f"{description}: {len(labels)} labels for {len(bodies)} bodies; expected one each")
        self.content_type = content_type
        self.has_labels = labels is not None
        self.description = f"{description}: {len(bodies):,} bodies"
        self._freeze(list(bodies), list(labels) if labels is not None else [None] * len(bodies))

    def __len__(self) -> int:
        return len(self._bodies)
