"""outputs/terminal.py: what the terminal says, rendered from plain data (no run needed)."""

from __future__ import annotations

import io

from rich.console import Console

from stinger.core.histogram import Histogram
from stinger.core.summary import VariantSummary, variant_from_raw
from stinger.core.summary import failure_report as _failure_report
from stinger.outputs.base import Snapshot, VariantSnapshot
from stinger.outputs.terminal import LiveView, TerminalOutput, print_summary


def _console() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, width=160, force_terminal=False, color_system=None), buf


def _variant(ok: int, failed: int, status: dict, errors: dict) -> dict:
    empty = Histogram().summary() if ok == 0 else {"count": ok, "mean": 5.0, "stddev": 1.0, "min": 4.0, "max": 9.0,
                                                   "p50": 5.0, "p90": 6.0, "p95": 7.0, "p99": 8.0, "p99.9": 9.0}
    vs = {
        "requests": {"scheduled": ok + failed, "ok": ok, "failed": failed, "dropped": 0, "in_flight": 0,
                     "unaccounted": 0, "warmup": 0},
        "errors": errors, "status_codes": status,
        "error_rate": failed / (ok + failed),
        "throughput": {"offered_rps": 20.0, "achieved_rps": ok / 1.0, "ratio": None, "window_s": 1.0},
        "bytes": {"received": 0, "sent": 0},
        "latency_ms": dict(empty), "service_time_ms": dict(empty), "ttfb_ms": dict(empty),
        "schedule_lag_ms": dict(empty),
    }
    return variant_from_raw(vs).to_json()


def failure_report(vs: dict) -> dict | None:
    return _failure_report(VariantSummary.from_json(vs))


def test_total_failure_prints_na_and_says_so_loudly():
    vs = _variant(0, 20, {"404": 20}, {"http_4xx": 20, "connect": 0})
    assert vs["latency_ms"]["p50"] is None and vs["latency_ms"]["count"] == 0
    summary = {"name": "x", "mode": "open", "workers": 1, "elapsed_s": 1.0, "variants": {"default": vs},
               "failures": {"default": failure_report(vs)}}
    console, buf = _console()
    print_summary(summary, console)
    text = " ".join(buf.getvalue().split())
    assert "latency p50 (ms) n/a" in text
    assert "NO REQUEST SUCCEEDED (default): 100.0% of 20 failed; HTTP 404 x20" in text
    assert "latency figures are n/a" in text


def test_failure_report_names_top_codes_and_a_redacted_truncated_sample():
    vs = _variant(2, 18, {"200": 2, "503": 12, "401": 6}, {"http_5xx": 12, "http_4xx": 6, "timeout": 0})
    vs["sample_responses"] = {503: "overloaded; token=abcdef123456 " + "x" * 500}
    f = failure_report(vs)
    assert f["ok"] == 2 and f["ended"] == 20
    assert f["top_status"] == [{"status": 503, "count": 12}, {"status": 401, "count": 6}]
    assert f["top_errors"][0] == {"kind": "http_5xx", "count": 12}
    sample = f["samples"]["503"]
    assert "abcdef123456" not in sample and "token=<redacted>" in sample and len(sample) == 200


def test_mostly_successful_run_has_no_failure_report():
    assert failure_report(_variant(15, 5, {"200": 15, "500": 5}, {"http_5xx": 5})) is None


def test_live_view_renders_from_a_snapshot_without_a_terminal():
    h = Histogram()
    h.record_many([1000, 2000, 3000])
    snap = Snapshot(elapsed=6.0, variants=(VariantSnapshot(name="A", ok=3, failed=1, dropped=0, latency=h,
                                                           last_offered_rps=4.0, last_achieved_rps=3.0,
                                                           last_p50_ms=2.0, last_p99_ms=3.0, last_failed=1),))
    console, buf = _console()
    out = TerminalOutput(console, live=True)

    class Info:
        duration, total, mode = 10.0, None, "open"

    out.start(Info())
    out.interval(snap)   # not a terminal: one plain line (every 5 s)
    out.close()
    assert "A: 3/4 req/s p50 2.00 p99 3.00 ms errors 1" in buf.getvalue()
    panel = LiveView(duration=10.0, total=None, mode="open", console=console).render(snap)
    console.print(panel)
    assert "6.0s / 10s" in buf.getvalue()


def test_throughput_above_offered_is_explained():
    vs = _variant(20, 0, {"200": 20}, {})
    vs["throughput"].update(offered_rps=20.0, achieved_rps=24.0)
    console, buf = _console()
    print_summary({"name": "x", "variants": {"A": vs}}, console)
    text = " ".join(buf.getvalue().split())
    assert "A's throughput (24.0 req/s) is above its offered rate (20.0 req/s)" in text
    assert "warm-up" in text
    vs["throughput"].update(achieved_rps=19.5)
    console, buf = _console()
    print_summary({"name": "x", "variants": {"A": vs}}, console)
    assert "above its offered rate" not in buf.getvalue()


