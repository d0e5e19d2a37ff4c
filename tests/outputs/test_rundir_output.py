"""outputs/rundir.py as an output: it owns every file of a run directory."""

from __future__ import annotations

import json

import pytest

from stinger.core.stats import error_rate_diff
from stinger.core.verdict import verdict
from stinger.errors import UsageError
from stinger.monitors.base import Point
from stinger.outputs.rundir import (
    CAPACITY,
    SERIES,
    VERDICT_JSON,
    VERDICT_MD,
    RunDirOutput,
    read_run,
    read_series,
    write_series,
)


def test_series_round_trip(tmp_path):
    points = [Point(0.5, "endpoint.cpu_pct", 12.25, "%", (("variant", "A"),)),
              Point(1.0, "gen;eq=x", 0.1 + 0.2, "", ())]
    write_series(points, tmp_path / SERIES)
    assert read_series(tmp_path / SERIES) == points


def test_capacity_report_goes_into_a_fresh_directory_named_for_the_spec(tmp_path):
    from stinger.spec import parse_spec

    spec = parse_spec({"target": {"url": "http://127.0.0.1:9/"}, "load": {"rate": 1, "duration": 1},
                       "output": {"dir": str(tmp_path)}})
    out = RunDirOutput()
    out.capacity_start({"spec": spec})
    assert out.run_dir.parent == tmp_path and out.run_dir.name.endswith("-capacity")
    out.capacity_finish({"schema": "stinger.capacity/1", "max_sustainable": 40.0})
    assert json.loads((out.run_dir / CAPACITY).read_text())["max_sustainable"] == 40.0


def test_verdict_files_and_read_back(tmp_path):
    (tmp_path / "summary.json").write_text(json.dumps({"variants": {}}))
    v = verdict([error_rate_diff(0, 100, 30, 100)], a_name="A", b_name="B")
    RunDirOutput(path=tmp_path).verdict(v, {"pairs": 3}, tmp_path)
    saved = json.loads((tmp_path / VERDICT_JSON).read_text())
    assert saved["significant"] is True and saved["pairs"] == 3 and saved["sentence"] == v.sentence
    assert v.sentence in (tmp_path / VERDICT_MD).read_text()
    assert read_run(tmp_path).verdict() == saved


def test_unwritable_base_is_a_usage_error_at_start(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UsageError, match="cannot create run directory"):
        RunDirOutput(blocker / "runs", "x").open(None)
