"""The Prometheus presets' registry: named sets of metric families for common model servers, and which
of them hold the server's own time per request (`Preset.server_time`).

Its own module, light to import (no prometheus_client), so that the CLI's `--monitor` help and the
no-server-time note (`core/server_time.py`, told the names here at import) list the presets from this
table itself and never go stale (they named mlserver..vllm and missed tgi, sglang and dcgm).
`monitors/prometheus.py` scrapes with them.
"""

from __future__ import annotations

from dataclasses import dataclass

from stinger.core.series import Role, SeriesInfo
from stinger.core.server_time import register_presets


@dataclass(frozen=True)
class Preset:
    """A named set of metric families, and (duration counter, request counter) pairs."""

    name: str
    families: tuple[str, ...]
    means: tuple[tuple[str, str], ...] = ()
    doc: str = ""
    # families holding the server's own time per request, best first (histogram, summary, or the
    # duration counter of a `means` pair)
    server_time: tuple[str, ...] = ()
    # duration families in seconds whose names do not end in _seconds
    seconds: tuple[str, ...] = ()
    # what a family's series measure (`core.series`: a GPU's utilisation, its memory, the server's
    # time, ...), for `PrometheusMonitor.series_info`; a histogram's role is that of its time series
    # (.mean, .p50, ...), never of its .rate
    roles: tuple[tuple[str, SeriesInfo], ...] = ()
    # gauges whose unit is not the role's: (family, factor, unit), e.g. DCGM's MiB -> bytes
    scales: tuple[tuple[str, float, str], ...] = ()


MIB = float(2**20)


