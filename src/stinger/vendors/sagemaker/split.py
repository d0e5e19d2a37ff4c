"""`split: sagemaker`: what a run whose endpoint split the traffic itself adds to its summary and verdict.

In this mode (`stinger ab --sagemaker EP --split sagemaker`, or `split: sagemaker`
in a spec whose variants share one unpinned sagemaker target) stinger sends one
stream to the endpoint, SageMaker routes each request by its production
variants' weights, and each response is attributed to the variant its
`x-Amzn-Invoked-Production-Variant` header names (`engine/attribution.py` keeps
the per-variant accounting exact; requests that ended without the header stay
in the `unattributed` row). This module owns the `attribution` block of
summary.json - per variant the production variant, the requests attributed,
their share, and the weights DescribeEndpoint gave (CurrentWeight and
DesiredWeight, polled during the run) - and the verdict's notes saying so.
"""

from __future__ import annotations

import math
from typing import Any

from stinger.core.records import UNATTRIBUTED

SPLIT = "sagemaker"    # the spec's `split:` value this vendor adds
HEADER = "x-Amzn-Invoked-Production-Variant"


def production_variants(run: Any) -> dict[str, str]:
    """`split: sagemaker`: stinger variant name -> the production variant it stands for (the shared
    target's `variant_names` when it lists them, else the variants' own names)."""
    variants = run.all_variants()
    names = getattr(variants[0].target, "variant_names", ()) or tuple(v.name for v in variants)
    return {v.name: pv for v, pv in zip(variants, names, strict=True)}


def split_problem(run: Any) -> str | None:
    """Why `split: sagemaker` cannot apply to these variants (None: it can). SageMaker splits one
    stream by its own weights, so every variant must send to one unpinned sagemaker target."""
    variants = run.all_variants()
    if len(variants) < 2:
        return ("needs variants (one per production variant) sharing one sagemaker target, "
                "or stinger ab --sagemaker ENDPOINT --split sagemaker")
    targets = [v.target for v in variants]
    if any(t.via != "sagemaker" for t in targets):
        return "needs every variant's target to be type: sagemaker (SageMaker's own weights split the traffic)"
    if any(t.target_variant for t in targets):
        return ("needs unpinned targets: remove target_variant (SageMaker picks the variant and names it "
                "in x-Amzn-Invoked-Production-Variant)")
    shared = {t.model_copy(update={"variant_names": ()}) for t in targets}
    if len(shared) != 1:
        return "needs every variant to share one target (the same endpoint, region and settings)"
    names = targets[0].variant_names
    if names and len(names) != len(targets):
        return (f"target.variant_names lists {len(names)} production variants for {len(targets)} variants; "
                f"give one per variant, in order")
    if UNATTRIBUTED in [v.name for v in variants]:
        return f"keeps the name {UNATTRIBUTED!r} for requests no response attributed; rename that variant"
    return None


def _last_weights(points: list, series: str) -> dict[str, float]:
    """The last finite value of `series` per production variant (the EndpointMonitor's polls)."""
    out: dict[str, tuple[float, float]] = {}
    for p in points:
        if p.series == series and math.isfinite(p.value):
            pv = dict(p.labels).get("variant", "")
            if pv not in out or p.t >= out[pv][0]:
                out[pv] = (p.t, p.value)
    return {pv: v for pv, (_, v) in out.items()}


def _share(x: float | None, total: float) -> float | None:
    return round(x / total, 4) if x is not None and total > 0 else None


def attribution_block(run: Any, variants: dict, points: list) -> dict:
    """summary["attribution"]: the achieved split beside SageMaker's weights (null where unknown)."""
    pv_of = production_variants(run)
    current = _last_weights(points, "sagemaker.weight")
    desired = _last_weights(points, "sagemaker.desired_weight")
    counts = {name: (variants.get(name) or {}).get("requests", {}).get("scheduled", 0) for name in pv_of}
    attributed = sum(counts.values())
    total_w = sum(current.get(pv, 0.0) for pv in pv_of.values())
    total_dw = sum(desired.get(pv, 0.0) for pv in pv_of.values())
    rows = {}
    for name, pv in pv_of.items():
        rows[name] = {
            "production_variant": pv,
            "requests": counts[name],
            "share": _share(counts[name], attributed),
            "current_weight": current.get(pv),
            "weight_share": _share(current.get(pv), total_w),
            "desired_weight": desired.get(pv),
            "desired_weight_share": _share(desired.get(pv), total_dw),
        }
    un = (variants.get(UNATTRIBUTED) or {}).get("requests", {})
    return {
        "header": HEADER,
        "variants": rows,
        "attributed": attributed,
        "unattributed": {k: un.get(k, 0) for k in ("scheduled", "failed", "dropped", "in_flight", "unaccounted")},
    }


def verdict_notes(block: dict) -> list[str]:
    """What the verdict must say of a split SageMaker made: its weights beside the achieved shares,
    and the requests that belong to no variant."""
    rows = block["variants"]

    def pct(x: float | None) -> str:
        return "?" if x is None else f"{100 * x:.1f} %"

    achieved = ", ".join(f"{name} {pct(r['share'])} ({r['requests']:,})" for name, r in rows.items())
    if all(r["current_weight"] is not None for r in rows.values()):
        weights = ", ".join(f"{r['production_variant']} {r['current_weight']:g} ({pct(r['weight_share'])})"
                            for r in rows.values())
        said = f"by its own weights (DescribeEndpoint CurrentWeight: {weights})"
    else:
        said = "by its own weights (not read: no control plane to ask DescribeEndpoint)"
    notes = [f"SageMaker split the traffic {said}; achieved {achieved}, each response attributed from "
             f"its {block['header']} header"]
    un = block["unattributed"]
    lost = un["scheduled"]
    if lost:
        notes.append(f"{lost:,} requests got no invoked-variant header naming a variant of the run "
                     f"({un['failed']:,} failed before or without one, {un['dropped']:,} dropped, "
                     f"{un['in_flight']:,} in flight at the stop): they are in no variant's figures, only in "
                     f"the '{UNATTRIBUTED}' row and the run's overall")
    return notes
