"""--save-requests parquet: requests.parquet holds requests.csv's rows, typed (rows/parquet.py).

Unit: the same spill parts collected by both sinks give the same rows, nulls where csv is empty. End to
end: a real run against a reference server writes both files from one worker half, the Parquet rows equal
the CSV rows and the server's own count, and summary.json names both. Without pyarrow the sink is refused
before any run in one line naming the extra.
"""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from stinger.core.rows import ROW_COLUMNS, RowBatch
from stinger.rows.csv import CsvRows
from stinger.rows.parquet import ParquetRows
from stinger.rows.spill import append
from stinger.testing.servers import RefServer

pq = pytest.importorskip("pyarrow.parquet")


def _csv_value(text: str):
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def _same_rows(parquet_path, csv_path) -> int:
    table = pq.read_table(parquet_path)
    assert tuple(table.column_names) == ROW_COLUMNS
    got = table.to_pylist()
    want = [{k: _csv_value(v) for k, v in r.items()} for r in csv.DictReader(open(csv_path))]
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        for k in ROW_COLUMNS:
            if isinstance(w[k], float):   # csv rounds: 6 decimals for seconds, 3 for milliseconds
                assert g[k] == pytest.approx(w[k], abs=6e-4 if k.endswith("_ms") else 6e-7), (k, g, w)
            else:
                assert g[k] == w[k], (k, g, w)
    return len(got)


def test_the_parquet_rows_are_the_csv_rows_typed(tmp_path):
    part = tmp_path / ".requests-w0.bin"
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    cols = {"intended": [10.5, 10.0, 10.2], "sent": [10.501, 10.001, np.nan], "first": [10.51, 0.0, 0.0],
            "done": [10.52, 10.3, np.nan], "server_ms": [4.0, np.nan, np.nan], "status": [200, 0, 0],
            "kind": [0, 2, -1], "variant": [1, 0, 1], "nbytes": [12, 0, 0], "payload": [7, 8, 9], "queued": [0, 2, 1]}
    append(fd, RowBatch(10.0, 3, **{k: np.asarray(v) for k, v in cols.items()}))
    os.close(fd)
    got = ParquetRows().collect([part], tmp_path, ["A", "B"], 1700000000.123456)
    assert (got.sink, got.path, got.rows) == ("parquet", "requests.parquet", 3)
    CsvRows().collect([part], tmp_path, ["A", "B"], 1700000000.123456)
    assert _same_rows(tmp_path / "requests.parquet", tmp_path / "requests.csv") == 3
    table = pq.read_table(tmp_path / "requests.parquet")
    types = {f.name: str(f.type) for f in table.schema}
    assert types["intended_s"] == "double" and types["status"] == "int16" and types["queued"] == "int8"
    assert types["variant"].startswith("dictionary") and types["kind"].startswith("dictionary")
    meta = table.schema.metadata
    assert float(meta[b"stinger.t0_unix"]) == 1700000000.123456
    assert json.loads(meta[b"stinger.variants"]) == ["A", "B"]
    rows = table.to_pylist()
    assert [r["kind"] for r in rows] == ["timeout", "in_flight", "ok"]   # sorted by intended time
    assert rows[1]["sent_s"] is None and rows[1]["done_s"] is None and rows[1]["latency_ms"] is None
    assert rows[2]["latency_ms"] == pytest.approx(20.0) and rows[2]["variant"] == "B"


def _stinger(args, env=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "stinger.cli", *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, env=env)


def test_a_run_writes_both_files_from_one_worker_half(tmp_path):
    with RefServer("delay", delay_ms=5, record=True) as server:
        r = _stinger(["run", "--url", server.url + "/", "--rate", "50", "--duration", "2s", "--workers", "2",
                      "--save-requests=csv,parquet", "--out", str(tmp_path), "-q"])
    served = len(server.records())
    assert r.returncode == 0, r.stderr
    [run] = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert not list(run.glob(".requests-w*"))   # the parts were read by both sinks, then removed
    summary = json.loads((run / "summary.json").read_text())
    ok = summary["variants"]["default"]["requests"]["ok"]
    assert served == ok == 100
    t0 = summary["requests_file"]["t0_unix"]
    assert summary["rows"] == [{"sink": "csv", "path": "requests.csv", "rows": 100, "t0_unix": t0},
                               {"sink": "parquet", "path": "requests.parquet", "rows": 100, "t0_unix": t0}]
    assert _same_rows(run / "requests.parquet", run / "requests.csv") == 100
    table = pq.read_table(run / "requests.parquet")
    assert float(table.schema.metadata[b"stinger.t0_unix"]) == t0
    lat = np.array(table.column("latency_ms").to_pylist())
    assert np.percentile(lat, 50) == pytest.approx(summary["variants"]["default"]["latency_ms"]["p50"],
                                                   rel=0.01, abs=0.05)
    assert not math.isnan(lat.max())


def test_without_pyarrow_parquet_is_refused_in_one_line_before_any_run(tmp_path):
    # a pyarrow that cannot be imported (as when the extra is not installed), in a fresh interpreter
    code = ("import sys; sys.modules['pyarrow'] = None; from stinger.cli import main; "
            "sys.argv = ['stinger'] + sys.argv[1:]; main()")
    out = tmp_path / "runs"
    r = subprocess.run([sys.executable, "-c", code, "run", "--url", "http://127.0.0.1:9/", "--rate", "1",
                        "--requests", "1", "--save-requests", "parquet", "--out", str(out), "-q"],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [
        "stinger: error: --save-requests parquet needs pyarrow, which is not installed; "
        "pip install 'stinger[parquet]'"]
    assert not out.exists()
