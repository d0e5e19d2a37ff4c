"""DemoServer: starts the real server, finds its port, and leaves nothing behind."""

from __future__ import annotations

import urllib.request
from urllib.parse import urlsplit

import psutil
import pytest

from stinger.demo.process import DemoServer
from stinger.errors import RunError, UsageError


def get_status(url: str) -> int:
    with urllib.request.urlopen(url, timeout=10) as reply:
        return reply.status


def test_start_serves_and_stop_leaves_no_process():
    server = DemoServer(variants=["fast"])
    server.start()
    try:
        pid = server.pid
        assert psutil.pid_exists(pid)
        parts = urlsplit(server.url)
        assert parts.hostname == "127.0.0.1" and parts.port and parts.port > 0
        assert get_status(f"{server.url}/ping") == 200
        assert server.invocations_url() == f"{server.url}/invocations"
        assert server.invocations_url("fast") == f"{server.url}/variants/fast/invocations"
        assert server.metrics_url == f"{server.url}/metrics"
        assert get_status(server.metrics_url) == 200
        log_path = server.log_path
        assert log_path is not None and log_path.exists()
    finally:
        server.stop()
    assert not psutil.pid_exists(pid)
    assert not log_path.exists()
    server.stop()  # idempotent


def test_context_manager_stops_on_error():
    with pytest.raises(KeyError):  # noqa: PT012 - the point is the context manager's exit on an error raised inside it
        with DemoServer(variants=["fast"]) as server:
            pid = server.pid
            raise KeyError("boom")
    assert not psutil.pid_exists(pid)


def test_addresses_need_a_started_server():
    server = DemoServer()
    with pytest.raises(RunError, match="not running"):
        _ = server.url
    with pytest.raises(RunError, match="not running"):
        _ = server.pid


@pytest.mark.parametrize(
    "kwargs", [{"error_rate": 2.0}, {"delay_ms": -5}, {"variants": ["huge"]}, {"workers": 0}]
)
def test_bad_settings_fail_before_launching(kwargs):
    with pytest.raises(UsageError):
        DemoServer(**kwargs)


def test_a_server_that_dies_raises_run_error_with_its_log():
    server = DemoServer(extra_args=("--no-such-option",))
    with pytest.raises(RunError, match="no-such-option"):
        server.start(timeout=30)
    with pytest.raises(RunError):
        _ = server.pid  # nothing left running


def test_a_taken_port_is_reported():
    with DemoServer(variants=["fast"]) as first:
        taken = urlsplit(first.url).port
        assert taken is not None
        with pytest.raises(RunError, match="cannot listen"):
            DemoServer(port=taken, variants=["fast"]).start(timeout=30)


@pytest.mark.slow
def test_stop_ends_every_worker():
    with DemoServer(workers=2, variants=["fast"]) as server:
        supervisor = psutil.Process(server.pid)
        workers = supervisor.children(recursive=True)
        # Two uvicorn workers, perhaps with multiprocessing's resource tracker.
        assert len(workers) >= 2
        pids = [server.pid, *(w.pid for w in workers)]
        assert get_status(f"{server.url}/ping") == 200
    assert not any(psutil.pid_exists(pid) for pid in pids)
