"""A/B on tokens (issue 18 item 6): time to first output token and goodput are rows of the verdict and of
`stinger compare`, paired traffic sends one prompt to both variants, and `stinger plan` sizes a test for a
token metric; all against real self-timing LLM servers on loopback (`stinger.testing.llm_server`), whose
records say what they were sent and when they answered.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import stinger
from stinger.testing.llm_server import LlmServer

pytestmark = pytest.mark.slow


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stinger.cli", *args], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ))


def only_dir(root: Path) -> Path:
    dirs = [d for d in root.iterdir() if (d / "summary.json").exists()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def _ab(tmp_path: Path, a: LlmServer, b: LlmServer, *, name: str, rate: float = 30, seconds: int = 12,
        goodput: list[str] | None = None, split: str = "split", extra: dict | None = None) -> Path:
    kw = {"type": "openai", "model": "m"}
    spec = {"variants": [{"name": "A", "url": a.url, **kw}, {"name": "B", "url": b.url, **kw}],
            "payload": {"body": "hello there"}, "split": split, "server_time": None,
            "load": {"rate": rate, "duration": f"{seconds}s", "warmup": "1s", "seed": 3},
            "goodput": goodput or [], **(extra or {})}
    (tmp_path / f"{name}.yaml").write_text(json.dumps(spec))
    p = cli("ab", str(tmp_path / f"{name}.yaml"), "-q", "--out", str(tmp_path / name))
    assert p.returncode in (0, 1), p.stderr
    return only_dir(tmp_path / name)


def test_a_ttfo_only_difference_and_its_goodput_are_rows_of_ab_and_compare(tmp_path):
    # two reasoning servers with the same TTFT (40 ms) and gaps (8 ms): B reasons 8 tokens before its
    # answer, A 4, so B's first output token is 4 gaps (32 ms) later and its TTFT is the same. Goodput on
    # 'ttfo<90ms' is A's 72 ms, always; never B's 104 ms. Before: no TTFO row, no goodput row.
    with LlmServer(ttft_ms=40, itl_ms=8, tokens=4, reasoning=4) as a, \
            LlmServer(ttft_ms=40, itl_ms=8, tokens=4, reasoning=8) as b:
        run = _ab(tmp_path, a, b, name="ab", goodput=["ttfo<90ms"])
    verdict = json.loads((run / "verdict.json").read_text())
    rows = {r["metric"]: r for r in verdict["rows"]}
    ttfo = rows["time to first output token p50 (ms)"]
    assert ttfo["significant"] and ttfo["better"] == "a", ttfo
    assert ttfo["ci_low"] - 0.5 <= 32.0 <= ttfo["ci_high"] + 0.5, ttfo   # 4 gaps of 8 ms, the servers' own
    assert not rows["time to first token p50 (ms)"]["significant"], rows["time to first token p50 (ms)"]
    good = rows["goodput (%)"]
    assert good["a"] > 95 and good["b"] < 5 and good["significant"] and good["better"] == "a", good
    assert good["ci_low"] <= good["diff"] <= good["ci_high"] < 0
    assert "goodput" in verdict["sentence"] and "time to first output token" in verdict["sentence"]
    # the same rows from the saved run: compare reads ttfo's histograms and the goodput counts back
    again = stinger.compare(f"{run}:A", f"{run}:B")
    assert again.verdict["rows"] == verdict["rows"]
    assert "goodput (%)" in again.regressions and "time to first output token p50 (ms)" in again.regressions


def test_ttfo_has_no_rows_of_its_own_when_no_model_reasons_and_objectives_must_match(tmp_path):
    # without reasoning ttfo is ttft, value for value: its rows would be ttft's twice (two more steps of Holm)
    with LlmServer(ttft_ms=40, itl_ms=8, tokens=4) as a, LlmServer(ttft_ms=40, itl_ms=8, tokens=4) as b:
        run_a = _ab(tmp_path, a, b, name="a", seconds=11, goodput=["ttft<45ms"])
        run_b = _ab(tmp_path, a, b, name="b", seconds=11, goodput=["ttft<60ms"])
    rows = [r["metric"] for r in json.loads((run_a / "verdict.json").read_text())["rows"]]
    assert "time to first token p50 (ms)" in rows and "goodput (%)" in rows
    assert not any("first output token" in r for r in rows), rows
    # two runs judged on different objectives: no goodput row, and a note says why
    cmp = stinger.compare(f"{run_a}:A", f"{run_b}:A")
    assert "goodput (%)" not in [r["metric"] for r in cmp.verdict["rows"]]
    assert any("goodput not compared" in n and "ttft<45ms" in n for n in cmp.verdict["notes"]), cmp.verdict["notes"]


def test_paired_mode_sends_every_prompt_to_both_variants_as_the_servers_saw_them(tmp_path):
    # 12 distinct synthetic prompts; the servers hash each prompt they read: paired traffic gives A and B
    # the same prompts the same number of times, split traffic does not
    with LlmServer(ttft_ms=20, itl_ms=4, tokens=4) as a, LlmServer(ttft_ms=20, itl_ms=4, tokens=4) as b:
        _ab(tmp_path, a, b, name="paired", split="paired", rate=15, seconds=4,
            extra={"payload": {"isl": "12:3", "osl": "4:0", "prompts": 12}})
        seen_a = collections.Counter(r["prompt_hash"] for r in a.records())
        seen_b = collections.Counter(r["prompt_hash"] for r in b.records())
    assert len(seen_a) > 5, seen_a          # many prompts, not one
    assert seen_a == seen_b, (seen_a, seen_b)


def test_plan_sizes_a_test_for_a_token_metric_and_for_goodput(tmp_path):
    with LlmServer(ttft_ms=40, itl_ms=8, tokens=8) as s:
        p = cli("run", "--openai", s.url, "--model", "m", "--body", '"hi"', "--rate", "20", "--duration", "8s",
                "--goodput", "ttft<41ms", "-q", "--out", str(tmp_path / "base"))
    assert p.returncode == 0, p.stderr
    base = str(only_dir(tmp_path / "base"))
    ttft = cli("plan", "--metric", "ttft", "--min-effect", "10ms", "--baseline", base)
    assert ttft.returncode == 0, ttft.stderr
    assert "increase in time to first token" in ttft.stdout and "p50/p95 by block bootstrap over" in ttft.stdout
    assert "goodput" in ttft.stdout          # Holm's family counts the goodput row the baseline will have
    good = cli("plan", "--metric", "goodput", "--min-effect", "5%", "--baseline", base)
    assert good.returncode == 0, good.stderr
    share = json.loads((Path(base) / "summary.json").read_text())["variants"]["default"]["goodput"]["share"]
    assert f"baseline goodput share of {100 * share:g}%" in good.stdout, good.stdout
    bad = cli("plan", "--metric", "tokens", "--min-effect", "10ms", "--baseline", base)
    assert bad.returncode == 2 and "--metric 'tokens' cannot be planned" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr
