"""Prometheus scrapes turned into points: pure diffs of real exposition text, and real HTTP."""

from __future__ import annotations

import http.server
import math
import threading
import time
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, start_http_server

from stinger.errors import UsageError
from stinger.monitors.base import MonitorError, MonitorRunner, Point
from stinger.monitors.prometheus import (
    PRESETS,
    PrometheusMonitor,
    Selection,
    diff_scrapes,
    histogram_quantile,
    parse_exposition,
    snapshot,
)

BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)


def _scrape(registry: CollectorRegistry, selection: Selection | None = None) -> dict:
    return snapshot(parse_exposition(generate_latest(registry).decode()), selection if selection is not None else Selection())


def _points(points: list[Point]) -> dict[tuple[str, tuple[tuple[str, str], ...]], Point]:
    return {(p.series, p.labels): p for p in points}


@pytest.fixture
def demo_registry() -> tuple[CollectorRegistry, Counter, Gauge, Histogram]:
    registry = CollectorRegistry()
    requests = Counter("stinger_demo_requests_total", "requests", ["variant"], registry=registry)
    inflight = Gauge("stinger_demo_inflight", "in flight", registry=registry)
    latency = Histogram("stinger_demo_request_duration_seconds", "latency", buckets=BUCKETS, registry=registry)
    return registry, requests, inflight, latency


def test_counter_rate_gauge_and_histogram_from_deltas(demo_registry) -> None:
    registry, requests, inflight, latency = demo_registry
    requests.labels("a").inc(10)
    for _ in range(1000):  # before the first scrape: must not leak into the interval
        latency.observe(0.9)
    before = _scrape(registry)

    requests.labels("a").inc(50)
    requests.labels("b").inc(4)  # a label set born in this interval counts from 0
    inflight.set(7)
    for value, times in ((0.015, 50), (0.03, 45), (0.3, 5)):
        for _ in range(times):
            latency.observe(value)
    after = _scrape(registry)

    got = _points(diff_scrapes(before, after, 2.0, t=5.0, name="prom"))
    assert got[("prom.stinger_demo_requests.rate", (("variant", "a"),))].value == 25.0
    assert got[("prom.stinger_demo_requests.rate", (("variant", "b"),))].value == 2.0
    assert got[("prom.stinger_demo_inflight", ())].value == 7.0
    h = "prom.stinger_demo_request_duration_seconds"
    assert got[(f"{h}.rate", ())].value == 50.0  # 100 observations in 2 s
    assert got[(f"{h}.mean", ())].value == pytest.approx(36.0)  # (50*15 + 45*30 + 5*300) / 100 ms
    assert got[(f"{h}.mean", ())].unit == "ms"
    # Rank 50 ends the (10, 20] ms bucket; rank 95 ends (20, 50]; rank 99 is 4/5 into (200, 500].
    assert got[(f"{h}.p50", ())].value == pytest.approx(20.0)
    assert got[(f"{h}.p95", ())].value == pytest.approx(50.0)
    assert got[(f"{h}.p99", ())].value == pytest.approx(440.0)
    assert all(p.t == 5.0 for p in got.values())
    assert not any(s.endswith("_created") for s, _ in got)


def test_first_scrape_gives_only_instantaneous_values(demo_registry) -> None:
    registry, requests, inflight, latency = demo_registry
    requests.labels("a").inc()
    inflight.set(3)
    latency.observe(0.1)
    got = _points(diff_scrapes(None, _scrape(registry), 0.0))
    assert set(got) == {("prom.stinger_demo_inflight", ())}


def test_idle_histogram_reports_a_zero_rate_and_no_quantiles(demo_registry) -> None:
    registry, _, _, latency = demo_registry
    latency.observe(0.1)
    first = _scrape(registry)
    got = _points(diff_scrapes(first, _scrape(registry), 1.0))
    h = "prom.stinger_demo_request_duration_seconds"
    assert got[(f"{h}.rate", ())].value == 0.0
    assert (f"{h}.p50", ()) not in got and (f"{h}.mean", ()) not in got


RESTARTED = """# TYPE reqs_total counter
reqs_total {value}
# TYPE lat_seconds histogram
lat_seconds_bucket{{le="0.1"}} {value}
lat_seconds_bucket{{le="+Inf"}} {value}
lat_seconds_sum {value}
lat_seconds_count {value}
"""


