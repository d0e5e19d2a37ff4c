#!/usr/bin/env python3
"""Token timing of the anthropic api beside the openai api's, against servers that time themselves.

    python3 bench/anthropic_timing.py [--rate 5] [--requests 60] [--ttft-ms 40] [--itl-ms 8] [--tokens 16]

One run each, in turn, at the same fixed rate: `stinger run --openai` against
`stinger.testing.llm_server` and `stinger run --anthropic` against
`stinger.testing.anthropic_server`, both streaming `--tokens` tokens, the first
`--ttft-ms` after the request was read, the others `--itl-ms` apart and every 10th gap
40 ms. The table puts each api's TTFT p50 and ITL p50/p95 beside its server's own record
(the instant each token was handed to the socket) and the error, side by side: the
anthropic api should time tokens as exactly as the openai api does.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np

from _common import fmt, stinger_cmd, table
from stinger.testing.anthropic_server import AnthropicServer
from stinger.testing.llm_server import LlmServer


def server_figures(recs: list[dict]) -> dict:
    ttft = [(r["first"] - r["recv"]) * 1e3 for r in recs]
    gaps = np.concatenate([np.asarray(r["gaps"]) * 1e3 for r in recs])
    return {"ttft_p50": float(np.median(ttft)), "itl_p50": float(np.percentile(gaps, 50)),
            "itl_p95": float(np.percentile(gaps, 95))}


def one(api: str, server_cls, a, work: Path) -> tuple[dict, dict]:
    with server_cls(ttft_ms=a.ttft_ms, itl_ms=a.itl_ms, tokens=a.tokens, long_every=10, long_ms=40) as s:
        out = work / api
        p = subprocess.run([*stinger_cmd(), "run", f"--{api}", s.url, "--model", "m", "--max-tokens", str(a.tokens),
                            "--body", '"hello world"', "--rate", str(a.rate), "--requests", str(a.requests), "-q",
                            "--out", str(out)], capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise SystemExit(f"stinger run --{api} failed: {p.stderr.strip()[-500:]}")
    v = json.loads(next(out.glob("*/summary.json")).read_text())["variants"]["default"]
    mine = {"ttft_p50": v["ttft_ms"]["p50"], "itl_p50": v["itl_ms"]["p50"], "itl_p95": v["itl_ms"]["p95"]}
    return mine, server_figures(s.records())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=5.0)
    ap.add_argument("--requests", type=int, default=60)
    ap.add_argument("--ttft-ms", type=float, default=40.0)
    ap.add_argument("--itl-ms", type=float, default=8.0)
    ap.add_argument("--tokens", type=int, default=16)
    a = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="stinger-anthropic-bench-") as d:
        for api, cls in (("openai", LlmServer), ("anthropic", AnthropicServer)):
            mine, server = one(api, cls, a, Path(d))
            for key in ("ttft_p50", "itl_p50", "itl_p95"):
                rows.append([api, key.replace("_", " "), fmt(server[key], 2), fmt(mine[key], 2),
                             f"{mine[key] - server[key]:+.2f}"])
    print(table(["api", "metric (ms)", "server's record", "stinger", "error"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
