"""The engine over real sockets on 127.0.0.1: accounting, error kinds, checks,
in-flight bound, warm-up, closed model, workers, server time, round robin.

Each test runs a short, low-rate load (0.5-1.5 s) through the real coordinator
and worker processes (`session.run_spec`) against the servers of conftest.py.
No test asserts an absolute time: bounds are counts, ratios between measured
quantities, or lower bounds a server's own sleep makes certain.
"""

from __future__ import annotations

import asyncio
from time import perf_counter

import pytest

from stinger.core.records import ERROR_LABELS
from stinger.orchestrate.planning import build_plans
from stinger.orchestrate.run import run_spec
from stinger.scale.coordinator import execute
from stinger.spec import parse_spec

PCTS = ("p50", "p90", "p95", "p99", "p99.9")


def run(load: dict, url: str | list[str], **extra):
    """Run a spec; return (the one variant's summary, the RunReport)."""
    target = {"url": url} if isinstance(url, str) else {"urls": url}
    target.update(extra.pop("target", {}))
    data = {"target": target, "load": {"workers": 1, **load}, **extra}
    report = run_spec(parse_spec(data), quiet=True, write=False)
    variants = report.summary["variants"]
    assert len(variants) == 1
    return next(iter(variants.values())), report


def assert_accounted(v: dict) -> None:
    r = v["requests"]
    assert r["unaccounted"] == 0, r
    assert r["scheduled"] == r["ok"] + r["failed"] + r["dropped"] + r["in_flight"], r
    assert r["failed"] == sum(v["errors"].values()), (r, v["errors"])
    assert set(v["errors"]) == set(ERROR_LABELS)


def assert_latency_order(v: dict) -> None:
    """Per request latency >= service time >= time to first byte >= 0, so the same
    holds for every percentile of their histograms."""
    lat, svc, ttfb = v["latency_ms"], v["service_time_ms"], v["ttfb_ms"]
    assert lat["count"] == svc["count"] == v["requests"]["ok"]
    for p in PCTS:
        assert lat[p] >= svc[p] >= ttfb[p] >= 0, (p, lat, svc, ttfb)
    assert lat["max"] >= svc["max"] and lat["mean"] >= svc["mean"] * 0.999


# ------------------------------------------------------------------- success
def test_ok_route_every_request_ok_and_accounted(servers):
    v, report = run({"rate": 20, "duration": "1s"}, servers.url("/ok"))
    assert_accounted(v)
    r = v["requests"]
    assert r["scheduled"] == 20 and r["ok"] == 20 and r["failed"] == 0 and r["dropped"] == 0
    assert v["status_codes"] == {"200": 20}
    assert v["error_rate"] == 0.0
    assert_latency_order(v)
    assert v["bytes"]["received"] > 0 and v["bytes"]["sent"] > 0
    # the per-interval series adds up to the totals
    rows = report.outcome.metrics.interval_rows()
    assert sum(row["ok"] for row in rows) == 20
    assert sum(row["scheduled"] for row in rows) == 20


def test_offered_rate_of_a_constant_schedule_is_the_rate(servers):
    """--rate 20 --duration 1s offers 20 req/s over the 1 s window, even when the
    last response comes back before the window ends."""
    v, report = run({"rate": 20, "duration": "1s"}, servers.url("/ok"))
    assert v["requests"]["scheduled"] == 20
    assert report.summary["window"] == {"start_s": 0.0, "end_s": 1.0}
    assert v["throughput"]["offered_rps"] == pytest.approx(20.0, rel=0.02)
    assert v["throughput"]["achieved_rps"] == pytest.approx(20.0, rel=0.02)


@pytest.mark.parametrize("path, kind, code", [("/404", "http_4xx", "404"), ("/500", "http_5xx", "500")])
def test_http_errors_counted_by_class(servers, path, kind, code):
    v, _ = run({"rate": 20, "duration": "0.5s"}, servers.url(path))
    assert_accounted(v)
    n = v["requests"]["scheduled"]
    assert n == 10
    assert v["errors"][kind] == n and v["requests"]["failed"] == n and v["requests"]["ok"] == 0
    assert v["status_codes"] == {code: n}
    assert v["error_rate"] == 1.0
    assert v["latency_ms"]["count"] == 0  # only OK requests enter latency


