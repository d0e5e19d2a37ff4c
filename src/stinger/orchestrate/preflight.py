"""Before any load: what the user named is opened and checked here, so a mistake is one line (exit 2).

The dataset is opened and its payload order built, response checks and the prediction path
compiled, each target kind with the `Preflight` ability checks its endpoint, a trace is read, and
the per-machine safety ceilings (rate, users, workers) and the open-file limit are enforced.
`orchestrate.run` calls these before it builds the worker plans.
"""

from __future__ import annotations

from typing import Any

from stinger.spec import Spec

# Safety ceilings per machine: past these a run needs confirmation (--yes, load.confirm).
# One Python worker drives ~20,000 req/s; a rate far past what the machine can generate
# measures the generator, not the endpoint, and blames the endpoint for it.
SAFE_RATE = 100_000.0        # requests per second
SAFE_USERS = 10_000          # concurrent users (one connection, one file descriptor each)
WORKERS_PER_CORE = 4         # worker processes per core
FD_RESERVE = 64              # file descriptors a worker needs besides its connections


def preflight(spec: Spec) -> list:
    """Open what the user named, so their mistakes surface now (exit 2), not in a worker; the SLOs."""
    return preflight_opened(spec)[0]


def preflight_opened(spec: Spec) -> tuple[list, Any]:
    """`preflight`, and the dataset it opened (None without one), for a request hook to read once."""
    from stinger.core.slo import parse_slo
    from stinger.orchestrate.abilities import preflight as preflight_sides

    check_ceilings(spec)
    p = spec.payload
    from stinger.datasets import PayloadOrder

    records = 1   # without a dataset, the one body (or none) - as a worker's slots count it
    ds = None
    if p.data:
        from stinger.datasets import open_dataset
        from stinger.errors import DatasetError
        from stinger.spec.loading import check_regular_file

        # a FIFO would block the run and /dev/zero never ends: refused before anything reads them
        check_regular_file(p.data, "dataset", DatasetError, allow_dir=True)

        ds = open_dataset(p.data, format=p.format, label_field=p.label_field, body_field=p.body_field,
                          csv_header=p.csv_header, content_type=p.content_type)
        records = len(ds)
    elif p.isl is not None:
        records = p.prompts
    elif p.sessions is not None:
        records = _check_sessions(spec)
    # the order a worker builds, built here first: its mistakes are the user's (exit 2), not a worker's
    PayloadOrder(records, p.order, seed=spec.load.seed, weights=p.weights)
    if spec.check is not None:
        from stinger.core.checks import ResponseCheck

        c = spec.check
        ResponseCheck(status=c.status, json_path=c.json_path, equals=c.equals, regex=c.regex)
    if spec.prediction:
        from stinger.core.checks import compile_json_path

        compile_json_path(spec.prediction)
    preflight_sides(spec)   # each target kind's own check of its endpoint (targets/abilities.py)
    if spec.load.shape is not None and spec.load.shape.trace:
        from stinger.orchestrate.replay import CAPTURE, trace_offsets

        if spec.load.shape.trace != CAPTURE:
            from stinger.errors import SpecError
            from stinger.spec.loading import check_regular_file

            check_regular_file(spec.load.shape.trace, "trace", SpecError)
        trace_offsets(spec.load, spec.payload)   # a bad trace or capture: one line, before any load
    slos = [parse_slo(s) for s in spec.slo]
    check_goodput_slos(slos, spec)
    check_goodput_metrics(spec)
    return slos, ds


_STREAMED = ("ttft", "ttfo", "tpot")   # an LLM api reads these only from a streamed answer (targets/sse.py)


def _kind_named(api: str, carrier: str) -> str:
    """A target as the command line names it: `--url (plain over http)`, `--openai (openai over http)`."""
    from stinger.targets.abilities import coordinator_side

    alias = getattr(coordinator_side(api), "alias", None) or getattr(coordinator_side(carrier), "alias", None)
    return f"{alias} ({api} over {carrier})" if alias else f"{api} over {carrier}"


def check_goodput_metrics(spec: Spec) -> None:
    """An objective on a metric read from answers (`ttft`) that a variant's target never reads would hold
    for none of its requests: 0 % goodput that says nothing about the endpoint. Refused before any load,
    naming the metric and the target kind (the targets declare their metrics: `metrics` on an api or carrier)."""
    if not spec.goodput:
        return
    from stinger.core.catalogue import BY_NAME
    from stinger.core.goodput import parse_objective
    from stinger.errors import UsageError
    from stinger.targets.base import api_class, carrier_class, registry

    def declared(seam: str, name: str) -> tuple[str, ...]:
        load = api_class if seam == "apis" else carrier_class
        return tuple(getattr(load(name), "metrics", ())) if name in registry(seam) else ()

    for text in spec.goodput:
        obj = parse_objective(text)
        if BY_NAME[obj.metric].source != "target":
            continue
        for v in spec.all_variants():
            t = v.target
            who = f"variant {v.name!r}'s target" if spec.variants else "the target"
            if obj.metric in declared("apis", t.type) + declared("carriers", t.via):
                if getattr(t, "stream", True) is False and obj.metric in _STREAMED:
                    raise UsageError(f"goodput objective {obj.text!r}: {obj.metric} is timed from a streamed answer, "
                                     f"but {who} has stream: false; expected stream: true with it")
                continue
            makers = [n for seam in ("apis", "carriers") for n in registry(seam) if obj.metric in declared(seam, n)]
            raise UsageError(f"goodput objective {obj.text!r}: {who}, {_kind_named(t.type, t.via)}, does not "
                             f"produce {obj.metric}; expected a target that does ({', '.join(makers) or 'none'}) "
                             f"or an objective on latency, service or ttfb")


