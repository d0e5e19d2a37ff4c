"""Data Capture JSONL in its three encodings, read into bodies, content types and arrival offsets."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from stinger.datasets import open_dataset
from stinger.errors import DatasetError
from stinger.vendors.sagemaker.capture import (
    read_capture,
    spread_ties,
    variant_from_path,
)


def record(data, encoding, content_type, when, inference_id=None, with_input=True):
    capture = {"endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT",
                                  "data": "[0.5]", "encoding": "JSON"}}
    if with_input:
        capture["endpointInput"] = {"observedContentType": content_type, "mode": "INPUT", "data": data,
                                    "encoding": encoding}
    meta = {"eventId": "e", "inferenceTime": when}
    if inference_id:
        meta["inferenceId"] = inference_id
    return json.dumps({"captureData": capture, "eventMetadata": meta, "eventVersion": "0"})


def write(path: Path, lines) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_three_encodings_decoded_and_timed(tmp_path):
    binary = bytes(range(256))
    root = tmp_path / "capture" / "my-endpoint"
    write(root / "A" / "2026" / "11" / "24" / "10" / "part-1.jsonl", [
        record("1.0,2.0,3.0", "CSV", "text/csv", "2026-11-24T10:00:00Z", "id-1"),
        record('{"instances": [[1, 2]]}', "JSON", "application/json", "2026-11-24T10:00:02.500Z"),
        record(base64.b64encode(binary).decode(), "BASE64", "application/x-npy", "2026-11-24T10:00:01Z"),
        "",
        record("", "CSV", "text/csv", "2026-11-24T10:00:03Z", with_input=False),
    ])
    write(root / "B" / "2026" / "11" / "24" / "10" / "part-1.jsonl", [
        record({"inputs": [1]}, "JSON", "application/json", "2026-11-24T10:00:04Z"),
    ])
    capture = read_capture([tmp_path / "capture"])
    assert [(r.body, r.content_type, r.offset, r.variant) for r in capture.requests] == [
        (b"1.0,2.0,3.0", "text/csv", 0.0, "A"),
        (binary, "application/x-npy", 1.0, "A"),
        (b'{"instances": [[1, 2]]}', "application/json", 2.5, "A"),
        (b'{"inputs":[1]}', "application/json", 4.0, "B"),
    ]
    assert capture.requests[0].inference_id == "id-1"
    assert capture.skipped == 1 and capture.duration == 4.0
    only_b = read_capture([tmp_path / "capture"], variant="B")
    assert [r.offset for r in only_b.requests] == [0.0] and only_b.requests[0].variant == "B"


def test_ties_spread_over_their_second(tmp_path):
    f = write(tmp_path / "c.jsonl", [record(str(i), "CSV", "text/csv", "2026-11-24T10:00:00Z") for i in range(4)]
              + [record("x", "CSV", "text/csv", "2026-11-24T10:00:01Z")])
    capture = spread_ties(read_capture([f]))
    assert [r.offset for r in capture.requests] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert [r.body for r in capture.requests][:4] == [b"0", b"1", b"2", b"3"]
    assert variant_from_path(f) is None


@pytest.mark.parametrize("line, message", [
    ("not json", "not JSON"),
    ('{"foo": 1}', "not a Data Capture record"),
    (record("@@@", "BASE64", "x", "2026-11-24T10:00:00Z"), "not valid base64"),
    (record("a", "UTF16", "x", "2026-11-24T10:00:00Z"), "unknown encoding 'UTF16'"),
    (record("a", "CSV", "x", "yesterday"), "is not an ISO 8601 time"),
])
def test_bad_lines_are_one_line_dataset_errors(tmp_path, line, message):
    f = write(tmp_path / "bad.jsonl", [record("1", "CSV", "text/csv", "2026-11-24T10:00:00Z"), line])
    with pytest.raises(DatasetError) as info:
        read_capture([f])
    assert str(info.value).startswith(f"{f}:2: ") and message in str(info.value) and "\n" not in str(info.value)


def test_missing_or_empty_inputs(tmp_path):
    with pytest.raises(DatasetError, match="no such capture file"):
        read_capture([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no Data Capture files"):
        read_capture([tmp_path / "empty"])


def test_capture_is_a_dataset_format(tmp_path):
    csv_body = "1.0,2.0,3.0"
    root = tmp_path / "cap" / "ep" / "B" / "2026" / "11" / "24" / "10"
    write(root / "part.jsonl", [
        record(csv_body, "CSV", "text/csv", "2026-11-24T10:00:01Z"),
        record(base64.b64encode(b"\x00\x01").decode(), "BASE64", "application/x-npy", "2026-11-24T10:00:00Z"),
        record("", "CSV", "text/csv", "2026-11-24T10:00:02Z", with_input=False),
    ])
    ds = open_dataset(tmp_path / "cap", format="capture")
    assert len(ds) == 2
    assert [ds.body(0), ds.body(1)] == [b"\x00\x01", csv_body.encode()]   # arrival order
    assert ds.content_type == "application/x-npy" and ds.has_labels is False and ds.label(0) is None
    assert "2 captured requests" in ds.description and "1 output-only skipped" in ds.description
    with pytest.raises(DatasetError, match="no labels"):
        open_dataset(tmp_path / "cap", format="capture", label_field="y")
