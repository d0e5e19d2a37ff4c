"""Run defaults that were wrong (issue 9 items 6 and 11).

Every run used the same seed (every split A/A had n = 503/497): a run that names no
seed now draws a fresh one, prints it and records it (spec.yaml, summary.json), and
`--seed` / `load.seed` reproduces a run's arrivals, orders and split. Spec `variants:`
defaulted to GET even with a payload: a body implies POST for every plain-HTTP target."""

from __future__ import annotations

import json

import stinger
from stinger.spec import parse_spec

SPLIT = {
    "variants": [
        {"name": "A", "target": {"type": "fake", "delay": "1ms"}},
        {"name": "B", "target": {"type": "fake", "delay": "1ms"}},
    ],
    "split": "split",
    "load": {"rate": 400, "requests": 400, "drain": "2s"},
}


def _spec(tmp_path, **load):
    d = json.loads(json.dumps(SPLIT))
    d["load"].update(load)
    d["output"] = {"dir": str(tmp_path)}
    return d


def test_a_spec_without_a_seed_draws_a_fresh_one_each_time():
    seeds = {parse_spec({"target": {"url": "http://127.0.0.1:9/"}, "load": {"rate": 1, "duration": "1s"}}).load.seed
             for _ in range(8)}
    assert len(seeds) > 1, seeds


def test_a_given_seed_is_kept_and_dumped():
    spec = parse_spec({"target": {"url": "http://127.0.0.1:9/"}, "load": {"rate": 1, "duration": "1s", "seed": 42}})
    assert spec.load.seed == 42
    assert spec.model_dump(mode="json")["load"]["seed"] == 42


def _split(result) -> tuple[int, int]:
    v = result.summary["variants"]
    return v["A"]["requests"]["scheduled"], v["B"]["requests"]["scheduled"]


def test_runs_differ_without_a_seed_and_the_recorded_seed_reproduces_one(tmp_path):
    runs = [stinger.run(_spec(tmp_path)) for _ in range(4)]
    seeds = [r.summary["seed"] for r in runs]
    assert all(isinstance(s, int) for s in seeds)
    assert len(set(seeds)) == 4, seeds
    assert len({_split(r) for r in runs}) > 1, [_split(r) for r in runs]   # not the same n every run
    again = stinger.run(_spec(tmp_path, seed=seeds[0]))
    assert again.summary["seed"] == seeds[0]
    assert _split(again) == _split(runs[0])
    saved = (runs[0].run_dir / "spec.yaml").read_text()
    assert f"seed: {seeds[0]}" in saved


# --------------------------------------------------------------------------- issue 9 item 11
def test_variants_with_a_payload_default_to_post_like_a_single_target():
    """Spec `variants:` used to default to GET even with a payload (180/180 HTTP 405)."""
    spec = parse_spec({
        "variants": [{"name": "A", "url": "http://127.0.0.1:9/a"},
                     {"name": "B", "target": {"type": "http", "url": "http://127.0.0.1:9/b"}},
                     {"name": "C", "url": "http://127.0.0.1:9/c", "method": "PUT"}],
        "payload": {"body": '{"x": 1}'},
        "load": {"rate": 1, "duration": "1s"},
    })
    assert [v.target.method for v in spec.all_variants()] == ["POST", "POST", "PUT"]
    single = parse_spec({"target": {"url": "http://127.0.0.1:9/"}, "payload": {"body": "x"},
                         "load": {"rate": 1, "duration": "1s"}})
    assert single.target.method == "POST"
    assert single.model_dump(mode="json")["target"]["method"] == "POST"
    no_body = parse_spec({"variants": [{"name": "A", "url": "http://127.0.0.1:9/a"}],
                          "load": {"rate": 1, "duration": "1s"}})
    assert no_body.all_variants()[0].target.method == "GET"