@pytest.mark.parametrize(
    "server, kind, extra",
    [
        ("refused", "connect", {}),
        ("silent", "timeout", {"timeout": "0.3s"}),
        ("reset", "reset", {}),
        ("garbage", "invalid_response", {}),
    ],
)
def test_transport_errors_land_in_their_bucket(servers, server, kind, extra):
    port = getattr(servers, server)
    v, _ = run({"rate": 10, "duration": "0.5s", "connect_timeout": "1s", **extra}, servers.url("/x", port))
    assert_accounted(v)
    r = v["requests"]
    assert r["scheduled"] == 5
    assert v["errors"][kind] == 5, v["errors"]
    assert r["ok"] == 0 and r["failed"] == 5 and r["in_flight"] == 0
    assert v["latency_ms"]["count"] == 0
    assert v["error_rate"] == 1.0


# --------------------------------------------------------------------- checks
@pytest.mark.parametrize(
    "path, check, ok, kind",
    [
        ("/ok", {"json_path": "$.predictions[0]"}, True, None),
        ("/ok", {"json_path": "$.no_such_key"}, False, "check_failed"),
        ("/ok", {"json_path": "$.label", "equals": "cat"}, True, None),
        ("/ok", {"json_path": "$.label", "equals": "dog"}, False, "check_failed"),
        ("/text", {"regex": "stinger"}, True, None),
        ("/text", {"regex": "^goodbye"}, False, "check_failed"),
        ("/404", {"status": 404}, True, None),           # an expected 404 is OK by the user's word
        ("/ok", {"status": "201"}, False, "check_failed"),
        ("/404", {"status": "2xx"}, False, "http_4xx"),
    ],
)
def test_checks(servers, path, check, ok, kind):
    v, _ = run({"rate": 20, "duration": "0.5s"}, servers.url(path), check=check)
    assert_accounted(v)
    n = v["requests"]["scheduled"]
    assert n == 10
    if ok:
        assert v["requests"]["ok"] == n and v["requests"]["failed"] == 0, v["errors"]
        assert v["latency_ms"]["count"] == n
    else:
        assert v["errors"][kind] == n and v["requests"]["ok"] == 0, v["errors"]


def test_post_body_content_type_and_headers_arrive_intact(servers):
    body = '{"inputs": [1, 2]}'
    v, _ = run({"rate": 20, "duration": "0.5s"}, servers.url("/echo"),
               target={"method": "POST", "headers": {"Authorization": "Bearer T0KEN"}},
               payload={"body": body, "content_type": "application/json"},
               check={"regex": rf'"method":"POST","len":{len(body)},"ct":"application/json","auth":"Bearer T0KEN"'})
    assert_accounted(v)
    assert v["requests"]["ok"] == 10, v["errors"]


# ------------------------------------------------------------ in-flight bound
def test_on_limit_drop_drops_and_counts(servers):
    v, _ = run({"rate": 40, "duration": "1s", "max_in_flight": 2, "on_limit": "drop"}, servers.url("/slow?ms=300"))
    assert_accounted(v)
    r = v["requests"]
    assert r["scheduled"] == 40
    # two slots of >= 300 ms over ~1 s: at most a handful get through
    assert 2 <= r["ok"] <= 10, r
    assert r["dropped"] >= 30 and r["dropped"] == 40 - r["ok"] - r["failed"]
    assert v["error_rate"] >= r["dropped"] / 40


@pytest.mark.slow
def test_queue_mode_keeps_latency_from_the_intended_time(servers):
    """One slot, 100 ms per request, 20 req/s offered: requests queue, none is
    lost, and latency (from the intended time) grows far past the service time."""
    v, _ = run({"rate": 20, "duration": "1s", "max_in_flight": 1}, servers.url("/slow?ms=100"))
    assert_accounted(v)
    r = v["requests"]
    assert r["scheduled"] == 20 and r["ok"] == 20 and r["dropped"] == 0
    assert_latency_order(v)
    lat, svc = v["latency_ms"], v["service_time_ms"]
    assert svc["p50"] >= 99  # the server sleeps 100 ms
    assert lat["p90"] >= 3 * svc["p90"]
    assert lat["max"] >= 5 * svc["p50"]


