"""Two origins on a two-node Ray cluster (issue 19 item 1's must-show): `python3 bench/origins.py
[--rate 200 --duration 15 --delay 20]`.

A `ray.cluster_utils.Cluster` on 127.0.0.1 (every node on loopback, `scale.ray.loopback_only`): the head
node labelled origin=east, a second node origin=west, 2 CPUs each. A reference server answers after 5 ms,
and `--delay` ms later to connections from 127.0.0.3 (`--delay-by-source`). One `stinger run --backend ray
--origin east:2@127.0.0.2 --origin west:2@127.0.0.3` as a user runs it (the CLI in a subprocess, joining the
cluster by RAY_ADDRESS; bounded). Both nodes are this machine, so the origins are told apart by the source
address their workers bind on their node. Prints per origin: the nodes its workers ran on (the run
directory's record, against the cluster's node ids for that label), the identity's terms, the latency
percentiles from its merged histogram and the server's own count of answers from that address; then the
p50 and mean differences west - east against the injected delay (± 1 ms). Saves bench/results/origins.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import _common as c
from stinger.testing.servers import RefServer

RESULTS = Path(__file__).parent / "results"
ORIGINS = {"east": "127.0.0.2", "west": "127.0.0.3"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--duration", type=float, default=15.0)
    ap.add_argument("--delay", type=float, default=20.0, help="ms added to answers to the west origin")
    ap.add_argument("--workers", type=int, default=2, help="workers per origin")
    a = ap.parse_args()
    import ray
    from ray.cluster_utils import Cluster

    from stinger.scale.ray import loopback_only

    out = Path(tempfile.mkdtemp(prefix="stinger-origins-"))
    with loopback_only():
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": a.workers, "include_dashboard": False,
                                                                "labels": {"origin": "east"}})
        cluster.add_node(num_cpus=a.workers, labels={"origin": "west"})
        ray.init(address=cluster.address, log_to_driver=False, logging_level="ERROR", configure_logging=False)
    try:
        label_nodes = {n["Labels"]["origin"]: n["NodeID"] for n in ray.nodes() if n["Alive"]}
        ray.shutdown()
        with RefServer("delay", delay_ms=5.0, delay_by_source={ORIGINS["west"]: a.delay}, record=True) as server:
            cmd = [*c.stinger_cmd(), "run", "-q", "--backend", "ray", "--url", server.url + "/",
                   "--rate", f"{a.rate:g}", "--duration", f"{a.duration:g}s", "--warmup", "2s", "--out", str(out),
                   *(f"--origin={n}:{a.workers}@{addr}" for n, addr in ORIGINS.items())]
            env = {**os.environ, "RAY_ADDRESS": cluster.address}
            t = time.monotonic()
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=a.duration + 240,
                                  stdin=subprocess.DEVNULL, env=env)
            wall = time.monotonic() - t
            server.stop()
            served = len(server.records())
    finally:
        cluster.shutdown()
    found = list(out.glob("*/summary.json"))
    if proc.returncode not in (0, 1) or not found:
        raise SystemExit(f"stinger exited {proc.returncode}: {(proc.stdout + proc.stderr)[-2000:]}")
    summary = json.loads(found[0].read_text())
    spec_yaml = (found[0].parent / "spec.yaml").read_text()
    subprocess.run(["rm", "-rf", str(out)], check=False)
    block = summary["breakdown"]["origin"]
    placed = {o["name"]: o for o in block["origins"]}
    rows = {r["origin"]: r for r in block["rows"]}
    table = []
    for name in ORIGINS:
        r, o = rows[name], placed[name]
        q = r["requests"]
        identity = q["scheduled"] == q["ok"] + q["failed"] + q["dropped"] + q["in_flight"]
        table.append({"origin": name, "source_address": o["source_address"], "nodes": o["nodes"],
                      "on_own_node": o["nodes"] == [label_nodes[name]], "workers": o["workers"], **q,
                      "identity_exact": identity and q["unaccounted"] == 0, "errors": r["errors"],
                      "latency_ms": r["latency_ms"]})
        lat = r["latency_ms"]
        print(f"{name:5} source {o['source_address']} nodes {[n[:12] for n in o['nodes']]} "
              f"(label's node {label_nodes[name][:12]}) workers {o['workers']}: scheduled {q['scheduled']:,} = ok "
              f"{q['ok']:,} + failed {q['failed']:,} + dropped {q['dropped']:,} + in flight {q['in_flight']:,} "
              f"({'exact' if identity else 'NOT exact'}); p50 {lat['p50']} p90 {lat['p90']} p99 {lat['p99']} "
              f"mean {lat['mean']} ms")
    east, west = rows["east"]["latency_ms"], rows["west"]["latency_ms"]
    diff = {k: round(west[k] - east[k], 3) for k in ("p50", "mean")}
    within = abs(diff["p50"] - a.delay) <= 1.0
    print(f"west - east: p50 {diff['p50']} ms, mean {diff['mean']} ms; injected {a.delay:g} ms; p50 within ±1 ms: "
          f"{within}")
    total = summary["variants"]["default"]["requests"]
    print(f"whole run: scheduled {total['scheduled']:,}, ok {total['ok']:,}, unaccounted {total['unaccounted']}; "
          f"server answered {served:,} (warm-up included); wall {wall:.1f} s; load {os.getloadavg()[0]:.1f}")
    print("spec.yaml records:", " ".join(line.strip() for line in spec_yaml.splitlines()
                                          if "origin" in line or "source_address" in line or "name: e" in line
                                          or "name: w" in line))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "origins.json").write_text(json.dumps({
        "rate": a.rate, "duration": a.duration, "delay_ms": a.delay, "workers_per_origin": a.workers,
        "cluster_nodes": label_nodes, "origins": table, "west_minus_east_ms": diff, "p50_within_1ms": within,
        "whole_run": total, "server_answers": served, "exit_code": proc.returncode}, indent=1))


if __name__ == "__main__":
    main()
