"""scale/cluster_init.py (issue 19 item 4): the launcher YAML and the KubeRay manifest, read back from the
files written and checked by Ray's own schema and parsers; no cloud call is made."""

from __future__ import annotations

import json
import os

import jsonschema
import pytest
import yaml

ray = pytest.importorskip("ray")

from stinger.errors import UsageError  # noqa: E402
from stinger.scale import cluster_init  # noqa: E402


def ray_schema() -> dict:
    """Ray's own cluster-config schema, as `ray up` validates against it."""
    path = os.path.join(os.path.dirname(ray.autoscaler.__file__), "ray-schema.json")
    with open(path) as f:
        return json.load(f)


# The fields of KubeRay's RayCluster CRD (ray.io/v1, ray-operator/config/crd/bases/ray.io_rayclusters.yaml)
# this manifest uses, with the CRD's types and required lists: spec needs headGroupSpec; a worker group
# needs groupName, minReplicas, maxReplicas, rayStartParams (string to string) and template; a pod template
# needs containers, each with a name; `labels` (string to string) is a group's top-level field from KubeRay 1.5.
_STR_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_POD = {"type": "object", "properties": {"spec": {
    "type": "object", "required": ["containers"], "properties": {
        "containers": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["name"], "properties": {"name": {"type": "string"}, "image": {"type": "string"}}}},
        "nodeSelector": _STR_MAP}}}}
RAYCLUSTER_FIELDS = {
    "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "ray.io/v1"}, "kind": {"const": "RayCluster"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {"type": "object", "required": ["headGroupSpec"], "properties": {
            "rayVersion": {"type": "string"},
            "headGroupSpec": {"type": "object", "required": ["template"], "properties": {
                "serviceType": {"enum": ["ClusterIP", "NodePort", "LoadBalancer"]},
                "rayStartParams": _STR_MAP, "template": _POD}},
            "workerGroupSpecs": {"type": "array", "items": {
                "type": "object",
                "required": ["groupName", "maxReplicas", "minReplicas", "rayStartParams", "template"],
                "properties": {"groupName": {"type": "string"}, "replicas": {"type": "integer"},
                               "minReplicas": {"type": "integer"}, "maxReplicas": {"type": "integer"},
                               "labels": _STR_MAP, "rayStartParams": _STR_MAP, "template": _POD}}}}}}}


@pytest.fixture
def files(tmp_path):
    p = cluster_init.plan("us-east-1", "a,b,c", 40, subnets={"us-east-1c": "subnet-0abc"})
    written = cluster_init.write(p, tmp_path)
    return p, yaml.safe_load(written.launcher.read_text()), yaml.safe_load(written.kuberay.read_text())


def test_the_launcher_yaml_passes_ray_s_schema_and_its_config_preparation(files):
    p, launcher, _ = files
    jsonschema.validate(launcher, ray_schema())
    filled = cluster_init.check_launcher(launcher)   # Ray's prepare_config + validate_config, as `ray up`
    types = filled["available_node_types"]
    assert filled["head_node_type"] == "head" and types["head"]["resources"] == {"CPU": 0}
    assert p.per_zone() == {"us-east-1a": 14, "us-east-1b": 13, "us-east-1c": 13}
    for zone in p.zones:
        t = types[f"worker-{zone}"]
        assert t["labels"] == {"origin": zone}
        assert t["min_workers"] == t["max_workers"] == 2 and t["resources"]["CPU"] * 2 >= p.per_zone()[zone]
    assert types["worker-us-east-1a"]["node_config"]["Placement"] == {"AvailabilityZone": "us-east-1a"}
    assert types["worker-us-east-1c"]["node_config"]["SubnetIds"] == ["subnet-0abc"]
    assert filled["max_workers"] >= sum(types[f"worker-{z}"]["min_workers"] for z in p.zones)
    assert "--dashboard-host=127.0.0.1" in filled["head_start_ray_commands"][-1]


def test_ray_s_schema_has_teeth_a_wrong_label_is_refused(files):
    _, launcher, _ = files
    launcher["available_node_types"]["worker-us-east-1a"]["labels"] = {"origin": 1}
    with pytest.raises(jsonschema.ValidationError):
        cluster_init.check_launcher(launcher)


def test_the_kuberay_manifest_has_the_crd_s_fields_and_ray_derives_one_labelled_type_per_zone(files):
    p, _, manifest = files
    jsonschema.validate(manifest, RAYCLUSTER_FIELDS)
    derived = cluster_init.check_kuberay(manifest)   # Ray's KubeRay autoscaler translation (validates it too)
    types = derived["available_node_types"]
    assert types["headgroup"]["resources"]["CPU"] == 0
    for zone in p.zones:
        t = types[f"worker-{zone}"]
        assert t["labels"] == {"origin": zone} and t["min_workers"] == t["max_workers"] == 2
        assert t["resources"]["CPU"] == p.cpus_per_node
    groups = {g["groupName"]: g for g in manifest["spec"]["workerGroupSpecs"]}
    assert groups["worker-us-east-1b"]["template"]["spec"]["nodeSelector"] == {cluster_init.ZONE_LABEL: "us-east-1b"}
    assert manifest["spec"]["headGroupSpec"]["serviceType"] == "ClusterIP"