# -------------------------------------------------------------------- warm-up
@pytest.mark.slow
def test_warmup_requests_are_counted_apart(servers):
    v, report = run({"rate": 20, "duration": "1.5s", "warmup": "0.5s"}, servers.url("/ok"))
    assert_accounted(v)
    r = v["requests"]
    assert r["warmup"] == 10
    assert r["scheduled"] == 20 and r["ok"] == 20
    assert v["latency_ms"]["count"] == 20
    assert report.summary["window"]["start_s"] == 0.5


# --------------------------------------------------------------- closed model
@pytest.mark.slow
def test_closed_model_rate_follows_users_over_service_time(servers):
    users, service_s = 4, 0.1
    v, report = run({"users": users, "duration": "1.5s"}, servers.url(f"/slow?ms={service_s * 1000:g}"))
    assert report.summary["mode"] == "closed"
    assert_accounted(v)
    r = v["requests"]
    # a user cannot send faster than one request per service time
    assert r["scheduled"] <= users * (1.5 / service_s + 1)
    assert r["scheduled"] >= users * (1.5 / service_s) * 0.4
    assert r["ok"] == r["scheduled"]
    # Little's law: throughput ~ users / mean latency
    expected = users / (v["latency_ms"]["mean"] / 1000)
    assert 0.6 * expected <= v["throughput"]["achieved_rps"] <= 1.15 * expected
    assert v["latency_ms"]["p50"] >= service_s * 1000 * 0.99


@pytest.mark.parametrize("load, n", [
    ({"rate": 50, "requests": 7}, 7),
    ({"users": 3, "requests": 9}, 9),
    ({"users": 3, "requests": 9, "workers": 2}, 9),
    ({"rate": 50, "requests": 9, "workers": 2}, 9),
])
def test_max_requests_stops_at_exactly_that_many(servers, load, n):
    v, _ = run(load, servers.url("/ok"))
    assert_accounted(v)
    assert v["requests"]["scheduled"] == n
    assert v["requests"]["ok"] == n


@pytest.mark.slow
@pytest.mark.timeout(10)
def test_closed_model_with_more_workers_than_users_finishes(servers):
    """A worker that owns no user must not wait for ever for its share of --requests."""
    v, _ = run({"users": 1, "requests": 4, "workers": 2, "drain": "1s"}, servers.url("/ok"))
    assert_accounted(v)
    assert v["requests"]["scheduled"] == 4
    assert v["requests"]["ok"] == 4


# -------------------------------------------------------------------- workers
def test_two_workers_account_for_everything_and_merge_histograms(servers):
    v, report = run({"rate": 60, "duration": "1s", "workers": 2}, servers.url("/ok"))
    assert report.summary["workers"] == 2
    assert len(report.outcome.worker_pids) == 2
    assert report.outcome.metrics.finals == {0, 1}
    assert_accounted(v)
    r = v["requests"]
    assert r["scheduled"] == 60 and r["ok"] == 60
    assert_latency_order(v)
    vm = next(iter(report.outcome.metrics.variants.values()))
    per_interval = sum(c.histogram("latency").total_count for c in vm.cells.values())
    assert per_interval == vm.totals["latency"].total_count == 60


def test_execute_directly_from_plans(servers):
    spec = parse_spec({"target": {"url": servers.url("/ok")}, "load": {"rate": 30, "requests": 12, "workers": 2}})
    plans = build_plans(spec)
    assert [p.worker for p in plans] == [0, 1]
    outcome = execute(plans)
    assert not outcome.interrupted
    vm = outcome.metrics.variants["default"]
    assert vm.counters["scheduled"] == 12
    assert vm.ok == 12 and vm.failed == 0
    assert vm.totals["latency"].total_count == 12
    assert outcome.metrics.finals == {0, 1}


# ----------------------------------------------------------- response shapes
def test_server_timing_header_becomes_server_time(servers):
    v, _ = run({"rate": 20, "duration": "0.5s"}, servers.url("/timing"))
    assert v["requests"]["ok"] == 10
    st = v["server_time_ms"]
    assert st["count"] == 10
    assert st["p50"] == pytest.approx(20.0, rel=0.01)  # 'total' wins over the other metrics
    assert v["server_metrics_ms"]["model"]["p50"] == pytest.approx(12.5, rel=0.01)


