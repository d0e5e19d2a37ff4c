"""The demo server over real loopback sockets, plus its parsers and options."""

from __future__ import annotations

import http.client
import json
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import numpy as np
import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from stinger.demo.cli import serve_demo
from stinger.demo.models import demo_rows, train_variants
from stinger.demo.process import DemoServer
from stinger.demo.server import (
    BadRequest,
    DemoConfig,
    main,
    parse_csv_rows,
    parse_json_rows,
    server_timing,
)
from stinger.errors import UsageError

ROWS, LABELS = demo_rows("test")
ROW = ROWS[0].tolist()


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: dict


class Client:
    """One keep-alive connection to a demo server on loopback."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        assert parts.hostname == "127.0.0.1"
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> Reply:  # fmt: skip
        self.conn.request(method, path, body=body, headers=headers or {})
        response = self.conn.getresponse()
        raw = response.read()
        is_json = response.getheader("content-type") == "application/json"
        content = json.loads(raw) if is_json else {}
        headers_lower = {k.lower(): v for k, v in response.getheaders()}
        return Reply(response.status, headers_lower, content)

    def post_json(self, path: str, payload: object, **headers: str) -> Reply:
        return self.request("POST", path, json.dumps(payload).encode(),
                            {"Content-Type": "application/json", **headers})  # fmt: skip

    def text(self, path: str) -> str:
        self.conn.request("GET", path)
        return self.conn.getresponse().read().decode()

    def close(self) -> None:
        self.conn.close()


def timings(reply: Reply) -> dict[str, float]:
    """Server-Timing back to {name: milliseconds}."""
    result = {}
    for entry in reply.headers["server-timing"].split(","):
        name, _, params = entry.strip().partition(";")
        result[name] = float(params.removeprefix("dur="))
    return result


def sample(metrics_text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(metrics_text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


@pytest.fixture(scope="module")
def server() -> Iterator[DemoServer]:
    with DemoServer(variants=["fast", "accurate"]) as running:
        yield running


@pytest.fixture
def client(server) -> Iterator[Client]:
    c = Client(server.url)
    yield c
    c.close()


# -- over the wire -------------------------------------------------------------


def test_ping_and_info(client):
    assert client.request("GET", "/ping").status == 200
    info = client.request("GET", "/")
    assert info.body["default_variant"] == "fast"
    assert set(info.body["variants"]) == {"fast", "accurate"}


def test_json_invocation_uses_the_default_variant(client):
    reply = client.post_json("/invocations", {"instances": [ROW], "label": 3})
    assert reply.status == 200
    assert reply.body["variant"] == "fast"
    assert reply.headers["x-amzn-invoked-production-variant"] == "fast"
    assert len(reply.body["predictions"]) == 1 and 0 <= reply.body["predictions"][0] <= 9


@pytest.mark.parametrize(
    "payload",
    [{"instances": [ROW]}, {"inputs": [ROW]}, [ROW], ROW],
    ids=["instances", "inputs", "rows", "row"],
)
def test_every_json_shape_gives_the_same_answer(client, payload):
    expected = client.post_json("/variants/accurate/invocations", {"instances": [ROW]})
    reply = client.post_json("/variants/accurate/invocations", payload)
    assert reply.status == 200
    assert reply.body["predictions"] == expected.body["predictions"]


def test_server_predictions_match_the_model_trained_here(client):
    local = train_variants(["accurate"])["accurate"]
    batch = ROWS[:40]
    reply = client.post_json("/variants/accurate/invocations", {"instances": batch.tolist()})
    assert reply.body["predictions"] == local.predict(batch)
    assert np.mean(np.asarray(reply.body["predictions"]) == LABELS[:40]) > 0.9


def test_csv_invocation(client):
    body = "\n".join(",".join(str(v) for v in row) for row in ROWS[:5].tolist()) + "\n"
    csv_reply = client.request("POST", "/variants/accurate/invocations", body.encode(),
                               {"Content-Type": "text/csv; charset=utf-8"})  # fmt: skip
    json_reply = client.post_json("/variants/accurate/invocations", ROWS[:5].tolist())
    assert csv_reply.status == 200
    assert len(csv_reply.body["predictions"]) == 5
    assert csv_reply.body["predictions"] == json_reply.body["predictions"]


def test_variant_by_header_and_by_path(client):
    by_header = client.post_json(
        "/invocations", [ROW], **{"X-Amzn-SageMaker-Target-Variant": "accurate"}
    )
    by_path = client.post_json("/variants/accurate/invocations", [ROW])
    for reply in (by_header, by_path):
        assert reply.status == 200
        assert reply.body["variant"] == "accurate"
        assert reply.headers["x-amzn-invoked-production-variant"] == "accurate"


def test_server_timing_carries_model_and_total(client):
    reply = client.post_json("/variants/accurate/invocations", [ROW])
    timing = timings(reply)
    assert set(timing) == {"model", "total"}
    assert 0 < timing["model"] <= timing["total"]


def test_accurate_variant_takes_longer_in_the_model(client):
    def median_model_ms(variant: str) -> float:
        return statistics.median(
            timings(client.post_json(f"/variants/{variant}/invocations", [ROW]))["model"]
            for _ in range(15)
        )

    assert median_model_ms("accurate") > 2 * median_model_ms("fast")


def test_metrics_count_invocations(server, client):
    before = client.text("/metrics")
    for _ in range(7):
        assert client.post_json("/variants/accurate/invocations", [ROW]).status == 200
    bad = client.request(
        "POST", "/variants/accurate/invocations", b"{", {"Content-Type": "application/json"}
    )
    assert bad.status == 400
    after = client.text("/metrics")

    def delta(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert delta("stinger_demo_requests_total", variant="accurate", status="200") == 7
    assert delta("stinger_demo_requests_total", variant="accurate", status="400") == 1
    assert delta("stinger_demo_request_duration_seconds_count", variant="accurate") == 8
    assert delta("stinger_demo_model_duration_seconds_count", variant="accurate") == 7
    assert delta("stinger_demo_model_duration_seconds_sum", variant="accurate") > 0
    assert sample(after, "process_cpu_seconds_total") > 0
    assert sample(after, "process_resident_memory_bytes") > 10_000_000


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        ("text/plain", b"1,2,3", 415),
        (None, b"[1, 2]", 415),
        ("application/json", b"{not json", 400),
        ("application/json", b'{"rows": [[1, 2]]}', 400),
        ("application/json", b'{"instances": []}', 400),
        ("application/json", b"[[1, 2], [3]]", 400),
        ("application/json", b'[["a", "b"]]', 400),
        ("application/json", b"[[1, 2, 3]]", 400),  # wrong number of features
        ("text/csv", b"f1,f2\n1,2\n", 400),
        ("text/csv", b"\n\n", 400),
    ],
)
def test_bad_requests_get_short_json_errors(client, content_type, body, status):
    headers = {"Content-Type": content_type} if content_type else {}
    reply = client.request("POST", "/invocations", body, headers)
    assert reply.status == status
    assert isinstance(reply.body["error"], str) and "\n" not in reply.body["error"]


def test_unknown_variant_is_404(client):
    assert client.post_json("/variants/huge/invocations", [ROW]).status == 404
    by_header = client.post_json(
        "/invocations", [ROW], **{"X-Amzn-SageMaker-Target-Variant": "huge"}
    )
    assert by_header.status == 404
    assert "huge" in by_header.body["error"]


# -- injected faults ------------------------------------------------------------


def statuses(server: DemoServer, n: int) -> list[int]:
    client = Client(server.url)
    try:
        return [client.post_json("/variants/fast/invocations", [ROW]).status for _ in range(n)]
    finally:
        client.close()


def test_error_rate_is_about_as_configured_and_seeded():
    with DemoServer(variants=["fast"], error_rate=0.25, seed=7) as first:
        codes = statuses(first, 400)
    assert set(codes) == {200, 500}
    # 400 draws at p=0.25: the standard deviation of the fraction is ~0.022.
    assert 0.25 - 0.1 < codes.count(500) / len(codes) < 0.25 + 0.1
    with DemoServer(variants=["fast"], error_rate=0.25, seed=7) as second:
        assert statuses(second, 60) == codes[:60]


def test_injected_delay_shows_in_server_timing(client):
    undelayed = statistics.median(
        timings(client.post_json("/invocations", [ROW]))["total"] for _ in range(10)
    )
    with DemoServer(variants=["fast"], delay_ms=40.0, jitter_ms=10.0) as slow:
        slow_client = Client(slow.url)
        replies = [slow_client.post_json("/invocations", [ROW]) for _ in range(10)]
        slow_client.close()
    delays = [timings(r)["delay"] for r in replies]
    totals = [timings(r)["total"] for r in replies]
    assert all(39.0 <= d <= 55.0 for d in delays)  # the measured delay: timers tick in whole ms
    assert len(set(delays)) > 1  # jittered
    assert all(total >= delay for total, delay in zip(totals, delays, strict=True))
    assert statistics.median(totals) > 10 * undelayed


@pytest.mark.slow
def test_metrics_sum_over_workers():
    with DemoServer(workers=2, variants=["fast"]) as server:
        n = 30
        for _ in range(n):
            # A fresh connection each time, so the kernel spreads them over workers.
            client = Client(server.url)
            assert client.post_json("/invocations", [ROW]).status == 200
            client.close()
        # Whichever worker answers the scrape, it reports the total.
        for _ in range(4):
            client = Client(server.url)
            text = client.text("/metrics")
            client.close()
            assert sample(text, "stinger_demo_requests_total", variant="fast", status="200") == n
            assert sample(text, "process_cpu_seconds_total") > 0
            assert sample(text, "process_resident_memory_bytes") > 0


# -- pieces ----------------------------------------------------------------------


def test_json_parser_accepts_each_shape():
    for body in ({"instances": [[1, 2]]}, {"inputs": [[1, 2]], "label": 1}, [[1, 2]], [1, 2]):
        assert parse_json_rows(json.dumps(body).encode()).tolist() == [[1.0, 2.0]]


@pytest.mark.parametrize("body", [b"", b"{}", b"[]", b"[[]]", b'"x"', b"[[1, NaN]]", b"[{}]"])
def test_json_parser_rejects_bad_bodies(body):
    with pytest.raises(BadRequest):
        parse_json_rows(body)


def test_csv_parser_skips_blank_lines():
    assert parse_csv_rows(b"1,2\n\n3.5,4\n").tolist() == [[1.0, 2.0], [3.5, 4.0]]
    with pytest.raises(BadRequest, match="line 2"):
        parse_csv_rows(b"1,2\nx,y\n")


def test_server_timing_format():
    assert server_timing(1.23456, 0.0, 2.0) == "model;dur=1.235, total;dur=2.000"
    assert server_timing(None, 5.0, 6.0) == "delay;dur=5.000, total;dur=6.000"


@pytest.mark.parametrize(
    "kwargs",
    [{"delay_ms": -1}, {"jitter_ms": float("inf")}, {"error_rate": 1.5}, {"workers": 0},
     {"port": 70000}, {"variants": ("fast", "huge")}, {"variants": ()}, {"log_level": "loud"}],
)  # fmt: skip
def test_config_rejects_mistakes_as_usage_errors(kwargs):
    with pytest.raises(UsageError):
        DemoConfig(**kwargs)


def test_config_round_trips_through_json():
    config = DemoConfig(port=0, workers=3, variants=("accurate",), delay_ms=2.5, seed=9)
    assert DemoConfig.from_json(config.to_json()) == config
    assert config.default_variant == "accurate"


def test_server_main_exits_2_on_bad_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--port", "0", "--error-rate", "3"])
    assert exit_info.value.code == 2
    assert "error_rate" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args",
    [["--delay-ms", "-1"], ["--error-rate", "1.5"], ["--variants", "fast,huge"],
     ["--variants", "fast,fast"], ["--workers", "0"], ["--delay-ms", "inf"]],
)  # fmt: skip
def test_serve_demo_command_rejects_bad_values_with_exit_2(args):
    result = CliRunner().invoke(serve_demo, args)
    assert result.exit_code == 2
    assert "Invalid value" in result.output
