"""Request IDs (core/correlation.py): each request's X-Request-Id and traceparent, as a real server received
them, joined to requests.csv on the ID, 100 % matched; pure in (seed, request number); off for plain HTTP by
default, on when asked, and configurable."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

import stinger
from stinger.core.correlation import header_args, header_template, span_id, trace_hi, trace_id
from stinger.testing.llm_server import LlmServer
from stinger.testing.servers import RefServer

_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-01")


def _rows(run_dir: str) -> list[dict]:
    with open(Path(run_dir) / "requests.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_ids_are_pure_in_seed_and_request_number():
    hi = trace_hi(7)
    assert hi == trace_hi(7) and hi != trace_hi(8) and hi & 1
    tid = trace_id(hi, 5)
    assert len(tid) == 32 and tid.endswith(f"{5:016x}")
    sid = span_id(hi, 5)
    assert len(sid) == 16 and int(sid, 16) != 0
    lines = header_template(hi, "X-Request-Id", True)
    assert lines is not None
    text = (lines % header_args(hi, 5, True, True)).decode()
    assert text == f"X-Request-Id: {tid}\r\ntraceparent: 00-{tid}-{sid}-01\r\n"
    assert header_template(hi, None, False) is None
    only_tp = header_template(hi, None, True)
    assert only_tp is not None and (only_tp % header_args(hi, 5, False, True)).decode() == f"traceparent: 00-{tid}-{sid}-01\r\n"


def test_llm_requests_carry_ids_the_server_logs_joined_to_requests_csv(tmp_path):
    with LlmServer(ttft_ms=5, itl_ms=1, tokens=4) as s:
        spec = {"target": {"type": "openai", "url": s.url, "model": "m", "max_tokens": 4},
                "payload": {"body": "hi"},
                "load": {"rate": 40, "duration": "1.5s", "workers": 2, "seed": 11},
                "output": {"dir": str(tmp_path), "rows": ["csv"]}}
        result = stinger.run(spec, outputs=["rundir"])
    got = s.records()
    rows = _rows(result.run_dir)
    assert len(rows) >= 40 and len(got) == len(rows)
    by_id = {r["request_id"]: r for r in rows}
    assert len(by_id) == len(rows) and "" not in by_id          # one distinct ID per request
    hi = trace_hi(11)
    matched = 0
    for rec in got:
        row = by_id.get(rec["request_id"])
        assert row is not None, rec["request_id"]
        m = _TRACEPARENT.fullmatch(rec["traceparent"])
        assert m is not None and m.group(1) == rec["request_id"]   # the trace id is the request ID
        rid = int(rec["request_id"][16:], 16)
        assert rec["request_id"][:16] == f"{hi:016x}" and m.group(2) == span_id(hi, rid)
        assert int(row["worker"]) == rid % 2                        # worker w numbers w, w + W, ...
        matched += 1
    assert matched == len(rows)                                     # 100 % joined


def test_plain_http_sends_none_by_default_and_does_when_asked(tmp_path):
    with RefServer("delay", delay_ms=1, log_ids=True) as s:
        base = {"target": {"url": s.url + "/"}, "load": {"rate": 50, "duration": "0.6s", "workers": 1, "seed": 3},
                "output": {"dir": str(tmp_path), "rows": ["csv"]}}
        off = stinger.run(base, outputs=["rundir"])
        assert {r["request_id"] for r in _rows(off.run_dir)} == {""}
        n_off = len(_rows(off.run_dir))
        on = stinger.run({**base, "correlation": {"ids": True, "header": "X-Correlation-Id"}}, outputs=["rundir"])
    logged = s.logged_ids()
    rows = _rows(on.run_dir)
    assert all(r["request_id"] for r in rows)
    assert logged[:n_off] == [(None, None)] * n_off                  # the first run sent no IDs
    sent = logged[n_off:]
    assert sorted(i for i, _ in sent) == sorted(r["request_id"] for r in rows)   # 100 % joined
    assert all(_TRACEPARENT.fullmatch(tp or "") and tp[3:35] == i for i, tp in sent)


def test_no_request_id_flag_and_an_empty_header(tmp_path):
    from click.testing import CliRunner

    from stinger.cli import cli

    with LlmServer(ttft_ms=2, itl_ms=1, tokens=2) as s:
        common = ["run", "--openai", s.url, "--model", "m", "--body", "hi", "--rate", "20", "--requests", "6",
                  "--workers", "1", "--out", str(tmp_path), "--save-requests", "-q"]
        r1 = CliRunner().invoke(cli, [*common, "--no-request-id"])
        assert r1.exit_code == 0, r1.output
        r2 = CliRunner().invoke(cli, [*common, "--request-id-header", ""])
        assert r2.exit_code == 0, r2.output
    got = s.records()
    assert [(g["request_id"], g["traceparent"]) for g in got[:6]] == [(None, None)] * 6
    assert all(g["request_id"] is None and _TRACEPARENT.fullmatch(g["traceparent"]) for g in got[6:12])


@pytest.mark.parametrize("bad", ["X Request", "a:b"])
def test_a_bad_header_name_is_a_one_line_error(bad):
    from stinger.errors import SpecError

    with pytest.raises(SpecError, match="not a header name"):
        stinger.load_spec({"target": {"url": "http://127.0.0.1:9/"}, "correlation": {"header": bad}})


def test_a_user_s_own_id_header_is_sent_alone_never_twice():
    from stinger.orchestrate.planning import build_plans
    from stinger.spec import parse_spec

    base = {"target": {"type": "openai", "url": "http://127.0.0.1:9/v1", "model": "m"}, "payload": {"body": "hi"},
            "load": {"rate": 1, "duration": 1}}
    [plan] = build_plans(parse_spec(base), workers=1)
    assert plan.request_ids == (True,)
    own = {**base, "target": {**base["target"], "headers": {"x-request-id": "mine"}}}
    [plan] = build_plans(parse_spec(own), workers=1)
    assert plan.request_ids == (False,)
