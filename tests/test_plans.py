"""orchestrate/planning.py: how many workers, and each worker's share of the plan; and one spec-to-plan
mapping (`plan_run`): a command checks what the user named once.

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
from stinger.errors import TargetError
from stinger.orchestrate.planning import build_plans, default_workers, peak_rate
from stinger.spec import parse_spec
from stinger.targets.http import parse_endpoint
from stinger.testing.servers import RefServer

LOCAL = "http://127.0.0.1:8080/inv"
REMOTE = "http://model.example.com/inv"


def spec(url=LOCAL, **load):
    load.setdefault("duration", "10s")
    return parse_spec({"target": {"url": url}, "load": load})


@pytest.fixture
def cores(monkeypatch):
    def set_cores(n):
        monkeypatch.setattr("stinger.orchestrate.planning.os.cpu_count", lambda: n)
    return set_cores


# ------------------------------------------------------------ default_workers
@pytest.mark.parametrize("rate, url, n_cores, expected", [
    (100, REMOTE, 16, 1),          # a light load needs one worker
    (20_000, REMOTE, 16, 1),
    (20_001, REMOTE, 16, 2),
    (100_000, REMOTE, 16, 5),
    (100_000, REMOTE, 3, 3),       # never more than the cores
    (100_000, LOCAL, 16, 5),
    (1_000_000, LOCAL, 16, 8),     # a loopback target keeps half the cores
    (1_000_000, LOCAL, 1, 1),
])
def test_default_workers_open(cores, rate, url, n_cores, expected):
    cores(n_cores)
    assert default_workers(spec(url, rate=rate)) == expected


@pytest.mark.parametrize("users, expected", [(1, 1), (2000, 1), (2001, 2), (5000, 3)])
def test_default_workers_closed(cores, users, expected):
    cores(16)
    assert default_workers(spec(REMOTE, users=users)) == expected


def test_default_workers_uses_peak_of_shape(cores):
    cores(16)
    s = parse_spec({"target": {"url": REMOTE},
                    "load": {"shape": {"ramp": {"from": 10, "to": 60_000, "over": "10s"}}}})
    assert peak_rate(s.load) == 60_000
    assert default_workers(s) == 3


def test_auto_workers_used_by_build_plans(cores):
    cores(16)
    assert len(build_plans(spec(REMOTE, rate=50_000))) == 3
    assert len(build_plans(spec(REMOTE, rate=50_000, workers=2))) == 2
    assert len(build_plans(spec(REMOTE, rate=50_000), workers=4)) == 4


# ---------------------------------------------------------------- build_plans
def test_plans_share_everything_but_the_worker_index():
    plans = build_plans(spec(rate=100, warmup="1s", timeout="2s", seed=7), workers=3)
    assert [p.worker for p in plans] == [0, 1, 2]
    assert all(p.workers == 3 for p in plans)
    p = plans[0]
    assert p.duration == 10.0 and p.warmup == 1.0 and p.timeout == 2.0 and p.seed == 7
    assert p.open is not None and p.closed is None
    assert p.variants[0].target.endpoints() == (parse_endpoint(LOCAL),)
    assert p.split == "single"
    assert all(q.open is p.open and q.variants == p.variants for q in plans)


@pytest.mark.parametrize("bound, workers, shares", [
    (10, 3, [4, 3, 3]), (10, 2, [5, 5]), (1, 4, [1]), (10_000, 1, [10_000]), (7, 7, [1] * 7), (3, 5, [1, 1, 1]),
])
def test_max_in_flight_split_exactly_across_workers(bound, workers, shares):
    # the shares add up to the user's bound exactly; never more workers than the bound allows
    plans = build_plans(spec(rate=100, max_in_flight=bound), workers=workers)
    assert [p.max_in_flight for p in plans] == shares
    assert sum(p.max_in_flight for p in plans) == bound
    assert [p.worker for p in plans] == list(range(len(shares)))
    assert all(p.workers == len(shares) for p in plans)


@pytest.mark.parametrize("requests, workers", [(10, 3), (9, 2), (1, 3), (100, 4), (5, 5)])
def test_closed_request_count_split_exactly(requests, workers):
    plans = build_plans(spec(users=8, requests=requests), workers=workers)
    shares = [p.max_requests for p in plans]
    assert sum(shares) == requests
    assert max(shares) - min(shares) <= 1
    assert all(p.closed is not None and p.open is None for p in plans)


def test_open_request_count_is_global():
    # every open-model worker walks the one global schedule and keeps its ids
    plans = build_plans(spec(rate=100, requests=10), workers=3)
    assert [p.max_requests for p in plans] == [10, 10, 10]


def test_variants_headers_payload_check_and_server_time():
    s = parse_spec({
        "variants": [{"name": "a", "url": LOCAL, "weight": 3, "method": "POST",
                      "headers": {"Authorization": "Bearer x"}},
                     {"name": "b", "urls": [LOCAL, "http://127.0.0.1:8081/inv"]}],
        "load": {"rate": 10, "duration": "1s", "on_limit": "drop"},
        "payload": {"body": "{}", "content_type": "application/json"},
        "check": {"status": "2xx", "json_path": "$.p"},
        "server_time": {"header": "x-time", "unit": "s"},
    })
    [p] = build_plans(s, workers=1)
    assert p.split == "split" and [v.name for v in p.variants] == ["a", "b"]
    a, b = p.variants
    assert a.weight == 3 and a.target.method == "POST" and ("Authorization", "Bearer x") in a.target.headers.items()
    assert len(b.target.endpoints()) == 2 and b.target.endpoints()[1].port == 8081
    assert p.payload.inline == b"{}" and p.payload.content_type == "application/json"
    assert p.check.status == "2xx" and p.check.json_path == "$.p"
    assert (p.server_time_header, p.server_time_unit) == ("x-time", "s")
    assert p.on_limit == "drop"


def test_no_server_time():
    s = parse_spec({"target": {"url": LOCAL}, "load": {"rate": 1, "duration": 1}, "server_time": None})
    assert build_plans(s, workers=1)[0].server_time_header is None


def test_malformed_url_surfaces_as_target_error():
    with pytest.raises(TargetError):
        build_plans(spec("notaurl", rate=5), workers=1)


def test_closed_users_profile_and_duration():
    [p] = build_plans(spec(users=3, think_time="50ms"), workers=1)
    assert p.closed.think_time == pytest.approx(0.05)
    assert p.closed.profile.users_at(1.0) == 3
    assert p.duration == 10.0


def test_a_plan_with_its_targets_survives_pickling():
    """Plans cross process boundaries (forked workers today, Ray actors later) with each target's whole config."""
    import pickle

    s = parse_spec({"variants": [{"name": "a", "url": LOCAL, "method": "POST", "headers": {"X": "1"}},
                                 {"name": "b", "target": {"type": "fake", "delay": "2ms", "ttl": "1s"}}],
                    "load": {"rate": 10, "duration": "1s"}})
    [p] = build_plans(s, workers=1)
    again = pickle.loads(pickle.dumps(p))
    assert [v.target for v in again.variants] == [v.target for v in p.variants]
    assert again.variants[1].target.delay == 0.002 and again.variants[0].target.headers == {"X": "1"}


# ------------------------------------------------------------ one spec-to-plan mapping
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
