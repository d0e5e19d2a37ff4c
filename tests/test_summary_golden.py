"""summary.json's keys, golden: real runs against reference servers write exactly the key paths the tree
before the typed summary (issue 17, package E) wrote, and the typed summary reads each file back whole.

The golden file (tests/golden/summary_keys.json) was written by the tree before the change:

    PYTHONPATH=<old tree>/src python3 tests/test_summary_golden.py --write tests/golden/summary_keys.json

Key paths are dotted; the names a run chooses (variants, targets, status codes, monitor series,
server-time sources) are `*`, so the set is the schema, not the run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import stinger
from stinger.testing.llm_server import LlmServer
from stinger.testing.servers import RefServer

GOLDEN = Path(__file__).parent / "golden" / "summary_keys.json"
# the keys whose children are named by the run (variant names, series keys, ...), not by the schema
NAMED = {"variants", "targets", "status_codes", "series", "resources", "source", "server_metrics_ms", "failures",
         "errors_by_variant", "spike"}
# keys the run's circumstances decide, not the schema: requests that waited for a connection, failed ones,
# a busy machine's figures, requests sent while another variant's was in flight
BY_CHANCE = {"queue_wait_ms", "failures", "sample_responses", "error_messages", "machine", "latency_overlapped_ms",
             "server_time_overlapped_ms"}


def schema_paths(paths) -> list[str]:
    return sorted(p for p in paths if not BY_CHANCE & set(p.replace("[]", "").split(".")))


def key_paths(x, prefix: str = "") -> set[str]:
    out: set[str] = set()
    if isinstance(x, dict):
        named = prefix.rsplit(".", 1)[-1] in NAMED
        for k, v in x.items():
            p = f"{prefix}.{'*' if named else k}" if prefix else k
            out.add(p)
            out |= key_paths(v, p)
    elif isinstance(x, list):
        for v in x:
            out |= key_paths(v, f"{prefix}[]")
    return out


def scenarios(tmp: Path) -> dict[str, dict]:
    """Two real runs: an A/B split with SLOs and Server-Timing, a streaming LLM run; their summary.json."""
    out = {}
    with RefServer("delay", delay_ms=5) as a, RefServer("delay", delay_ms=8) as b:
        spec = {"name": "golden split", "split": "split",
                "variants": [{"name": "A", "target": {"url": a.url + "/"}}, {"name": "B", "target": {"url": b.url + "/"}}],
                "load": {"rate": 40, "duration": "2s", "workers": 1, "seed": 7},
                "slo": ["p99 < 2000ms", "error_rate < 5%", "server.p50 < 1000ms"],
                "output": {"dir": str(tmp / "split")}}
        out["split"] = _summary(stinger.run(spec, outputs=["rundir"]))
    with LlmServer(ttft_ms=10, itl_ms=2, tokens=6) as s:
        spec = {"target": {"type": "openai", "url": s.url, "model": "m", "max_tokens": 6},
                "payload": {"body": "hi"},
                "load": {"rate": 10, "duration": "2s", "workers": 1, "seed": 7},
                "output": {"dir": str(tmp / "llm")}}
        out["llm"] = _summary(stinger.run(spec, outputs=["rundir"]))
    return out


def _summary(result) -> dict:
    return json.loads((Path(result.run_dir) / "summary.json").read_text())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return scenarios(tmp_path_factory.mktemp("golden"))


@pytest.mark.parametrize("name", ["split", "llm"])
def test_summary_json_has_the_golden_key_set(runs, name):
    golden = schema_paths(json.loads(GOLDEN.read_text())[name])
    got = schema_paths(key_paths(runs[name]))
    assert got == golden, {"new": sorted(set(got) - set(golden)), "gone": sorted(set(golden) - set(got))}


@pytest.mark.parametrize("name", ["split", "llm"])
def test_the_typed_summary_reads_summary_json_back_whole(runs, name):
    from stinger.core.summary import RunSummary

    d = runs[name]
    typed = RunSummary.from_json(d)
    assert typed.to_json() == d
    assert RunSummary.from_json(typed.to_json()) == typed
    assert set(typed.variants) == set(d["variants"]) and typed.variants[next(iter(d["variants"]))].requests.ok > 0


def test_the_public_result_carries_the_typed_summary_beside_the_dict(runs):
    r = stinger.read_run(Path(runs["split"]["run_dir"]))
    assert r.run_summary.to_json() == r.summary
    assert r.run_summary.hists_of("server_time_ms").keys() == {"A", "B"}
    assert r.run_summary.server_time.source["A"].startswith("response header")


def test_the_report_shows_the_catalogue_s_rate_and_units_from_a_real_llm_run(runs):
    """The report renders what the catalogue holds: the derived rate (output tokens/s) beside the card's
    latency, and each metric's own unit in the table (tokens are not ms)."""
    import re

    from stinger.outputs.report import render_report

    d = runs["llm"]
    html = render_report(d["run_dir"])
    rate = d["variants"]["default"]["throughput"]["output_tokens_per_s"]
    assert re.search(r'output tokens/s <span class="num" data-key="output_tokens_per_s" data-value="([^"]+)"',
                     html).group(1) == json.dumps(rate)
    assert "<td>output tokens</td><td>tokens</td>" in html and "<td>time to first token</td><td>ms</td>" in html


if __name__ == "__main__":   # write the golden key sets from the tree on PYTHONPATH
    import tempfile

    assert sys.argv[1] == "--write", "usage: test_summary_golden.py --write PATH"
    with tempfile.TemporaryDirectory() as d:
        got = {k: sorted(key_paths(v)) for k, v in scenarios(Path(d)).items()}
    Path(sys.argv[2]).parent.mkdir(parents=True, exist_ok=True)
    Path(sys.argv[2]).write_text(json.dumps(got, indent=1) + "\n")
    print({k: len(v) for k, v in got.items()})
