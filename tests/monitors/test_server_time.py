"""Server time from a model server's Prometheus metrics (issue 9, item 13).

Pure: `server_time_between` over real exposition text (MLServer's summary, KServe's histogram,
Triton's counter pair), and the `--monitor` flag grammar. Real: `stinger run` and `stinger ab`
against a uvicorn app exposing MLServer's metric families (tests/monitors/mlserver_like.py), with
no Server-Timing header: the figures reach the summary, the report and the verdict as server time,
and agree with the server's own timings.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, Summary, generate_latest

from stinger.monitors.prometheus import PRESETS, PrometheusMonitor, Selection, parse_exposition, server_time_between
from stinger.monitors.prometheus import snapshot as _snapshot
from stinger.monitors.registry import parse_monitor_flag

HERE = Path(__file__).parent
CLI = [sys.executable, "-c", "import sys; from stinger.cli import main; main(sys.argv[1:])"]


def _scrape(registry: CollectorRegistry, preset: str) -> dict:
    return _snapshot(parse_exposition(generate_latest(registry).decode()), Selection.of(preset))


# ------------------------------------------------------------------ pure
def test_mlserver_summary_gives_count_and_mean_per_model_in_ms() -> None:
    reg = CollectorRegistry()
    dur = Summary("model_infer_request_duration", "d", ["model", "version"], registry=reg)
    for _ in range(5):
        dur.labels(model="iris", version=None).observe(1.0)  # before the window
    before = _scrape(reg, "mlserver")
    for v in (0.010, 0.020, 0.030):
        dur.labels(model="iris", version=None).observe(v)
    for _ in range(10):
        dur.labels(model="wine", version=None).observe(0.5)
    after = _scrape(reg, "mlserver")
    sel = Selection.of("mlserver")
    iris = server_time_between(before, after, sel, match=["v2", "models", "iris", "infer"])
    assert iris is not None
    assert iris["count"] == 3 and iris["mean"] == pytest.approx(20.0)
    assert iris["kind"] == "summary" and iris["family"] == "model_infer_request_duration"
    assert iris["labels"] == 'model="iris"' and "p50" not in iris
    both = server_time_between(before, after, sel)  # nothing in the URL names a model: all series
    assert both is not None and both["count"] == 13 and both["labels"] == "all series"
    assert both["mean"] == pytest.approx((60 + 5000) / 13)


def test_kserve_histogram_gives_quantiles_from_bucket_deltas() -> None:
    reg = CollectorRegistry()
    predict = Histogram("request_predict_seconds", "p", ["model_name"], registry=reg)
    for _ in range(100):
        predict.labels("m").observe(2.0)  # before the window: must not count
    before = _scrape(reg, "kserve")
    for _ in range(90):
        predict.labels("m").observe(0.004)
    for _ in range(10):
        predict.labels("m").observe(0.2)
    after = _scrape(reg, "kserve")
    got = server_time_between(before, after, Selection.of("kserve"), match=["v1", "models", "m:predict"])
    assert got is not None and got["count"] == 100 and got["kind"] == "histogram"
    assert got["mean"] == pytest.approx(0.9 * 4 + 0.1 * 200)
    # a quantile is known only to lie inside its bucket: bounds, and no made-up figure
    assert got["p50"] is None and got["bounds"]["p50"] == {"ge": 0.0, "le": 5.0}       # the (0, 5 ms] bucket
    # (100, 250 ms], tightened by the sum: the 5 values above p95 in that bucket are at most 250 ms each
    assert got["p95"] is None and got["bounds"]["p95"] == pytest.approx({"ge": 132.0, "le": 250.0})
    assert got["bounds"]["p95"]["ge"] <= 200.0 <= got["bounds"]["p95"]["le"]          # the true p95
    assert got["labels"] == ""  # one series: nothing to choose between


def test_kserve_quantiles_in_the_first_bucket_are_bounds_consistent_with_the_mean() -> None:
    """Issue 15, item 6: KServe's 0.2 ms predictions all land in its (0, 5 ms] bucket. Interpolation gave p50
    2.5 ms beside a mean of 0.2 ms; now p50 is null with bounds at most twice the mean, and p99.9 (the
    largest value) at least the mean."""
    reg = CollectorRegistry()
    predict = Histogram("request_predict_seconds", "p", ["model_name"], registry=reg)   # KServe's buckets
    before = _scrape(reg, "kserve")
    for _ in range(100):
        predict.labels("m").observe(0.0002)
    got = server_time_between(before, _scrape(reg, "kserve"), Selection.of("kserve"))
    assert got is not None and got["mean"] == pytest.approx(0.2)
    assert all(got[k] is None for k in ("p50", "p90", "p95", "p99", "p99.9"))          # before: p50 2.5 ms
    assert got["bounds"]["p50"]["ge"] == 0.0 and got["bounds"]["p50"]["le"] == pytest.approx(0.2 * 100 / 51)
    assert got["bounds"]["p99.9"] == pytest.approx({"ge": 0.2, "le": 5.0})
    for b in got["bounds"].values():
        assert b["le"] <= 5.0


def test_bounds_that_pin_a_quantile_down_give_its_figure() -> None:
    reg = CollectorRegistry()
    h = Histogram("request_predict_seconds", "p", ["model_name"], buckets=(0.005, 0.01), registry=reg)
    before = _scrape(reg, "kserve")
    for _ in range(10):
        h.labels("m").observe(0.01)    # every value on the upper edge of (5, 10 ms]: the sum says so
    got = server_time_between(before, _scrape(reg, "kserve"), Selection.of("kserve"))
    assert got is not None and got["p50"] == pytest.approx(10.0) and got["p99"] == pytest.approx(10.0)


def test_triton_counter_pair_mean() -> None:
    reg = CollectorRegistry()
    dur = Counter("nv_inference_request_duration_us", "d", ["model", "version"], registry=reg)
    ok = Counter("nv_inference_request_success", "n", ["model", "version"], registry=reg)
    before = _scrape(reg, "triton")
    dur.labels("resnet", "1").inc(8000.0)
    ok.labels("resnet", "1").inc(4)
    after = _scrape(reg, "triton")
    got = server_time_between(before, after, Selection.of("triton"), match=["resnet"])
    assert got is not None and got["count"] == 4 and got["mean"] == pytest.approx(2.0) and got["kind"] == "counter"


def test_no_requests_in_the_window_is_none() -> None:
    reg = CollectorRegistry()
    Summary("model_infer_request_duration", "d", ["model", "version"], registry=reg).labels("a", None).observe(1)
    s = _scrape(reg, "mlserver")
    assert server_time_between(s, s, Selection.of("mlserver")) is None
    assert server_time_between({}, s, Selection.of(None)) is None  # no preset: no server-time family


def test_presets_name_a_server_time() -> None:
    for name in ("mlserver", "kserve", "demo", "triton", "torchserve", "vllm"):
        assert PRESETS[name].server_time, name
    assert Selection.of("mlserver").scale("model_infer_request_duration") == (1e3, "ms")  # seconds, unsuffixed


def test_history_brackets_a_window_and_stays_bounded() -> None:
    m = PrometheusMonitor("http://127.0.0.1:9/metrics", preset="mlserver")
    reg = CollectorRegistry()
    dur = Summary("model_infer_request_duration", "d", ["model", "version"], registry=reg)
    m._remember(float("-inf"), _scrape(reg, "mlserver"))
    for t in range(1, 11):
        dur.labels("iris", None).observe(0.001 * t)  # second t observes t ms
        m._remember(float(t), _scrape(reg, "mlserver"))
    got = m.server_time(3.0, 6.0, match=["iris"])  # scrapes at 3 and 6: observations of seconds 4, 5, 6
    assert got is not None and got["count"] == 3 and got["mean"] == pytest.approx(5.0)
    assert got["between_s"] == (3.0, 6.0)
    m.MAX_HISTORY = 8
    for t in range(11, 40):
        m._remember(float(t), _scrape(reg, "mlserver"))
    assert len(m.history) <= 9 and m.history[0][0] == float("-inf") and m.history[-1][0] == 39.0


@pytest.mark.parametrize(
    "text, entry",
    [
        ("prometheus=http://127.0.0.1:8082/metrics:mlserver",
         {"type": "prometheus", "url": "http://127.0.0.1:8082/metrics", "preset": "mlserver"}),
        ("prometheus=http://127.0.0.1:8082", {"type": "prometheus", "url": "http://127.0.0.1:8082"}),
        ("prometheus=http://h:8080:kserve", {"type": "prometheus", "url": "http://h:8080", "preset": "kserve"}),
        ("process=8080", {"type": "process", "port": 8080}),
        ("process=pid:1234", {"type": "process", "pid": 1234}),
        ("process=cmd:mlserver", {"type": "process", "cmdline": "mlserver"}),
        ("gpu", {"type": "gpu"}),
        ("gpu=1", {"type": "gpu", "index": 1}),
    ],
)
def test_monitor_flag(text, entry) -> None:
    assert parse_monitor_flag(text) == entry


@pytest.mark.parametrize(
    "text, match",
    [
        ("prometheus=http://h:1/metrics:nope", "unknown preset 'nope'"),
        ("prometheus=ftp://h", "must be http"),
        ("process=abc", "process=PORT"),
        ("process=70000", "port"),
        ("cloud=1", "expected one of"),
        ("prometheus", "expected one of"),
    ],
)
def test_monitor_flag_mistakes(text, match) -> None:
    with pytest.raises(ValueError, match=match):
        parse_monitor_flag(text)


# ------------------------------------------------------------------ real servers, the real CLI
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mlserver_like():
    port = _free_port()
    proc = subprocess.Popen([sys.executable, str(HERE / "mlserver_like.py"), str(port)], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _truth(base: str) -> dict:
    with urllib.request.urlopen(base + "/truth", timeout=5) as r:
        return json.loads(r.read())


def stinger(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def _summary(out: Path) -> dict:
    [path] = sorted(out.glob("*/summary.json"))
    return json.loads(path.read_text())


@pytest.mark.slow
def test_run_takes_server_time_from_mlserver_metrics(mlserver_like, tmp_path) -> None:
    before = _truth(mlserver_like).get("slow", {"count": 0, "mean_ms": 0.0})
    proc = stinger("run", "--url", mlserver_like + "/v2/models/slow/infer", "--body", "{}", "--rate", "40",
                   "--duration", "3s", "--monitor", f"prometheus={mlserver_like}/metrics:mlserver", "-q",
                   "--out", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    after = _truth(mlserver_like)["slow"]
    served = after["count"] - before["count"]
    own_mean = (after["mean_ms"] * after["count"] - before["mean_ms"] * before["count"]) / served
    summary = _summary(tmp_path)
    [vs] = summary["variants"].values()
    st = vs["server_time_ms"]
    # the scrapes bracketing the window may take in the requests of a second beyond it
    assert 0.6 * vs["requests"]["ok"] <= st["count"] <= served, (st, vs["requests"])
    assert st["mean"] == pytest.approx(own_mean, abs=1.0), (st, own_mean)
    assert st["p95"] is None  # a summary has no quantiles: null, never a made-up number
    [source] = summary["server_time"]["source"].values()
    assert "model_infer_request_duration" in source and 'model="slow"' in source
    assert "note" not in summary["server_time"]
    # the report (from the files alone) shows it
    report = stinger("report", str(next(tmp_path.glob("*/summary.json")).parent), cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert "server time mean (ms)" in report.stdout and "model_infer_request_duration" in report.stdout


@pytest.mark.slow
def test_a_kserve_target_s_server_time_is_its_own_model_s_named_by_its_side(mlserver_like, tmp_path) -> None:
    """A kserve target's URL is the server's (the api adds /v2/models/NAME/infer), so no URL segment names
    the model: its side names it (`ServerTimeLabels`). Another model served meanwhile is not added in."""
    import threading

    stop = threading.Event()

    def other_model() -> None:   # load on "fast" (4 ms) while the run measures "slow" (24 ms)
        while not stop.is_set():
            req = urllib.request.Request(mlserver_like + "/v2/models/fast/infer", data=b"{}", method="POST")
            with urllib.request.urlopen(req, timeout=5) as r:
                r.read()

    thread = threading.Thread(target=other_model)
    thread.start()
    try:
        proc = stinger("run", "--kserve", mlserver_like, "--model", "slow", "--body", "[[1.0]]", "--rate", "20",
                       "--duration", "3s", "--monitor", f"prometheus={mlserver_like}/metrics:mlserver", "-q",
                       "--out", str(tmp_path), cwd=tmp_path)
    finally:
        stop.set()
        thread.join(10)
    assert proc.returncode == 0, proc.stderr
    summary = _summary(tmp_path)
    [vs] = summary["variants"].values()
    [source] = summary["server_time"]["source"].values()
    assert 'model="slow"' in source and "all series" not in source, source
    assert vs["server_time_ms"]["mean"] == pytest.approx(24.0, abs=3.0), vs["server_time_ms"]


@pytest.mark.slow
def test_ab_verdict_carries_each_models_server_time(mlserver_like, tmp_path) -> None:
    proc = stinger("ab", "--a", mlserver_like + "/v2/models/fast/infer", "--b", mlserver_like + "/v2/models/slow/infer",
                   "--body", "{}", "--rate", "60", "--duration", "3s",
                   "--monitor", f"prometheus={mlserver_like}/metrics:mlserver", "-q", "--out", str(tmp_path),
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = _summary(tmp_path)
    a, b = summary["variants"]["A"]["server_time_ms"], summary["variants"]["B"]["server_time_ms"]
    assert a["mean"] == pytest.approx(4.0, abs=2.0) and b["mean"] == pytest.approx(24.0, abs=2.5), (a, b)
    assert 'model="fast"' in summary["server_time"]["source"]["A"]
    assert 'model="slow"' in summary["server_time"]["source"]["B"]
    [verdict] = sorted(tmp_path.rglob("verdict.json"))
    notes = json.loads(verdict.read_text())["notes"]
    assert any(n.startswith("server time of A") for n in notes) and any(n.startswith("server time of B") for n in notes)


@pytest.mark.slow
def test_a_kserve_histogram_server_time_is_bounds_and_slos_say_so(mlserver_like, tmp_path) -> None:
    """Issue 15, item 6, against a running server: KServe-like 0.2 ms predictions in the (0, 5 ms] bucket.
    Before: server p50 2.5 ms (interpolated) beside a mean of 0.2 ms, and `server.p50<2ms` FAILED on a
    0.2 ms server. Now the quantiles are bounds consistent with the mean, the SLO on p50 passes for sure, one
    on p99 < 0.5 ms cannot tell and says so, and the terminal and the verdict notes show the bounds."""
    proc = stinger("run", "--url", mlserver_like + "/v1/models/iris:predict", "--body", "{}", "--rate", "40",
                   "--duration", "3s", "--monitor", f"prometheus={mlserver_like}/metrics:kserve",
                   "--slo", "server.p50<2ms", "--slo", "server.p99<0.5ms", "--out", str(tmp_path), cwd=tmp_path)
    summary = _summary(tmp_path)
    [vs] = summary["variants"].values()
    st = vs["server_time_ms"]
    own = _truth(mlserver_like)["kserve:iris"]["mean_ms"]
    assert st["mean"] == pytest.approx(own, rel=0.2), (st, own)
    assert st["p50"] is None and st["bounds"]["p50"]["ge"] == 0.0
    assert st["bounds"]["p50"]["le"] <= 2.05 * st["mean"] + 1e-3        # before: p50 2.5 ms
    for b in st["bounds"].values():
        assert b["le"] is not None and b["le"] <= 5.0
    slo = {r["slo"]: r for r in summary["slo"]}
    assert slo["server.p50<2ms"]["passed"] is True and slo["server.p50<2ms"]["bound"]["le"] < 2.0
    p99 = slo["server.p99<0.5ms"]
    assert p99["passed"] is False and p99["undecided"] is True and "cannot tell" in p99["note"]
    assert proc.returncode == 1, proc.stderr   # an objective not shown to be met fails the run
    out = " ".join(proc.stdout.split())
    assert "FAIL (cannot tell)" in out and "server.p99<0.5ms: server.p99 is between" in out
    assert f"≤{st['bounds']['p50']['le']:.2f}" in out
    assert "quantiles as the bounds its buckets and mean allow" in summary["server_time"]["source"]["default"]


@pytest.mark.slow
def test_no_server_time_says_where_it_could_come_from(mlserver_like, tmp_path) -> None:
    proc = stinger("run", "--url", mlserver_like + "/v2/models/fast/infer", "--body", "{}", "--rate", "20",
                   "--duration", "1s", "--out", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    note = _summary(tmp_path)["server_time"]["note"]
    assert "no server time" in note and "Server-Timing" in note and "--monitor prometheus=URL:PRESET" in note
    assert "no server time" in " ".join(proc.stdout.split())  # and the terminal says it


def test_a_bad_monitor_flag_is_one_line_and_exit_2(tmp_path) -> None:
    proc = stinger("run", "--url", "http://127.0.0.1:9/", "--rate", "1", "--duration", "1s",
                   "--monitor", "prometheus=http://h:1/metrics:nope", cwd=tmp_path)
    assert proc.returncode == 2
    assert "unknown preset 'nope'" in proc.stderr and "Traceback" not in proc.stderr
    time.sleep(0)  # nothing ran
