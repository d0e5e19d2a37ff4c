"""Deprecated: datasets moved to `stinger.datasets`; this module only re-exports its names.

Import from `stinger.datasets` (``open_dataset``, ``PayloadOrder``, ``Dataset``,
``MemoryDataset``). Kept so that code written against the old path keeps working;
remove once nothing imports it.
"""

from __future__ import annotations

from stinger.datasets import SMALL_BYTES, VALIDATE_LIMIT, Dataset, MemoryDataset, PayloadOrder, open_dataset

__all__ = [
    "SMALL_BYTES",
    "VALIDATE_LIMIT",
    "Dataset",
    "MemoryDataset",
    "PayloadOrder",
    "open_dataset",
]
