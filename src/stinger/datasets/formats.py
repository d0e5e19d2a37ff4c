"""The dataset formats, one line each, and `open_dataset`, which picks one by extension or name.

To add a format: its module (a class taking ``(path, shown, **options)``), its test in
``tests/datasets/``, and its line in `_SUFFIXES`/`_FORMATS` and `open_dataset` here. A vendor's
format (`stinger.vendors`, seam `formats`: name -> "module:Class") is a class taking
``(path, shown, *, label_field, body_field, content_type)``, never inferred from a file name.
"""

from __future__ import annotations

import os
from pathlib import Path

from stinger.datasets.base import Dataset, dataset_error
from stinger.datasets.csv_rows import CsvDataset
from stinger.datasets.files import FilesDataset
from stinger.datasets.json_array import JsonDataset
from stinger.datasets.jsonl import JsonlDataset

__all__ = ["format_class", "formats", "open_dataset", "timed_formats"]


def formats() -> dict[str, str]:
    """The formats the vendors add: name -> "module:Class" (ours are `_FORMATS`, built in)."""
    from stinger.core.plugins import vendor_lines

    return vendor_lines("formats")


# our formats built by a class of the vendors' signature (a `TimedFormat`: its records carry arrival times)
_CLASSES = {"mooncake": "stinger.datasets.mooncake:MooncakeTrace"}


def format_class(name: str) -> type | None:
    """The class of a format built by one (a vendor's, or ours in `_CLASSES`); None for the others."""
    from importlib import import_module

    ref = _CLASSES.get(name) or formats().get(name)
    if ref is None:
        return None
    module, _, attr = ref.partition(":")
    cls: type = getattr(import_module(module), attr)
    return cls

_FORMATS = ("jsonl", "csv", "json", "files")


def timed_formats() -> list[str]:
    """The formats whose records carry their arrival times (`TimedFormat`: ours and the vendors')."""
    from stinger.datasets.base import TimedFormat

    return [name for name in (*_CLASSES, *formats()) if isinstance(format_class(name), TimedFormat)]
_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".json": "json"}


def open_dataset(
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    label_field: str | int | None = None,
    body_field: str | None = None,
    csv_header: bool | None = None,
    content_type: str | None = None,
) -> Dataset:
    """Open a dataset of request bodies; `format` None infers it from the extension.

    `label_field` is a top-level key (JSONL, JSON) or a column name or 0-based index (CSV);
    `body_field` (JSONL, JSON) sends ``record[body_field]`` instead of the whole record;
    `csv_header` None means: a header if any non-empty field of the first row is not a number.
    """
    p = Path(path)
    shown = os.fspath(path)
    if format == "derived":   # built by the user's request hook before the run (datasets/derived.py)
        from stinger.datasets.derived import DerivedDataset

        return DerivedDataset(p, shown)
    fmt = _resolve_format(p, shown, format)
    vendor = format_class(fmt)
    if vendor is not None:
        dataset: Dataset = vendor(p, shown, label_field=label_field, body_field=body_field, content_type=content_type)
        return dataset
    if fmt != "files" and p.is_dir():
        raise dataset_error(shown, f"is a folder, but format is {fmt!r}; expected a {fmt.upper()} file or format 'files'")
    if fmt == "files":
        if label_field is not None or body_field is not None:
            raise dataset_error(shown, "a folder of files carries no labels or fields; "
                                "expected label_field/body_field only with jsonl, json or csv")
        return FilesDataset(p, shown, content_type=content_type)
    if fmt == "csv":
        if body_field is not None:
            raise dataset_error(shown, f"body_field {body_field!r} does not apply to CSV; expected it only with jsonl or json")
        return CsvDataset(p, shown, label_field=label_field, header=csv_header, content_type=content_type)
    key = None if label_field is None else str(label_field)
    if fmt == "jsonl":
        if format is None and body_field is None and _looks_like_mooncake(p):
            raise dataset_error(shown, "its records look like a Mooncake trace (timestamp, input_length, "
                                "output_length, hash_ids), which would be sent as request bodies as they are; "
                                "expected --format mooncake (prompts built from them), or --format jsonl to send them")
        return JsonlDataset(p, shown, label_field=key, body_field=body_field, content_type=content_type)
    return JsonDataset(p, shown, label_field=key, body_field=body_field, content_type=content_type)


_MOONCAKE_KEYS = frozenset(("input_length", "output_length", "hash_ids"))


def _looks_like_mooncake(p: Path) -> bool:
    """The first record of a JSONL file has a Mooncake trace's fields (datasets/mooncake.py) and no others
    but `timestamp`: a trace given without its format would send its records as bodies."""
    import json

    try:
        with open(p, "rb") as fh:
            line = fh.readline(1 << 16)
        record = json.loads(line)
    except (OSError, ValueError):
        return False   # the reader says what is wrong with the file
    return isinstance(record, dict) and _MOONCAKE_KEYS <= record.keys() <= _MOONCAKE_KEYS | {"timestamp"}


def _resolve_format(p: Path, shown: str, format: str | None) -> str:
    if not p.exists():
        raise dataset_error(shown, "no such file or folder; expected a dataset file (.jsonl, .ndjson, .csv, .json) or a folder")
    if format is not None:
        fmt = format.lower()
        if fmt == "ndjson":
            fmt = "jsonl"
        known = (*_FORMATS, *_CLASSES, *formats())
        if fmt not in known:
            raise dataset_error(shown, f"unknown dataset format {format!r}; expected one of {', '.join(known)}")
        if fmt == "files" and not p.is_dir():
            raise dataset_error(shown, "format 'files' needs a folder, but this is a file; expected a folder of request bodies")
        return fmt
    if p.is_dir():
        return "files"
    inferred = _SUFFIXES.get(p.suffix.lower())
    if inferred is None:
        raise dataset_error(shown, f"cannot infer the dataset format from extension {p.suffix or '(none)'!r}; "
                            "expected .jsonl, .ndjson, .csv, .json, a folder, or an explicit format")
    return inferred
