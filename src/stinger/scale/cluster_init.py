"""Getting machines: a Ray cluster-launcher YAML (AWS) and a KubeRay `RayCluster` manifest, written, never run.

stinger never manages machines (`scale/ray.py`): Ray's cluster launcher (`ray up`) or the KubeRay
operator does. This writes what they read for a load test from several zones (issue 19 item 4):

* one head node type with no CPU for workers (the coordinator runs there; a load worker on it would
  send from the head's zone only and compete with the coordinator), and
* one worker node type per zone, pinned to that zone and labelled `origin=ZONE` (Ray node labels:
  the launcher starts each node with its type's `labels`; KubeRay sets a group's top-level `labels`,
  KubeRay 1.5 or later), with enough nodes for that zone's share of `workers` load workers (one CPU
  each), `cpus_per_node` CPUs a node (the instance type's vCPUs; stated, not looked up: no cloud call).

Zone pinning on AWS: with `subnets` (zone -> subnet id) a zone's node type launches in that subnet;
without, its node config names the zone (`Placement.AvailabilityZone`) and Ray's launcher, which
tries the provider's subnets in turn until EC2 accepts one, lands it in that zone's subnet.
On Kubernetes a group's pods carry a node selector on `topology.kubernetes.io/zone`.

Both files are checked here against Ray's own parsers before they are written (`check_launcher`:
Ray's cluster-config JSON schema and its config validation and default filling; `check_kuberay`:
the RayCluster-to-autoscaler translation Ray's KubeRay autoscaler runs), when Ray is installed.

Network exposure: the launcher's head listens for Ray's ports (GCS 6379, the client server 10001,
the dashboard) on its interfaces; its security group must admit only the cluster's own nodes and
your address. docs/ray.md says how to run stinger on the head instead of opening them.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from stinger.errors import UsageError

ORIGIN_LABEL = "origin"          # the Ray node label `--origin NAME:WORKERS` places workers by
ZONE_LABEL = "topology.kubernetes.io/zone"
_ZONE = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d[a-z]$")     # us-east-1a
_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")         # us-east-1
# AWS sizes whose vCPUs follow from the name in every current family: large 2, xlarge 4, Nxlarge 4N
# (nano..medium and metal differ by family: stated with --cpus-per-node, never guessed)
_SIZED = re.compile(r"^[a-z][a-z0-9-]*\d[a-z0-9-]*\.(?:(large)|(\d*)xlarge)$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")   # Kubernetes/Ray label syntax


@dataclass(frozen=True)
class ClusterPlan:
    """What to ask for: `workers` load workers (one CPU each) spread evenly over `zones`."""

    region: str
    zones: tuple[str, ...]
    workers: int
    instance_type: str = "m5.2xlarge"
    cpus_per_node: int = 8                  # the instance type's vCPUs (m5.2xlarge: 8; `plan` derives or requires it)
    head_instance_type: str = "m5.xlarge"
    name: str = "stinger"
    image: str = ""                         # container image for KubeRay (default: rayproject/ray:<this Ray>)
    ray_version: str = ""                   # default: the installed Ray's version
    stinger_spec: str = "stinger[ray]"      # what `pip install` puts on every launcher node
    subnets: Mapping[str, str] = field(default_factory=dict)   # zone -> subnet id (optional)

    def per_zone(self) -> dict[str, int]:
        """Load workers per zone: an even split, the first zones taking the remainder."""
        base, extra = divmod(self.workers, len(self.zones))
        return {z: base + (1 if i < extra else 0) for i, z in enumerate(self.zones)}

    def nodes(self, zone: str) -> int:
        return math.ceil(self.per_zone()[zone] / self.cpus_per_node)


def vcpus(instance_type: str) -> int | None:
    """The vCPUs an AWS instance type's name states (m5.2xlarge: 8, c5.large: 2), or None when its
    size does not say (t3.medium, m5.metal, a name that is no instance type)."""
    m = _SIZED.match(instance_type or "")
    if m is None:
        return None
    return 2 if m.group(1) else 4 * int(m.group(2) or 1)


def plan(region: str, zones: Sequence[str] | str, workers: int, **options: Any) -> ClusterPlan:
    """A checked `ClusterPlan` (zones as a list or "a,b,c"; a bare letter means REGION + letter);
    a one-line UsageError names what is wrong and what was expected."""
    if not _REGION.match(region or ""):
        raise UsageError(f"--region {region!r}: expected an AWS region such as us-east-1")
    names = [z.strip() for z in (zones.split(",") if isinstance(zones, str) else zones) if z.strip()]
    names = [region + z if len(z) == 1 and z.isalpha() else z for z in names]
    if not names:
        raise UsageError("--zones: expected one or more availability zones, e.g. us-east-1a,us-east-1b or a,b")
    for z in names:
        if not _ZONE.match(z) or not z.startswith(region):
            raise UsageError(f"--zones: {z!r} is not an availability zone of {region}; expected e.g. {region}a")
    if len(set(names)) != len(names):
        raise UsageError(f"--zones: {','.join(names)} names a zone twice; expected each zone once")
    if not isinstance(workers, int) or workers < len(names):
        raise UsageError(f"--workers {workers}: expected at least one load worker per zone ({len(names)})")
    cpus = options.get("cpus_per_node")
    if cpus is None:   # from the instance type's name; an unknown one is never taken for 8 vCPUs
        itype = options.get("instance_type", ClusterPlan.instance_type)
        cpus = vcpus(itype)
        if cpus is None:
            raise UsageError(f"--instance-type {itype!r}: its vCPUs are not known from its name; "
                             "expected --cpus-per-node N (the instance type's vCPUs) with it")
        options["cpus_per_node"] = cpus
    if not isinstance(cpus, int) or cpus < 1:
        raise UsageError(f"--cpus-per-node {cpus}: expected the instance type's vCPUs, a whole number >= 1")
    subnets = dict(options.pop("subnets", None) or {})
    unknown = sorted(set(subnets) - set(names))
    if unknown:
        raise UsageError(f"--subnet: {', '.join(unknown)} is not one of --zones {','.join(names)}")
    name = options.get("name", "stinger")
    if not re.match(r"^[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?$", name):
        raise UsageError(f"--name {name!r}: expected lower-case letters, digits and '-' (a Kubernetes name)")
    return ClusterPlan(region=region, zones=tuple(names), workers=workers, subnets=subnets, **options)


def _ray_version(p: ClusterPlan) -> str:
    if p.ray_version:
        return p.ray_version
    try:
        import ray
    except ImportError:
        return "2.60.0"
    return str(ray.__version__)


def _zone_type(zone: str) -> str:
    return "worker-" + zone


def launcher_config(p: ClusterPlan) -> dict[str, Any]:
    """The Ray cluster-launcher config (`ray up FILE`) for `p` on AWS."""
    install = f"pip install -U 'ray[default]=={_ray_version(p)}' '{p.stinger_spec}'"
    node_types: dict[str, Any] = {
        "head": {
            # no CPU for load workers: the coordinator runs here, in one zone only
            "resources": {"CPU": 0},
            "node_config": {"InstanceType": p.head_instance_type},
        },
    }
    for zone in p.zones:
        n = p.nodes(zone)
        node_config: dict[str, Any] = {"InstanceType": p.instance_type}
        if zone in p.subnets:
            node_config["SubnetIds"] = [p.subnets[zone]]
        else:
            node_config["Placement"] = {"AvailabilityZone": zone}
        node_types[_zone_type(zone)] = {
            "min_workers": n, "max_workers": n,
            "resources": {"CPU": p.cpus_per_node},
            "labels": {ORIGIN_LABEL: zone},
            "node_config": node_config,
        }
    return {
        "cluster_name": p.name,
        "max_workers": sum(p.nodes(z) for z in p.zones),
        "upscaling_speed": 1.0,
        "idle_timeout_minutes": 10,
        "provider": {"type": "aws", "region": p.region, "availability_zone": ",".join(p.zones),
                     "cache_stopped_nodes": False},
        "auth": {"ssh_user": "ubuntu"},
        "head_node_type": "head",
        "available_node_types": node_types,
        "setup_commands": [install],
        # Ray's defaults, but the head's dashboard stays on its loopback address (reach it with
        # `ray dashboard FILE`, an SSH tunnel), not on every interface
        "head_start_ray_commands": [
            "ray stop",
            "ulimit -n 65536; ray start --head --port=6379 --object-manager-port=8076 "
            "--autoscaling-config=~/ray_bootstrap_config.yaml --dashboard-host=127.0.0.1",
        ],
        "worker_start_ray_commands": [
            "ray stop",
            "ulimit -n 65536; ray start --address=$RAY_HEAD_IP:6379 --object-manager-port=8076",
        ],
    }


def _pod(image: str, cpus: int, container: str, ports: list[dict] | None = None,
         zone: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{
        "name": container, "image": image,
        "resources": {"requests": {"cpu": str(max(cpus, 1)), "memory": f"{max(cpus, 1) * 2}Gi"},
                      "limits": {"cpu": str(max(cpus, 1)), "memory": f"{max(cpus, 1) * 2}Gi"}},
        **({"ports": ports} if ports else {}),
    }]}
    if zone is not None:
        spec["nodeSelector"] = {ZONE_LABEL: zone}
    return {"spec": spec}


def kuberay_manifest(p: ClusterPlan) -> dict[str, Any]:
    """A KubeRay `RayCluster` (ray.io/v1) for `p`: a head group with no CPU for workers, one worker
    group per zone (pods pinned to the zone by node selector, Ray nodes labelled origin=ZONE)."""
    version = _ray_version(p)
    image = p.image or f"rayproject/ray:{version}"
    groups = []
    for zone in p.zones:
        n = p.nodes(zone)
        groups.append({
            "groupName": _zone_type(zone),
            "replicas": n, "minReplicas": n, "maxReplicas": n,
            "labels": {ORIGIN_LABEL: zone},
            "rayStartParams": {"num-cpus": str(p.cpus_per_node)},
            "template": _pod(image, p.cpus_per_node, "ray-worker", zone=zone),
        })
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": p.name, "namespace": "default"},
        "spec": {
            "rayVersion": version,
            "headGroupSpec": {
                "serviceType": "ClusterIP",          # reachable inside the Kubernetes cluster only
                "rayStartParams": {"num-cpus": "0"},  # no load worker on the head
                "template": _pod(image, 2, "ray-head", ports=[
                    {"containerPort": 6379, "name": "gcs-server"},
                    {"containerPort": 8265, "name": "dashboard"},
                    {"containerPort": 10001, "name": "client"},
                ]),
            },
            "workerGroupSpecs": groups,
        },
    }


def check_launcher(config: Mapping[str, Any]) -> dict[str, Any]:
    """Ray's own checks of a launcher config: its JSON schema and validation, then its default filling
    (what `ray up` does before any cloud call). Returns the filled config; raises what Ray raises."""
    import copy

    from ray.autoscaler._private.util import prepare_config, validate_config

    filled = prepare_config(copy.deepcopy(dict(config)))
    validate_config(filled)
    return filled


def check_kuberay(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The autoscaler config Ray's KubeRay autoscaler derives from the RayCluster (it validates it)."""
    import copy

    from ray.autoscaler._private.kuberay.autoscaling_config import _derive_autoscaling_config_from_ray_cr

    derived: dict[str, Any] = _derive_autoscaling_config_from_ray_cr(copy.deepcopy(dict(manifest)))
    return derived


