"""Origins on Ray (issue 19 item 1): a two-node cluster on this machine (`ray.cluster_utils.Cluster`, every
node on 127.0.0.1) whose nodes are labelled origin=east and origin=west. Each origin's workers must run on
its own node (the recorded node ids are the labelled nodes'), bind their origin's source address there, and
the per-origin rows show the delay a reference server adds to one source address, with the accounting
identity exact per origin; an origin no node carries is one line (UsageError, exit code 2)."""

from __future__ import annotations

import pytest

ray = pytest.importorskip("ray")

from ray.cluster_utils import Cluster  # noqa: E402

from stinger.errors import UsageError  # noqa: E402
from stinger.orchestrate.planning import build_plans  # noqa: E402
from stinger.orchestrate.summary import breakdown_block  # noqa: E402
from stinger.scale.base import check_origins  # noqa: E402
from stinger.scale.coordinator import execute  # noqa: E402
from stinger.scale.ray import RayBackend, loopback_only  # noqa: E402
from stinger.spec import parse_spec  # noqa: E402
from stinger.testing.servers import RefServer  # noqa: E402

pytestmark = pytest.mark.slow
DELAY = 20.0


@pytest.fixture(scope="module")
def cluster():
    with loopback_only():
        c = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False,
                                                          "labels": {"origin": "east"}})
        c.add_node(num_cpus=2, labels={"origin": "west"})
        ray.init(address=c.address, log_to_driver=False, logging_level="ERROR", configure_logging=False)
    try:
        yield {n["Labels"]["origin"]: n["NodeID"] for n in ray.nodes() if n["Alive"]}
    finally:
        ray.shutdown()
        c.shutdown()


def spec_with(url: str, origins: list[str]):
    return parse_spec({"target": {"url": url}, "load": {"rate": 120, "duration": "4s", "warmup": "1s"},
                       "scale": {"origins": origins}})


def test_each_origin_runs_on_its_labelled_node_and_shows_its_own_delay(cluster) -> None:
    with RefServer("delay", delay_ms=5.0, delay_by_source={"127.0.0.3": DELAY}) as server:
        spec = spec_with(server.url + "/", ["east:2@127.0.0.2", "west:2@127.0.0.3"])
        plans = build_plans(spec)
        backend = RayBackend()
        check_origins(backend, plans)
        outcome = execute(plans, backend=backend)
    assert not outcome.lost_workers
    m = outcome.metrics
    window = m.window(spec.load.warmup, 4.0, outcome.elapsed)
    block = breakdown_block(spec, m, window).data["origin"]
    placed = {o["name"]: o for o in block["origins"]}
    assert placed["east"]["workers"] == [0, 1] and placed["west"]["workers"] == [2, 3]
    for name in ("east", "west"):   # each origin's workers on the one node labelled with it
        assert placed[name]["nodes"] == [cluster[name]]
    rows = {r["origin"]: r for r in block["rows"]}
    whole = m.summary(window)["default"]["requests"]
    for r in rows.values():
        q = r["requests"]
        assert q["scheduled"] == q["ok"] + q["failed"] + q["dropped"] + q["in_flight"] and q["unaccounted"] == 0
        assert q["ok"] == r["latency_ms"]["count"] > 0 and q["failed"] == 0
    assert sum(r["requests"]["ok"] for r in rows.values()) == whole["ok"]
    east, west = rows["east"]["latency_ms"], rows["west"]["latency_ms"]
    noise = (east["p90"] - east["p50"]) + (west["p90"] - west["p50"])   # this run's own spread
    assert abs((west["p50"] - east["p50"]) - DELAY) <= max(noise, 0.5), (east, west)


def test_an_origin_no_node_carries_is_one_line(cluster) -> None:
    spec = spec_with("http://127.0.0.1:9/", ["east:1", "north:1"])
    with pytest.raises(UsageError, match=r"--origin north: no live Ray node is labelled origin=north \(origins the "
                                         r"nodes carry: east, west\)"):
        check_origins(RayBackend(), build_plans(spec))
    with pytest.raises(UsageError, match=r"--origin east:3, but the nodes labelled origin=east have 2 CPUs"):
        check_origins(RayBackend(), build_plans(spec_with("http://127.0.0.1:9/", ["east:3"])))
    with pytest.raises(UsageError, match=r"source address 203.0.113.7 cannot be bound on Ray node"):
        check_origins(RayBackend(), build_plans(spec_with("http://127.0.0.1:9/", ["west:1@203.0.113.7"])))
