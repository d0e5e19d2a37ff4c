"""JSON records: the shaping rules JSONL lines and JSON array elements share (label_field, body_field).

With ``label_field`` that key is removed from the body (re-serialised compactly) and
returned as the label; with ``body_field`` the body is the JSON of
``record[body_field]``. Whether a dataset *has* labels is decided by the first record:
a ``label_field`` missing there is an error, missing in a later record gives a None label.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from stinger.datasets.base import dataset_error


def dumps(value: object) -> bytes:
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:   # a lone surrogate ("\ud800" in the file): sent escaped, as the file wrote it
        return json.dumps(value, separators=(",", ":")).encode("ascii")


def json_reason(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at column {exc.colno}"
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 (byte {exc.object[exc.start]:#04x} at column {exc.start + 1})"
    return str(exc)


def keys_hint(keys: Sequence[str]) -> str:
    shown = ", ".join(repr(k) for k in list(keys)[:20])
    more = f", ... ({len(keys)} in all)" if len(keys) > 20 else ""
    return f"available keys: {shown}{more}" if keys else "the record has no keys"


class JsonShaper:
    """Turns a parsed JSON record into (body, label) under label_field/body_field."""

    def __init__(self, shown: str, label_field: str | None, body_field: str | None) -> None:
        self.shown = shown
        self.label_field = label_field
        self.body_field = body_field
        self.rewrites = label_field is not None or body_field is not None

    def check_first(self, record: object, where: str) -> None:
        """The first record decides: the named fields must be there."""
        for role, key in (("label_field", self.label_field), ("body_field", self.body_field)):
            if key is None:
                continue
            if not isinstance(record, dict):
                raise dataset_error(self.shown, f"{where}: {role} {key!r} needs JSON objects, but the record is "
                                         f"{json_type(record)}; expected one object per record")
            if key not in record:
                raise dataset_error(self.shown, f"{where}: {role} {key!r} not found; {keys_hint(list(record))}")

    def shape(self, record: object, raw: bytes | None, where: Callable[[], str]) -> tuple[bytes, object | None]:
        """(body, label) of one record; `raw` is its original compact-enough text, if any."""
        if not self.rewrites:
            return (raw if raw is not None else dumps(record)), None
        if not isinstance(record, dict):
            raise dataset_error(self.shown, f"{where()}: record is {json_type(record)}; "
                                     "expected a JSON object (label_field/body_field need one)")
        label = None
        if self.label_field is not None:
            label = record.get(self.label_field)
        if self.body_field is not None:
            if self.body_field not in record:
                raise dataset_error(self.shown, f"{where()}: body_field {self.body_field!r} not found; "
                                         f"{keys_hint(list(record))}")
            return dumps(record[self.body_field]), label
        if self.label_field in record:
            return dumps({k: v for k, v in record.items() if k != self.label_field}), label
        return (raw if raw is not None else dumps(record)), None

    def describe(self) -> str:
        parts = []
        if self.label_field is not None:
            parts.append(f"labels from {self.label_field!r}")
        if self.body_field is not None:
            parts.append(f"body from {self.body_field!r}")
        return "".join(f", {p}" for p in parts)


def json_type(value: object) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), "a number")
