"""The metric catalogue: every histogram metric stinger records, declared once.

Batch (what the flush thread records), metrics (merge and summary), the run
directory (which metrics go to the HDR log), SLO parsing (which names a
threshold may use), the terminal view, reports and the A/B verdict all read
this table, so a new metric (time to first reasoning token, goodput) is one
line here and the code that produces its values.

Values are stored in HDR histograms as integers of `stored_unit` (microseconds
for times), and shown in `shown_unit` under `summary_key` in summary.json.

What the A/B verdict and `stinger compare` do with a metric is declared here
too, never by a metric's name elsewhere: `compare` lists the quantiles that get
a row each (block bootstrap over one-second intervals), `rank` adds a
Mann-Whitney row, `lower_is_better` says which way is better. Every row costs
Holm's correction a step (the first step needs p < alpha / rows), so the family
is kept small: latency p50/p95/p99 + Mann-Whitney; the streaming metrics p50 and
p95 (the tail of a token stream is what a reader notices); tokens/s per request
its median only (its low tail is latency's high tail, already a row). A metric
with a `twin` (time to first output token: time to first token unless the model
reasons) gets rows only where its values differ from the twin's.

`per` is how many values a request gives: "request" (one, or none) or "gap"
(one per gap between consecutive streamed tokens: a target returns those as a
flattened array with per-row counts, `targets.base.Interpretation.many`).
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
    logged: bool = False      # written to histograms.hlog per interval (every compared metric is)
    description: str = ""
    of_ok: bool = True        # recorded from successful requests: with none, its statistics are null, not 0
    per: str = "request"      # "request": a value per request; "gap": one per gap between streamed tokens
    compare: tuple[float, ...] = ()   # quantiles the A/B verdict and `compare` test (empty: not compared)
    rank: bool = False        # also a Mann-Whitney row (P(B better)) over the whole distribution
    lower_is_better: bool = True
    rate_key: str | None = None   # a rate derived from it, under throughput: its mean x achieved_rps
    rate_label: str = ""          # how a person reads that rate
    source: str = "engine"        # "engine": the engine's clock; "target": read from responses by a target
    #                               (`Interpretation.columns`), declared by that target's `metrics`
    figures: tuple[str, str] = ("p50", "p99")   # the two figures a one-line view shows (a count: mean, p99)
    headline: bool = False        # a view shows its row in bold (what a reader of that target looks at first)
    twin: str | None = None       # compared only where its values differ from this metric's (ttfo is ttft
    #                               for a model that does not reason: the same rows twice would cost Holm)

    @property
    def compared(self) -> bool:
        return bool(self.compare)


_STREAM = (0.5, 0.95)   # the quantile rows of a streaming metric (see the module docstring)

METRICS: tuple[Metric, ...] = (
    Metric("latency", "latency_ms", "latency", logged=True, compare=(0.5, 0.95, 0.99), rank=True,
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
    # read by a target's `interpret` (targets/base.py: Interpretation.columns and .many), recorded
    # by the flush thread like any other metric; shown only when a target produced them
    Metric("ttft", "ttft_ms", "time to first token", always=False, compare=_STREAM, headline=True,
           source="target", description="first streamed token of any kind (text or reasoning) - sent"),
    Metric("ttfo", "ttfo_ms", "time to first output token", always=False, compare=_STREAM, twin="ttft",
           source="target", description="first streamed token of output content (not reasoning) - sent; "
                                        "equals ttft for a model that does not reason"),
    Metric("itl", "itl_ms", "inter-token latency", always=False, per="gap", compare=_STREAM,
           source="target", description="every gap between consecutive streamed token events (many values per request)"),
    Metric("tpot", "tpot_ms", "time per output token", always=False, compare=_STREAM,
           source="target", description="(done - first token) / (output tokens - 1), one value per request of 2 tokens or more"),
    Metric("input_tokens", "input_tokens", "input tokens", stored_unit="tokens", shown_unit="tokens",
           scale=1.0, always=False, figures=("mean", "p99"), source="target", description="prompt tokens of a request (the server's usage)"),
    Metric("output_tokens", "output_tokens", "output tokens", stored_unit="tokens", shown_unit="tokens",
           scale=1.0, always=False, rate_key="output_tokens_per_s", rate_label="output tokens/s",
           figures=("mean", "p99"), source="target", description="tokens a streamed or whole LLM answer carried (the server's usage)"),
    Metric("reasoning_tokens", "reasoning_tokens", "reasoning tokens", stored_unit="tokens", shown_unit="tokens",
           scale=1.0, always=False, figures=("mean", "p99"), source="target",
           description="reasoning tokens of an answer (usage's completion_tokens_details.reasoning_tokens, "
                       "else the events carrying reasoning text); part of output tokens"),
    Metric("output_tps", "output_tps", "output tokens/s per request", stored_unit="mtok/s", shown_unit="tokens/s",
           always=False, compare=(0.5,), lower_is_better=False,
           source="target", description="output tokens / (done - sent): what one caller receives a second"),
    Metric("ttfc", "ttfc_ms", "time to first chunk", always=False, compare=_STREAM,
           source="target", description="first message of a streamed response's framing - intended (a carrier's response stream)"),
    Metric("chunk_gap", "chunk_gap_ms", "gap between chunks", always=False, compare=_STREAM,
           source="target", description="mean gap between the messages of a streamed response's framing (a carrier's response stream)"),
    # multi-turn sessions (engine/sessions.py): one value per session that answered every turn, on the
    # row of its last turn (engine/batch.py `_session_values`)
    Metric("session", "session_ms", "session duration", always=False,
           description="last turn's done - first turn's intended, per session whose every turn was answered OK"),
    Metric("session_turns", "session_turns", "turns per session", stored_unit="turns", shown_unit="turns",
           scale=1.0, always=False, figures=("mean", "p99"), description="turns of a session answered OK"),
    Metric("session_tokens", "session_output_tokens", "output tokens per session", stored_unit="tokens",
           shown_unit="tokens", scale=1.0, always=False, figures=("mean", "p99"),
           description="output tokens of a session's answers (the server's usage), summed over its turns"),
    # A/B interference (engine/core.py): the same values again for the requests sent while another
    # variant's request was in flight; the rest of `latency` / `server` were sent alone
    Metric("latency_ov", "latency_overlapped_ms", "latency, another variant in flight", always=False,
           description="latency of requests sent while a request of another variant was in flight"),
    Metric("server_ov", "server_time_overlapped_ms", "server time, another variant in flight", always=False,
           description="server time of requests sent while a request of another variant was in flight"),
)

# The order of METRICS is the order of summary.json's sections, of the terminal's rows and of the verdict's.
BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}
NAMES: tuple[str, ...] = tuple(m.name for m in METRICS)
# the metrics a target reads from its responses (`Interpretation.columns`), not the engine's clock; each
# target declares the ones it produces (`metrics` on its api or carrier class)
TARGET_METRICS: tuple[str, ...] = tuple(m.name for m in METRICS if m.source == "target")
# the metrics the A/B verdict and `stinger compare` test, in the verdict's order; the run directory
# keeps their interval histograms so `compare` reads what the live verdict read
COMPARED: tuple[str, ...] = tuple(m.name for m in METRICS if m.compared)
LOGGED: tuple[str, ...] = tuple(m.name for m in METRICS if m.logged or m.compared)
SUMMARY_KEYS: dict[str, str] = {m.name: m.summary_key for m in METRICS}


def metric(name: str) -> Metric:
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; the catalogue has {', '.join(NAMES)}") from None


def verdict_rows(present, goodput: bool = False) -> int:
    """Rows the verdict holds when these compared metrics have data in both variants (+1: the error rate;
    +1 with goodput objectives: the goodput share): the size of Holm's family, which `stinger plan` must
    plan for."""
    return 1 + goodput + sum(len(BY_NAME[n].compare) + BY_NAME[n].rank for n in present if BY_NAME[n].compared)
