"""SageMaker Data Capture files read as request bodies with their arrival times (for a trace replay).

This module owns reading what SageMaker's Data Capture writes to S3 (downloaded
first, e.g. `aws s3 sync s3://BUCKET/PREFIX ./capture`): JSON Lines files, one
invocation a line,

    {"captureData": {"endpointInput": {"observedContentType": "text/csv", "mode": "INPUT",
                                       "data": "...", "encoding": "CSV"},
                     "endpointOutput": {...}},
     "eventMetadata": {"eventId": "...", "inferenceTime": "2026-11-24T10:42:18Z", "inferenceId": "..."},
     "eventVersion": "0"}

into `CapturedRequest`s: the request body as the endpoint received it (the
`data` decoded per `encoding`: BASE64 -> bytes, CSV and JSON -> the text as
UTF-8), its content type, and its arrival offset in seconds from the first
captured request - what "send last Tuesday's production traffic to variant B"
replays. The production variant comes from the S3 layout
(`.../ENDPOINT/VARIANT/YYYY/MM/DD/HH/file.jsonl`) when the files keep it.

Lines without `endpointInput` (an output-only capture) are skipped and counted;
a line that is not a capture record is a one-line DatasetError naming file and
line. `inferenceTime` has one-second resolution in most captures, so requests
within one second share an offset; `spread_ties` spreads them evenly across
that second, which a replay wants rather than bursts.

`CaptureDataset` is the dataset format `capture` (`payload: {data: DIR_OR_FILE,
format: capture}`, `--format capture`): the captured bodies in arrival order,
sent as they were received, each with its own observed content type
(`content_types`, unless the payload sets one for all; `content_type` is the
first record's, for a description). Replaying the arrival offsets as the load's
schedule (`load.shape.trace: capture`, `--replay-arrivals`) is `orchestrate/replay.py`, which
asks this format's `arrival_offsets` (the `TimedFormat` ability of datasets/base.py).
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from os import PathLike
from pathlib import Path

import numpy as np

from stinger.datasets import base
from stinger.datasets.base import ListBacked, mib
from stinger.errors import DatasetError

_YEAR = re.compile(r"^\d{4}$")


@dataclass(frozen=True, slots=True)
class CapturedRequest:
    body: bytes
    content_type: str
    offset: float                   # seconds after the first captured request
    time: float                     # inferenceTime, seconds since the epoch
    inference_id: str | None = None
    variant: str | None = None      # from the S3 path layout, when present


@dataclass(slots=True)
class Capture:
    requests: list[CapturedRequest]
    skipped: int = 0                # lines without a captured input

    @property
    def duration(self) -> float:
        return self.requests[-1].offset if self.requests else 0.0


def variant_from_path(path: Path) -> str | None:
    """The variant segment of `.../ENDPOINT/VARIANT/YYYY/MM/DD/HH/file.jsonl`, if the path has that shape."""
    parts = path.parts
    for i in range(1, len(parts) - 4):
        if _YEAR.match(parts[i]) and all(p.isdigit() for p in parts[i + 1:i + 4]):
            return parts[i - 1]
    return None


def _files(paths: Iterable[str | PathLike[str]]) -> list[Path]:
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in (".jsonl", ".json")))
        elif path.is_file():
            out.append(path)
        else:
            raise DatasetError(f"{path}: no such capture file or directory")
    if not out:
        raise DatasetError(f"no Data Capture files (*.jsonl) under {', '.join(str(p) for p in paths)}")
    return out


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes) of a capture file, each line bounded: one past `base.MAX_RECORD` is refused
    before it is read whole (a 2 GB file with no newline)."""
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror or exc})") from None
    with fh:
        number = 0
        while True:
            line = fh.readline(base.MAX_RECORD + 1)
            if not line:
                return
            number += 1
            if len(line) > base.MAX_RECORD:
                raise DatasetError(f"{path}:{number}: a line of more than {mib(base.MAX_RECORD)}; expected one "
                                   "captured request a line")
            yield number, line


def _decode(data: object, encoding: str, where: str) -> bytes:
    if encoding == "BASE64":
        if not isinstance(data, str):
            raise DatasetError(f"{where}: BASE64 data must be a string")
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise DatasetError(f"{where}: data is not valid base64") from None
    if encoding in ("CSV", "JSON"):
        if isinstance(data, str):
            try:
                return data.encode("utf-8")
            except UnicodeEncodeError as exc:   # a lone surrogate ("\ud800" in the file) has no UTF-8 form
                raise DatasetError(f"{where}: data holds {data[exc.start]!r} at {exc.start + 1}, which is not "
                                   "text (a lone surrogate); expected UTF-8 text") from None
        if encoding == "JSON":   # some writers embed the JSON value itself rather than its text
            return json.dumps(data, separators=(",", ":")).encode("utf-8")
        raise DatasetError(f"{where}: CSV data must be a string")
    raise DatasetError(f"{where}: unknown encoding {encoding!r}; expected BASE64, CSV or JSON")


def _when(text: object, where: str) -> float:
    if not isinstance(text, str):
        raise DatasetError(f"{where}: eventMetadata.inferenceTime missing")
    try:
        stamp = _dt.datetime.fromisoformat(text)   # 3.11 reads the "Z" suffix
    except ValueError:
        raise DatasetError(f"{where}: inferenceTime {text!r} is not an ISO 8601 time") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=_dt.UTC)
    return stamp.timestamp()


