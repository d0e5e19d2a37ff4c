"""The engine keeps the first error body per status per variant (issue 9 item 12)."""

from __future__ import annotations

import json

from stinger.core.records import IntervalRecord
from stinger.orchestrate.run import run_spec
from stinger.spec import parse_spec


def test_all_404_run_shows_the_sample_body_in_summary_json(servers, tmp_path):
    data = {"target": {"url": servers.url("/404")}, "load": {"workers": 1, "rate": 20, "duration": "0.5s"},
            "output": {"dir": str(tmp_path)}}
    report = run_spec(parse_spec(data), quiet=True, write=True)
    (p,) = tmp_path.glob("*/summary.json")
    summary = json.loads(p.read_text())
    v = summary["variants"]["default"]
    assert v["errors"]["http_4xx"] == v["requests"]["scheduled"] == 10
    assert v["sample_responses"] == {"404": "nope"}
    assert summary["failures"]["default"]["samples"] == {"404": "nope"}
    assert report.summary["variants"]["default"]["sample_responses"] == {"404": "nope"}


def test_successful_run_keeps_no_sample(servers):
    data = {"target": {"url": servers.url("/ok")}, "load": {"workers": 1, "rate": 20, "duration": "0.3s"}}
    report = run_spec(parse_spec(data), quiet=True, write=False)
    assert "sample_responses" not in report.summary["variants"]["default"]


def test_samples_and_notes_round_trip_and_are_absent_when_empty():
    rec = IntervalRecord(worker=0, t=1.0, interval=0, samples={"a": {"404": "nope"}}, notes=("tls: x",))
    back = IntervalRecord.from_bytes(rec.to_bytes())
    assert back.samples == {"a": {"404": "nope"}} and back.notes == ("tls: x",)
    plain = IntervalRecord(worker=0, t=1.0, interval=0).to_bytes(compress=False)
    assert b"samples" not in plain and b"notes" not in plain
