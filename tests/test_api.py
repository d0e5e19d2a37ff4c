"""The public Python API: `import stinger` is the whole surface (a curated `__all__`, guarded
here as httpx guards its exports), it is cheap to import, and its calls return typed results
that agree with the files they leave and with the command line's exit codes."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

import stinger
from stinger.testing.servers import RefServer

PUBLIC = [
    "AbResult", "CapacityResult", "CompareResult", "DatasetError", "ExitCode", "Output", "RunControl", "RunError", "RunResult",
    "Spec", "SpecError", "StingerError", "TargetError", "UsageError", "__version__", "ab", "capacity", "cluster_init",
    "compare", "load_spec", "read_run", "run", "Request", "Response", "Reading", "request_hook", "response_hook",
]
# the spec model's docstring belongs to spec/ (another module's owner); README documents it
UNDOCSTRINGED = {"Spec"}
README = Path(__file__).resolve().parents[1] / "README.md"


def test_exports_are_exactly_the_public_names():
    assert sorted(stinger.__all__) == sorted(PUBLIC)


@pytest.mark.parametrize("name", PUBLIC)
def test_each_public_name_resolves_and_is_documented(name):
    value = getattr(stinger, name)
    if name == "__version__":
        assert isinstance(value, str)
        return
    if name not in UNDOCSTRINGED:
        assert (value.__doc__ or "").strip(), f"stinger.{name} has no docstring"
    section = README.read_text().split("## Python API", 1)
    assert len(section) == 2, "README has no '## Python API' section"
    assert name in section[1].split("\n## ", 1)[0], f"stinger.{name} is not in README's Python API section"


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError):
        stinger.no_such_thing  # noqa: B018


def test_import_is_cheap():
    """`import stinger` pulls none of the heavy dependencies (they load on first use)."""
    code = ("import sys, stinger; heavy = ('numpy', 'scipy', 'rich', 'pydantic', 'click', 'yaml', 'uvloop'); "
            "print(','.join(m for m in heavy if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import stinger loaded: {out.stdout.strip()}"


def test_exit_codes_are_the_documented_ones():
    assert [int(c) for c in stinger.ExitCode] == [0, 1, 2, 3, 130, 143]
    assert stinger.UsageError.exit_code == stinger.ExitCode.USAGE == stinger.SpecError.exit_code
    assert stinger.RunError.exit_code == stinger.ExitCode.RUN_ERROR == stinger.StingerError.exit_code


def test_a_spec_of_the_wrong_type_is_a_usage_error():
    with pytest.raises(stinger.UsageError, match="a spec is a Spec, a dict or a YAML file's path"):
        stinger.run(42)
    with pytest.raises(stinger.SpecError):
        stinger.run({"target": {"url": "http://127.0.0.1:9/"}, "load": {"rate": -5, "duration": 1}})


def test_unknown_capacity_option_is_a_usage_error():
    with pytest.raises(stinger.UsageError, match="unknown capacity option"):
        stinger.capacity({"target": {"url": "http://127.0.0.1:9/"}, "load": {"rate": 1, "duration": 1}},
                         outputs=[], speed=3)


@pytest.fixture(scope="module")
def server():
    with RefServer("delay", delay_ms=3) as s:
        yield s


def _spec(url: str, out: Path, **load) -> dict:
    return {"name": "api", "target": {"url": url}, "load": {"rate": 40, "duration": "1s", "workers": 1, **load},
            "output": {"dir": str(out)}}


@pytest.fixture(scope="module")
def two_runs(server, tmp_path_factory):
    out = tmp_path_factory.mktemp("api-runs")
    first = stinger.run(_spec(server.url + "/", out / "a"))
    second = stinger.run(_spec(server.url + "/", out / "b", rate=80))
    return first, second


def test_run_returns_a_frozen_typed_result_matching_its_files(two_runs):
    result, _ = two_runs
    assert isinstance(result, stinger.RunResult)
    assert result.exit_code == 0 and result.slo_passed
    v = result.variants["default"]
    assert v["requests"]["ok"] == v["requests"]["scheduled"] == 40
    on_disk = json.loads((result.run_dir / "summary.json").read_text())
    assert on_disk == json.loads(json.dumps(result.summary, default=str))
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.exit_code = 3  # type: ignore[misc]


def test_read_run_gives_back_the_same_result(two_runs):
    result, _ = two_runs
    back = stinger.read_run(result.run_dir)
    assert back.run_dir == result.run_dir and back.exit_code == result.exit_code
    assert back.summary == json.loads(json.dumps(result.summary, default=str))
    assert back.verdict is None


def test_compare_warns_when_the_loads_differ(two_runs):
    first, second = two_runs
    cmp = stinger.compare(first, second.run_dir)
    assert isinstance(cmp, stinger.CompareResult)
    assert cmp.exit_code in (0, 1) and cmp.exit_code == (1 if cmp.regressions else 0)
    assert cmp.warnings and "different loads" in cmp.warnings[0] and "40.0" in cmp.warnings[0]
    assert cmp.verdict["a"] == "baseline" and cmp.verdict["b"] == "candidate"
    same = stinger.compare(first, first)
    # one run against itself: no load warning; the only warning it may carry is the one its own generator
    # check recorded (a busy machine, as beside two CPU hogs, or a client-bound run), said once
    gen = first.summary.get("generator") or {}
    said = [w for w in same.warnings if w.startswith("the compared run was ")]
    assert len(said) == (1 if gen.get("machine_busy") or gen.get("client_bound") else 0), same.warnings
    assert same.warnings == tuple(said) and same.exit_code == 0


def test_run_from_a_yaml_path_with_no_outputs_writes_nothing(server, tmp_path):
    import yaml

    path = tmp_path / "spec.yaml"
    spec = _spec(server.url + "/", tmp_path / "runs")
    spec["slo"] = ["p95<0.001ms"]
    path.write_text(yaml.safe_dump(spec))
    result = stinger.run(str(path), outputs=[])
    assert result.run_dir is None and not (tmp_path / "runs").exists()
    assert result.exit_code == stinger.ExitCode.FAILED and not result.slo_passed
    assert isinstance(stinger.load_spec(path), stinger.Spec)


def test_a_custom_output_object_sees_the_run(server, tmp_path):
    class Count:
        name = "count"

        def __init__(self):
            self.calls = []

        def start(self, info):
            self.calls.append("start")

        def interval(self, snapshot):
            self.calls.append("interval")

        def finish(self, result):
            self.calls.append(("finish", result.summary["variants"]["default"]["requests"]["ok"]))

    c = Count()
    stinger.run(_spec(server.url + "/", tmp_path), outputs=[c, "jsonl"])
    assert c.calls[0] == "start" and c.calls[-1] == ("finish", 40)


@pytest.mark.slow
def test_ab_returns_verdict_and_exit_code(server, tmp_path):
    with RefServer("delay", delay_ms=12) as slow:
        spec = {"variants": [{"name": "A", "url": server.url + "/"}, {"name": "B", "url": slow.url + "/"}],
                "load": {"rate": 60, "duration": "3s"}, "slo": ["p95<1ms"], "output": {"dir": str(tmp_path)}}
        result = stinger.ab(spec, mode="split")
    assert isinstance(result, stinger.AbResult)
    assert result.exit_code == stinger.ExitCode.FAILED       # the SLO failed, as `stinger run` would say
    assert result.significant and "B" in result.sentence
    assert json.loads((result.run_dir / "verdict.json").read_text()) == json.loads(json.dumps(result.verdict,
                                                                                             default=str))
    assert stinger.read_run(result.run_dir).verdict["sentence"] == result.sentence


@pytest.mark.slow
def test_capacity_returns_its_report(tmp_path):
    with RefServer("slots", slots=2, service_ms=10.0) as s:   # sustains 200 req/s by construction
        result = stinger.capacity({"target": {"url": s.url + "/"}, "load": {"rate": 1, "duration": 1},
                                   "output": {"dir": str(tmp_path)}},
                                  start=40, max_target=80, step_duration="1s", step_warmup="0.5s",
                                  slos=["p95<150ms", "error_rate<1%"])
    assert isinstance(result, stinger.CapacityResult)
    assert result.exit_code == 0 and result.max_sustainable == 80 and result.summary["schema"] == "stinger.capacity/1"
    assert json.loads((result.run_dir / "capacity.json").read_text())["max_sustainable"] == 80