def test_counter_reset_skips_the_interval() -> None:
    before = parse_exposition(RESTARTED.format(value=100))
    after = parse_exposition(RESTARTED.format(value=3))
    assert diff_scrapes(before, after, 1.0) == []
    again = parse_exposition(RESTARTED.format(value=5))
    got = _points(diff_scrapes(after, again, 1.0))
    assert got[("prom.reqs.rate", ())].value == 2.0
    assert got[("prom.lat_seconds.rate", ())].value == 2.0


def test_process_metrics_become_cpu_percent_and_rss() -> None:
    text = "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total {cpu}\n" \
           "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 123456\n" \
           "# TYPE other_gauge gauge\nother_gauge 1\n"
    selection = Selection.of("vllm")  # a preset keeps the process metrics too, and nothing else
    before = parse_exposition(text.format(cpu=10.0))
    after = parse_exposition(text.format(cpu=11.5))
    got = _points(diff_scrapes(before, after, 2.0, name="m", selection=selection))
    assert set(got) == {("m.process_cpu_pct", ()), ("m.process_resident_memory_bytes", ())}
    assert got[("m.process_cpu_pct", ())].value == pytest.approx(75.0)
    assert got[("m.process_resident_memory_bytes", ())].unit == "bytes"


TRITON = """# HELP nv_inference_request_success Number of successful inference requests
# TYPE nv_inference_request_success counter
nv_inference_request_success{{model="resnet",version="1"}} {n}
nv_inference_request_success{{model="bert",version="1"}} {n2}
# TYPE nv_inference_request_duration_us counter
nv_inference_request_duration_us{{model="resnet",version="1"}} {dur}
nv_inference_request_duration_us{{model="bert",version="1"}} {dur2}
# TYPE nv_inference_queue_duration_us counter
nv_inference_queue_duration_us{{model="resnet",version="1"}} {queue}
# TYPE nv_gpu_utilization gauge
nv_gpu_utilization{{gpu_uuid="GPU-1"}} 0.5
# TYPE unrelated_total counter
unrelated_total 9
"""


def test_triton_cumulative_microseconds_become_mean_ms_per_request() -> None:
    selection = Selection.of("triton")
    before = parse_exposition(TRITON.format(n=100, n2=10, dur=1_000_000, dur2=500, queue=20_000))
    after = parse_exposition(TRITON.format(n=150, n2=10, dur=1_600_000, dur2=500, queue=25_000))
    got = _points(diff_scrapes(before, after, 5.0, name="triton", selection=selection))
    resnet = (("model", "resnet"), ("version", "1"))
    mean = got[("triton.nv_inference_request_duration_us.mean", resnet)]
    assert mean.value == pytest.approx(12.0) and mean.unit == "ms"  # 600 000 us / 50 requests
    assert got[("triton.nv_inference_queue_duration_us.mean", resnet)].value == pytest.approx(0.1)
    assert got[("triton.nv_inference_request_success.rate", resnet)].value == 10.0
    # bert had no requests in the interval: no mean, a zero rate.
    bert = (("model", "bert"), ("version", "1"))
    assert ("triton.nv_inference_request_duration_us.mean", bert) not in got
    assert got[("triton.nv_inference_request_success.rate", bert)].value == 0.0
    # The cumulative duration counters are not reported as rates; unrelated metrics are dropped.
    assert not any(s.endswith("duration_us.rate") for s, _ in got)
    assert not any("unrelated" in s for s, _ in got)
    assert got[("triton.nv_gpu_utilization", (("gpu_uuid", "GPU-1"),))].value == 0.5


SUMMARY = """# TYPE rpc_duration_seconds summary
rpc_duration_seconds{{quantile="0.5"}} 0.012
rpc_duration_seconds{{quantile="0.99"}} 0.25
rpc_duration_seconds{{quantile="0.999"}} NaN
rpc_duration_seconds_sum {sum}
rpc_duration_seconds_count {count}
"""


def test_summary_quantiles_are_gauges_and_mean_comes_from_deltas() -> None:
    before = parse_exposition(SUMMARY.format(sum=1.0, count=100))
    after = parse_exposition(SUMMARY.format(sum=3.0, count=200))
    got = _points(diff_scrapes(before, after, 1.0))
    assert got[("prom.rpc_duration_seconds.p50", ())].value == pytest.approx(12.0)
    assert got[("prom.rpc_duration_seconds.p99", ())].value == pytest.approx(250.0)
    assert ("prom.rpc_duration_seconds.p99.9", ()) not in got  # NaN quantile left out
    assert got[("prom.rpc_duration_seconds.mean", ())].value == pytest.approx(20.0)


