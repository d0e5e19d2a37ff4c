"""One spec-to-plan mapping (orchestrate/planning.py): a command checks what the user named once.

A capacity search used to rebuild every step from a dict (`parse_spec` per step) and run the whole
preflight again (the dataset opened, the checks compiled, per step). Now the command parses once and
plans once; each step is the plan at another load (`RunPlan.for_step`, a `model_copy`). Counted here in
a real capacity search against a reference server, in the coordinator (workers are processes of their
own and open their dataset once each, as they must).
"""

from __future__ import annotations

import json

import pytest
import yaml

import stinger
from stinger.testing.servers import RefServer


def _count(monkeypatch, module, name: str, seen: dict) -> None:
    real = getattr(module, name)

    def counted(*args, **kwargs):
        seen[name] = seen.get(name, 0) + 1
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)


def test_a_capacity_search_parses_the_spec_once_and_opens_the_dataset_once(tmp_path, monkeypatch):
    import stinger.core.checks
    import stinger.datasets
    import stinger.orchestrate.capacity
    import stinger.spec
    import stinger.spec.loading

    seen: dict[str, int] = {}
    _count(monkeypatch, stinger.spec, "parse_spec", seen)
    monkeypatch.setattr(stinger.spec.loading, "parse_spec", stinger.spec.parse_spec)
    if hasattr(stinger.orchestrate.capacity, "parse_spec"):   # the tree before: a step parsed a dict
        monkeypatch.setattr(stinger.orchestrate.capacity, "parse_spec", stinger.spec.parse_spec)
    _count(monkeypatch, stinger.datasets, "open_dataset", seen)
    _count(monkeypatch, stinger.core.checks, "ResponseCheck", seen)
    data_file = tmp_path / "rows.jsonl"
    data_file.write_text("".join(json.dumps({"x": i}) + "\n" for i in range(5)))
    with RefServer("delay", delay_ms=1) as server:
        spec = {"target": {"url": server.url + "/"}, "payload": {"data": str(data_file)},
                "check": {"status": 200}, "load": {"rate": 1, "duration": "1s"}, "server_time": None}
        out = stinger.capacity(spec, outputs=[], start=20, growth=2.0, max_steps=3, step_duration=1.0,
                               step_warmup=0.5, slos=["p95<500ms", "error_rate<50%"])
    steps = len(out.summary["steps"])
    assert steps == 3 and all(r["achieved_rps"] > 0 for r in out.summary["steps"]), out.summary["steps"]
    assert [r["target"] for r in out.summary["steps"]] == [20, 40, 80]
    assert seen == {"parse_spec": 1, "open_dataset": 1, "ResponseCheck": 1}, (steps, seen)


def test_spec_yaml_is_the_validated_spec_redacted(tmp_path):
    with RefServer("delay", delay_ms=1) as server:
        spec = {"target": {"url": server.url + "/", "headers": {"Authorization": "Bearer sk-live-123456"}},
                "load": {"rate": 20, "requests": 5, "seed": 7}, "output": {"dir": str(tmp_path)}}
        r = stinger.run(spec)
    written = yaml.safe_load((r.run_dir / "spec.yaml").read_text())
    assert written["load"]["rate"] == 20 and written["load"]["seed"] == 7
    assert written["target"]["url"] == server.url + "/"
    assert "sk-live-123456" not in (r.run_dir / "spec.yaml").read_text()


def test_ab_in_another_split_mode_keeps_the_specs_rules(tmp_path):
    spec = {"variants": [{"name": "a", "url": "http://127.0.0.1:9/a"}, {"name": "b", "url": "http://127.0.0.1:9/b"}],
            "load": {"users": 2, "duration": "1s"}, "output": {"dir": str(tmp_path)}}
    with pytest.raises(stinger.UsageError, match="paired split needs the open model"):
        stinger.ab(spec, mode="paired")
    assert not any(tmp_path.iterdir())
