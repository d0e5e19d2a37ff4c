"""Datasets (JSONL, CSV, JSON, folders, memory) opened by format, and their one-line errors.

The record index and PayloadOrder have their own test files beside this one.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest

from stinger.datasets import Dataset, MemoryDataset, base, open_dataset
from stinger.errors import DatasetError


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def dataset_error(path: Path, **kwargs: object) -> str:
    """Open a dataset that must fail; return the message after checking it is one line naming the file."""
    with pytest.raises(DatasetError) as info:
        open_dataset(path, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message and "\r" not in message
    assert path.name in message
    return message


def bodies(d: Dataset) -> list[bytes]:
    return [d.body(i) for i in range(len(d))]


def labels(d: Dataset) -> list[object]:
    return [d.label(i) for i in range(len(d))]


@pytest.fixture
def large(monkeypatch: pytest.MonkeyPatch) -> None:
    """Treat every dataset as large: indexed reads on demand, partial validation."""
    monkeypatch.setattr(base, "SMALL_BYTES", 0)


# ---------------------------------------------------------------------------
# JSONL
# ---------------------------------------------------------------------------


def test_jsonl_without_labels_sends_each_line(tmp_path: Path) -> None:
    d = open_dataset(write(tmp_path / "data.jsonl", '{"x": 1}\n\n{"x": [2, 3]}\n'))
    assert isinstance(d, Dataset)
    assert len(d) == 2
    assert bodies(d) == [b'{"x": 1}', b'{"x": [2, 3]}']
    assert labels(d) == [None, None]
    assert not d.has_labels
    assert d.content_type == "application/json"
    assert d.description == "data.jsonl: 2 records (JSONL)"


def test_jsonl_label_field_is_removed_from_the_body(tmp_path: Path) -> None:
    path = write(tmp_path / "data.ndjson", '{"x": 1, "label": 7}\n{"x": 2}\n{"label": "cat", "x": {"a": "é"}}\n')
    d = open_dataset(path, label_field="label")
    assert d.has_labels
    assert bodies(d) == [b'{"x":1}', b'{"x": 2}', '{"x":{"a":"é"}}'.encode()]
    assert labels(d) == [7, None, "cat"]  # missing in a later record: None
    assert "labels from 'label'" in d.description


def test_jsonl_body_field_sends_that_value(tmp_path: Path) -> None:
    path = write(tmp_path / "d.jsonl", '{"inputs": {"a": [1, 2]}, "y": 0}\n{"inputs": "text", "y": 1}\n')
    d = open_dataset(path, body_field="inputs", label_field="y")
    assert bodies(d) == [b'{"a":[1,2]}', b'"text"']
    assert labels(d) == [0, 1]


def test_jsonl_crlf_bom_blank_lines_and_no_trailing_newline(tmp_path: Path) -> None:
    text = b'\xef\xbb\xbf{"a": 1}\r\n\r\n   \r\n{"a": 2}\r\n\t\n{"a": 3}'
    d = open_dataset(write(tmp_path / "crlf.jsonl", text), label_field="a")
    assert labels(d) == [1, 2, 3]
    assert bodies(d) == [b"{}", b"{}", b"{}"]
    raw = open_dataset(tmp_path / "crlf.jsonl")
    assert bodies(raw) == [b'{"a": 1}', b'{"a": 2}', b'{"a": 3}']


def test_small_dataset_body_is_a_list_lookup(tmp_path: Path) -> None:
    d = open_dataset(write(tmp_path / "d.jsonl", '{"a": 1}\n{"a": 2}\n'))
    assert isinstance(d.body.__self__, list)  # type: ignore[attr-defined]
    assert d.body(1) is d.body(1)



def _naive_jsonl(text: bytes) -> list[bytes]:
    return [line.strip() for line in text.split(b"\n") if line.strip()]


def test_offset_index_matches_naive_parsing_for_20000_lines(tmp_path: Path, large: None) -> None:
    rng = np.random.default_rng(5)
    lines = []
    for i in range(20_000):
        record = {"id": i, "v": rng.normal(size=int(rng.integers(0, 5))).round(3).tolist(), "label": int(i % 10)}
        lines.append(json.dumps(record))
        if i % 997 == 0:
            lines.append("")  # blank lines sprinkled in
    text = ("\n".join(lines)).encode()
    path = write(tmp_path / "big.jsonl", text)
    d = open_dataset(path)
    expected = _naive_jsonl(text)
    assert len(d) == len(expected) == 20_000
    assert bodies(d) == expected
    with_labels = open_dataset(path, label_field="label")
    sample = range(0, 20_000, 1_237)
    for i in sample:
        record = json.loads(expected[i])
        assert with_labels.label(i) == record.pop("label")
        assert json.loads(with_labels.body(i)) == record



def test_large_jsonl_validates_only_a_prefix_and_fails_on_use(
    tmp_path: Path, large: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(base, "VALIDATE_LIMIT", 2)
    path = write(tmp_path / "d.jsonl", '{"a": 1, "y": 0}\n{"a": 2, "y": 1}\n\n{"a": oops}\n')
    d = open_dataset(path)
    assert "first 2 validated" in d.description
    assert d.body(2) == b'{"a": oops}'  # needs no rewrite: sent as it is
    labelled = open_dataset(path, label_field="y")
    assert labelled.body(1) == b'{"a":2}' and labelled.label(1) == 1
    with pytest.raises(DatasetError, match=r"d\.jsonl: line 4: invalid JSON"):
        labelled.body(2)


def test_jsonl_invalid_json_names_the_physical_line(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.jsonl", '{"a": 1}\n\n{"a": 2}\n{"a": }\n')
    message = dataset_error(path)
    assert "line 4" in message and "invalid JSON" in message and "Expecting value" in message


def test_jsonl_invalid_utf8(tmp_path: Path) -> None:
    message = dataset_error(write(tmp_path / "bin.jsonl", b'{"a": 1}\n{"a": "\xff"}\n'))
    assert "line 2" in message and "UTF-8" in message


def test_jsonl_missing_label_field_lists_the_keys(tmp_path: Path) -> None:
    message = dataset_error(write(tmp_path / "d.jsonl", '\n{"x": 1, "target": 2}\n'), label_field="label")
    assert "line 2" in message and "'label' not found" in message and "'x', 'target'" in message


def test_jsonl_missing_body_field_in_a_later_record(tmp_path: Path) -> None:
    path = write(tmp_path / "d.jsonl", '{"in": 1}\n{"in": 2}\n{"out": 3}\n')
    message = dataset_error(path, body_field="in")
    assert "line 3" in message and "'in' not found" in message


def test_jsonl_label_field_needs_objects(tmp_path: Path) -> None:
    message = dataset_error(write(tmp_path / "d.jsonl", '{"y": 1}\n[1, 2]\n'), label_field="y")
    assert "line 2" in message and "an array" in message


@pytest.mark.parametrize("text", ["", "\n\n  \r\n"])
def test_empty_jsonl(tmp_path: Path, text: str) -> None:
    assert "empty dataset" in dataset_error(write(tmp_path / "e.jsonl", text))


# ---------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------


def test_csv_without_header_sends_rows(tmp_path: Path) -> None:
    d = open_dataset(write(tmp_path / "x.csv", "1,2.5,3\r\n4,5,-6e3\r\n\r\n7,8,9"))
    assert bodies(d) == [b"1,2.5,3", b"4,5,-6e3", b"7,8,9"]
    assert not d.has_labels and labels(d) == [None] * 3
    assert d.content_type == "text/csv"
    assert d.description == "x.csv: 3 rows (CSV)"


def test_csv_header_is_detected_and_never_sent(tmp_path: Path) -> None:
    d = open_dataset(write(tmp_path / "x.csv", "a,b,label\n1,2,0\n3,4,1\n"), label_field="label")
    assert bodies(d) == [b"1,2", b"3,4"]
    assert labels(d) == [0, 1]
    assert d.description == "x.csv: 2 rows (CSV, header, labels from column 'label')"


@pytest.mark.parametrize("field", [0, "0", -3])
def test_csv_label_by_index(tmp_path: Path, field: int | str) -> None:
    d = open_dataset(write(tmp_path / "x.csv", "cat,1,2\ndog,3.5,4\n"), label_field=field, csv_header=False)
    assert labels(d) == ["cat", "dog"]
    assert bodies(d) == [b"1,2", b"3.5,4"]


def test_csv_quoted_fields_survive_label_removal(tmp_path: Path) -> None:
    text = 'text,label\n"hello, ""world""",1\n"two\nlines",2.5\n'
    d = open_dataset(write(tmp_path / "q.csv", text), label_field="label")
    assert labels(d) == [1, 2.5]
    assert [next(csv.reader([b.decode()])) for b in bodies(d)] == [['hello, "world"'], ["two\nlines"]]
    raw = open_dataset(tmp_path / "q.csv")
    assert raw.body(1) == b'"two\nlines",2.5'


