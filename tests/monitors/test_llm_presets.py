"""The vllm, tgi, sglang and dcgm Prometheus presets, scraped over HTTP from a loopback server.

No vLLM, TGI, SGLang or GPU runs here, so the server serves a recorded sample of each
exporter's exposition: the metric names, types, label names and units their documentation
gives (vLLM's and SGLang's Production Metrics pages, TGI's metrics reference, DCGM-exporter's
default counters), one scrape before and one after a known set of requests, so every figure
the monitor reports is known by construction.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from stinger.core.series import Role
from stinger.monitors.prometheus import PRESETS, PrometheusMonitor
from stinger.testing.llm_server import LlmServer

MODEL = 'model_name="meta-llama/Llama-3.1-8B-Instruct"'


def histogram(name: str, labels: str, bounds: tuple[float, ...], counts: tuple[int, ...], total: float,
              help_text: str = "h") -> str:
    """A histogram family: cumulative `counts` per bound, then +Inf = the last count."""
    sep = "," if labels else ""
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
    lines += [f'{name}_bucket{{{labels}{sep}le="{b}"}} {c}' for b, c in zip(bounds, counts)]
    lines += [f'{name}_bucket{{{labels}{sep}le="+Inf"}} {counts[-1]}', f"{name}_sum{{{labels}}} {total}",
              f"{name}_count{{{labels}}} {counts[-1]}"]
    return "\n".join(lines)


def gauge(name: str, labels: str, value: float) -> str:
    return f"# HELP {name} g\n# TYPE {name} gauge\n{name}{{{labels}}} {value}"


def counter(name: str, labels: str, value: float) -> str:
    return f"# HELP {name} c\n# TYPE {name} counter\n{name}_total{{{labels}}} {value}"


SECONDS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def vllm(n: int) -> str:
    """After `n` requests, each with TTFT 40 ms, queue time 5 ms, e2e 200 ms, 10 ms a token."""
    return "\n".join([
        histogram("vllm:time_to_first_token_seconds", MODEL, SECONDS, (0, 0, n, n, n, n, n, n), 0.04 * n),
        histogram("vllm:request_queue_time_seconds", MODEL, SECONDS, (n,) * 8, 0.005 * n),
        histogram("vllm:e2e_request_latency_seconds", MODEL, SECONDS, (0, 0, 0, 0, n, n, n, n), 0.2 * n),
        histogram("vllm:time_per_output_token_seconds", MODEL, SECONDS, (n,) * 8, 0.01 * n),
        gauge("vllm:num_requests_running", MODEL, 3), gauge("vllm:num_requests_waiting", MODEL, 2),
        gauge("vllm:gpu_cache_usage_perc", MODEL, 0.42),
        counter("vllm:prompt_tokens", MODEL, 100 * n), counter("vllm:generation_tokens", MODEL, 16 * n),
        gauge("vllm:cache_config_info", 'block_size="16"', 1),
    ]) + "\n"


def tgi(n: int) -> str:
    """After `n` requests, each 300 ms end to end, 20 ms queued, 12 ms a token (TGI: seconds, unsuffixed)."""
    return "\n".join([
        histogram("tgi_request_duration", "", SECONDS, (0, 0, 0, 0, 0, n, n, n), 0.3 * n),
        histogram("tgi_request_queue_duration", "", SECONDS, (0, n, n, n, n, n, n, n), 0.02 * n),
        histogram("tgi_request_mean_time_per_token_duration", "", SECONDS, (0, n, n, n, n, n, n, n), 0.012 * n),
        histogram("tgi_request_generated_tokens", "", (1.0, 10.0, 100.0, 1000.0), (0, 0, n, n), 32.0 * n),
        counter("tgi_request_success", "", n), gauge("tgi_queue_size", "", 4), gauge("tgi_batch_current_size", "", 8),
    ]) + "\n"


def sglang(n: int) -> str:
    """After `n` requests, each with TTFT 60 ms, queue time 10 ms, e2e 500 ms."""
    return "\n".join([
        histogram("sglang:time_to_first_token_seconds", MODEL, SECONDS, (0, 0, 0, n, n, n, n, n), 0.06 * n),
        histogram("sglang:queue_time_seconds", MODEL, SECONDS, (n,) * 8, 0.01 * n),
        histogram("sglang:e2e_request_latency_seconds", MODEL, SECONDS, (0, 0, 0, 0, 0, n, n, n), 0.5 * n),
        gauge("sglang:num_running_reqs", MODEL, 5), gauge("sglang:num_queue_reqs", MODEL, 1),
        gauge("sglang:token_usage", MODEL, 0.28), gauge("sglang:cache_hit_rate", MODEL, 0.0075),
        counter("sglang:generation_tokens", MODEL, 16 * n),
    ]) + "\n"


def dcgm(util: tuple[float, float], fb_used_mib: tuple[float, float]) -> str:
    """Two GPUs as DCGM-exporter labels them; utilisation in %, frame buffer in MiB."""
    def labels(i: int) -> str:
        return (f'gpu="{i}",UUID="GPU-604ac76c-d9cf-fef3-62e9-d92044ab6e5{i}",device="nvidia{i}",'
                f'modelName="NVIDIA H100 80GB HBM3",Hostname="node-1"')
    out = []
    for name, values, unit in (("DCGM_FI_DEV_GPU_UTIL", util, "GPU utilization (in %)."),
                               ("DCGM_FI_DEV_FB_USED", fb_used_mib, "Framebuffer memory used (in MiB)."),
                               ("DCGM_FI_DEV_FB_FREE", tuple(81559 - v for v in fb_used_mib), "free (in MiB)."),
                               ("DCGM_FI_DEV_SM_CLOCK", (1980, 1980), "SM clock frequency (in MHz).")):
        out += [f"# HELP {name} {unit}", f"# TYPE {name} gauge"]
        out += [f"{name}{{{labels(i)}}} {v}" for i, v in enumerate(values)]
    return "\n".join(out) + "\n"


@contextmanager
def exporter(*scrapes: str) -> Iterator[str]:
    """A loopback /metrics that serves `scrapes` in turn, then the last one again."""
    served = list(scrapes)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = (served.pop(0) if len(served) > 1 else served[0]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/metrics"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def scraped(preset: str, before: str, after: str) -> tuple[PrometheusMonitor, dict[str, dict]]:
    """Two scrapes through the monitor: {series: {labels: value}} of the second, and the monitor."""
    with exporter(before, after) as url:
        m = PrometheusMonitor(url, name="srv", preset=preset)
        m.start()
        points = m.sample(1.0)
        m.stop()
    out: dict[str, dict] = {}
    for p in points:
        out.setdefault(p.series, {})[p.labels] = p.value
    return m, out


def one(values: dict) -> float:
    assert len(values) == 1, values
    return next(iter(values.values()))


def test_the_llm_and_gpu_presets_are_in_the_table():
    assert {"vllm", "tgi", "sglang", "dcgm"} <= set(PRESETS)
    assert PRESETS["tgi"].server_time == ("tgi_request_duration",)


def test_vllm_server_ttft_queue_time_kv_cache_and_their_roles():
    m, got = scraped("vllm", vllm(100), vllm(150))   # 50 requests between the scrapes
    assert one(got["srv.vllm:time_to_first_token_seconds.mean"]) == pytest.approx(40.0)
    assert 25.0 < one(got["srv.vllm:time_to_first_token_seconds.p50"]) <= 50.0   # inside its bucket
    assert one(got["srv.vllm:request_queue_time_seconds.mean"]) == pytest.approx(5.0)
    assert one(got["srv.vllm:gpu_cache_usage_perc"]) == pytest.approx(42.0)   # a fraction, shown in %
    assert one(got["srv.vllm:num_requests_waiting"]) == 2
    assert "srv.vllm:cache_config_info" not in got   # outside the preset
    assert m.series_info("srv.vllm:e2e_request_latency_seconds.p95").role == Role.SERVER_TIME
    assert m.series_info("srv.vllm:time_to_first_token_seconds.mean").label == "server time to first token"
    assert m.series_info("srv.vllm:gpu_cache_usage_perc").label == "KV-cache use"
    assert m.series_info("srv.vllm:num_requests_running").role == Role.REQUESTS
    assert m.series_info("srv.vllm:e2e_request_latency_seconds.rate") is None
    assert m.series_info("other.vllm:gpu_cache_usage_perc") is None
    st = m.server_time(0.0, 1.0, match=("meta-llama/Llama-3.1-8B-Instruct",))
    assert st["family"] == "vllm:e2e_request_latency_seconds" and st["count"] == 50
    assert st["mean"] == pytest.approx(200.0) and st["bounds"]["p50"] == {"ge": 150.0, "le": 250.0}   # the bucket, tightened by the mean


def test_tgi_seconds_without_the_suffix_become_ms_and_its_e2e_is_server_time():
    m, got = scraped("tgi", tgi(10), tgi(30))
    assert one(got["srv.tgi_request_queue_duration.mean"]) == pytest.approx(20.0)
    assert one(got["srv.tgi_request_mean_time_per_token_duration.mean"]) == pytest.approx(12.0)
    assert one(got["srv.tgi_request_generated_tokens.mean"]) == pytest.approx(32.0)   # a count, not scaled
    assert one(got["srv.tgi_queue_size"]) == 4
    assert m.series_info("srv.tgi_request_queue_duration.p99").label == "server queue time"
    st = m.server_time(0.0, 1.0)
    assert st["count"] == 20 and st["mean"] == pytest.approx(300.0)


def test_sglang_server_ttft_queue_time_and_token_pool_use():
    m, got = scraped("sglang", sglang(7), sglang(17))
    assert one(got["srv.sglang:time_to_first_token_seconds.mean"]) == pytest.approx(60.0)
    assert one(got["srv.sglang:queue_time_seconds.mean"]) == pytest.approx(10.0)
    assert one(got["srv.sglang:token_usage"]) == pytest.approx(28.0)
    assert one(got["srv.sglang:num_queue_reqs"]) == 1
    assert m.series_info("srv.sglang:token_usage").label == "KV-cache use"
    st = m.server_time(0.0, 1.0)
    assert st["count"] == 10 and st["mean"] == pytest.approx(500.0)


def test_dcgm_gpu_utilisation_and_memory_per_gpu_with_the_gpu_roles():
    m, got = scraped("dcgm", dcgm((10, 20), (1000, 2000)), dcgm((87, 45), (20480, 512)))
    util = {dict(k)["gpu"]: v for k, v in got["srv.DCGM_FI_DEV_GPU_UTIL"].items()}
    used = {dict(k)["gpu"]: v for k, v in got["srv.DCGM_FI_DEV_FB_USED"].items()}
    assert util == {"0": 87, "1": 45}
    assert used == {"0": 20480 * 2**20, "1": 512 * 2**20}   # MiB exported, bytes reported (the role's unit)
    assert "srv.DCGM_FI_DEV_SM_CLOCK" not in got
    assert m.series_info("srv.DCGM_FI_DEV_GPU_UTIL").role == Role.GPU
    assert m.series_info("srv.DCGM_FI_DEV_FB_USED").role == Role.GPU_MEMORY
    assert m.series_info("srv.DCGM_FI_DEV_FB_FREE") is None


def test_a_run_with_a_dcgm_monitor_reports_gpu_use_under_resources(tmp_path: Path):
    """The roles reach the summary: `resources` per GPU, from a scrape named anything at all."""
    with exporter(dcgm((50, 60), (10240, 4096))) as url, LlmServer(ttft_ms=5, itl_ms=1, tokens=4) as s:
        p = subprocess.run([sys.executable, "-m", "stinger.cli", "run", "--openai", s.url, "--model", "m",
                            "--body", '"hi"', "--rate", "5", "--duration", "2s", "-q", "--out", str(tmp_path),
                            "--monitor", f"prometheus={url}:dcgm"],
                           capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert p.returncode == 0, p.stderr
    summary = json.loads(next(tmp_path.glob("*/summary.json")).read_text())
    resources = summary["resources"]
    gpu0 = next(v for k, v in resources.items() if k.startswith("prom{") and "gpu=0" in k)
    gpu1 = next(v for k, v in resources.items() if k.startswith("prom{") and "gpu=1" in k)
    assert gpu0["gpu_pct"]["peak"] == 50 and gpu1["gpu_pct"]["peak"] == 60
    assert gpu0["gpu_mem_mib"]["peak"] == pytest.approx(10240) and gpu1["gpu_mem_mib"]["mean"] == pytest.approx(4096)