def check_goodput_slos(slos: list, spec: Spec) -> None:
    """A goodput SLO judges the share of requests meeting the run's per-request objectives: without any
    it can only fail ("n/a"), and a capacity search would find nothing, so say so before any load
    (run, ab and capacity: one rule)."""
    from stinger.errors import UsageError

    if any(s.metric == "goodput" for s in slos) and not spec.goodput:
        text = next(s.text for s in slos if s.metric == "goodput")
        raise UsageError(f"the SLO {text!r} bounds goodput, but no goodput objective was given; expected "
                         f"--goodput 'ttft<200ms' (or spec goodput: [...]) beside it")


def _check_sessions(spec: Spec) -> int:
    """Multi-turn sessions: the conversations read (a mistake in them is the user's: one line, exit 2) and
    every variant's api able to read an answer's text for the next turn's history; their count."""
    from stinger.datasets.conversations import Conversations
    from stinger.errors import DatasetError, SpecError
    from stinger.scale.base import backend_traits
    from stinger.spec.loading import check_regular_file
    from stinger.targets.base import api_class

    path = spec.payload.sessions
    assert path is not None
    check_regular_file(path, "sessions", DatasetError)
    if not backend_traits(spec.load.backend).shared_filesystem:   # each worker opens the file itself
        raise SpecError(f"payload.sessions (--sessions): the {spec.load.backend} backend's workers do not share "
                        f"this machine's files; expected --backend local (load.backend: local) with sessions")
    from stinger.targets.base import registry

    chats = [_kind_named(n, "http").split(" (")[0] for n in registry("apis") if hasattr(api_class(n), "answer_text")]
    for v in spec.all_variants():
        t = v.target
        chat = getattr(t, "is_chat", lambda: True)()
        if not hasattr(api_class(t.type), "answer_text") or not chat:
            who = f"variant {v.name!r} is " if spec.variants else ""
            raise SpecError(f"--sessions (payload.sessions) needs an LLM chat api whose answers join the history "
                            f"({' or '.join(chats)}); {who}not {_kind_named(t.type, t.via)}"
                            f"{'' if chat else ', completions'}")
    return len(Conversations(path))


def check_ceilings(spec: Spec) -> None:
    """The per-machine safety ceilings (rate, users, workers); past one, a one-line error naming
    the ceiling and `--yes`, unless the user confirmed."""
    import os

    from stinger.errors import UsageError
    from stinger.orchestrate.planning import peak_rate, peak_users

    load = spec.load
    from stinger.scale.base import backend_traits, backends

    known = backends()
    if load.backend not in known:
        raise UsageError(f"load.backend: unknown worker backend {load.backend!r}; expected one of "
                         f"{', '.join(sorted(known))}")
    if load.confirm:
        return
    cores = os.cpu_count() or 1
    rate = peak_rate(load) if load.resolved_mode() == "open" else None
    if rate is not None and rate > SAFE_RATE:
        raise UsageError(f"a rate of {rate:,.0f} req/s is past the safety ceiling of {SAFE_RATE:,.0f} req/s per "
                         f"machine (one worker drives about 20,000 req/s); confirm with --yes (load.confirm: true)")
    users = peak_users(load) if load.resolved_mode() == "closed" else None
    if users is not None and users > SAFE_USERS:
        raise UsageError(f"{users:,} users is past the safety ceiling of {SAFE_USERS:,} users per machine; "
                         f"confirm with --yes (load.confirm: true)")
    # the per-core ceiling is this machine's: a cluster backend has the cluster's CPUs. With origins,
    # load.workers is `auto` and the origins' workers are the run's (spec/origins.py): their sum counts
    origins = spec.scale.origins if spec.scale is not None else []
    workers = int(load.workers) if load.workers != "auto" else (sum(o.workers for o in origins) or None)
    if backend_traits(load.backend).local_cpu_ceiling and workers is not None and workers > cores * WORKERS_PER_CORE:
        given = "--workers" if load.workers != "auto" else "the origins (--origin)"
        raise UsageError(f"{workers} workers ({given}) is past the safety ceiling of {cores * WORKERS_PER_CORE} "
                         f"({WORKERS_PER_CORE} per core, {cores} cores); confirm with --yes (load.confirm: true)")


def ensure_fd_limit(plans: list) -> None:
    """Each worker holds a connection (a file descriptor) per user (closed model) or per request
    in flight (open model). Raise the soft limit toward the hard one as far as needed (forked
    workers inherit it); a closed-model run that still cannot fit is a one-line error now, not
    a run that sends nothing."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return
    from stinger.errors import UsageError

    plan = plans[0]
    if plan.closed is not None:
        need = -(-plan.closed.profile.peak // len(plans)) + FD_RESERVE
    else:
        need = max(p.max_in_flight for p in plans) + FD_RESERVE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or need <= soft:
        return
    target = need if hard == resource.RLIM_INFINITY else min(need, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        target = soft
    if plan.closed is not None and target < need:
        raise UsageError(f"{plan.closed.profile.peak:,} users over {len(plans)} worker(s) need about {need:,} open "
                         f"files per worker, but the limit is {target:,} (hard limit {hard:,}); raise it "
                         f"(ulimit -n {need}) or use fewer users or more workers (--workers)")
