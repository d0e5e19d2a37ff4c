#!/usr/bin/env python3
"""What counting tokens with `--tokenizer` costs per request: `python3 bench/tokenizer_cost.py`.

Token counting runs in the openai api's `interpret`, on the worker's flush thread once an interval,
never on the event loop (whose cost per request this does not change: `bench/hot_path.py`). This
bench times `interpret` over one interval's streamed answers (`--rows` answers of `--tokens` tokens
each, one SSE event per token, each a word with its leading space as BPE servers send them), side
by side in one run, the best of `--rounds` rounds of this process's CPU time:

- usage:            the server sends usage; no tokenizer (the common case, the reference);
- chunks:           no usage, no tokenizer (one token per event carrying text);
- tokenizer:        no usage, `--tokenizer`: the output counted from the streamed text and the
                    prompt from the payload (the prompt's count kept per payload: `--prompts` distinct);
- usage+tokenizer:  usage sent and a tokenizer given (the text is gathered, never counted).

The tokenizer is a byte-level BPE trained here on generated text (`--vocab` tokens; nothing is
downloaded), the kind an LLM server uses. Prints ns per request and the ratio to `usage`.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

WORDS = ("the of and to in is that for it as was with be by on not he this are or his from at which but have an "
         "they you were her she there been one all we their has would when if so no will more can out up about "
         "model token latency server request stream answer reason first inter gap time measure percentile").split()


def make_tokenizer(folder: Path, vocab: int) -> str:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    rng = random.Random(1)
    corpus = [" ".join(rng.choice(WORDS) + rng.choice(("", "s", "ed", "ing")) for _ in range(60)) for _ in range(2000)]
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=vocab, special_tokens=["<s>", "</s>"]))
    tok.save(str(folder / "tokenizer.json"))
    return str(folder)


def bodies(rows: int, tokens: int, usage: bool) -> tuple[list[bytes], list[list[tuple[float, int]]]]:
    rng = random.Random(2)
    out, stamps = [], []
    for _ in range(rows):
        parts = []
        for _ in range(tokens):
            ev = {"id": "x", "object": "chat.completion.chunk", "model": "m",
                  "choices": [{"index": 0, "delta": {"content": " " + rng.choice(WORDS)}, "finish_reason": None}]}
            parts.append(b"data: " + json.dumps(ev).encode() + b"\n\n")
        if usage:
            parts.append(b"data: " + json.dumps({"choices": [], "usage": {"completion_tokens": tokens,
                                                                          "prompt_tokens": 50}}).encode() + b"\n\n")
        parts.append(b"data: [DONE]\n\n")
        end, st = 0, []
        for k, p in enumerate(parts):
            end += len(p)
            st.append((10.0 + 0.001 * k, end))
        out.append(b"".join(parts))
        stamps.append(st)
    return out, stamps


def ns_per_request(api, rows: int, tokens: int, usage: bool, prompts: int, rounds: int) -> float:
    from stinger.targets.base import ResponseBatch

    bs, st = bodies(rows, tokens, usage)
    rng = random.Random(3)
    payloads = [json.dumps(" ".join(rng.choice(WORDS) for _ in range(50))).encode() for _ in range(prompts)]
    best = float("inf")
    for r in range(rounds):
        # each round's payload indexes are new ones for the memo only in round 0 (as in a run: once per payload)
        batch = ResponseBatch(intended=np.full(rows, 10.0), sent=np.full(rows, 10.0), first=np.full(rows, 10.001),
                              done=np.full(rows, 10.2), kind=np.zeros(rows, np.int64), status=np.full(rows, 200),
                              variant=np.zeros(rows, np.int64), nbytes=np.full(rows, 100),
                              payload=np.arange(rows) % prompts, bodies=bs, chunk_times=st,
                              payload_bytes=lambda p: payloads[p])
        t0 = time.process_time()
        got = api.interpret(batch)
        dt = time.process_time() - t0
        assert np.all(got.columns["output_tokens"] > 0)
        if r:   # round 0 fills the prompt memo: the steady state is what a run pays per request
            best = min(best, dt)
    return best / rows * 1e9


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=500, help="answers per interval")
    ap.add_argument("--tokens", type=int, default=128, help="tokens (events) per answer")
    ap.add_argument("--prompts", type=int, default=100, help="distinct prompts")
    ap.add_argument("--vocab", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=7)
    a = ap.parse_args(argv)
    from stinger.targets.openai import Config, OpenAIApi

    with tempfile.TemporaryDirectory(prefix="stinger-bench-tok-") as d:
        folder = make_tokenizer(Path(d), a.vocab)
        plain = OpenAIApi(Config(url="http://127.0.0.1:9/v1", model="m"))
        counted = OpenAIApi(Config(url="http://127.0.0.1:9/v1", model="m", tokenizer=folder))
        cases = [("usage", plain, True), ("chunks", plain, False), ("tokenizer", counted, False),
                 ("usage+tokenizer", counted, True)]
        got = {name: ns_per_request(api, a.rows, a.tokens, usage, a.prompts, a.rounds) for name, api, usage in cases}
        # the first case again, last: the machine's drift over the run, as noise beside the ratios
        again = ns_per_request(plain, a.rows, a.tokens, True, a.prompts, a.rounds)
        one = counted._counter
        text = " ".join(random.Random(4).choice(WORDS) for _ in range(a.tokens))
        t0 = time.process_time()
        for _ in range(200):
            one.count([text])
        encode_one = (time.process_time() - t0) / 200 * 1e9
    print(f"openai interpret, {a.rows} streamed answers of {a.tokens} tokens, {a.prompts} distinct prompts; "
          f"best of {a.rounds - 1} rounds, process CPU time")
    print(f"{'case':18} {'us/request':>11} {'x usage':>8}")
    for name, ns in got.items():
        print(f"{name:18} {ns / 1e3:11.1f} {ns / got['usage']:8.2f}")
    print(f"usage (again)      {again / 1e3:11.1f} {again / got['usage']:8.2f}   <- drift over the run")
    print(f"the tokenizer's count alone: {(got['tokenizer'] - got['chunks']) / 1e3:.1f} us/request "
          f"(one encode of {a.tokens} tokens by itself: {encode_one / 1e3:.1f} us)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