def test_include_globs_and_counter_names_with_or_without_total() -> None:
    text = "# TYPE vllm:a gauge\nvllm:a 1\n# TYPE b_total counter\nb_total 1\n# TYPE c gauge\nc 1\n"
    snap = snapshot(parse_exposition(text), Selection.of(None, ["vllm:*", "b_total"]))
    assert set(snap) == {"vllm:a", "b"}
    assert set(snapshot(parse_exposition(text), Selection.of(None, ["b"]))) == {"b"}


@pytest.mark.parametrize(
    ("q", "buckets", "expected"),
    [
        (0.5, [(1.0, 0), (2.0, 10), (math.inf, 10)], 1.5),
        (0.5, [(1.0, 10), (math.inf, 10)], 0.5),  # the lowest bucket starts at 0
        (0.99, [(1.0, 0), (2.0, 5), (math.inf, 10)], 2.0),  # in +Inf: highest finite bound
        (0.5, [(1.0, 0), (math.inf, 0)], math.nan),  # no observations
        (0.5, [(1.0, 3), (2.0, 5)], math.nan),  # no +Inf bucket
        (0.5, [(-1.0, 10), (math.inf, 10)], -1.0),
        (0.5, [(1.0, 6), (2.0, 4), (math.inf, 10)], 5 / 6),  # non-monotone counts are fixed up
    ],
)
def test_histogram_quantile_matches_prometheus(q: float, buckets, expected: float) -> None:
    got = histogram_quantile(q, buckets)
    assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected)


@pytest.mark.parametrize("text", ["this is { not valid", 'foo{a="b} 1', "foo bar", "<html><body>oops</body></html>"])
def test_malformed_text_is_a_monitor_error(text: str) -> None:
    with pytest.raises(MonitorError, match="not a Prometheus exposition"):
        parse_exposition(text)


def test_presets_and_config_errors() -> None:
    assert set(PRESETS) == {"demo", "mlserver", "kserve", "triton", "torchserve", "vllm", "tgi", "sglang", "dcgm"}
    with pytest.raises(UsageError, match="unknown Prometheus preset 'nope'"):
        PrometheusMonitor("http://127.0.0.1:9/metrics", preset="nope")
    for url in ("ftp://127.0.0.1/metrics", "127.0.0.1:9090", "http://127.0.0.1:99999/"):
        with pytest.raises(UsageError):
            PrometheusMonitor(url)
    assert PrometheusMonitor("http://127.0.0.1:9090").url == "http://127.0.0.1:9090/metrics"
    assert PrometheusMonitor("http://127.0.0.1:9090/custom?x=1").url == "http://127.0.0.1:9090/custom?x=1"


@pytest.fixture
def served(demo_registry) -> Iterator[tuple[int, CollectorRegistry, Counter, Histogram]]:
    registry, requests, _, latency = demo_registry
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    yield server.server_port, registry, requests, latency
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_scrape_over_http_with_the_demo_preset(served) -> None:
    port, _, requests, latency = served
    monitor = PrometheusMonitor(f"http://127.0.0.1:{port}/metrics", name="demo", preset="demo")
    monitor.start()
    requests.labels("a").inc(30)
    for _ in range(20):
        latency.observe(0.04)
    time.sleep(0.05)  # only so that the elapsed time between the scrapes is not ~0
    got = _points(monitor.sample(1.0))
    monitor.stop()
    assert got[("demo.stinger_demo_requests.rate", (("variant", "a"),))].value > 0
    h = "demo.stinger_demo_request_duration_seconds"
    assert got[(f"{h}.mean", ())].value == pytest.approx(40.0)
    assert 20.0 < got[(f"{h}.p50", ())].value <= 50.0  # inside the (20, 50] ms bucket
    assert got[(f"{h}.rate", ())].unit == "/s"


def test_runner_with_a_real_scrape_target_and_a_dead_one(served) -> None:
    port, _, requests, _ = served
    with socket_closed_port() as dead_port:
        alive = PrometheusMonitor(f"http://127.0.0.1:{port}/metrics", name="alive", include=["stinger_demo_*"])
        dead = PrometheusMonitor(f"http://127.0.0.1:{dead_port}/metrics", name="dead", timeout=1.0)
        requests.labels("b").inc()
        runner = MonitorRunner([alive, dead], t0=time.perf_counter(), interval=3600)
        runner.start()
        requests.labels("b").inc(5)
        runner.stop()  # the final sample
    assert len(runner.warnings) == 1 and runner.warnings[0].startswith("monitor dead disabled: scrape of")
    assert any(p.series == "alive.stinger_demo_requests.rate" and p.value > 0 for p in runner.points)


