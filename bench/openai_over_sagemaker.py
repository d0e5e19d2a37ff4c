"""OpenAI over SageMaker beside OpenAI over HTTP, one run each against one llm_server (its own record).

    python3 bench/openai_over_sagemaker.py

The demo's SigV4-checking front relays the container's stream read by read (`--stream-through`),
then, for contrast, buffered (its default, `--stream-parts`); prints the server's own ttft and
whole-answer time beside stinger's ttft, itl and tpot over each path (ms, p50).
"""

from __future__ import annotations

import os
import subprocess
import sys

from stinger.demo.sagemaker_front import ANNOUNCE_PREFIX
from stinger.orchestrate.run import run_spec
from stinger.spec import parse_spec
from stinger.testing.llm_server import LlmServer
from stinger.testing.moto_server import client_env
from stinger.testing.procs import stop_process


def _run(target: dict) -> dict:
    data = {"target": {**target, "model": "m", "max_tokens": 12, "prompt": "hello"},
            "load": {"rate": 8, "duration": "2s", "workers": 1}, "output": {"dir": "unused"}}
    return run_spec(parse_spec(data), quiet=True, write=False).summary["variants"]["default"]


def main() -> None:
    os.environ.update(client_env())   # the front's fake keys; nothing leaves 127.0.0.1
    for through in (True, False):
        with LlmServer(ttft_ms=40, itl_ms=8, tokens=12) as llm:
            args = ["--port", "0", "--backend", llm.url, "--backend-path", "/chat/completions", "--endpoint", "llm",
                    "--variants", "AllTraffic=llm"] + (["--stream-through"] if through else [])
            proc = subprocess.Popen([sys.executable, "-m", "stinger.demo.sagemaker_front", *args],
                                    stdout=subprocess.PIPE, text=True)
            try:
                url = proc.stdout.readline()[len(ANNOUNCE_PREFIX):].strip()
                sm = _run({"type": "openai", "via": "sagemaker", "endpoint": "llm", "region": "us-east-1",
                           "endpoint_url": url})
            finally:
                stop_process(proc)
            http = _run({"type": "openai", "url": llm.url})
        recs = llm.records()
        ttft = sorted((r["first"] - r["recv"]) * 1e3 for r in recs)
        total = sorted((r["last"] - r["recv"]) * 1e3 for r in recs)
        print(f"{'relayed read by read' if through else 'buffered relay'}: server ttft p50 {ttft[len(ttft) // 2]:.1f}"
              f", whole answer p50 {total[len(total) // 2]:.1f}")
        for name, v in (("sagemaker", sm), ("http", http)):
            print(f"  {name:9} ok {v['requests']['ok']}  tokens {v['output_tokens']['mean']:g}  ttft p50 "
                  f"{v['ttft_ms']['p50']:.1f}  itl p50 {v['itl_ms']['p50']:.1f}  tpot p50 {v['tpot_ms']['p50']:.1f}")


if __name__ == "__main__":
    main()
