"""From a validated spec to a checked `RunPlan`, and from that to one `WorkerPlan` per worker process.

`plan_run` is THE spec-to-plan mapping of a command: what the user named is opened and checked once
(`preflight`: the dataset and its order, the response checks and prediction path, the targets' own
preflights, a trace, the SLOs), and the result is a `RunPlan` holding the validated `Spec` itself - no
dict of it travels beside it. A capacity search makes each step's plan with `RunPlan.for_step` (a
`model_copy` of the load, nothing parsed or opened again).

Owns the decisions that turn what the user asked for into what each worker
does: how many workers, the arrival profile or user profile, each worker's
share of the in-flight bound and of a closed-model request count. Workers still
build their own live objects from a `WorkerPlan` (sockets and mmaps do not travel).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from typing import Any

from stinger.core.goodput import parse_objectives as goodput_objectives
from stinger.core.records import UNATTRIBUTED
from stinger.engine.plan import ATTRIBUTED, ArrivalPlan, CheckPlan, PayloadPlan, UsersPlan, VariantPlan, WorkerPlan
from stinger.errors import SpecError
from stinger.spec import LoadSpec, Spec
from stinger.spec.model import MAX_WORKERS, warmup_problem
from stinger.targets.base import TargetConfig


def default_workers(spec: Spec, cores: int | None = None) -> int:
    """'auto': one worker per core, but only as many as the load needs.

    A Python worker drives tens of thousands of requests per second; splitting
    a light load across processes only adds start-up time and context switches.
    A loopback target shares the machine's cores with the generator, so it
    gets at most half of them. `cores`: the CPUs a cluster backend has free for
    workers (None: this machine's).
    """
    cores = cores or os.cpu_count() or 1
    load = spec.load
    rate = peak_rate(load)
    want = 1 if rate is None else math.ceil(rate / 20_000)
    if load.resolved_mode() == "closed":
        users = load.users
        if users is None and load.shape is not None and load.shape.steps:
            users = max(s.users or 0 for s in load.shape.steps)
        want = math.ceil((users or 1) / 2_000)
    loopback = all(e.is_loopback for v in spec.all_variants() for e in _target(v).endpoints())
    limit = max(1, cores // 2) if loopback else cores
    return max(1, min(want, limit))


def peak_users(load: LoadSpec) -> int | None:
    """The most users the closed model runs at once (from --users or a users shape)."""
    shape = load.shape
    if shape is not None and shape.steps:
        return max((s.users or 0) for s in shape.steps)
    if shape is not None and shape.ramp is not None:
        return int(max(shape.ramp.start, shape.ramp.end))
    return load.users


def peak_rate(load: LoadSpec) -> float | None:
    if load.rate is not None:
        return load.rate
    shape = load.shape
    if shape is None:
        return None
    if shape.ramp is not None:
        return max(shape.ramp.start, shape.ramp.end)
    if shape.steps:
        return max((s.rate or 0.0) for s in shape.steps)
    if shape.spike is not None:
        return max(shape.spike.baseline, shape.spike.height)
    if shape.profile:
        return max(r for _, r in shape.profile)
    return None


def rate_profile(load: LoadSpec, payload=None):
    """The open-model rate profile and optional trace for the spec's load (`payload`: for a capture replay)."""
    from stinger.core import schedule as sch

    shape = load.shape
    trace = None
    if shape is None:
        assert load.rate is not None   # the spec's rule: the open model has a rate or a shape
        profile = sch.constant(load.rate, load.duration)
    elif shape.ramp is not None:
        r = shape.ramp
        profile = sch.ramp(r.start, r.end, r.over, hold=r.hold)
    elif shape.steps is not None:
        if any(s.rate is None for s in shape.steps):
            raise SpecError("load.shape.steps: every step needs a rate in the open model (users in the closed model)")
        profile = sch.steps([(s.rate, s.duration) for s in shape.steps if s.rate is not None])
    elif shape.spike is not None:
        s = shape.spike
        total = load.duration or (s.at + s.length) * 2
        profile = sch.spike(s.baseline, s.height, at=s.at, length=s.length, duration=total)
    elif shape.profile is not None:
        profile = sch.piecewise(shape.profile, interpolate=True)
    else:
        from stinger.orchestrate.replay import trace_offsets

        trace = trace_offsets(load, payload)
        profile = None
    return profile, trace


def users_profile(load: LoadSpec):
    from stinger.core import schedule as sch

    shape = load.shape
    if shape is not None and shape.steps is not None:
        if any(s.users is None for s in shape.steps):
            raise SpecError("load.shape.steps: every step needs users in the closed model")
        return sch.users_steps([(s.users, s.duration) for s in shape.steps if s.users is not None])
    if shape is not None and shape.ramp is not None:
        r = shape.ramp
        return sch.users_ramp(int(r.start), int(r.end), r.over, hold=r.hold)
    assert load.users is not None   # the spec's rule: the closed model has users or user steps
    return sch.users_constant(load.users, load.duration)


def run_duration(spec: Spec, profile=None, users=None) -> float | None:
    if spec.load.duration is not None:
        return spec.load.duration
    for p in (profile, users):
        if p is not None and getattr(p, "duration", None):
            return p.duration
    return None


def variant_plans(spec: Spec) -> tuple[VariantPlan, ...]:
    """Each variant with its whole target config; its endpoints are parsed here once, so
    a malformed URL is a one-line TargetError before any worker starts.

    A split the endpoint makes (an `EndpointSplit` side's mode, targets/abilities.py): every
    variant holds the one shared target the side makes (`for_attribution`: it learns the variants'
    names, in plan order, so it can attribute responses); a last variant, `unattributed`, is where
    every request is sent from and where those no response named a variant stay."""
    from stinger.targets.abilities import endpoint_split

    side = endpoint_split(spec.split)
    if side is not None and len(spec.all_variants()) > 1:
        variants = spec.all_variants()
        shared = side.for_attribution(variants[0].target, tuple(v.name for v in variants))
        shared.endpoints()
        return (*(VariantPlan(name=v.name, target=shared, weight=v.weight) for v in variants),
                VariantPlan(name=UNATTRIBUTED, target=shared, weight=0.0))
    out = []
    for v in spec.all_variants():
        _target(v).endpoints()
        out.append(VariantPlan(name=v.name, target=v.target, weight=v.weight))
    return tuple(out)


def plan_split(spec: Spec, variants: int) -> str:
    """The workers' split: single for one variant; ATTRIBUTED for a split the endpoint makes (never one
    variant: its variants and `unattributed`); else the spec's own (split, paired)."""
    from stinger.targets.abilities import endpoint_split

    if variants == 1:
        return "single"
    return ATTRIBUTED if endpoint_split(spec.split) is not None else spec.split


def _correlation(spec: Spec, variants: tuple[VariantPlan, ...]) -> dict[str, Any]:
    """The worker plan's request-ID fields (core/correlation.py): per variant, the spec's `correlation.ids`
    when given, else its target's default (`TargetConfig.request_ids`: on for LLM apis, off for plain HTTP)."""
    c = spec.correlation
    ours = {c.header.lower(), "traceparent"} - {""}
    # a variant whose own headers already name the ID header or a traceparent sends the user's, never two
    on = tuple((bool(c.ids) if c.ids is not None else bool(getattr(v.target, "request_ids", False)))
               and not ours & {k.lower() for k in (getattr(v.target, "headers", None) or {})}
               for v in variants)
    return {"request_ids": on, "request_id_header": c.header or None, "traceparent": c.traceparent}


def _target(variant: Any) -> TargetConfig:
    """A variant's target config (the spec's `AnyTarget` union, built at import time, is opaque to mypy)."""
    target: TargetConfig = variant.target
    return target


def build_plans(spec: Spec, workers: int | None = None, cores: int | None = None,
                payload: PayloadPlan | None = None) -> list[WorkerPlan]:
    """`cores`: for `workers: auto`, the CPUs the backend has for workers (None: this machine's);
    `payload`: in place of the spec's (a request hook's derived dataset, `RunPlan.payload`)."""
    load = spec.load
    mode = load.resolved_mode()
    n = workers or (default_workers(spec, cores) if load.workers == "auto" else int(load.workers))
    origins = spec.scale.worker_origins() if spec.scale is not None else []
    if origins:   # the origins' workers are the run's (spec/origins.py)
        n = len(origins)
    n = max(1, min(n, load.max_in_flight))  # every worker needs at least one request in flight
    n = min(n, MAX_WORKERS)  # past the spec's hard limit whatever the caller asks (preflight.check_ceilings: --yes)
    variants = variant_plans(spec)
    p = spec.payload
    payload = payload or PayloadPlan(path=p.data, format=p.format, label_field=p.label_field, body_field=p.body_field,
                          csv_header=p.csv_header, content_type=p.content_type, order=p.order,
                          weights=tuple(p.weights) if p.weights else None,
                          inline=p.body.encode() if p.body is not None else None, synthetic=p.synthetic(),
                          sessions=p.sessions, think_time=load.think_time)
    check = None
    if spec.check is not None:
        c = spec.check
        check = CheckPlan(status=c.status, json_path=c.json_path, equals=c.equals, regex=c.regex)
    st = spec.server_time
    open_plan = closed_plan = None
    profile = users = None
    if mode == "open":
        profile, trace = rate_profile(load, spec.payload)
        open_plan = ArrivalPlan(profile=profile, arrival=load.arrival, trace=trace)
    else:
        users = users_profile(load)
        closed_plan = UsersPlan(profile=users, think_time=load.think_time)
        if origins and users.peak < n:   # each origin's workers are placed: none may be left without a user
            raise SpecError(f"the origins' workers add up to {n}, but the closed model runs at most {users.peak} "
                            f"users; expected at least one user a worker (--users {n} or more), or fewer workers")
        n = max(1, min(n, users.peak))  # a worker with no user would never finish
    duration = run_duration(spec, profile, users)
    if duration is not None and load.warmup >= duration:   # a shape's length (load.duration is checked in the spec)
        raise SpecError(warmup_problem(load.warmup, duration, "the load shape's length"))
    base = WorkerPlan(
        worker=0, workers=n, variants=variants,
        split=plan_split(spec, len(variants)),
        pairing=spec.pairing,
        open=open_plan, closed=closed_plan, duration=duration,
        max_requests=load.requests, warmup=load.warmup, timeout=load.timeout,
        connect_timeout=load.connect_timeout, max_in_flight=load.max_in_flight // n,
        on_limit=load.on_limit, drain=load.drain, max_body=load.max_body, max_header=load.max_header, payload=payload, check=check,
        server_time_header=st.header if st else None, server_time_metric=st.metric if st else None,
        server_time_unit=st.unit if st else "ms", prediction_path=spec.prediction,
        served_by_header=spec.served_by.header if spec.served_by is not None else None,
        response_hook=spec.hooks.response if spec.hooks is not None else None,
        verify_tls=not any(getattr(v.target, "insecure", False) for v in spec.all_variants()), seed=load.seed,
        goodput=goodput_objectives(spec.goodput),
        **_correlation(spec, variants),
    )
    plans = []
    for w in range(n):
        mr = base.max_requests
        if mode == "closed" and mr is not None:
            mr = len(range(w, mr, n))  # this worker's share of a closed-model request count
        # the in-flight bound is split exactly: the shares add up to the user's bound
        share = load.max_in_flight // n + (1 if w < load.max_in_flight % n else 0)
        o = origins[w] if w < len(origins) else None
        plans.append(replace(base, worker=w, max_requests=mr, max_in_flight=share,
                             origin=o.name if o else None, source_address=o.source_address if o else None))
    return plans


@dataclass(frozen=True)
class RunPlan:
    """A spec checked for one command: the validated `Spec` and its parsed SLOs.

    Made by `plan_run` (which opens and checks what the user named, once); `run_spec` takes it as it
    is, and `workers` builds the worker plans when the backend says how many CPUs it has."""

    spec: Spec
    slos: tuple[Any, ...] = ()
    payload: PayloadPlan | None = None         # the request hook's derived dataset (else the spec's payload)
    hooks: tuple[tuple[str, Any], ...] = ()    # what the hooks cost, for summary.json's `hooks`

    def for_step(self, load: LoadSpec) -> RunPlan:
        """A capacity step: the same checked spec at another load (`model_copy`: nothing is parsed,
        opened or compiled again) and no SLOs of its own (the search judges each step). The per-machine
        ceilings are checked for the step's load, which only the step knows."""
        from stinger.orchestrate.preflight import check_ceilings

        spec = self.spec.model_copy(update={"load": load, "slo": []})
        check_ceilings(spec)
        return replace(self, spec=spec, slos=())

    def check_backend(self, traits: Any) -> None:
        """What this plan asks of the backend's workers, before any run directory: a request hook's
        derived dataset is a file on this machine."""
        if self.payload is not None and not traits.shared_filesystem:
            from stinger.errors import UsageError

            raise UsageError(f"hooks.request works with the local backend: {self.spec.load.backend} workers may "
                             "run on other machines, which cannot read the requests it built here")

    def workers(self, workers: int | None = None, cores: int | None = None) -> list[WorkerPlan]:
        return build_plans(self.spec, workers=workers, cores=cores, payload=self.payload)


def plan_run(spec: Spec, *, check: bool = True) -> RunPlan:
    """The spec-to-plan mapping: with `check`, everything the user named is opened and checked now,
    so a mistake is one line before any load (orchestrate/preflight.py)."""
    if not check:
        from stinger.core.slo import parse_slo

        return RunPlan(spec=spec, slos=tuple(parse_slo(s) for s in spec.slo))
    from stinger.orchestrate.preflight import preflight_opened

    slos, dataset = preflight_opened(spec)
    payload, hooks = _hooks(spec, dataset)
    return RunPlan(spec=spec, slos=tuple(slos), payload=payload, hooks=hooks)


def _hooks(spec: Spec, dataset: Any) -> tuple[PayloadPlan | None, tuple[tuple[str, Any], ...]]:
    """The user's hooks imported now (a bad path is one line, exit 2); the request hook applied to
    every payload once, into a scratch dataset the workers read (datasets/derived.py)."""
    h = spec.hooks
    if h is None or (h.request is None and h.response is None):
        return None, ()
    from stinger.core.hooks import load_hook
    from stinger.errors import UsageError

    try:
        fns = {kind: load_hook(ref, kind) for kind, ref in (("request", h.request), ("response", h.response)) if ref}
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    info: list[tuple[str, Any]] = [(kind, ref) for kind, ref in (("request", h.request), ("response", h.response))
                                   if ref]
    if "request" not in fns:
        return None, tuple(info)
    import atexit
    import shutil
    import tempfile
    from pathlib import Path

    from stinger.datasets.derived import FORMAT, derive

    scratch = tempfile.mkdtemp(prefix="stinger-hook-")
    atexit.register(shutil.rmtree, scratch, True)   # the workers read it during the run(s) of this command
    p = spec.payload
    made = derive(dataset, p.body.encode() if p.body is not None else None,
                  p.content_type or (dataset.content_type if dataset is not None else None), fns["request"],
                  Path(scratch))
    info += [("payloads", made.payloads), ("request_s_per_payload", made.seconds / max(made.payloads, 1))]
    payload = PayloadPlan(path=made.path, format=FORMAT, content_type=p.content_type, order=p.order,
                          weights=tuple(p.weights) if p.weights else None)
    return payload, tuple(info)
