"""Request payloads: datasets of request bodies (and labels), and which record each request uses.

A dataset turns "the k-th record" into the exact bytes to send. The modules:

    base          the `Dataset` protocol, size limits, one-line errors, the list fast path
    formats       `open_dataset`: the formats, one line each, chosen by extension or name
    jsonl         JSONL (``.jsonl``/``.ndjson``), indexed through an mmap
    json_array    JSON (``.json``), a top-level array loaded whole
    csv_rows      CSV (``.csv``), one row a request, indexed through an mmap
    files         a folder, one file a body
    memory        bodies already in memory
    json_records  shaping rules shared by JSONL and JSON (label_field, body_field)
    index         the vectorised mmap record index of a text file
    order         `PayloadOrder`: which record the k-th request uses, pure in (seed, k)

Every name callers need is importable from here.
"""

from __future__ import annotations

from stinger.datasets.base import SMALL_BYTES, VALIDATE_LIMIT, Dataset
from stinger.datasets.formats import open_dataset
from stinger.datasets.memory import MemoryDataset
from stinger.datasets.order import PayloadOrder

__all__ = [
    "SMALL_BYTES",
    "VALIDATE_LIMIT",
    "Dataset",
    "MemoryDataset",
    "PayloadOrder",
    "open_dataset",
]
