"""targets/fake.py: the in-memory target drives the real engine, in this process and through a run."""

from __future__ import annotations

import numpy as np
import pytest

from stinger.core.records import Kind
from stinger.errors import SpecError
from stinger.spec import parse_spec
from stinger.targets.base import CARRIERS, REGISTRY, Target, build_target

from .conftest import run_engine


def spec(target: dict, **load) -> dict:
    return {"target": {"type": "fake", **target}, "load": {"workers": 1, **load}}


def test_fake_is_a_registered_carrier_that_names_the_fake_transport():
    assert REGISTRY["fake"] == "plain@fake" and CARRIERS["fake"] == "stinger.targets.fake:FakeCarrier"
    t = build_target(parse_spec(spec({}, rate=1, duration=1)).target)
    assert isinstance(t, Target) and t.transport == "fake"


def test_engine_sends_every_request_and_the_fake_answers_each_after_its_delay():
    rec = run_engine(spec({"delay": "20ms", "body": '{"predictions":[3]}'}, rate=50, duration="0.5s"))
    status, kind = rec.column("status"), rec.column("kind")
    assert len(status) == 25 == rec.total("scheduled")
    assert (status == 200).all() and (kind == Kind.OK).all()
    service = rec.column("done") - rec.column("sent")
    assert service.min() >= 0.02                   # the fake's own delay is a lower bound
    latency = rec.column("done") - rec.column("intended")
    assert (latency >= service).all()
    assert rec.engine.targets[0].carrier.requests == 25
    assert rec.column("nbytes").min() > len(b'{"predictions":[3]}')   # status line, headers and body were read


def test_error_and_reset_rates_become_http_5xx_and_reset_and_every_request_is_accounted():
    rec = run_engine(spec({"error_rate": 0.3, "reset_rate": 0.2, "error_status": 503, "seed": 3},
                          rate=200, duration="1s"))
    kind = rec.column("kind")
    n = len(kind)
    assert n == rec.total("scheduled") == 200
    ok, err, reset = (np.count_nonzero(kind == k) for k in (Kind.OK, Kind.HTTP_5XX, Kind.RESET))
    assert ok + err + reset == n
    assert 0.15 * n < err < 0.45 * n and 0.08 * n < reset < 0.32 * n
    assert set(rec.column("status")[kind == Kind.HTTP_5XX].tolist()) == {503}


def test_response_headers_reach_the_batch_under_the_run_s_server_time_header():
    rec = run_engine(spec({"headers": {"Server-Timing": "model;dur=7.5"}}, rate=20, duration="0.5s"))
    values = rec.headers("server-timing")
    assert len(values) == 10 and set(values) == {b"model;dur=7.5"}


def test_request_bytes_are_built_once_per_payload_when_they_never_expire():
    rec = run_engine(spec({}, rate=100, duration="0.5s"))
    assert rec.engine.targets[0].carrier.built == 1 and rec.engine.targets[0].carrier.requests == 50


def test_request_bytes_with_a_validity_time_are_rebuilt_once_expired():
    rec = run_engine(spec({"ttl": "100ms"}, rate=100, duration="1s"))
    built = rec.engine.targets[0].carrier.built
    assert rec.engine.targets[0].carrier.requests == 100
    assert 5 <= built <= 20, built      # ~ once per 100 ms, never once per request


def test_a_timeout_is_measured_when_the_fake_answers_too_late():
    rec = run_engine(spec({"delay": "2s"}, rate=10, duration="0.3s", timeout="0.1s", drain="1s"))
    kind = rec.column("kind")
    assert len(kind) == 3 and (kind == Kind.TIMEOUT).all()


def test_fake_run_goes_through_batch_metrics_and_the_summary():
    from stinger.orchestrate.run import run_spec

    data = spec({"delay": "1ms"}, rate=40, duration="1s")
    report = run_spec(parse_spec(data), quiet=True, write=False)
    [v] = report.summary["variants"].values()
    r = v["requests"]
    assert r["scheduled"] == 40 and r["ok"] == 40 and r["failed"] == 0 and r["unaccounted"] == 0
    assert v["latency_ms"]["p50"] >= 1.0


@pytest.mark.parametrize("field, value, words", [
    ("status", 99, "greater than or equal to 100"),
    ("error_rate", 1.5, "less than or equal to 1"),
    ("delay", "-1ms", "invalid duration"),
    ("ttl", "0s", "must be > 0"),
    ("url", "http://x/", "unknown field"),
])
def test_fake_config_errors_name_the_field(field, value, words):
    with pytest.raises(SpecError) as info:
        parse_spec(spec({field: value}, rate=1, duration=1))
    msg = str(info.value)
    assert msg.startswith(f"target.{field}:") and words in msg and "\n" not in msg, msg