def test_labelled_predictions_print_accuracy_or_error():
    from stinger.orchestrate.summary import model_quality

    preds = [("A", 0, 1, 1), ("A", 1, 2, 1), ("A", 2, 3, 3), ("A", 3, 0, 0), ("B", 0, 0.5, 1.0),
             ("B", 1, 2.0, 1.0), ("C", 0, 1, None)]
    q = model_quality(preds)
    assert q == {"A": {"labelled": 4, "accuracy": 0.75}, "B": {"labelled": 2, "mae": 0.75}}
    a, b = _variant(4, 0, {"200": 4}, {}), _variant(2, 0, {"200": 2}, {})
    a["quality"], b["quality"] = q["A"], q["B"]
    console, buf = _console()
    print_summary({"name": "x", "variants": {"A": a, "B": b}}, console)
    text = " ".join(buf.getvalue().split())
    assert "accuracy (labelled) 75.00% of 4 -" in text
    assert "mean absolute error (labelled) - 0.7500 of 2" in text


def test_a_split_sagemaker_made_shows_each_share_beside_its_weight_and_the_unattributed():
    from stinger.outputs.terminal import attribution_text

    att = {"header": "x-Amzn-Invoked-Production-Variant", "attributed": 200,
           "unattributed": {"scheduled": 3, "failed": 3, "dropped": 0, "in_flight": 0, "unaccounted": 0},
           "variants": {"A_ml.m5.large": {"share": 0.695, "weight_share": 0.7},
                        "B_ml.c5.xlarge": {"share": 0.305, "weight_share": None}}}
    text = attribution_text(att).plain
    assert text == ("endpoint split (by x-Amzn-Invoked-Production-Variant): A_ml.m5.large 69.5% of 200 "
                    "(weight 70.0%), B_ml.c5.xlarge 30.5% of 200 (weight ?); 3 requests got no header (unattributed)")


def _busy_summary() -> dict:
    """A run on a busy machine whose generator kept up: the report's headline box said so; the terminal did not."""
    vs = _variant(20, 0, {"200": 20}, {})
    message = ("generator kept up, though the machine is busy (load 3.4 on 2 cores, 2.3 of it not the workers'); "
               "requests still left on time")
    return {"name": "x", "mode": "open", "workers": 1, "elapsed_s": 1.0, "variants": {"default": vs},
            "slo": [{"variant": "default", "slo": "p95<1ms", "metric": "p95", "observed": 7.0, "passed": False,
                     "note": ""}],
            "slo_passed": False, "warnings": [message],
            "generator": {"client_bound": False, "machine_busy": True, "lagged": False, "message": message}}


def test_a_busy_machine_is_said_beside_the_slos_as_the_report_says_it():
    """Issue 15, item 9: SLO FAILs and exit 1 with no word that the machine was busy (the report had a red box).
    The terminal prints the report's words, right under the SLOs, once."""
    from html import escape

    from stinger.outputs.report import _headline

    summary = _busy_summary()
    message = summary["generator"]["message"]
    assert escape(message) in _headline(summary, None)          # what the report's box says
    console, buf = _console()
    print_summary(summary, console)
    text = " ".join(buf.getvalue().split())
    assert f"WARNING {message}" in text
    assert text.index("p95<1ms") < text.index(f"WARNING {message}")   # beside the SLOs: right after them
    assert text.count(message) == 1                                 # not again among the warnings


def test_a_busy_machine_is_said_beside_the_verdict():
    from stinger.core.verdict import Verdict
    from stinger.outputs.base import RunFinished

    summary = _busy_summary()
    console, buf = _console()
    out = TerminalOutput(console, live=False)
    out.finish(RunFinished(summary=summary, metrics=None, started_at=0.0, series=[]))
    before = len(buf.getvalue())
    out.verdict(Verdict(rows=[], sentence="No verdict: too few requests", significant=False), {})
    after = " ".join(buf.getvalue()[before:].split())
    assert "No verdict: too few requests" in after
    assert f"WARNING {summary['generator']['message']}" in after
    # a quiet machine: nothing said
    summary["generator"] = {"client_bound": False, "machine_busy": False, "message": "generator kept up: ..."}
    console, buf = _console()
    print_summary(summary, console)
    assert "WARNING" not in buf.getvalue()
def test_a_stopped_run_says_sigterm_and_why_its_error_rate_objective_failed():
    """Issue 16 item 11 and 15 item 3: a run stopped by SIGTERM is headed so (it said Ctrl-C), and an
    error-rate objective judged with the requests in flight at the stop says so beside the table."""
    from stinger.core.slo import judge

    vs = _variant(5, 0, {"200": 5}, {"timeout": 0})
    vs["requests"].update(scheduled=65, in_flight=60)
    [r] = judge(["error_rate<1%"], vs)
    summary = {"name": "x", "mode": "open", "workers": 1, "elapsed_s": 3.0, "variants": {"default": vs},
               "interrupted": True, "terminated": True, "slo": [{**r.to_dict(), "variant": "default"}]}
    console, buf = _console()
    print_summary(summary, console)
    text = " ".join(buf.getvalue().split())
    assert "(stopped by SIGTERM: partial results)" in text and "Ctrl-C" not in text
    assert "error_rate<1% 0.923 FAIL" in text
    assert "default error_rate<1%: 60 requests were in flight when the run was stopped" in text
