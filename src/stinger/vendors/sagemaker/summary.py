"""What a run against SageMaker adds to its summary: CloudWatch beside client latency, instances, cost.

This module owns the block the sagemaker side (`side.py`, its `AfterRun` ability)
adds to a run's summary; plain HTTP runs never import it:

* `collect(...)`: after the load, CloudWatch read for the run's window
  (`CloudWatchMonitor.collect`, waiting at most `STINGER_CLOUDWATCH_WAIT_S`
  seconds, 180 by default, for the last minute to be published, with a
  countdown callback), then the summary block `summary["sagemaker"]`: per
  stinger variant, client latency (mean, p50, p95) beside CloudWatch's
  ModelLatency + OverheadLatency (averages, ms), the rest as "network and
  client", Invocations and errors as CloudWatch counted them, CPU (summed over
  vCPUs and per core), instance type and count, and the cost per million
  inferences from the instance-hours held and the price (the variant's target
  `price_per_hour`, set by `--price-per-hour`, else the `price_per_hour`
  argument, else the bundled, dated indicative table of
  `vendors/sagemaker/endpoint_monitor.py`), with where the price came from
  (`price_source`: "--price-per-hour" or "the bundled table dated ...").

One window. Client latency describes the measured window (after the warm-up),
so CloudWatch's means (latency, CPU, memory) are taken over it too: read at the
finest period CloudWatch has (1 s for high-resolution data, else 60 s), each
period weighted by its seconds inside the window (`cloudwatch_window` says the
period, the periods read, the share they cover, and warns when 60-s periods
dilute the figures with idle seconds). The cost's instance-hours and inferences
are both the measured window's (`cost_window_s`; before, hours over the whole
run against the window's inferences overstated it by duration / (duration -
warm-up)). Counts are whole periods: `counts` sets CloudWatch's invocations over
the periods that met the run beside what stinger sent in them, measured and
warm-up, and says why they differ.

The control plane and CloudWatch are reached at AWS's addresses unless
`AWS_ENDPOINT_URL_SAGEMAKER` / `AWS_ENDPOINT_URL_CLOUDWATCH` say otherwise
(botocore's own service-specific endpoint variables; `--control-url` and
`stinger demo --sagemaker` set them to the local moto server).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

from stinger.vendors.sagemaker.side import (
    POLL_ENV,
    WAIT_ENV,
    _region,
    _region_env,
    _settings,
    named_monitors,
    sagemaker_variants,
)
from stinger.vendors.sagemaker.split import SPLIT, production_variants


def _period(p: Any) -> float:
    return float(dict(p.labels).get("period", 60))


def _rows(points: list, series: str, variant: str) -> list:
    return [p for p in points if p.series == series and dict(p.labels).get("variant") == variant]


def _mean(points: list, series: str, variant: str, window: tuple[float, float],
          weights: dict[float, float] | None = None) -> float:
    """A per-period series' mean over `window` (run clock): each period weighted by its seconds inside the
    window (a partial period counts for its share, one outside for nothing) and, given `weights` (a
    latency's invocations per period), by those too. NaN when no period meets the window."""
    from stinger.vendors.sagemaker.cloudwatch import overlap

    num = den = 0.0
    for p in _rows(points, series, variant):
        w = overlap(p.t, _period(p), *window) * (weights.get(p.t, 0.0) if weights is not None else 1.0)
        num += w * p.value
        den += w
    return num / den if den > 0 else math.nan


def _aligned(points: list, variant: str, window: tuple[float, float]) -> dict[str, Any] | None:
    """How a variant's CloudWatch figures were put on the run: period, the periods read, the share of their
    time inside `window`, and what that means for the means (docs/sagemaker.md)."""
    from stinger.vendors.sagemaker.cloudwatch import overlap

    rows = _rows(points, "cloudwatch.CPUUtilization", variant) or _rows(points, "cloudwatch.Invocations", variant)
    if not rows:
        return None
    period = max(_period(p) for p in rows)
    covered = sum(overlap(p.t, _period(p), *window) for p in rows) / sum(_period(p) for p in rows)
    out: dict[str, Any] = {
        "period_s": period, "read_s": [_r(min(p.t for p in rows)), _r(max(p.t + _period(p) for p in rows))],
        "means_over_s": [_r(window[0]), _r(window[1])], "covered": _r(covered),
        "weighting": "each period weighted by its seconds inside the measured window (latencies also by its "
                     "invocations); counts are whole periods",
    }
    if covered < 0.95 and period >= 60:
        out["note"] = (f"CloudWatch holds these metrics per {period:g} s; the measured window covers "
                       f"{100 * covered:.0f} % of the periods read, so CPU and memory are averaged with seconds "
                       f"outside it (idle ones lower them); a longer run covers more")
    return out


def _counts(row: dict, requests: dict, complete: bool) -> dict[str, Any]:
    """CloudWatch's invocations beside what stinger sent, over one window (every period that met the run), and
    why they differ: the warm-up (sent, counted by CloudWatch, left out of every stinger figure), a last
    period not yet published, or other callers."""
    measured = (requests.get("ok") or 0) + (requests.get("failed") or 0) + (requests.get("in_flight") or 0)
    warmup = requests.get("warmup") or 0
    sent, counted = measured + warmup, row.get("invocations")
    out: dict[str, Any] = {"window_s": (row.get("cloudwatch_window") or {}).get("read_s"),
                           "cloudwatch_invocations": counted, "client_sent": sent, "client_measured": measured,
                           "client_warmup": warmup}
    if counted is None:
        return out
    counted = int(counted)
    split = (f"{measured:,} measured + {warmup:,} warm-up (the warm-up is sent and counted by CloudWatch but left "
             f"out of latency, SLOs and cost)" if warmup else f"{measured:,} measured, no warm-up")
    if counted == sent:
        out["note"] = f"CloudWatch counted the {sent:,} requests stinger sent: {split}"
    elif counted < sent:
        out["note"] = (f"CloudWatch counted {counted:,} of the {sent:,} requests stinger sent ({split}): "
                       + ("its last period was not published in time" if not complete else
                          "some never reached the endpoint (connect errors, timeouts before sending)"))
    else:
        out["note"] = (f"CloudWatch counted {counted:,}, {counted - sent:,} more than the {sent:,} stinger sent "
                       f"({split}): callers besides stinger in the same periods")
    return out


def _sum(points: list, series: str, variant: str) -> float:
    return sum(p.value for p in points if p.series == series and dict(p.labels).get("variant") == variant)


def _r(x: float, nd: int = 3) -> float | None:
    return round(x, nd) if isinstance(x, int | float) and math.isfinite(x) else None


def collect(spec: Any, summary: dict, points: list, t0_wall: float, t1_wall: float, *,
            price_per_hour: float | None = None, on_wait: Callable[[float], None] | None = None,
            client: Any = None) -> dict:
    """The `sagemaker` summary block (see the module docstring); CloudWatch failures become warnings."""
    from stinger.vendors.sagemaker.endpoint_monitor import (
        INSTANCE_TYPES,
        PRICE_FLAG_SOURCE,
        PRICE_TABLE_NOTE,
        PRICE_TABLE_SOURCE,
        cost_per_million,
        instance_hours,
        scaling_events,
    )
    from stinger.vendors.sagemaker.endpoint_monitor import price_per_hour as price_of

    pinned = sagemaker_variants(spec)
    # the production variant each stinger variant stands for: pinned by TargetVariant, or (split:
    # sagemaker) the one whose invoked-variant header attributed the responses to it
    pv_of: dict[str, str] = {}
    if spec.split == SPLIT:
        pv_of = production_variants(spec)
    for name, c in pinned:
        if c.target_variant:
            pv_of[name] = c.target_variant
    # the production variant each stinger variant measured (pinned), else all the endpoint's
    types = {dict(p.labels)["variant"]: dict(p.labels).get("instance_type")
             for p in points if p.series == "sagemaker.instances"}
    block: dict[str, Any] = {"endpoints": sorted({c.endpoint for _, c in pinned}), "variants": {},
                             "price_note": None,
                             "cloudwatch_complete": True}
    warnings: list[str] = []
    run_s = t1_wall - t0_wall
    # the measured window (after the warm-up): client latency, CloudWatch's means and the cost all describe it
    win = summary.get("window") or {}
    measured = (float(win.get("start_s", 0.0)), float(win.get("end_s", run_s)))
    for endpoint in block["endpoints"]:
        configs = [(name, c) for name, c in pinned if c.endpoint == endpoint]
        production = sorted({pv_of[n] for n, _ in configs if n in pv_of}
                            | ({n for _, c in configs for n in c.variant_names}) | set(types)) or ["AllTraffic"]
        vcpus = {n: INSTANCE_TYPES[t][0] for n in production if (t := types.get(n)) is not None and t in INSTANCE_TYPES}
        named = _settings(spec, endpoint)
        # what stinger sent to each production variant: CloudWatch is complete when it counted as many
        sent: dict[str, float] = {}
        for name, _ in configs:
            r = (summary.get("variants", {}).get(name) or {}).get("requests") or {}
            if name in pv_of:
                sent[pv_of[name]] = sent.get(pv_of[name], 0.0) + \
                    (r.get("ok") or 0) + (r.get("failed") or 0) + (r.get("warmup") or 0)
        read = named is None or named.enabled
        if not read:   # --no-cloudwatch (cloudwatch=off): no read, no wait
            block["cloudwatch"] = "off"
            cw = []
        else:
            monitor = _reader(named, endpoint, production, region=_region(configs[0][1]), vcpus=vcpus,
                              on_wait=on_wait, client=client, control_url=configs[0][1].control_url)
            cw = _read(monitor, endpoint, sent, t0_wall, t1_wall, on_wait, block, warnings) or []
        for name, config in configs:
            pv = pv_of.get(name) or (production[0] if len(production) == 1 else None)
            vs = summary.get("variants", {}).get(name, {})
            lat = vs.get("latency_ms") or {}
            row: dict[str, Any] = {"endpoint": endpoint, "production_variant": pv,
                                   "instance_type": types.get(pv or ""),
                                   "client_latency_ms": {k: lat.get(k) for k in ("mean", "p50", "p95")}}
            if pv is not None and read:
                inv_rows = {p.t: p.value for p in cw if p.series == "cloudwatch.Invocations"
                            and dict(p.labels).get("variant") == pv}
                model = _mean(cw, "cloudwatch.ModelLatency.average", pv, measured, inv_rows)
                overhead = _mean(cw, "cloudwatch.OverheadLatency.average", pv, measured, inv_rows)
                client_mean = lat.get("mean")
                server = model + overhead
                row.update({
                    "model_latency_ms": _r(model), "overhead_latency_ms": _r(overhead),
                    "network_and_client_ms": _r(client_mean - server) if client_mean is not None else None,
                    "invocations": _sum(cw, "cloudwatch.Invocations", pv),
                    "invocation_4xx": _sum(cw, "cloudwatch.Invocation4XXErrors", pv),
                    "invocation_5xx": _sum(cw, "cloudwatch.Invocation5XXErrors", pv),
                    "model_errors": _sum(cw, "cloudwatch.InvocationModelErrors", pv),
                    "cpu_utilization_pct_sum_of_cores": _r(_mean(cw, "cloudwatch.CPUUtilization", pv, measured)),
                    "cpu_utilization_pct_per_core": _r(_mean(cw, "cloudwatch.CPUUtilization.per_core", pv,
                                                             measured)),
                    "memory_utilization_pct": _r(_mean(cw, "cloudwatch.MemoryUtilization", pv, measured)),
                    "cloudwatch_window": _aligned(cw, pv, measured),
                })
                row["counts"] = _counts(row, vs.get("requests") or {}, block["cloudwatch_complete"])
            if pv is not None:
                counts = [p.value for p in points if p.series == "sagemaker.instances"
                          and dict(p.labels).get("variant") == pv and math.isfinite(p.value)]
                row["instance_count"] = {"first": counts[0], "last": counts[-1], "max": max(counts)} if counts else None
                # hours and inferences over one window, the measured one: hours over the whole run divided by
                # the measured window's inferences overstated the cost by duration / (duration - warm-up)
                hours = instance_hours(points, pv, *measured)
                tp = vs.get("throughput") or {}
                ok = round((tp.get("achieved_rps") or 0.0) * (tp.get("window_s") or 0.0))   # OK inside the window
                given = config.price_per_hour if config.price_per_hour is not None else price_per_hour
                price = price_of(row["instance_type"], given)
                row["price_per_hour_usd"] = price
                row["price_source"] = (PRICE_FLAG_SOURCE if given is not None else
                                       PRICE_TABLE_SOURCE if price is not None else None)
                row["instance_hours"] = _r(hours, 6)
                row["inferences"] = ok
                row["cost_window_s"] = [_r(measured[0]), _r(measured[1])]
                row["cost_per_million_usd"] = _r(cost_per_million(price, hours, ok), 2)
            block["variants"][name] = row
    for named in named_monitors(spec, "cloudwatch"):   # endpoints the spec names beside (or instead of) the run's
        if named.endpoint and named.enabled and named.endpoint not in block["endpoints"]:
            block.setdefault("other_endpoints", {})[named.endpoint] = _other(named, t0_wall, t1_wall, on_wait,
                                                                            client, block, warnings)
    sources = {r.get("price_source") for r in block["variants"].values()}
    block["price_note"] = PRICE_TABLE_NOTE if PRICE_TABLE_SOURCE in sources else \
        "--price-per-hour" if PRICE_FLAG_SOURCE in sources else None
    events = scaling_events(points)
    block["scaling_events"] = [{"variant": e.variant, "from": e.before, "to": e.after, "began_s": _r(e.began),
                                "ended_s": _r(e.ended) if e.ended is not None else None} for e in events]
    block["cloudwatch_points"] = len(cw) if block["endpoints"] else 0
    if warnings:
        summary.setdefault("warnings", []).extend(warnings)
    return block


def _reader(named: Any, endpoint: str, variants: list[str], *, region: str | None, vcpus: dict[str, int],
            on_wait: Callable[[float], None] | None, client: Any, control_url: str | None = None) -> Any:
    """The CloudWatch reader for `endpoint`: the spec's settings (`named`, a cloudwatch entry) where it gave
    them, else the environment's wait and poll (STINGER_CLOUDWATCH_WAIT_S, ..._POLL_S) and no extended stats."""
    from stinger.vendors.sagemaker.cloudwatch import CloudWatchMonitor, CloudWatchReading

    wait_s = float(os.environ.get(WAIT_ENV, "180"))
    poll_s = float(os.environ.get(POLL_ENV, "15"))
    if named is None:
        return CloudWatchMonitor(endpoint, variants, region=region, vcpus=vcpus, wait_s=wait_s, poll_s=poll_s,
                                 on_wait=on_wait, client=client, extended=(), endpoint_url=control_url)
    given = named.model_fields_set
    reading = CloudWatchReading(**named.model_dump(exclude={"wait_s", "poll_s", "extended"}),
                                wait_s=named.wait_s if "wait_s" in given else wait_s,
                                poll_s=named.poll_s if "poll_s" in given else poll_s,
                                extended=named.extended if "extended" in given else [])
    return reading.monitor(endpoint, variants, region=region, vcpus=vcpus, on_wait=on_wait, client=client)


def _read(monitor: Any, endpoint: str, sent: dict[str, float], t0_wall: float, t1_wall: float,
          on_wait: Callable[[float], None] | None, block: dict, warnings: list[str]) -> list | None:
    """CloudWatch's points for the run's window, waiting (bounded) until it counted what stinger sent;
    None when it could not be read (a warning says why)."""
    import time

    from stinger.errors import UsageError
    from stinger.monitors.base import MonitorError

    deadline = time.monotonic() + monitor.wait_s
    try:
        cw = monitor.collect(t0_wall, t1_wall)
        while any(_sum(cw, "cloudwatch.Invocations", pv) < n for pv, n in sent.items()):
            left = deadline - time.monotonic()
            if left <= 0:
                monitor.complete = False
                break
            if on_wait is not None:
                on_wait(left)
            time.sleep(min(monitor.poll_s, left))
            cw = monitor.collect(t0_wall, t1_wall, wait=False)
    except (MonitorError, UsageError) as exc:   # no region or extra for a named endpoint: after the load, a warning
        warnings.append(f"CloudWatch for {endpoint!r}: {exc}")
        return None
    if not monitor.complete:
        block["cloudwatch_complete"] = False
        warnings.append(f"CloudWatch had not published the run's last minute for {endpoint!r} "
                        f"after {monitor.wait_s:.0f} s: its figures miss the end of the run")
    return cw


def _other(named: Any, t0_wall: float, t1_wall: float, on_wait: Callable[[float], None] | None, client: Any,
           block: dict, warnings: list[str]) -> dict:
    """An endpoint the spec names (not the run's target): its CloudWatch figures per production variant."""
    from stinger.errors import UsageError
    from stinger.vendors.sagemaker.cloudwatch import make_client
    from stinger.vendors.sagemaker.endpoint_monitor import describe_variants

    region = named.region or _region_env()
    variants = list(named.variants or ())
    if not variants:
        try:
            variants = [v.name for v in describe_variants(make_client("sagemaker", region, None), named.endpoint,
                                                          check_status=False)]
        except UsageError as exc:
            warnings.append(f"CloudWatch for {named.endpoint!r}: {exc}")
            return {}
    monitor = _reader(named, named.endpoint, variants, region=region, vcpus={}, on_wait=on_wait, client=client)
    cw = _read(monitor, named.endpoint, {}, t0_wall, t1_wall, on_wait, block, warnings)
    if cw is None:
        return {}
    rows = {}
    run = (0.0, t1_wall - t0_wall)   # another endpoint's traffic is not ours: its figures over the whole run
    for pv in variants:
        inv_rows = {p.t: p.value for p in cw if p.series == "cloudwatch.Invocations"
                    and dict(p.labels).get("variant") == pv}
        rows[pv] = {"invocations": _sum(cw, "cloudwatch.Invocations", pv),
                    "model_latency_ms": _r(_mean(cw, "cloudwatch.ModelLatency.average", pv, run, inv_rows)),
                    "overhead_latency_ms": _r(_mean(cw, "cloudwatch.OverheadLatency.average", pv, run, inv_rows)),
                    "invocation_4xx": _sum(cw, "cloudwatch.Invocation4XXErrors", pv),
                    "invocation_5xx": _sum(cw, "cloudwatch.Invocation5XXErrors", pv),
                    "model_errors": _sum(cw, "cloudwatch.InvocationModelErrors", pv),
                    "cpu_utilization_pct_sum_of_cores": _r(_mean(cw, "cloudwatch.CPUUtilization", pv, run)),
                    "cloudwatch_window": _aligned(cw, pv, run)}
    return rows


def server_time_readings(block: dict) -> dict:
    """Each variant's CloudWatch ModelLatency + OverheadLatency (the time inside SageMaker; period means
    weighted by invocations, so a mean and a count, no quantiles) as an after-run server-time reading:
    the summary takes it where no header or metrics monitor gave one (`core.server_time.choose`)."""
    from stinger.core.server_time import Origin, ServerTimeReading
    from stinger.core.summary import Hist

    out = {}
    for name, row in (block.get("variants") or {}).items():
        model, overhead, n = row.get("model_latency_ms"), row.get("overhead_latency_ms"), row.get("invocations")
        if model is None or not n:
            continue
        source = (f"CloudWatch ModelLatency + OverheadLatency of production variant "
                  f"{row.get('production_variant')} (means over its periods; no per-request figures)")
        out[name] = ServerTimeReading(Origin.AFTER_RUN, source,
                                      Hist(count=int(n), mean=round(model + (overhead or 0.0), 3)))
    return out


def render(block: dict, console: Any) -> None:
    """The SageMaker table: client latency beside ModelLatency + OverheadLatency, the rest, cost."""
    from rich.table import Table

    def f(x: Any, nd: int = 1) -> str:
        return "—" if x is None else f"{x:,.{nd}f}"

    table = Table(title="SageMaker: client latency = ModelLatency + OverheadLatency (CloudWatch) + network "
                        "and client (means, ms)", title_justify="left")
    for col in ("variant", "instance", "client", "model", "overhead", "net+client", "invocations", "CPU/core %",
                "$/M inf."):
        table.add_column(col, justify="left" if col in ("variant", "instance") else "right")
    for name, row in block["variants"].items():
        count = row.get("instance_count") or {}
        table.add_row(name, f"{row.get('instance_type') or '?'} x{count.get('last', '?'):g}" if count
                      else (row.get("instance_type") or "?"),
                      f(row["client_latency_ms"].get("mean")), f(row.get("model_latency_ms")),
                      f(row.get("overhead_latency_ms")), f(row.get("network_and_client_ms")),
                      f(row.get("invocations"), 0), f(row.get("cpu_utilization_pct_per_core")),
                      f(row.get("cost_per_million_usd"), 2))
    if block["variants"]:
        console.print(table)
    if block.get("cloudwatch") == "off":
        console.print("CloudWatch: not read (--no-cloudwatch)")
    for name, row in block["variants"].items():   # which periods, over which window, and the counts side by side
        cw = row.get("cloudwatch_window") or {}
        if cw:
            console.print(f"CloudWatch {name}: {cw['period_s']:g}-s periods, means over the measured window "
                          f"{cw['means_over_s'][0]:g}-{cw['means_over_s'][1]:g} s (each period weighted by its "
                          f"seconds inside it)", style="dim")
        if cw.get("note"):
            console.print(f"CloudWatch {name}: {cw['note']}", style="yellow")
        if (row.get("counts") or {}).get("note"):
            console.print(f"CloudWatch {name}: {row['counts']['note']}", style="dim")
    for endpoint, rows in (block.get("other_endpoints") or {}).items():
        for pv, row in rows.items():
            console.print(f"CloudWatch {endpoint}/{pv}: {row['invocations']:,.0f} invocations, ModelLatency "
                          f"{f(row['model_latency_ms'])} ms, OverheadLatency {f(row['overhead_latency_ms'])} ms")
    for name, row in block["variants"].items():
        if row.get("price_source"):
            console.print(f"cost: {name} at ${row['price_per_hour_usd']:,.3f} per instance-hour, "
                          f"from {row['price_source']}")
        elif row.get("production_variant") is not None:
            console.print(f"cost: {name}: no price for {row.get('instance_type') or 'its instance type'} "
                          f"(give --price-per-hour)")
    for e in block.get("scaling_events", []):
        console.print(f"scaling: {e['variant']} {e['from']} -> {e['to']} instances from {e['began_s']} s"
                      + (f" to {e['ended_s']} s" if e["ended_s"] is not None else " (not done by the end)"))
