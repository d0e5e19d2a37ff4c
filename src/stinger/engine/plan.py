"""What one worker process is asked to do: a plain, picklable description.

The coordinator builds a `WorkerPlan` per worker from the validated spec; the
worker builds live objects (targets, datasets, checks, schedules, pools) from it inside
its own process, because mmaps, compiled paths and sockets do not travel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stinger.targets.base import TargetConfig


@dataclass(frozen=True, slots=True)
class VariantPlan:
    """One variant: its name, traffic weight, and the validated config of its target
    (picklable; the worker builds the live target from it)."""

    name: str
    target: TargetConfig
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class PayloadPlan:
    """Where request bodies come from: a dataset file, an inline body, or nothing."""

    path: str | None = None
    format: str | None = None
    label_field: str | int | None = None
    body_field: str | None = None
    csv_header: bool | None = None
    content_type: str | None = None
    order: str = "sequential"
    weights: tuple[float, ...] | None = None
    inline: bytes | None = None
    synthetic: tuple[str, str | None, int, bool] | None = None   # (isl, osl, prompts, ignore_eos)
    sessions: str | None = None     # a conversations file: multi-turn sessions (engine/sessions.py)
    think_time: float = 0.0         # sessions: between an answer and the next turn, unless a turn sets its own


@dataclass(frozen=True, slots=True)
class CheckPlan:
    status: Any = None
    json_path: str | None = None
    equals: Any = None
    regex: str | None = None


@dataclass(frozen=True, slots=True)
class ArrivalPlan:
    """Open-model arrivals: a rate profile (built by `stinger.core.schedule`) or a trace."""

    profile: Any = None             # a RateProfile
    arrival: str = "constant"       # constant | poisson
    trace: Any = None               # np.ndarray of offsets, or None


@dataclass(frozen=True, slots=True)
class UsersPlan:
    """Closed-model users: a UsersProfile and a think time between a response and the next request."""

    profile: Any = None
    think_time: float = 0.0


# `WorkerPlan.split` of a run whose endpoint picks each request's variant (an `EndpointSplit`
# ability's split mode, targets/abilities.py): one stream, each response attributed to the variant
# the endpoint names (engine/attribution.py)
ATTRIBUTED = "attributed"


@dataclass(frozen=True, slots=True)
class WorkerPlan:
    worker: int
    workers: int
    variants: tuple[VariantPlan, ...]
    # single | split | paired | ATTRIBUTED (one stream to one endpoint that splits by its own weights:
    # every request is sent on the last variant, `unattributed`, and each response moves to the
    # variant its target names; see engine/attribution.py for what that does to the counters)
    split: str = "single"
    pairing: str = "independent"    # paired: independent | simultaneous instants (engine/slots.py)
    open: ArrivalPlan | None = None
    closed: UsersPlan | None = None
    duration: float | None = None
    max_requests: int | None = None
    warmup: float = 0.0
    timeout: float = 30.0
    connect_timeout: float = 10.0
    max_in_flight: int = 10_000     # this worker's share
    on_limit: str = "queue"         # queue | drop
    drain: float = 5.0              # how long to wait for in-flight requests after the schedule ends
    max_body: int = 16 * 1024 * 1024  # bytes: a kept response body past this is `body_too_large`
    max_header: int = 64 * 1024       # bytes: a response head past this is `header_too_large`
    payload: PayloadPlan = field(default_factory=PayloadPlan)
    check: CheckPlan | None = None
    server_time_header: str | None = "server-timing"
    server_time_metric: str | None = None
    server_time_unit: str = "ms"
    served_by_header: str | None = None   # per-backend rows by this response header (core/breakdown.py)
    prediction_path: str | None = None
    verify_tls: bool = True
    interval: float = 1.0
    seed: int = 0
    requests_path: str | None = None   # --save-requests: this worker's part of the rows (rows/spill.py)
    rows: tuple[str, ...] = ()         # the row sinks (rows/base.py) whose worker halves this worker runs
    response_hook: str | None = None   # "module:function" reading every OK answer at flush time (targets/hooks.py)
    goodput: tuple = ()                # core/goodput.Objective: each request judged on them at flush time
    origin: str | None = None          # the origin this worker belongs to (spec/origins.py): its records' rows
    source_address: str | None = None  # the local address its connections leave from (None: the system's pick)
    # request IDs (core/correlation.py): per variant, whether its requests carry them; the header's
    # name (None: no X-Request-Id) and whether a W3C traceparent goes with it
    request_ids: tuple[bool, ...] = ()
    request_id_header: str | None = "X-Request-Id"
    traceparent: bool = True
