"""Multi-turn sessions and Mooncake replay, measured (issue 18 item 3): `python3 bench/sessions.py [--sessions 120]`.

Against the self-timing LLM server (`record_prompts`: it keeps what each request asked and its arrival),
one `stinger run --sessions` as a user runs it (the CLI, a subprocess, bounded) with ShareGPT-shaped
conversations of 1 to 6 turns, 2 workers, and one `--format mooncake --replay-arrivals` of a synthetic
Mooncake trace (requests sharing hash-id prefixes). Prints, from requests.csv and the server's record:

- session starts: schedule lag (sent - intended) of each session's first turn, p50/p99/max ms, and their
  intended offsets against the arrival process's (i / rate);
- later turns: intended - (previous done + think), which must be 0, and their schedule lag;
- turns per session (the summary's, against the conversations'), how sessions ended, the accounting;
- history: the share of turn-k requests whose history carried exactly the k-1 answers the server sent;
- Mooncake: each request's arrival at the server against its trace offset (after request 0), and the share
  of prompts whose shared blocks reached the server word for word.

Saves JSON to bench/results/sessions.json.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from stinger.core.sessions import unpack
from stinger.datasets.mooncake import BLOCK, block_text
from stinger.testing.llm_server import LlmServer

RESULTS = Path(__file__).parent / "results"
SRC = str(Path(__file__).resolve().parents[1] / "src")


def _cli(args: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run([sys.executable, "-m", "stinger.cli", *args], env=env, capture_output=True, text=True,
                       timeout=600)
    if r.returncode != 0:
        raise SystemExit(f"stinger exited {r.returncode}: {r.stderr.strip()[-400:]}")


def _pcts(x) -> dict:
    x = np.asarray(x, dtype=float) * 1e3
    return {"p50": round(float(np.percentile(x, 50)), 3), "p99": round(float(np.percentile(x, 99)), 3),
            "max": round(float(x.max()), 3), "n": len(x)}


def sessions_run(tmp: Path, n: int, rate: float, think: float) -> dict:
    rng = random.Random(7)
    convs = []
    for i in range(n):
        turns = rng.randint(1, 6)
        entries = [{"from": "system", "value": "answer briefly"}]
        for k in range(turns):
            entries += [{"from": "human", "value": f"conversation {i} question {k}"},
                        {"from": "gpt", "value": "a recorded answer"}]
        convs.append({"conversations": entries})
    path = tmp / "conv.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in convs))
    out = tmp / "sess"
    with LlmServer(ttft_ms=20, itl_ms=4, tokens=8, record_prompts=True) as s:
        _cli(["run", "--openai", s.url, "--model", "m", "--sessions", str(path), "--rate", repr(rate),
              "--requests", str(n), "--think-time", f"{think}s", "--workers", "2", "--seed", "1",
              "--out", str(out), "-q", "--save-requests"])
    summary = json.loads(next(out.rglob("summary.json")).read_text())
    rows = list(csv.DictReader(next(out.rglob("requests.csv")).open()))
    by: dict[int, list] = {}
    for r in rows:
        g, k, _ = unpack(int(r["payload"]))
        by.setdefault(g, []).append((k, float(r["intended_s"]), float(r["sent_s"]), float(r["done_s"]),
                                     int(r["queued"])))
    # a first turn sent at once: schedule lag; one that waited for a new connection: queue wait (the summary's split)
    starts, start_lag, start_wait, later_lag, think_err = [], [], [], [], []
    for turns in by.values():
        turns.sort()
        starts.append(turns[0][1])
        (start_lag if turns[0][4] == 0 else start_wait).append(turns[0][2] - turns[0][1])
        for a, b in itertools.pairwise(turns):
            later_lag.append(b[2] - b[1])
            think_err.append(b[1] - (a[3] + think))
    v = summary["variants"]["default"]
    starts = np.sort(np.array(starts))
    offsets = starts - starts[0]
    recs = s.records()
    by_answer = {r["answer"]: r for r in recs}
    exact = 0
    for r in recs:
        msgs = r["messages"]
        answers = [m["content"] for m in msgs if m["role"] == "assistant"]
        if not answers:
            exact += 1
            continue
        prev = by_answer.get(answers[-1])
        exact += prev is not None and msgs[:-2] == prev["messages"] and msgs[-2]["content"] == prev["answer"]
    planned = sum(sum(1 for e in c["conversations"] if e["from"] == "human") for c in convs)
    return {"sessions": n, "rate": rate, "think_s": think,
            "session_start_lag_ms": _pcts(start_lag),
            "session_start_new_connection_wait_ms": _pcts(start_wait) if start_wait else None,
            "summary_schedule_lag_ms": {k: v["schedule_lag_ms"][k] for k in ("p50", "p99", "max")},
            "generator": summary.get("generator", {}).get("message"),
            "session_start_offset_error_ms": round(float(np.abs(offsets - np.arange(len(offsets)) / rate).max() * 1e3), 6),
            "later_turn_lag_ms": _pcts(later_lag),
            "later_turn_intended_error_ms": round(float(np.abs(think_err).max() * 1e3), 6),
            "turns_per_session": {"summary_mean": v["session_turns"]["mean"], "planned_mean": planned / n,
                                  "summary_max": v["session_turns"]["max"]},
            "sessions_block": v["sessions"], "requests": v["requests"],
            "history_exact_share": exact / len(recs), "server_requests": len(recs),
            "turn_rows": {r["label"]: r["responses"] for r in summary["breakdown"]["turn"]["rows"]}}


def mooncake_run(tmp: Path, n: int) -> dict:
    rng = np.random.default_rng(3)
    t, lines, truth = 0.0, [], []
    for i in range(n):
        t += float(rng.exponential(60.0))   # ~16 requests/s
        shared = int(rng.integers(0, 4))    # 0-3 blocks from one of three common prefixes
        family = int(rng.integers(0, 3))
        ids = [family * 100 + j for j in range(shared)] + [10_000 + i * 10 + j for j in range(2)]
        n_in = len(ids) * BLOCK - int(rng.integers(0, 200))
        lines.append({"timestamp": round(t), "input_length": n_in, "output_length": 4, "hash_ids": ids})
        truth.append((round(t), n_in, ids))
    path = tmp / "trace.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    out = tmp / "moon"
    with LlmServer(ttft_ms=5, itl_ms=1, tokens=4, record_prompts=True) as s:
        _cli(["run", "--openai", s.url, "--model", "m", "--data", str(path), "--format", "mooncake",
              "--replay-arrivals", "--workers", "2", "--out", str(out), "-q", "--save-requests"])
    rows = sorted(csv.DictReader(next(out.rglob("requests.csv")).open()), key=lambda r: int(r["payload"]))
    sent = np.array([float(r["sent_s"]) for r in rows])
    recs = s.records()
    prompt_of = {r["messages"][-1]["content"]: r for r in recs}
    same = 0
    recv = []
    for _ts, n_in, ids in truth:
        # the k-th arrival: find its record by its prompt's own (unshared) blocks
        match = next(r for p, r in prompt_of.items() if p.split(" ")[(len(ids) - 2) * BLOCK:(len(ids) - 1) * BLOCK]
                     == block_text(ids[-2]).split(" "))
        words = match["messages"][-1]["content"].split(" ")
        same += all(words[j * BLOCK:(j + 1) * BLOCK] == block_text(h).split(" ")[:max(0, min(BLOCK, n_in - j * BLOCK))]
                    for j, h in enumerate(ids)) and len(words) == n_in
        recv.append(match["recv"])
    recv = np.array(recv)
    offsets = (np.array([ts for ts, *_ in truth]) - truth[0][0]) / 1e3
    # each arrival's lateness against its trace offset, on the server's clock: recv - offset, less its
    # median (the clocks' constant difference); the first request also waits for its new connection
    late = (recv - offsets) - np.median(recv - offsets)
    return {"requests": n, "trace_span_s": round(float(offsets[-1]), 3),
            "server_arrival_vs_offset_spread_ms": _pcts(np.abs(late)),
            "schedule_lag_ms": _pcts(sent - np.array([float(r["intended_s"]) for r in rows])),
            "prompts_with_every_block_exact_share": same / n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=120)
    ap.add_argument("--rate", type=float, default=8.0)
    ap.add_argument("--think", type=float, default=0.2)
    ap.add_argument("--trace", type=int, default=150)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="stinger-sessions-") as d:
        res = {"sessions": sessions_run(Path(d), a.sessions, a.rate, a.think),
               "mooncake": mooncake_run(Path(d), a.trace), "load": os.getloadavg()[0]}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sessions.json").write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
