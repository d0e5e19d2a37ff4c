"""Mooncake-style traces (`--data T.jsonl --format mooncake --replay-arrivals`): each request sent at its
timestamp, its prompt built so that equal hash ids are equal prefix text, max_tokens its output_length.

Ground truth: the self-timing LLM server with `record_prompts`, which records each request's arrival
(`recv`, perf_counter) and the messages it was asked; the run's requests.csv gives each request's intended
and sent instants. The trace's offsets are irregular (a burst, a pause) and its lines are shuffled in the
file: arrival order is the timestamps'.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stinger.datasets.mooncake import BLOCK, MooncakeTrace, block_text, prompt_text
from stinger.errors import DatasetError

SRC = str(Path(__file__).resolve().parents[2] / "src")

# (timestamp ms, input_length, output_length, hash_ids): 1 and 2 share two blocks with 0; 3 shares one;
# 4 has none in common; 5's ids do not cover its length (filled with words of its own)
LINES = [
    (1000, 1100, 3, [0, 1, 2]),
    (1040, 1300, 4, [0, 1, 5]),
    (1100, 1024, 5, [0, 1]),
    (1350, 700, 6, [0, 9]),
    (1360, 900, 7, [20, 21]),
    (1700, 600, 8, [30]),
    (2100, 512, 9, [0]),
    (2110, 1536, 10, [0, 1, 2]),
]


def _write(path: Path, lines=LINES, order=None) -> Path:
    order = order or [3, 0, 7, 1, 5, 2, 6, 4]   # shuffled: arrival order is the timestamps'
    recs = [{"timestamp": LINES[i][0], "input_length": LINES[i][1], "output_length": LINES[i][2],
             "hash_ids": LINES[i][3]} for i in order]
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


def test_blocks_are_a_pure_function_of_their_id_and_prompts_share_the_prefix_of_their_common_ids(tmp_path):
    assert block_text(7) == block_text(7) and len(block_text(7).split(" ")) == BLOCK
    assert block_text(7) != block_text(8)
    a, b = prompt_text(1100, [0, 1, 2], 1), prompt_text(1300, [0, 1, 5], 2)
    wa, wb = a.split(" "), b.split(" ")
    assert (len(wa), len(wb)) == (1100, 1300)
    common = next(i for i, (x, y) in enumerate(zip(wa, wb, strict=False)) if x != y)
    assert common >= 2 * BLOCK   # two shared blocks (a third may agree on a word by chance)
    assert wa[:2 * BLOCK] == wb[:2 * BLOCK] and wa[2 * BLOCK:2 * BLOCK + 20] != wb[2 * BLOCK:2 * BLOCK + 20]
    long = prompt_text(1200, [30], 9).split(" ")   # past its blocks: filled with words of its own
    assert len(long) == 1200 and long[:BLOCK] == block_text(30).split(" ")


def test_the_dataset_sends_the_lines_in_arrival_order_with_their_offsets(tmp_path):
    path = _write(tmp_path / "t.jsonl")
    ds = MooncakeTrace(path)
    assert len(ds) == len(LINES)
    np.testing.assert_allclose(MooncakeTrace.arrival_offsets(str(path)), [(t - 1000) / 1e3 for t, *_ in LINES])
    for i, (_, n_in, n_out, _ids) in enumerate(LINES):
        body = json.loads(ds.body(i))
        assert body["max_tokens"] == n_out and len(body["prompt"].split(" ")) == n_in
    assert "8 requests" in ds.description


@pytest.mark.parametrize(("line", "expected"), [
    ('{"timestamp": 1, "input_length": 5, "output_length": 2, "hash_ids": [1, "x"]}', "hash_ids"),
    ('{"timestamp": -4, "input_length": 5, "output_length": 2, "hash_ids": []}', "timestamp"),
    ('{"timestamp": 1, "input_length": 0, "output_length": 2, "hash_ids": []}', "input_length"),
    ('{"timestamp": 1, "input_length": 5, "hash_ids": []}', "output_length"),
    ("[1, 2]", "a JSON list"),
    ("{not json", "not JSON"),
])
def test_a_bad_line_is_one_line_naming_the_line_and_the_field(tmp_path, line, expected):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"timestamp": 0, "input_length": 5, "output_length": 2, "hash_ids": [1]}\n' + line + "\n")
    with pytest.raises(DatasetError) as e:
        MooncakeTrace(path)
    assert "line 2" in str(e.value) and expected in str(e.value) and "\n" not in str(e.value)


def _stinger(args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "stinger.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def test_a_bad_trace_line_is_exit_2_and_one_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"timestamp": 0, "input_length": 5, "output_length": 2, "hash_ids": "nope"}\n')
    r = _stinger(["run", "--openai", "http://127.0.0.1:9/v1", "--model", "m", "--data", str(bad),
                  "--format", "mooncake", "--replay-arrivals", "--out", str(tmp_path / "o"), "-q"])
    assert r.returncode == 2, r.stderr
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "line 1" in lines[0] and "hash_ids" in lines[0], r.stderr


@pytest.mark.parametrize("speed", [1.0, 2.0])
def test_replay_sends_each_request_at_its_offset_with_shared_prefixes_seen_by_the_server(tmp_path, speed):
    from stinger.testing.llm_server import LlmServer

    trace = _write(tmp_path / "trace.jsonl")
    out = tmp_path / "out"
    with LlmServer(ttft_ms=5, itl_ms=1, tokens=32, record_prompts=True) as s:
        r = _stinger(["run", "--openai", s.url, "--model", "m", "--data", str(trace), "--format", "mooncake",
                      "--replay-arrivals", "--speed", repr(speed), "--workers", "2", "--out", str(out), "-q",
                      "--save-requests"])
        assert r.returncode == 0, r.stderr
    seen = sorted(s.records(), key=lambda x: x["tokens"])   # output_length is unique per line: 3..10
    n = len(LINES)
    assert [x["tokens"] for x in seen] == [n_out for _, _, n_out, _ in LINES]   # max_tokens = output_length
    prompts = [x["messages"][-1]["content"] for x in seen]
    # what the server received shares exactly the blocks the trace says, word for word
    for i, (_, n_in, _, ids) in enumerate(LINES):
        words = prompts[i].split(" ")
        assert len(words) == n_in
        for j, h in enumerate(ids):
            assert words[j * BLOCK:(j + 1) * BLOCK] == block_text(h).split(" ")[:max(0, min(BLOCK, n_in - j * BLOCK))]
    assert prompts[0].split(" ")[:2 * BLOCK] == prompts[1].split(" ")[:2 * BLOCK]
    assert prompts[3].split(" ")[:BLOCK] == prompts[0].split(" ")[:BLOCK] != prompts[4].split(" ")[:BLOCK]

    summary = json.loads(next(out.rglob("summary.json")).read_text())
    req = summary["variants"]["default"]["requests"]
    assert req["scheduled"] == req["ok"] == n and req["failed"] == 0
    rows = sorted(csv.DictReader(next(out.rglob("requests.csv")).open()), key=lambda x: int(x["payload"]))
    assert [int(x["payload"]) for x in rows] == list(range(n))   # payload k is the k-th arrival
    offsets = np.array([(t - LINES[0][0]) / 1e3 / speed for t, *_ in LINES])
    intended = np.array([float(x["intended_s"]) for x in rows])
    sent = np.array([float(x["sent_s"]) for x in rows])
    np.testing.assert_allclose(intended - intended[0], offsets, atol=2e-6)   # the schedule is the trace's
    # the server read request i at its offset after request 0, late by no more than this run measured:
    # each request's departure delay (sent - intended) and the spread of the server's reading (recv - sent)
    recv = np.array([x["recv"] for x in seen])
    depart = sent - intended
    read = recv - sent
    deviation = (recv - recv[0]) - offsets
    slack = depart + depart[0] + np.ptp(read) + 2e-6
    assert np.all(np.abs(deviation) <= slack), list(zip(deviation.round(4), slack.round(4), strict=True))