@pytest.mark.parametrize(("args", "message"), [
    (("us-east", "a", 4), "--region 'us-east': expected an AWS region such as us-east-1"),
    (("us-east-1", "", 4), "--zones: expected one or more availability zones"),
    (("us-east-1", "eu-west-1a", 4), "--zones: 'eu-west-1a' is not an availability zone of us-east-1"),
    (("us-east-1", "a,a", 4), "--zones: us-east-1a,us-east-1a names a zone twice"),
    (("us-east-1", "a,b,c", 2), "--workers 2: expected at least one load worker per zone (3)"),
])
def test_a_user_s_mistake_is_one_line(args, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        cluster_init.plan(*args)


def test_the_command_writes_both_files_or_exits_2_in_one_line(tmp_path, capsys):
    assert cluster_init.command(["--aws", "--region", "eu-west-1", "--zones", "a,b", "--workers", "12",
                                 "--instance-type", "c5.xlarge", "--cpus-per-node", "4", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "4 worker nodes of c5.xlarge in 2 zones, 12 load workers" in out
    assert "stinger run SPEC --backend ray --workers 12" in out and "load workers: eu-west-1a:6 eu-west-1b:6" in out
    launcher = yaml.safe_load((tmp_path / "stinger-ray.yaml").read_text())
    assert launcher["provider"] == {"type": "aws", "region": "eu-west-1", "availability_zone": "eu-west-1a,eu-west-1b",
                                    "cache_stopped_nodes": False}
    assert cluster_init.command(["--aws", "--region", "eu-west-1", "--zones", "x1", "--workers", "2",
                                 "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'x1' is not an availability zone of eu-west-1" in err


def test_stinger_cluster_init_from_the_command_line(tmp_path):
    """The CLI's `cluster init` reaches the same command: both files, exit 0; a missing flag is one line, exit 2."""
    import subprocess
    import sys

    ok = subprocess.run([sys.executable, "-m", "stinger.cli", "cluster", "init", "--aws", "--region", "us-east-1",
                         "--zones", "a,b", "--workers", "8", "--out", str(tmp_path)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert {p.name for p in tmp_path.iterdir()} == {"stinger-ray.yaml", "stinger-kuberay.yaml"}
    bad = subprocess.run([sys.executable, "-m", "stinger.cli", "cluster", "init", "--region", "us-east-1",
                          "--zones", "a,b", "--workers", "8", "--out", str(tmp_path)], capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "--aws" in bad.stderr, bad.stderr


def _cli(*args: str):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "stinger.cli", "cluster", "init", *args], capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)


def test_an_unknown_instance_type_needs_its_vcpus_stated_and_a_known_one_gives_them():
    """`--instance-type bogus` was taken for 8 vCPUs in silence (nodes sized for a machine nobody named)."""
    assert [cluster_init.vcpus(t) for t in ("m5.2xlarge", "c5.large", "c6i.xlarge", "r7g.16xlarge", "p4d.24xlarge")] \
        == [8, 2, 4, 64, 96]
    assert [cluster_init.vcpus(t) for t in ("bogus", "t3.medium", "m5.metal", "m5.2xlargex", "")] == [None] * 5
    with pytest.raises(UsageError, match="--instance-type 'bogus': its vCPUs are not known from its name; "
                                         "expected --cpus-per-node N"):
        cluster_init.plan("us-east-1", "a", 4, instance_type="bogus", cpus_per_node=None)
    assert cluster_init.plan("us-east-1", "a", 4, instance_type="bogus", cpus_per_node=3).nodes("us-east-1a") == 2
    assert cluster_init.plan("us-east-1", "a", 40, instance_type="c5.4xlarge", cpus_per_node=None).cpus_per_node == 16


def test_the_command_line_keeps_existing_files_says_the_origin_flags_and_errors_like_every_command(tmp_path):
    base = ["--aws", "--region", "us-east-1", "--zones", "a,b", "--workers", "8", "--out", str(tmp_path)]
    bogus = _cli(*base, "--instance-type", "bogus")
    assert bogus.returncode == 2 and bogus.stderr.startswith("stinger: error: --instance-type 'bogus'"), bogus.stderr
    assert len(bogus.stderr.strip().splitlines()) == 1 and not list(tmp_path.iterdir())
    ok = _cli(*base)
    assert ok.returncode == 0, ok.stderr
    # the follow-up command carries the origins it printed
    assert "stinger run SPEC --backend ray --workers 8 --origin us-east-1a:4 --origin us-east-1b:4" in ok.stdout, ok.stdout
    launcher = tmp_path / "stinger-ray.yaml"
    launcher.write_text(launcher.read_text() + "# edited by hand\n")
    again = _cli(*base)
    assert again.returncode == 2 and len(again.stderr.strip().splitlines()) == 1, again.stderr
    assert again.stderr.startswith("stinger: error: ") and "already exist" in again.stderr and "--force" in again.stderr
    assert launcher.read_text().endswith("# edited by hand\n")
    forced = _cli(*base, "--force")
    assert forced.returncode == 0 and not launcher.read_text().endswith("# edited by hand\n")
    missing = _cli("--region", "us-east-1", "--zones", "a", "--workers", "2", "--out", str(tmp_path))
    assert missing.returncode == 2 and missing.stderr.startswith("stinger: error: "), missing.stderr