def test_csv_forced_header_false_sends_the_first_row(tmp_path: Path) -> None:
    d = open_dataset(write(tmp_path / "t.csv", "a,b\nc,d\n"), csv_header=False)
    assert bodies(d) == [b"a,b", b"c,d"]


def test_csv_field_count_mismatch_names_the_line(tmp_path: Path) -> None:
    message = dataset_error(write(tmp_path / "x.csv", "a,b\n1,2\n\n3,4,5\n"))
    assert "line 4" in message and "3 fields" in message and "expected 2" in message


def test_csv_label_column_not_found_lists_columns(tmp_path: Path) -> None:
    message = dataset_error(write(tmp_path / "x.csv", "a,b\n1,2\n"), label_field="y")
    assert "line 1" in message and "'y' not found" in message and "'a', 'b'" in message
    message = dataset_error(write(tmp_path / "n.csv", "1,2\n3,4\n"), label_field=5)
    assert "no header" in message and "0 to 1" in message


def test_csv_header_only_and_unclosed_quote(tmp_path: Path) -> None:
    assert "only a header" in dataset_error(write(tmp_path / "h.csv", "a,b\n"))
    message = dataset_error(write(tmp_path / "u.csv", '1,2\n3,"4\n5,6\n'))
    assert "line 2" in message and "never closed" in message


