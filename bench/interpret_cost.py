#!/usr/bin/env python3
"""What the LLM apis' `interpret` costs per streamed answer: `python3 bench/interpret_cost.py`.

Times `interpret` (the flush thread's reading of an interval's answers) of the openai and the anthropic
api over `--rows` streamed answers of `--tokens` tokens each (one event per token, the server's usage
at the end), the best of `--rounds` rounds of this process's CPU time, in microseconds per answer. It
uses no option newer than the apis themselves, so it runs under any tree: compare two trees by running
it under each one's PYTHONPATH, alternately (`--trees A B` does that, `--alternations` times each).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np


def openai_body(tokens: int) -> list[bytes]:
    parts = [b"data: " + json.dumps({"id": "x", "object": "chat.completion.chunk", "model": "m", "choices": [
        {"index": 0, "delta": {"content": f" t{k}"}, "finish_reason": None}]}).encode() + b"\n\n" for k in range(tokens)]
    parts.append(b"data: " + json.dumps({"choices": [], "usage": {"completion_tokens": tokens,
                                                                  "prompt_tokens": 9}}).encode() + b"\n\n")
    return [*parts, b"data: [DONE]\n\n"]


def anthropic_body(tokens: int) -> list[bytes]:
    def ev(typ: str, obj: dict) -> bytes:
        return f"event: {typ}\ndata: ".encode() + json.dumps({"type": typ, **obj}).encode() + b"\n\n"

    parts = [ev("message_start", {"message": {"id": "m", "usage": {"input_tokens": 9, "output_tokens": 1}}}),
             ev("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})]
    parts += [ev("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": f" t{k}"}})
              for k in range(tokens)]
    parts += [ev("content_block_stop", {"index": 0}),
              ev("message_delta", {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": tokens}}),
              ev("message_stop", {})]
    return parts


def us_per_answer(api, parts: list[bytes], rows: int, rounds: int) -> float:
    from stinger.targets.base import ResponseBatch

    body = b"".join(parts)
    stamps, end = [], 0
    for k, p in enumerate(parts):
        end += len(p)
        stamps.append((10.0 + 0.001 * k, end))
    best = float("inf")
    for _ in range(rounds):
        batch = ResponseBatch(intended=np.full(rows, 10.0), sent=np.full(rows, 10.0), first=np.full(rows, 10.001),
                              done=np.full(rows, 10.2), kind=np.zeros(rows, np.int64), status=np.full(rows, 200),
                              variant=np.zeros(rows, np.int64), nbytes=np.full(rows, len(body)),
                              payload=np.zeros(rows, np.int64), bodies=[body] * rows, chunk_times=[stamps] * rows)
        t0 = time.process_time()
        got = api.interpret(batch)
        best = min(best, time.process_time() - t0)
        assert np.all(got.columns["output_tokens"] > 0)
    return best / rows * 1e6


def measure(rows: int, tokens: int, rounds: int) -> dict:
    from stinger.targets import anthropic, openai

    o = openai.OpenAIApi(openai.Config(url="http://127.0.0.1:9/v1", model="m"))
    a = anthropic.AnthropicApi(anthropic.Config(url="http://127.0.0.1:9/v1", model="m"))
    return {"openai": us_per_answer(o, openai_body(tokens), rows, rounds),
            "anthropic": us_per_answer(a, anthropic_body(tokens), rows, rounds)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=400)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--trees", nargs="*", default=[], help="src folders to compare, alternately")
    ap.add_argument("--alternations", type=int, default=3)
    ap.add_argument("--json", action="store_true", help="print one JSON line (used by --trees)")
    a = ap.parse_args(argv)
    if not a.trees:
        got = measure(a.rows, a.tokens, a.rounds)
        if a.json:
            print(json.dumps(got))
        else:
            print(f"{a.rows} answers x {a.tokens} tokens: " + ", ".join(f"{k} {v:.1f} us/answer" for k, v in got.items()))
        return 0
    runs: dict[str, list[dict]] = {t: [] for t in a.trees}
    for _ in range(a.alternations):
        for tree in a.trees:
            p = subprocess.run([sys.executable, __file__, "--json", "--rows", str(a.rows), "--tokens", str(a.tokens),
                                "--rounds", str(a.rounds)], capture_output=True, text=True, check=True,
                               env={**os.environ, "PYTHONPATH": tree}, timeout=600)
            runs[tree].append(json.loads(p.stdout))
    print(f"{a.rows} answers x {a.tokens} tokens, best of {a.rounds} rounds, {a.alternations} alternations "
          f"(median of the alternations, us/answer; load average {os.getloadavg()[0]:.1f})")
    base = a.trees[0]
    for tree in a.trees:
        med = {k: float(np.median([r[k] for r in runs[tree]])) for k in ("openai", "anthropic")}
        ref = {k: float(np.median([r[k] for r in runs[base]])) for k in ("openai", "anthropic")}
        print(f"  {tree}: openai {med['openai']:.1f} (x{med['openai'] / ref['openai']:.3f}), "
              f"anthropic {med['anthropic']:.1f} (x{med['anthropic'] / ref['anthropic']:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
