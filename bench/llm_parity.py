#!/usr/bin/env python3
"""LLM parity: stinger's time to first token and inter-token latency beside NVIDIA AIPerf's.

    python3 bench/llm_parity.py [--rate 5] [--requests 60] [--ttft-ms 40] [--itl-ms 8] [--tokens 32]
                                [--aiperf PATH]

Both generators drive the same kind of OpenAI-compatible server
(`stinger.testing.llm_server`: chat completions streamed as server-sent
events, the first token `--ttft-ms` after the request was read and the others
`--itl-ms` apart), at the same fixed request rate for the same number of
requests, each against a fresh server that records its own per-request
times. The table puts each generator's TTFT and ITL (p50, p99) beside the
server's own, and the CPU seconds each generator's process tree spent per
request. AIPerf counts tokens with a tokenizer; here it gets a small local
word-level one (built with AIPerf's own `tokenizers`, no network) and
`--use-server-token-count`, as stinger uses the server's usage chunk.

AIPerf is not a stinger dependency (its pins clash with the dev tools):
install it in its own environment, e.g.
`python3 -m venv /opt/aiperf && /opt/aiperf/bin/pip install aiperf`; the bench
looks for `aiperf` next to that interpreter, on PATH, or at `--aiperf`.
Results go to the terminal and bench/results/llm-parity-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np

from _common import BENCH_DIR, fmt, measure, pick_cores, stinger_cmd, table
from stinger.testing.llm_server import LlmServer

_TOKENIZER = """
import sys
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast
tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
tok.pre_tokenizer = pre_tokenizers.Whitespace()
words = [f"t{k}" for k in range(4096)] + [chr(c) for c in range(33, 127)]
tok.train_from_iterator([" ".join(words)], trainers.WordLevelTrainer(special_tokens=["[UNK]", "[PAD]", "<s>", "</s>"]))
PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", bos_token="<s>",
                        eos_token="</s>").save_pretrained(sys.argv[1])
