"""datasets/synthetic.py: prompts of drawn input lengths asking for drawn output lengths, pure in the seed."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stinger.datasets.base import Dataset
from stinger.datasets.synthetic import WORDS, SyntheticPrompts
from stinger.errors import DatasetError
from stinger.spec import parse_spec
from stinger.targets.base import build_target


def records(ds: SyntheticPrompts) -> list[dict]:
    return [json.loads(ds.body(i)) for i in range(len(ds))]


def test_lengths_follow_mean_and_stddev_and_max_tokens_comes_from_osl():
    ds = SyntheticPrompts("512:128", "256:64", count=4000, seed=7)
    assert isinstance(ds, Dataset) and len(ds) == 4000 and ds.content_type == "application/json"
    recs = records(ds)
    words = np.array([len(r["prompt"].split()) for r in recs])
    out = np.array([r["max_tokens"] for r in recs])
    assert (words == ds.input_lengths).all() and (out == ds.output_lengths).all()
    # 4000 draws: the sample mean within 4 standard errors, the stddev within 5 %
    assert abs(words.mean() - 512) < 4 * 128 / np.sqrt(4000) and words.std() == pytest.approx(128, rel=0.05)
    assert abs(out.mean() - 256) < 4 * 64 / np.sqrt(4000) and out.std() == pytest.approx(64, rel=0.05)
    assert set(" ".join(r["prompt"] for r in recs[:50]).split()) <= set(WORDS)
    assert "ignore_eos" not in recs[0]


def test_the_same_seed_gives_the_same_bodies_and_another_seed_others():
    a, b = SyntheticPrompts("64:16", "32:8", count=50, seed=3), SyntheticPrompts("64:16", "32:8", count=50, seed=3)
    assert [a.body(i) for i in range(50)] == [b.body(i) for i in range(50)]
    c = SyntheticPrompts("64:16", "32:8", count=50, seed=4)
    assert [a.body(i) for i in range(50)] != [c.body(i) for i in range(50)]
    assert len({r["prompt"].split()[0:4].__repr__() for r in records(a)}) > 40   # prompts do not share one prefix


def test_a_bare_mean_is_a_fixed_length_never_below_one_and_ignore_eos_when_asked():
    ds = SyntheticPrompts("20", "1:50", count=200, seed=1, ignore_eos=True)
    recs = records(ds)
    assert {len(r["prompt"].split()) for r in recs} == {20}
    assert min(r["max_tokens"] for r in recs) == 1 and all(r["ignore_eos"] is True for r in recs)
    assert "max_tokens" not in json.loads(SyntheticPrompts("8", count=1).body(0))


@pytest.mark.parametrize(("isl", "says"), [("abc", "expected MEAN:STDDEV"), ("0:5", "at least 1 token"),
                                           ("512:-1", "stddev of 0 or more"), ("512:x", "expected MEAN:STDDEV")])
def test_a_bad_length_is_a_one_line_error(isl, says):
    with pytest.raises(DatasetError, match=says):
        SyntheticPrompts(isl, count=1)


def test_the_openai_api_sends_a_synthetic_body_as_one_user_message_with_its_max_tokens():
    spec = parse_spec({"target": {"type": "openai", "url": "http://127.0.0.1:9/v1", "model": "m", "max_tokens": 999},
                       "payload": {"body": "x"}, "load": {"rate": 1, "duration": 1}})
    t = build_target(spec.target)
    rec = json.loads(SyntheticPrompts("10:2", "40:5", count=1, seed=2).body(0))
    wire = t.request(t.endpoints()[0], json.dumps(rec).encode(), 0.0)[0]
    sent = json.loads(wire.partition(b"\r\n\r\n")[2])
    assert sent["messages"] == [{"role": "user", "content": rec["prompt"]}]
    assert sent["max_tokens"] == rec["max_tokens"]   # the record's, not the config's


# ------------------------------------------------------------ end to end
def cli(*args: str):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "stinger.cli", *args], capture_output=True, text=True, timeout=120)


def test_a_run_with_isl_and_osl_sends_the_seeded_prompts_and_their_max_tokens(tmp_path):
    from stinger.testing.llm_server import LlmServer

    with LlmServer(ttft_ms=2, itl_ms=1, tokens=200) as s:   # answers max_tokens tokens (up to 200)
        p = cli("run", "--openai", s.url, "--model", "m", "--isl", "30:8", "--osl", "12:4", "--prompts", "20",
                "--seed", "11", "--rate", "20", "--requests", "20", "-q", "--out", str(tmp_path))
    assert p.returncode == 0, p.stderr
    v = json.loads(next(tmp_path.glob("*/summary.json")).read_text())["variants"]["default"]
    assert v["requests"]["ok"] == 20
    want = SyntheticPrompts("30:8", "12:4", count=20, seed=11)   # what every worker built from the seed
    # the server counts a prompt's words as its tokens and answers max_tokens tokens: each prompt sent once
    assert v["input_tokens"]["mean"] == pytest.approx(want.input_lengths.mean(), abs=0.01)
    assert v["output_tokens"]["mean"] == pytest.approx(want.output_lengths.mean(), abs=0.01)
    assert sorted(r["tokens"] for r in s.records()) == sorted(want.output_lengths.tolist())


@pytest.mark.parametrize(("args", "says"), [
    (["--osl", "12:4"], "expected isl (--isl MEAN:STDDEV) too"),
    (["--isl", "30:8", "--body", '"hi"'], "without payload.data (--data) or body (--body)"),
    (["--isl", "thirty"], "expected MEAN:STDDEV"),
])
def test_synthetic_flags_misused_are_one_line_errors(args, says):
    p = cli("run", "--openai", "http://127.0.0.1:9/v1", "--model", "m", *args, "--rate", "1", "--duration", "1s", "-q")
    assert p.returncode == 2 and says in p.stderr and "Traceback" not in p.stderr, p.stderr