def origins(p: ClusterPlan) -> str:
    """The load workers each origin (zone) has room for, as `ZONE:N` (the form `--origin` takes)."""
    return " ".join(f"{z}:{n}" for z, n in p.per_zone().items())


@dataclass(frozen=True)
class ClusterFiles:
    launcher: Path      # ray up / ray down this
    kuberay: Path       # kubectl apply -f this
    plan: ClusterPlan


def write(p: ClusterPlan, out: str | Path = ".", *, check: bool = True, force: bool = False) -> ClusterFiles:
    """Write `NAME-ray.yaml` (launcher) and `NAME-kuberay.yaml` into `out`; checked by Ray's own
    parsers first when Ray is installed and `check`. A file already there is kept (UsageError) unless
    `force`: a cluster file edited by hand is not overwritten without notice."""
    import yaml

    folder = Path(out)
    paths = folder / f"{p.name}-ray.yaml", folder / f"{p.name}-kuberay.yaml"
    there = [str(q) for q in paths if q.exists()]
    if there and not force:
        raise UsageError(f"{' and '.join(there)} already exist{'s' if len(there) == 1 else ''}; "
                         "expected --force to overwrite, or another --out or --name")

    launcher, manifest = launcher_config(p), kuberay_manifest(p)
    if check:
        try:
            import ray  # noqa: F401
        except ImportError:
            pass
        else:
            import logging

            ray_log = logging.getLogger("ray")
            level = ray_log.level
            ray_log.setLevel(logging.WARNING)   # Ray's INFO notes while it fills defaults are not ours to print
            try:
                check_launcher(launcher)
                check_kuberay(manifest)
            finally:
                ray_log.setLevel(level)
    folder.mkdir(parents=True, exist_ok=True)
    head = (f"# written by `stinger cluster init` for {p.workers} load workers in {', '.join(p.zones)};\n"
            f"# origins (Ray node label origin=ZONE) and their load workers: {origins(p)}\n")
    for path, doc in zip(paths, (launcher, manifest), strict=True):
        path.write_text(head + yaml.safe_dump(doc, sort_keys=False))
    return ClusterFiles(launcher=paths[0], kuberay=paths[1], plan=p)


