"""Origins on Ray (spec/origins.py): an origin's workers on the nodes labelled `origin=NAME`.

Nodes carry labels from their start (`ray start --labels origin=east`, a KubeRay group's `rayStartParams`,
`ray.cluster_utils.Cluster.add_node(labels=...)`; `stinger cluster init` labels each zone's node type so),
and an actor's `label_selector={"origin": NAME}` keeps it to those nodes. Before any run directory, the
placement is checked against the live nodes: an origin no live node carries, more of its workers than its
nodes' CPUs, or a source address that cannot be bound on one of its nodes is one line, exit code 2. That is
the user's mistake, not the environment's: the origins and the cluster (`RAY_ADDRESS`) are both theirs, and
they disagree, as more workers than the cluster's CPUs is (`RayBackend._check_room`); nothing was run.
Each node's aggregator stays one per node: an origin of several nodes has several.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stinger.errors import UsageError

LABEL = "origin"


def actor_options(plan: Any) -> dict[str, Any]:
    """The actor options that keep a worker of an origin on that origin's nodes."""
    return {"label_selector": {LABEL: plan.origin}} if plan.origin is not None else {}


def nodes_by_origin(ray: Any) -> dict[str, list[dict]]:
    """Live nodes by their `origin` label's value."""
    out: dict[str, list[dict]] = {}
    for node in ray.nodes():
        value = (node.get("Labels") or {}).get(LABEL)
        if node.get("Alive") and value:
            out.setdefault(value, []).append(node)
    return out


def _bind(address: str) -> str | None:
    """On a node: None when `address` can be bound there, else why not."""
    import socket

    try:
        with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((address, 0))
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def check(ray: Any, origins: Sequence[tuple[str, int, str | None]], worker_cpus: float) -> None:
    """Every origin has live labelled nodes with a CPU per worker, and its source address binds on each."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = nodes_by_origin(ray)
    for name, workers, address in origins:
        got = nodes.get(name)
        if not got:
            carried = ", ".join(sorted(nodes)) or "none"
            raise UsageError(f"--origin {name}: no live Ray node is labelled {LABEL}={name} (origins the nodes carry: "
                             f"{carried}); expected nodes started with `ray start --labels {LABEL}={name}`")
        cpus = int(sum(n.get("Resources", {}).get("CPU", 0) for n in got) / worker_cpus)
        if workers > cpus:
            raise UsageError(f"--origin {name}:{workers}, but the nodes labelled {LABEL}={name} have {cpus} CPUs and "
                             f"each worker takes one; expected {name}:{max(cpus, 1)} or fewer, or more such nodes")
        if address is None:
            continue
        probe = ray.remote(num_cpus=0)(_bind)
        refs = [probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
                .remote(address) for n in got]
        for node, why in zip(got, ray.get(refs, timeout=60), strict=True):
            if why is not None:
                raise UsageError(f"--origin {name}: source address {address} cannot be bound on Ray node "
                                 f"{node['NodeID'][:12]} ({why}); expected an address of each node labelled "
                                 f"{LABEL}={name}")