def read_capture(paths: Iterable[str | PathLike[str]], *, variant: str | None = None) -> Capture:
    """Every captured request under `paths` (files or directories), in arrival order.

    `variant`: keep only files whose S3 layout names that production variant.
    """
    raw: list[CapturedRequest] = []
    skipped = 0
    for path in _files(list(paths)):
        file_variant = variant_from_path(path)
        if variant is not None and file_variant != variant:
            continue
        for number, line in _lines(path):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{where}: not JSON ({exc.msg})") from None
            except UnicodeDecodeError as exc:
                raise DatasetError(f"{where}: not UTF-8 (byte {exc.object[exc.start]:#04x} at column "
                                   f"{exc.start + 1}); expected Data Capture JSON Lines") from None
            if not isinstance(record, dict) or not isinstance(record.get("captureData"), dict):
                raise DatasetError(f"{where}: not a Data Capture record (no captureData object)")
            data_in = record["captureData"].get("endpointInput")
            if not data_in:
                skipped += 1
                continue
            if not isinstance(data_in, dict):
                raise DatasetError(f"{where}: captureData.endpointInput is not an object")
            meta = record.get("eventMetadata")
            meta = meta if isinstance(meta, dict) else {}
            body = _decode(data_in.get("data", ""), str(data_in.get("encoding", "")).upper(), where)
            raw.append(CapturedRequest(
                body=body,
                content_type=str(data_in.get("observedContentType") or "application/octet-stream"),
                offset=0.0, time=_when(meta.get("inferenceTime"), where),
                inference_id=meta.get("inferenceId"), variant=file_variant,
            ))
    if not raw and not skipped:
        raise DatasetError("the Data Capture files hold no records" +
                           (f" for variant {variant!r}" if variant else ""))
    raw.sort(key=lambda r: r.time)   # stable: ties keep file order
    start = raw[0].time if raw else 0.0
    return Capture([replace(r, offset=r.time - start) for r in raw], skipped)


def spread_ties(capture: Capture, resolution: float = 1.0) -> Capture:
    """Requests sharing one `inferenceTime` spread evenly over its `resolution` seconds (order kept)."""
    out: list[CapturedRequest] = []
    reqs = capture.requests
    i = 0
    while i < len(reqs):
        j = i
        while j < len(reqs) and reqs[j].time == reqs[i].time:
            j += 1
        n = j - i
        out.extend(replace(r, offset=r.offset + resolution * k / n) for k, r in enumerate(reqs[i:j]))
        i = j
    return Capture(out, capture.skipped)


class CaptureDataset(ListBacked):
    """Data Capture files (a file or a folder of them) as a dataset of request bodies, in arrival order."""

    content_type: str
    has_labels: bool
    description: str

    def __init__(self, path: Path, shown: str, *, content_type: str | None = None,
                 label_field: str | int | None = None, body_field: str | None = None) -> None:
        if label_field is not None or body_field is not None:
            raise base.dataset_error(shown, "Data Capture records carry no labels or fields to pick")
        capture = read_capture([path])
        if not capture.requests:
            raise DatasetError(f"{shown}: the Data Capture files hold no captured inputs "
                               f"({capture.skipped} output-only records)")
        self.capture = capture
        bodies = [r.body for r in capture.requests]
        self.content_type = content_type or capture.requests[0].content_type
        # per record, as captured (a capture may mix text/csv and application/json); None: one given for all
        self.content_types: list[str] | None = None if content_type else [r.content_type for r in capture.requests]
        self.has_labels = False
        skipped = f", {capture.skipped:,} output-only skipped" if capture.skipped else ""
        self.description = (f"{Path(shown).name}: {len(bodies):,} captured requests over "
                            f"{capture.duration:,.0f} s (SageMaker Data Capture{skipped})")
        self._freeze(bodies, [None] * len(bodies))

    def __len__(self) -> int:
        return len(self._bodies)

    @classmethod
    def arrival_offsets(cls, path: str) -> np.ndarray:
        """Arrival offsets (seconds from the first captured request) of the captures under `path`, in the
        order this dataset sends their bodies. `inferenceTime` has one-second resolution in most captures:
        when every captured time is a whole second, the requests sharing one second are spread evenly
        across it (`spread_ties`) rather than replayed as a burst at its start."""
        return _offsets(path, _stamp(path))


def _stamp(path: str) -> tuple[tuple[str, int, int], ...]:
    """What identifies the capture's content cheaply: every file's size and mtime (preflight and
    planning both ask; a capture of a million lines is read once)."""
    p = Path(path)
    files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    return tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files if f.exists())


@lru_cache(maxsize=2)
def _offsets(path: str, stamp: tuple[tuple[str, int, int], ...]) -> np.ndarray:
    from stinger.errors import SpecError

    capture = read_capture([path])
    if not capture.requests:
        raise SpecError(f"load.shape.trace: capture: {path} holds no captured inputs "
                        f"({capture.skipped} output-only records); expected Data Capture files with endpointInput")
    if all(float(r.time).is_integer() for r in capture.requests):
        capture = spread_ties(capture)
    out = np.array([r.offset for r in capture.requests], dtype=np.float64)
    out.flags.writeable = False   # cached: shared by every caller
    return out