class _Garbage(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"this is { not metrics\n" if self.path == "/metrics" else b""
        self.send_response(200 if self.path == "/metrics" else 500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_malformed_or_failing_endpoint_is_a_monitor_error_not_a_crash() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Garbage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        with pytest.raises(MonitorError, match="not a Prometheus exposition"):
            PrometheusMonitor(f"http://127.0.0.1:{port}/metrics").start()
        with pytest.raises(MonitorError, match="HTTP 500"):
            PrometheusMonitor(f"http://127.0.0.1:{port}/other").start()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class socket_closed_port:
    """A loopback port nothing listens on (bound, then released)."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]

    def __exit__(self, *exc: object) -> None:
        pass


# ------------------------------------------------------------------ quantile bounds (issue 15, item 6)
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from stinger.monitors.prometheus import quantile_bounds  # noqa: E402

LAYOUTS = (BUCKETS, (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0), (1.0,))


def _bucketed(values: list[float], layout: tuple[float, ...]) -> list[tuple[float, float]]:
    return [(le, float(sum(v <= le for v in values))) for le in (*layout, math.inf)]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(min_value=0.0, max_value=3.0, allow_nan=False), min_size=1, max_size=60),
       st.sampled_from(LAYOUTS), st.sampled_from((0.01, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0)))
def test_the_true_quantile_always_lies_within_its_bounds(values, layout, q) -> None:
    """Any data, any layout: the k-th smallest value (k = ceil(q n)) is inside [low, high], and the
    interpolated estimate a series reports is moved inside them too."""
    buckets = _bucketed(values, layout)
    lo, hi = quantile_bounds(q, buckets, math.fsum(values))
    true = sorted(values)[max(1, math.ceil(q * len(values) - 1e-9)) - 1]
    tol = 1e-9 * (1 + abs(true))
    assert lo - tol <= true <= hi + tol, (lo, true, hi)
    from stinger.monitors.prometheus import _possible

    estimate = histogram_quantile(q, buckets)   # +Inf at q = 1, by Prometheus' convention: no series point
    assert not math.isfinite(estimate) or lo <= _possible(estimate, (lo, hi)) <= hi


def test_kserve_like_first_bucket_bounds_agree_with_the_mean() -> None:
    """100 predictions of 0.2 ms in KServe's default buckets: all in (0, 5 ms]. Interpolation said p50 2.5 ms
    beside a mean of 0.2 ms (impossible: half the values >= 2.5 ms make a mean >= 1.25 ms); the bounds
    from the buckets and the sum say p50 <= 0.4 ms."""
    buckets = _bucketed([0.0002] * 100, LAYOUTS[1])
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.0025)          # what was reported before
    lo, hi = quantile_bounds(0.5, buckets, 100 * 0.0002)
    assert lo == 0.0 and hi == pytest.approx(0.0002 * 100 / 51)                # at most ~2x the mean
    lo, hi = quantile_bounds(0.999, buckets, 100 * 0.0002)                     # the largest: at least the mean
    assert lo == pytest.approx(0.0002) and hi == 0.005
    # a sum that contradicts its buckets (scraped a moment apart) leaves the bucket's own bounds
    assert quantile_bounds(0.5, buckets, 1.0) == (0.0, 0.005)


def test_series_quantiles_are_never_beside_an_impossible_mean() -> None:
    reg = CollectorRegistry()
    h = Histogram("request_predict_seconds", "p", ["model_name"], registry=reg)   # KServe's default buckets
    before = snapshot(parse_exposition(generate_latest(reg).decode()), Selection.of("kserve"))
    for _ in range(200):
        h.labels("m").observe(0.0002)
    after = snapshot(parse_exposition(generate_latest(reg).decode()), Selection.of("kserve"))
    got = {p.series.rsplit(".", 1)[-1]: p.value for p in diff_scrapes(before, after, 1.0, name="prom",
                                                                      selection=Selection.of("kserve"))}
    assert got["mean"] == pytest.approx(0.2)
    assert got["p50"] <= 2 * got["mean"] + 1e-9        # before: 2.5 ms
    assert got["p95"] <= 20 * got["mean"] + 1e-9       # before: 4.75 ms