def _llm_roles(e2e: str, ttft: str | None, queue: str | None, kv_cache: tuple[str, ...],
               requests: tuple[str, ...]) -> tuple[tuple[str, SeriesInfo], ...]:
    """An LLM server's series roles: its own request time is server time, TTFT, queue time and
    KV-cache use are named for what they are, its running and waiting requests are requests."""
    out = [(e2e, SeriesInfo(Role.SERVER_TIME, "ms", "server request time"))]
    if ttft:
        out.append((ttft, SeriesInfo(Role.OTHER, "ms", "server time to first token")))
    if queue:
        out.append((queue, SeriesInfo(Role.OTHER, "ms", "server queue time")))
    out += [(f, SeriesInfo(Role.OTHER, "%", "KV-cache use")) for f in kv_cache]
    out += [(f, SeriesInfo(Role.REQUESTS, "", "requests running or waiting")) for f in requests]
    return tuple(out)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "demo",
            (
                "stinger_demo_request_duration_seconds",
                "stinger_demo_model_duration_seconds",
                "stinger_demo_requests_total",
            ),
            doc="stinger's own demo server",
            server_time=("stinger_demo_request_duration_seconds",),
        ),
        Preset(
            # mlserver/handlers/dataplane.py: model_infer_request_{success,failure} counters and the
            # model_infer_request_duration summary (seconds), labels model and version;
            # mlserver/rest/app.py: starlette_exporter's rest_server_* (histogram, labels path, method,
            # status_code, app_name); the adaptive-batching and parallel-inference queue histograms.
            "mlserver",
            (
                "model_infer_request_success",
                "model_infer_request_failure",
                "model_infer_request_duration",
                "rest_server_request_duration_seconds",
                "rest_server_requests",
                "rest_server_requests_in_progress",
                "batch_request_queue",
                "parallel_request_queue",
            ),
            doc="Seldon MLServer (metrics port 8082 by default): per-model inference time",
            server_time=("model_infer_request_duration", "rest_server_request_duration_seconds"),
            seconds=("model_infer_request_duration",),
        ),
        Preset(
            # kserve/metrics.py: one histogram per step, label model_name
            "kserve",
            (
                "request_predict_seconds",
                "request_preprocess_seconds",
                "request_postprocess_seconds",
                "request_explain_seconds",
            ),
            doc="KServe's Python model server (sklearnserver, xgbserver, custom predictors): per-step time",
            server_time=("request_predict_seconds",),
        ),
        Preset(
            "triton",
            (
                "nv_inference_request_success",
                "nv_inference_request_failure",
                "nv_inference_request_duration_us",
                "nv_inference_queue_duration_us",
                "nv_inference_compute_infer_duration_us",
                "nv_inference_count",
                "nv_inference_exec_count",
                "nv_gpu_utilization",
                "nv_gpu_memory_used_bytes",
            ),
            means=(
                ("nv_inference_request_duration_us", "nv_inference_request_success"),
                ("nv_inference_queue_duration_us", "nv_inference_request_success"),
                ("nv_inference_compute_infer_duration_us", "nv_inference_request_success"),
            ),
            doc="NVIDIA Triton Inference Server (cumulative *_duration_us counters)",
            server_time=("nv_inference_request_duration_us",),
        ),
        Preset(
            "torchserve",
            (
                "ts_inference_latency_microseconds",
                "ts_queue_latency_microseconds",
                "ts_inference_requests_total",
                "CPUUtilization",
                "MemoryUsed",
                "MemoryUtilization",
                "GPUUtilization",
                "GPUMemoryUsed",
            ),
            means=(
                ("ts_inference_latency_microseconds", "ts_inference_requests_total"),
                ("ts_queue_latency_microseconds", "ts_inference_requests_total"),
            ),
            doc="TorchServe (cumulative *_microseconds counters)",
            server_time=("ts_inference_latency_microseconds",),
        ),
        Preset(
            # docs.vllm.ai, Production Metrics: histograms in seconds, label model_name; the KV-cache gauge
            # is a fraction (1 = full), named gpu_cache_usage_perc before the V1 engine, kv_cache_usage_perc since
            "vllm",
            (
                "vllm:e2e_request_latency_seconds",
                "vllm:time_to_first_token_seconds",
                "vllm:time_per_output_token_seconds",
                "vllm:inter_token_latency_seconds",
                "vllm:request_queue_time_seconds",
                "vllm:num_requests_running",
                "vllm:num_requests_waiting",
                "vllm:gpu_cache_usage_perc",
                "vllm:kv_cache_usage_perc",
                "vllm:prompt_tokens",
                "vllm:generation_tokens",
            ),
            doc="vLLM's OpenAI-compatible server: the server's own TTFT, time per token, queue time, KV-cache use",
            server_time=("vllm:e2e_request_latency_seconds",),
            roles=_llm_roles("vllm:e2e_request_latency_seconds", "vllm:time_to_first_token_seconds",
                             "vllm:request_queue_time_seconds", ("vllm:gpu_cache_usage_perc", "vllm:kv_cache_usage_perc"),
                             ("vllm:num_requests_running", "vllm:num_requests_waiting")),
            scales=(("vllm:gpu_cache_usage_perc", 100.0, "%"), ("vllm:kv_cache_usage_perc", 100.0, "%")),
        ),
        Preset(
            # huggingface.co/docs/text-generation-inference, reference/metrics: histograms in seconds whose
            # names do not say so; TGI exports no time to first token (its queue and inference times instead)
            "tgi",
            (
                "tgi_request_duration",
                "tgi_request_queue_duration",
                "tgi_request_inference_duration",
                "tgi_request_validation_duration",
                "tgi_request_mean_time_per_token_duration",
                "tgi_request_generated_tokens",
                "tgi_request_input_length",
                "tgi_request_success",
                "tgi_request_failure",
                "tgi_queue_size",
                "tgi_batch_current_size",
            ),
            doc="Hugging Face Text Generation Inference: the server's own e2e, queue and per-token time",
            server_time=("tgi_request_duration",),
            seconds=("tgi_request_duration", "tgi_request_queue_duration", "tgi_request_inference_duration",
                     "tgi_request_validation_duration", "tgi_request_mean_time_per_token_duration"),
            roles=_llm_roles("tgi_request_duration", None, "tgi_request_queue_duration", (),
                             ("tgi_queue_size", "tgi_batch_current_size")),
        ),
        Preset(
            # docs.sglang.io, Production Metrics (server started with --enable-metrics): histograms in seconds,
            # label model_name; token_usage is the KV-cache (token pool) fraction in use
            "sglang",
            (
                "sglang:e2e_request_latency_seconds",
                "sglang:time_to_first_token_seconds",
                "sglang:inter_token_latency_seconds",
                "sglang:time_per_output_token_seconds",
                "sglang:queue_time_seconds",
                "sglang:num_running_reqs",
                "sglang:num_queue_reqs",
                "sglang:token_usage",
                "sglang:cache_hit_rate",
                "sglang:prompt_tokens",
                "sglang:generation_tokens",
            ),
            doc="SGLang (--enable-metrics): the server's own TTFT, inter-token and queue time, KV-cache use",
            server_time=("sglang:e2e_request_latency_seconds",),
            roles=_llm_roles("sglang:e2e_request_latency_seconds", "sglang:time_to_first_token_seconds",
                             "sglang:queue_time_seconds", ("sglang:token_usage",),
                             ("sglang:num_running_reqs", "sglang:num_queue_reqs")),
            scales=(("sglang:token_usage", 100.0, "%"),),
        ),
        Preset(
            # NVIDIA dcgm-exporter's default counters (etc/default-counters.csv), labels gpu, UUID, device,
            # modelName, Hostname: utilisation in %, frame-buffer memory in MiB (here in bytes, the role's unit)
            "dcgm",
            (
                "DCGM_FI_DEV_GPU_UTIL",
                "DCGM_FI_DEV_MEM_COPY_UTIL",
                "DCGM_FI_DEV_FB_USED",
                "DCGM_FI_DEV_FB_FREE",
                "DCGM_FI_DEV_POWER_USAGE",
                "DCGM_FI_DEV_GPU_TEMP",
            ),
            doc="NVIDIA DCGM-exporter (port 9400): GPU utilisation and memory of each GPU",
            roles=(("DCGM_FI_DEV_GPU_UTIL", SeriesInfo(Role.GPU, "%", "GPU utilisation")),
                   ("DCGM_FI_DEV_FB_USED", SeriesInfo(Role.GPU_MEMORY, "bytes", "GPU memory used"))),
            scales=(("DCGM_FI_DEV_FB_USED", MIB, "bytes"), ("DCGM_FI_DEV_FB_FREE", MIB, "bytes"),
                    ("DCGM_FI_DEV_GPU_UTIL", 1.0, "%"), ("DCGM_FI_DEV_MEM_COPY_UTIL", 1.0, "%"),
                    ("DCGM_FI_DEV_POWER_USAGE", 1.0, "W")),
        ),
    )
}


def server_time_presets() -> tuple[str, ...]:
    """The presets that name a server-time metric (what `--monitor prometheus=URL:PRESET` can give)."""
    return tuple(n for n, p in PRESETS.items() if p.server_time)


register_presets(server_time_presets())
