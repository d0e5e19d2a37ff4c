"""A run's summary dict (summary.json, docs/summary.md) from what execute and the monitors measured.

`build_summary` writes every key of the run's own (variants, overall, SLO results, spike,
monitors' figures, server time, quality, warnings, failures); the helpers word the loud parts
(mostly failed variants, unfinished requests, what endpoints said with their errors).
"""

from __future__ import annotations

import time

from stinger.core.metrics import RunMetrics
from stinger.core.records import UNATTRIBUTED
from stinger.core.secrets import redact_text, redact_url
from stinger.scale.coordinator import RunOutcome
from stinger.spec import Spec
from stinger.targets.abilities import endpoint_split

MOSTLY_FAILED = 0.5          # a variant whose error rate reaches this is reported loudly
SAMPLE_BODY_CHARS = 200      # a sample response body is cut to this many characters


def build_summary(spec: Spec, outcome: RunOutcome, slos: list, mon, *, workers: int,
                  duration: float | None = None) -> dict:
    """`duration`: the run's planned length (from --duration or the load shape)."""
    from stinger.core.slo import judge

    m: RunMetrics = outcome.metrics
    load = spec.load
    plans_duration = duration if duration is not None else load.duration
    cut = outcome.interrupted or outcome.stopped_early
    window = m.window(load.warmup, plans_duration if not cut else None,
                      elapsed=None if plans_duration and not cut else outcome.elapsed)
    variants = m.summary(window)
    # before the generator's judgment, which compares its lag with the server's own time
    server_time = mon.server_time(spec, window, variants)
    monitored = mon.summary(m, variants)   # reads the raw figures (before absent ones become null)
    for vs in variants.values():
        _absent_as_null(vs)
    summary = {
        "schema": "stinger.summary/1",
        "name": spec.name,
        "seed": load.seed,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(outcome.started_at)),
        "elapsed_s": round(outcome.elapsed, 3),
        "interrupted": outcome.interrupted,
        # SIGTERM (not Ctrl-C) stopped the run: exit code 143
        "terminated": outcome.interrupted_by == "SIGTERM",
        # a load worker was lost: part of the schedule was never sent (exit code 3)
        "incomplete": outcome.incomplete,
        "lost_workers": [{"worker": lw.worker, "pid": lw.pid, "reason": lw.reason, "share": round(lw.share, 4),
                          "since_s": round(lw.since, 3), "lost_requests": lw.lost_requests}
                         for lw in outcome.lost_workers],
        "stopped_early": outcome.stopped_early,
        "mode": load.resolved_mode(),
        "split": spec.split if len(variants) > 1 else "single",
        **({"pairing": spec.pairing} if spec.split == "paired" and len(variants) > 1 else {}),
        "workers": workers,
        "targets": {v.name: [redact_url(u) for u in v.all_urls()] for v in spec.all_variants()},
        "window": {"start_s": round(window[0], 3), "end_s": round(window[1], 3)},
        "variants": variants,
    }
    if len(variants) > 1:
        summary["overall"] = _absent_as_null(m.overall(window))
    split_side = endpoint_split(spec.split) if len(variants) > 1 else None
    attributed = split_side is not None
    judged = dict(variants)
    if split_side is not None:
        from stinger.orchestrate.abilities import run_targets

        summary["attribution"] = split_side.attribution(run_targets(spec), variants, mon.points())
        # requests no response named a variant for belong to the run, not to a variant: the SLOs
        # judge each attributed variant and the whole run (so their errors still count)
        judged.pop(UNATTRIBUTED, None)
        judged["overall"] = summary["overall"]
    results = []
    for name, vs in judged.items():
        for r in judge(slos, vs):
            d = r.to_dict()
            d["variant"] = name
            results.append(d)
    summary["slo"] = results
    summary["slo_passed"] = all(r["passed"] for r in results)
    shape = load.shape
    if shape is not None and shape.spike is not None:
        summary["spike"] = _spike(m, shape.spike, slos)
    summary.update(monitored)
    summary["server_time"] = server_time
    for name, q in model_quality(m.predictions).items():
        variants[name]["quality"] = q
    summary["warnings"] = outcome.warnings + mon.warnings + error_messages(variants, m.notes)
    failures = {name: f for name, vs in variants.items() if (f := failure_report(vs)) is not None}
    if attributed:
        # `unattributed` has no success by construction (a response that named its variant moved
        # there): its failures are the run's story only when most of the run ended there
        un = failures.get(UNATTRIBUTED)
        run_ended = sum(summary["overall"]["requests"][k] for k in ("ok", "failed", "dropped"))
        if un is not None and 2 * un["ended"] < run_ended:
            del failures[UNATTRIBUTED]
    if failures:
        summary["failures"] = failures
    # a variant that never got a successful answer measured nothing: the run must not look like a pass
    summary["no_success"] = sorted(n for n, f in failures.items() if f["ok"] == 0 and n in judged)
    if attributed and not summary["overall"]["requests"]["ok"] and run_ended:
        summary["no_success"].append("overall")   # nothing succeeded, whichever variant it was meant for
    for name, vm in m.variants.items():
        extra = vm.counters["unsolicited"]
        variants[name]["unsolicited"] = extra
        if extra:
            summary["warnings"].append(
                f"{name}: {extra:,} responses arrived with no request waiting for them (a duplicated "
                "response, or a 408 on an idle connection): the endpoint's protocol error, counted as "
                "'unsolicited', never as requests; their connections were closed")
    summary["warnings"].extend(unfinished_warnings(variants, load))
    overflow = sum(vm.counters["overflow"] for vm in m.variants.values())
    if overflow:
        summary["warnings"].append(
            f"{overflow:,} requests were dropped because the in-flight queue was full (a million waiting per "
            f"worker): the endpoint fell far behind; they are counted as dropped")
    return summary