def test_no_server_time_when_disabled(servers):
    v, _ = run({"rate": 20, "duration": "0.5s"}, servers.url("/timing"), server_time=None)
    assert v["requests"]["ok"] == 10
    assert "server_time_ms" not in v


def test_head_requests(servers):
    v, _ = run({"rate": 20, "duration": "0.5s"}, servers.url("/ok"), target={"method": "HEAD"})
    assert_accounted(v)
    assert v["requests"]["ok"] == 10 and v["status_codes"] == {"200": 10}
    assert v["bytes"]["received"] > 0
    assert_latency_order(v)


def test_chunked_streaming_responses_are_ok(servers):
    v, _ = run({"rate": 20, "duration": "0.5s"}, servers.url("/stream"), check={"regex": "chunk-0;.*chunk-4;"})
    assert_accounted(v)
    assert v["requests"]["ok"] == 10, v["errors"]
    assert v["bytes"]["received"] >= 10 * len(b"chunk-0;" * 5)


def test_several_urls_are_served_round_robin(servers):
    servers.reset_hits()
    v, _ = run({"rate": 40, "duration": "1s"}, [servers.url("/count"), servers.url("/count", servers.app2)])
    assert_accounted(v)
    assert v["requests"]["ok"] == 40
    hits = servers.hits()
    a, b = hits.get(servers.app, 0), hits.get(servers.app2, 0)
    assert a + b == 40
    assert abs(a - b) <= 2, hits


# ------------------------------------------------------------ timer bookkeeping
def test_timer_bookkeeping_tolerates_zero_delay_timers_on_uvloop():
    """uvloop returns a plain Handle (no .when()) for a timer due now; pruning the
    timer list must not break the periodic callbacks (sweep, interval, users)."""
    uvloop = pytest.importorskip("uvloop")
    from stinger.engine.loop import Engine

    spec = parse_spec({"target": {"url": "http://127.0.0.1:9/"}, "load": {"rate": 1, "duration": "1s"}})
    engine = Engine(build_plans(spec, workers=1)[0], emit=lambda msg: None)
    fired = []

    async def main():
        engine.loop = asyncio.get_running_loop()
        for _ in range(100):
            engine._call_at(perf_counter() - 1.0, lambda: fired.append(1))   # already due
            engine._call_at(perf_counter() + 60.0, lambda: None)             # far ahead
        await asyncio.sleep(0.05)
        for h in engine._handles:
            h.cancel()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())
    assert len(fired) == 100


def test_queue_mode_drops_and_warns_once_the_queue_is_full(servers, monkeypatch):
    """Queue mode has a memory bound: past it, requests are dropped, counted, and the run says why."""
    import stinger.engine.open_model as open_model

    monkeypatch.setattr(open_model, "_PENDING_LIMIT", 5)  # the forked worker inherits it
    v, report = run({"rate": 40, "duration": "1s", "max_in_flight": 1, "drain": "3s"}, servers.url("/slow?ms=100"))
    assert_accounted(v)
    r = v["requests"]
    assert r["scheduled"] == 40
    assert r["dropped"] >= 20          # one slot, 100 ms each, at most 5 waiting: most of 40 cannot wait
    assert r["ok"] + r["in_flight"] <= 40 - r["dropped"]
    assert any("in-flight queue was full" in w for w in report.summary["warnings"])


def test_a_shaped_run_is_measured_over_the_shape_s_length(servers):
    """No --duration: the ramp's own length is the measured window, not the time the run took to drain."""
    v, report = run({"shape": {"ramp": {"from": 10, "to": 50, "over": "2s"}}}, servers.url("/slow?ms=300"))
    assert_accounted(v)
    assert report.summary["window"] == {"start_s": 0.0, "end_s": 2.0}
    r = v["requests"]
    assert r["scheduled"] == 60                     # the mean rate 30/s over 2 s
    assert v["throughput"]["offered_rps"] == pytest.approx(r["scheduled"] / 2.0)
