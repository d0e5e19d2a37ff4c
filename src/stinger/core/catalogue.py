"""The metric catalogue: every histogram metric stinger records, declared once.

Batch (what the flush thread records), metrics (merge and summary), the run
directory (which metrics go to the HDR log), SLO parsing (which names a
threshold may use), the terminal view and reports all read this table, so a
new metric (time to first token, tokens per second) is one line here and the
code that produces its values.

Values are stored in HDR histograms as integers of `stored_unit` (microseconds
for times), and shown in `shown_unit` under `summary_key` in summary.json.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Metric:
    name: str                 # key in interval records and hlog tags ("latency/<variant>")
    summary_key: str          # key in summary.json per variant
    label: str                # how a person reads it
    stored_unit: str = "us"
    shown_unit: str = "ms"
    scale: float = 1e3        # stored / scale = shown
    always: bool = True       # False: shown only when something was recorded
    logged: bool = False      # written to histograms.hlog per interval
    description: str = ""
    of_ok: bool = True        # recorded from successful requests: with none, its statistics are null, not 0


METRICS: tuple[Metric, ...] = (
    Metric("latency", "latency_ms", "latency", logged=True,
           description="done - intended: what a caller waits, no coordinated omission"),
    Metric("service", "service_time_ms", "service time", logged=True,
           description="done - sent: what a closed-loop tool would report"),
    Metric("ttfb", "ttfb_ms", "time to first byte", description="first response byte - sent"),
    Metric("lag", "schedule_lag_ms", "schedule lag", of_ok=False,
           description="sent - intended for requests sent at once: grows when the generator falls behind"),
    Metric("queue", "queue_wait_ms", "queue wait", always=False, of_ok=False,
           description="sent - intended for requests that waited for the in-flight bound or a new connection"),
    Metric("server", "server_time_ms", "server time", always=False, logged=True,
           description="the server's own time (Server-Timing, a header, or a monitor)"),
    # read by a target's `interpret` (targets/base.py: Interpretation.columns), recorded
    # by the flush thread like any other metric; shown only when a target produced them
    Metric("ttft", "ttft_ms", "time to first token", always=False,
           description="first streamed token - sent (streaming LLM endpoints)"),
    Metric("itl", "inter_token_ms", "inter-token latency", always=False,
           description="gap between consecutive streamed tokens"),
    Metric("output_tokens", "output_tokens", "output tokens", stored_unit="tokens", shown_unit="tokens",
           scale=1.0, always=False, description="tokens a streamed or whole LLM answer carried (the server's usage)"),
    Metric("ttfc", "ttfc_ms", "time to first chunk", always=False,
           description="first event-stream message - intended (SageMaker InvokeEndpointWithResponseStream)"),
    Metric("chunk_gap", "chunk_gap_ms", "gap between chunks", always=False,
           description="mean gap between a streamed response's event-stream messages (SageMaker)"),
    # A/B interference (engine/core.py): the same values again for the requests sent while another
    # variant's request was in flight; the rest of `latency` / `server` were sent alone
    Metric("latency_ov", "latency_overlapped_ms", "latency, another variant in flight", always=False,
           description="latency of requests sent while a request of another variant was in flight"),
    Metric("server_ov", "server_time_overlapped_ms", "server time, another variant in flight", always=False,
           description="server time of requests sent while a request of another variant was in flight"),
)

# The order of METRICS is the order of summary.json's sections and of the terminal's rows.
BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}
NAMES: tuple[str, ...] = tuple(m.name for m in METRICS)
# the metrics a target reads from its responses (`Interpretation.columns`), not the engine's clock
TARGET_METRICS: tuple[str, ...] = ("ttft", "itl", "output_tokens", "ttfc", "chunk_gap")
LOGGED: tuple[str, ...] = tuple(m.name for m in METRICS if m.logged)
SUMMARY_KEYS: dict[str, str] = {m.name: m.summary_key for m in METRICS}


def metric(name: str) -> Metric:
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; the catalogue has {', '.join(NAMES)}") from None