def unfinished_warnings(variants: dict, load) -> list[str]:
    """What `unfinished` means, where some requests ended so: no answer within the drain."""
    out = []
    for name, vs in variants.items():
        n = vs["errors"].get("unfinished", 0)
        if n:
            out.append(f"{name}: {n:,} requests had no answer when the run ended ({load.drain:g} s of drain after "
                       f"the schedule; request timeout {load.timeout:g} s): counted as failed, 'unfinished'")
    return out


def model_quality(predictions: list) -> dict[str, dict]:
    """Per variant, from labelled predictions: accuracy (classes) or mean absolute error (numbers)."""
    if not predictions:
        return {}  # and no statistics import (scipy costs the coordinator ~0.5 CPU-s per run)
    from stinger.orchestrate.compare import _is_classification

    by_variant: dict[str, list[dict]] = {}
    for variant, _payload, pred, label in predictions:
        if label is not None:
            by_variant.setdefault(variant, []).append({"prediction": pred, "label": label})
    out = {}
    for name, preds in by_variant.items():
        if _is_classification(preds):
            right = sum(1 for p in preds if p["prediction"] == p["label"])
            out[name] = {"labelled": len(preds), "accuracy": round(right / len(preds), 6)}
        else:
            try:
                err = sum(abs(float(p["prediction"]) - float(p["label"])) for p in preds) / len(preds)
            except (TypeError, ValueError):
                continue  # a prediction that is not a number cannot be scored against a numeric label
            out[name] = {"labelled": len(preds), "mae": round(err, 6)}
    return out


def _absent_as_null(vs: dict) -> dict:
    """A histogram with no value (no successful response) has no percentiles: null, not 0.00."""
    for h in vs.values():
        if isinstance(h, dict) and h.get("count") == 0 and "p50" in h:
            for k in h:
                if k != "count":
                    h[k] = None
    return vs


def error_messages(variants: dict, notes: list[str]) -> list[str]:
    """What endpoints said with their errors (`core.error_notes`), put beside their counts: per variant
    `error_messages` {kind: the first message}; returns the other notes (the run's warnings)."""
    from stinger.core.error_notes import parse

    rest = []
    for text in notes:
        got = parse(text)
        if got is None or not any(v in variants for v in got[1]):
            rest.append(text)
            continue
        kind, names, message = got
        for name in names:
            if name in variants:
                variants[name].setdefault("error_messages", {}).setdefault(kind, redact_text(message))
    return rest


def failure_report(vs: dict) -> dict | None:
    """When most of a variant's requests failed: what they got back (top status codes and error
    kinds, one sample body per status when the engine kept one). None when most succeeded."""
    req = vs["requests"]
    ended = req["ok"] + req["failed"] + req["dropped"]
    if not ended or vs["error_rate"] < MOSTLY_FAILED:
        return None
    codes = sorted(((int(c), n) for c, n in (vs.get("status_codes") or {}).items() if not 200 <= int(c) < 300),
                   key=lambda cn: -cn[1])
    kinds = sorted(((k, n) for k, n in vs["errors"].items() if n), key=lambda kn: -kn[1])
    samples = {str(code): redact_text(body)[:SAMPLE_BODY_CHARS]
               for code, body in (vs.get("sample_responses") or {}).items()}
    said = vs.get("error_messages") or {}
    return {
        "ok": req["ok"],
        "ended": ended,
        "error_rate": vs["error_rate"],
        "top_status": [{"status": c, "count": n} for c, n in codes[:3]],
        "top_errors": [{"kind": k, "count": n, **({"message": said[k]} if k in said else {})} for k, n in kinds[:3]],
        "samples": samples,
    }


def _spike(m: RunMetrics, spike, slos: list) -> dict:
    """Per variant: the spike's errors and latency, and the time to recover within the latency SLO."""
    from stinger.core.spike import spike_report

    key, threshold = "p95_ms", 300.0
    for slo in slos:  # the first latency-percentile SLO sets the bar
        if slo.metric in ("p50", "p90", "p95", "p99", "p99.9") and slo.op in ("<", "<="):
            key, threshold = f"{slo.metric.replace('.', '')}_ms", slo.threshold
            break
    rows = m.interval_rows()
    return {name: spike_report([r for r in rows if r["variant"] == name], at=spike.at, length=spike.length,
                               threshold_ms=threshold, key=key, interval=m.interval)
            for name in m.variants}