def _subnet(text: str) -> tuple[str, str]:
    zone, sep, subnet = text.partition("=")
    if not sep or not subnet.startswith("subnet-"):
        raise argparse.ArgumentTypeError(f"{text!r}: expected ZONE=subnet-ID")
    return zone, subnet


class _OneLineParser(argparse.ArgumentParser):
    """A user's mistake is one line (what is wrong, what was expected) and exit 2, as in every command:
    `stinger: error: ...`."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"stinger: error: {message} (see {self.prog} --help)\n")


def parser(prog: str = "stinger cluster init") -> argparse.ArgumentParser:
    ap = _OneLineParser(prog=prog, description="Write a Ray cluster-launcher YAML (AWS) and a KubeRay "
                                 "RayCluster manifest: one node type per zone, labelled origin=ZONE. Nothing is "
                                 "launched: `ray up FILE` or `kubectl apply -f FILE` does (docs/ray.md).")
    ap.add_argument("--aws", action="store_true", required=True, help="the cloud (AWS is the one written today)")
    ap.add_argument("--region", required=True)
    ap.add_argument("--zones", required=True, help="comma list: us-east-1a,us-east-1b or a,b")
    ap.add_argument("--workers", type=int, required=True, help="load workers in all (one CPU each), split over zones")
    ap.add_argument("--instance-type", default="m5.2xlarge")
    ap.add_argument("--cpus-per-node", type=int, default=None,
                    help="the instance type's vCPUs (default: from its name, m5.2xlarge: 8; needed for others)")
    ap.add_argument("--head-instance-type", default="m5.xlarge")
    ap.add_argument("--subnet", action="append", type=_subnet, default=[], metavar="ZONE=subnet-ID")
    ap.add_argument("--name", default="stinger")
    ap.add_argument("--image", default="", help="KubeRay container image (default rayproject/ray:RAY_VERSION)")
    ap.add_argument("--out", default=".", help="folder to write into")
    ap.add_argument("--force", action="store_true", help="overwrite the files if they exist")
    return ap


def command(argv: Sequence[str]) -> int:
    """`stinger cluster init ...`: write the two files, say where and how to use them. Exit 0, or 2 with
    one line for the user's mistake."""
    import sys

    try:
        args = parser().parse_args(list(argv))
    except SystemExit as exc:   # argparse printed its one line (or the help)
        return int(exc.code or 0) and 2
    try:
        p = plan(args.region, args.zones, args.workers, instance_type=args.instance_type,
                 cpus_per_node=args.cpus_per_node, head_instance_type=args.head_instance_type,
                 name=args.name, image=args.image, subnets=dict(args.subnet))
        files = write(p, args.out, force=args.force)
    except UsageError as exc:
        print(f"stinger: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    nodes = sum(p.nodes(z) for z in p.zones)
    print(f"wrote {files.launcher} (ray up) and {files.kuberay} (kubectl apply -f): {nodes} worker nodes of "
          f"{p.instance_type} in {len(p.zones)} zones, {p.workers} load workers")
    flags = " ".join(f"--origin {o}" for o in origins(p).split())
    print(f"then, on the head: stinger run SPEC --backend ray --workers {p.workers} {flags}   (docs/ray.md)")
    print(f"origins (Ray node label origin=ZONE) and their load workers: {origins(p)}")
    return 0