def test_csv_rejects_body_field(tmp_path: Path) -> None:
    assert "body_field" in dataset_error(write(tmp_path / "x.csv", "1\n"), body_field="x")


def test_large_csv_reads_on_demand(tmp_path: Path, large: None) -> None:
    rows = [f"{i},{i * 2},{i % 3}" for i in range(500)]
    d = open_dataset(write(tmp_path / "big.csv", "\n".join(rows) + "\n"), label_field=2)
    assert len(d) == 500
    assert d.body(499) == b"499,998" and d.label(499) == 499 % 3
    assert open_dataset(tmp_path / "big.csv").body(7) == b"7,14,1"


# ---------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------


def test_json_array(tmp_path: Path) -> None:
    path = write(tmp_path / "a.json", json.dumps([{"x": 1, "y": "a"}, {"x": [2]}, [3]], indent=2))
    d = open_dataset(path)
    assert bodies(d) == [b'{"x":1,"y":"a"}', b'{"x":[2]}', b"[3]"]
    assert labels(d) == [None] * 3
    assert d.description == "a.json: 3 records (JSON)"
    labelled = open_dataset(write(tmp_path / "b.json", '[{"x": 1, "y": 0}, {"x": 2}]'), label_field="y")
    assert bodies(labelled) == [b'{"x":1}', b'{"x":2}'] and labels(labelled) == [0, None]


def test_json_errors(tmp_path: Path) -> None:
    assert "expected a JSON array" in dataset_error(write(tmp_path / "o.json", '{"a": 1}'))
    message = dataset_error(write(tmp_path / "bad.json", '[\n  {"a": 1},\n  {"a": }\n]'))
    assert "line 3" in message and "invalid JSON" in message
    assert "empty dataset" in dataset_error(write(tmp_path / "e.json", "[]"))
    message = dataset_error(write(tmp_path / "l.json", '[{"x": 1}]'), label_field="y")
    assert "record 1" in message and "'y' not found" in message


# ---------------------------------------------------------------------------
# Folders of files
# ---------------------------------------------------------------------------


def test_files_sorted_hidden_and_subfolders_skipped(tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    write(folder / "b.jpg", b"\xff\xd8two")
    write(folder / "a.jpg", b"\xff\xd8one")
    write(folder / ".hidden.jpg", b"secret")
    (folder / "sub").mkdir()
    write(folder / "sub" / "c.jpg", b"deep")
    d = open_dataset(folder)
    assert bodies(d) == [b"\xff\xd8one", b"\xff\xd8two"]
    assert d.content_type == "image/jpeg"
    assert not d.has_labels and d.label(0) is None
    assert d.description == "imgs/: 2 files (image/jpeg)"


def test_files_mixed_types_are_octet_stream_and_read_on_demand(tmp_path: Path, large: None) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    write(folder / "1.png", b"png")
    write(folder / "2.bin", b"bin")
    d = open_dataset(folder)
    assert d.content_type == "application/octet-stream"
    write(folder / "2.bin", b"changed")  # large datasets read each time
    assert d.body(1) == b"changed"
    assert open_dataset(folder, content_type="x/y").content_type == "x/y"


def test_files_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    write(empty / ".only-hidden", b"x")
    assert "empty dataset" in dataset_error(empty)
    assert "no labels" in dataset_error(empty, label_field="y")


# ---------------------------------------------------------------------------
# Formats and general errors
# ---------------------------------------------------------------------------


def test_missing_file_and_unknown_extension(tmp_path: Path) -> None:
    assert "no such file" in dataset_error(tmp_path / "nope.jsonl")
    assert "'.txt'" in dataset_error(write(tmp_path / "d.txt", "{}\n"))
    assert open_dataset(tmp_path / "d.txt", format="jsonl").body(0) == b"{}"
    assert "unknown dataset format" in dataset_error(tmp_path / "d.txt", format="parquet")
    assert "needs a folder" in dataset_error(tmp_path / "d.txt", format="files")


def test_unreadable_inputs(tmp_path: Path) -> None:
    (tmp_path / "folder.jsonl").mkdir()
    assert "is a folder" in dataset_error(tmp_path / "folder.jsonl", format="jsonl")
    if os.geteuid() == 0:
        return  # root reads files whatever their mode
    locked = write(tmp_path / "locked.jsonl", "{}\n")
    locked.chmod(0)
    assert "cannot read" in dataset_error(locked)


def test_content_type_override(tmp_path: Path) -> None:
    d = open_dataset(write(tmp_path / "d.jsonl", "{}\n"), content_type="application/x-custom")
    assert d.content_type == "application/x-custom"


def test_memory_dataset() -> None:
    d = MemoryDataset([b"a", b"b"], labels=[1, 2], content_type="text/plain")
    assert isinstance(d, Dataset)
    assert bodies(d) == [b"a", b"b"] and labels(d) == [1, 2] and d.has_labels
    with pytest.raises(DatasetError):
        MemoryDataset([])