"""


def find_aiperf(given: str | None) -> str | None:
    for cand in (given, shutil.which("aiperf"), "/opt/aiperf/bin/aiperf"):
        if cand and Path(cand).exists():
            return cand
    return None


def server_figures(recs: list[dict]) -> dict:
    ttft = np.array([(r["first"] - r["recv"]) * 1e3 for r in recs if r["first"] is not None])
    itl = np.array([(r["last"] - r["first"]) / (r["tokens"] - 1) * 1e3 for r in recs
                    if r["first"] is not None and r["tokens"] > 1])
    return {"requests": len(recs), "ttft_p50": float(np.percentile(ttft, 50)), "ttft_p99": float(np.percentile(ttft, 99)),
            "itl_p50": float(np.percentile(itl, 50)), "itl_p99": float(np.percentile(itl, 99))}


def run_aiperf(exe: str, a, core, work: Path) -> dict:
    tok = work / "tokenizer"
    py = Path(exe).with_name("python")
    subprocess.run([str(py), "-c", _TOKENIZER, str(tok)], check=True, capture_output=True, timeout=300)
    out = work / "aiperf"
    with LlmServer(ttft_ms=a.ttft_ms, itl_ms=a.itl_ms, tokens=a.tokens) as s:
        m = measure([exe, "profile", "-m", "test-model", "--tokenizer", str(tok), "--url", s.url.removesuffix("/v1"),
                     "--endpoint-type", "chat", "--streaming", "--request-rate", f"{a.rate:g}",
                     "--request-count", str(a.requests), "--use-server-token-count", "--output-tokens-mean",
                     str(a.tokens), "--ui-type", "none", "--output-artifact-dir", str(out), "--random-seed", "1"],
                    core=core, timeout=a.requests / a.rate + 300)
    doc = out / "profile_export_aiperf.json"
    if m.returncode != 0 or not doc.exists():
        return {"error": f"aiperf exit {m.returncode}: {(m.stderr or m.stdout)[-400:]}"}
    d = json.loads(doc.read_text())
    return {"server": server_figures(s.records()), "cpu_s": m.user_s + m.sys_s, "wall_s": m.wall_s,
            "requests": int(d["request_count"]["avg"]),
            "ttft_p50": d["time_to_first_token"]["p50"], "ttft_p99": d["time_to_first_token"]["p99"],
            "itl_p50": d["inter_token_latency"]["p50"], "itl_p99": d["inter_token_latency"]["p99"],
            "tokens_per_s": d["output_token_throughput"]["avg"]}


def run_stinger(a, core, work: Path) -> dict:
    out = work / "stinger"
    with LlmServer(ttft_ms=a.ttft_ms, itl_ms=a.itl_ms, tokens=a.tokens) as s:
        m = measure(stinger_cmd() + ["run", "--openai", s.url, "--model", "test-model", "--max-tokens", str(a.tokens),
                                     "--body", '"hello"', "--rate", f"{a.rate:g}", "--requests", str(a.requests),
                                     "--drain", "30s", "-q", "--out", str(out)],
                    core=core, timeout=a.requests / a.rate + 300)
    runs = sorted(out.glob("*/summary.json"))
    if not runs:
        return {"error": f"stinger exit {m.returncode}: {m.stderr[-400:]}"}
    v = json.loads(runs[-1].read_text())["variants"]["default"]
    return {"server": server_figures(s.records()), "cpu_s": m.user_s + m.sys_s, "wall_s": m.wall_s,
            "requests": v["requests"]["ok"], "ttft_p50": v["ttft_ms"]["p50"], "ttft_p99": v["ttft_ms"]["p99"],
            "itl_p50": v["itl_ms"]["p50"], "itl_p99": v["itl_ms"]["p99"],
            "tokens_per_s": v["throughput"].get("output_tokens_per_s")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=5.0)
    ap.add_argument("--requests", type=int, default=60)
    ap.add_argument("--ttft-ms", type=float, default=40.0)
    ap.add_argument("--itl-ms", type=float, default=8.0)
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--aiperf", default=None, help="path of the aiperf executable")
    ap.add_argument("--no-save", action="store_true")
    a = ap.parse_args(argv)
    exe = find_aiperf(a.aiperf)
    cores = pick_cores()
    work = Path(tempfile.mkdtemp(prefix="stinger-bench-llm-"))
    print(f"LLM server: TTFT {a.ttft_ms:g} ms, ITL {a.itl_ms:g} ms, {a.tokens} tokens; {a.rate:g} req/s x "
          f"{a.requests} ({cores.note}); load average {os.getloadavg()[0]:.2f}", flush=True)
    try:
        st = run_stinger(a, cores.generator, work)
        ai = run_aiperf(exe, a, cores.generator, work) if exe else {"error": "aiperf not found (see the docstring)"}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = []
    for name, r in (("stinger", st), ("AIPerf", ai)):
        if "error" in r:
            rows.append([name, r["error"][:70], "", "", "", "", "", ""])
            continue
        s = r["server"]
        rows.append([name, fmt(r["requests"]), f"{r['ttft_p50']:.2f} ({r['ttft_p50'] - s['ttft_p50']:+.2f})",
                     f"{r['ttft_p99']:.2f} ({r['ttft_p99'] - s['ttft_p99']:+.2f})",
                     f"{r['itl_p50']:.3f} ({r['itl_p50'] - s['itl_p50']:+.3f})",
                     f"{r['itl_p99']:.3f} ({r['itl_p99'] - s['itl_p99']:+.3f})",
                     fmt(r["tokens_per_s"], 1), f"{1e3 * r['cpu_s'] / max(r['requests'], 1):.2f}"])
    print(table(["generator", "ok", "TTFT p50 ms (vs server)", "TTFT p99", "ITL p50 ms", "ITL p99",
                 "tokens/s", "CPU ms/request"], rows))
    if "error" not in st and "error" not in ai:
        print(f"  CPU per request, stinger / AIPerf: {(st['cpu_s'] / st['requests']) / (ai['cpu_s'] / ai['requests']):.3f}")
    if not a.no_save:
        res = BENCH_DIR / "results"
        res.mkdir(exist_ok=True)
        path = res / f"llm-parity-{time.strftime('%Y%m%d-%H%M%S')}.json"
        path.write_text(json.dumps({"bench": "llm-parity", "args": vars(a), "stinger": st, "aiperf": ai,
                                    "cores": cores.note}, indent=2, default=str))
        print(f"\nwritten: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
