#!/usr/bin/env python3
"""LLM parity: stinger beside NVIDIA AIPerf in one run, against a server that times every token it sends.

    python3 bench/llm_parity.py [--rate 5] [--requests 60] [--tokens 32] [--ttft-ms 40] [--itl-ms 8]
                                [--long-every 10] [--long-ms 40] [--reasoning 16]
                                [--search-seconds 6] [--search-start 25] [--search-cap 1600] [--no-search]
                                [--aiperf PATH] [--no-save]

Both generators drive `stinger.testing.llm_server` (OpenAI chat completions streamed as server-sent
events; the first token `--ttft-ms` after the request was read, the others `--itl-ms` apart, every
`--long-every`-th gap `--long-ms`), a fresh server per run, at the same constant request rate for the
same number of requests, the same short prompt (8 words; AIPerf `--isl 8`), the server's usage for
token counts (AIPerf `--use-server-token-count` and a small local word-level tokenizer it is made to
load, built here with its own `tokenizers`: nothing is downloaded). The generator is pinned to one
core (`taskset -c`-like affinity, inherited by every process it starts) and the server to another.
The server records, per request, when it read it and when it handed each token to the socket: the
truth every figure is held to.

1. **Accuracy** (`--requests` at `--rate`): TTFT (first token of any kind), ITL (every gap between
   tokens; AIPerf's `inter_chunk_latency`, and its per-request-mean `inter_token_latency` beside it),
   each tool's p50 and p95 minus the server's own p50 and p95 (the tool's client-side time beyond the
   server's: the error). Goodput on `ttft<45ms` (AIPerf `--goodput time_to_first_token:45`): the share
   of requests meeting it, each tool's own count, which must agree.
2. **Reasoning** (`--reasoning` tokens streamed as `reasoning_content` first): TTFO (first output
   token) error the same way, and goodput on `ttft<35ms` (the server's TTFT is 40 ms: ~0 %).
3. **Client CPU per request**: the CPU time of the generator's whole process tree / its requests,
   the larger of two lower bounds: `getrusage(RUSAGE_CHILDREN)` (every descendant the tool waited for)
   and a psutil walk of the tree every 0.1 s (every descendant alive then, its last reading).
4. **Highest rate on one core** (the search; `--no-search` skips it): each tool at offered rate R for
   R x `--search-seconds` requests, the rate doubled from `--search-start` until it fails, then
   bisected twice. R is *sustained* when, read from the server's own record (the same rule for both,
   neither tool's word for it): every request was answered; and, over the arrivals after the first
   `--search-warmup` second (start-up left out), the achieved arrival rate, (n - 1) / (last read -
   first read), is within 5 % of R and the p99 schedule lag of the arrivals (each request's read minus
   its place on the constant schedule, anchored so the earliest lag is 0) is at most `--max-lag-ms`
   (default 25 ms). A rate not sustained is tried again (`--tries`, default 2): a stall of another
   process on a shared machine is not the tool's limit, while a tool that cannot keep up fails each try. The server's own CPU share is shown beside each step: near
   100 % the server, not the tool, is the limit, and the figure is a lower bound.

AIPerf is not a stinger dependency: install it in its own environment,
`python3 -m venv /opt/aiperf && /opt/aiperf/bin/pip install aiperf`; the bench looks at `--aiperf`,
`$AIPERF`, /opt/aiperf/bin/aiperf, then PATH, and says so when it finds none (stinger's rows still
run). Results go to the terminal (a markdown table) and bench/results/llm-parity-<timestamp>.json.
Every load is bounded (request counts, timeouts) and sent to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import psutil

from _common import BENCH_DIR, pick_cores, pinned, stinger_cmd
from stinger.testing.llm_server import LlmServer

PROMPT = "please write a short note about load testing"   # 8 words (AIPerf: --isl 8)

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
    for cand in (given, os.environ.get("AIPERF"), "/opt/aiperf/bin/aiperf", shutil.which("aiperf")):
        if cand and Path(cand).exists():
            return cand
    return None


# ------------------------------------------------------------------ a measured, pinned run
@dataclass
class Ran:
    rc: int | None
    wall_s: float
    cpu_s: float          # the larger of the two lower bounds below
    rusage_s: float
    tree_s: float
    server_cpu_s: float   # the server process's CPU over the run
    out: str
    err: str


def run_pinned(cmd: list[str], core: int | None, timeout: float, server_pid: int) -> Ran:
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    server = psutil.Process(server_pid)
    s0 = sum(server.cpu_times()[:2])
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                            preexec_fn=pinned(core))
    seen: dict[tuple[int, float], float] = {}   # (pid, create time) -> its last user + system CPU
    done = threading.Event()

    def walk() -> None:
        root = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                procs = []
            for p in procs:
                try:
                    with p.oneshot():
                        seen[(p.pid, p.create_time())] = sum(p.cpu_times()[:2])
                except psutil.Error:
                    pass
            done.wait(0.1)

    walker = threading.Thread(target=walk, daemon=True)
    walker.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)   # our own child, by its PID
        try:
            out, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    done.set()
    walker.join()
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    rus = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    tree = sum(seen.values())
    return Ran(proc.returncode, wall, max(rus, tree), rus, tree, sum(server.cpu_times()[:2]) - s0, out, err)


def serve(a, cores, reasoning: int = 0) -> LlmServer:
    s = LlmServer(ttft_ms=a.ttft_ms, itl_ms=a.itl_ms, tokens=a.tokens, long_every=a.long_every, long_ms=a.long_ms,
                  reasoning=reasoning).start()
    if cores.server is not None and s.proc is not None:
        os.sched_setaffinity(s.proc.pid, {cores.server})
    return s


# ------------------------------------------------------------------ the two tools
def stinger_run(url: str, rate: float, n: int, goodput: str | None, work: Path, core, server_pid: int) -> dict:
    out = work / f"stinger-{time.monotonic_ns()}"
    cmd = stinger_cmd() + ["run", "--openai", url, "--model", "test-model", "--body", json.dumps(PROMPT),
                           "--rate", f"{rate:g}", "--requests", str(n), "--drain", "30s", "-q", "--out", str(out)]
    if goodput:
        cmd += ["--goodput", goodput]
    m = run_pinned(cmd, core, n / rate + 120, server_pid)
    runs = sorted(out.glob("*/summary.json"))
    if not runs:
        return {"error": f"stinger exit {m.rc}: {m.err.strip()[-300:]}", "ran": m}
    summary = json.loads(runs[-1].read_text())
    v = summary["variants"]["default"]

    def q(key: str, p: str) -> float | None:
        return (v.get(key) or {}).get(p)

    return {"ran": m, "requests": v["requests"]["ok"],
            "ttft": (q("ttft_ms", "p50"), q("ttft_ms", "p95")), "ttfo": (q("ttfo_ms", "p50"), q("ttfo_ms", "p95")),
            "gaps": (q("itl_ms", "p50"), q("itl_ms", "p95")), "mean_itl": (q("tpot_ms", "p50"), q("tpot_ms", "p95")),
            "good": (v.get("goodput") or {}).get("share"), "busy": (summary.get("generator") or {}).get("machine_busy")}


def aiperf_run(exe: str, tok: Path, url: str, rate: float, n: int, goodput: str | None, work: Path, core,
               server_pid: int) -> dict:
    out = work / f"aiperf-{time.monotonic_ns()}"
    cmd = [exe, "profile", "-m", "test-model", "--tokenizer", str(tok), "--url", url.removesuffix("/v1"),
           "--endpoint-type", "chat", "--streaming", "--request-rate", f"{rate:g}", "--arrival-pattern", "constant",
           "--request-count", str(n), "--use-server-token-count", "--isl", "8", "--isl-stddev", "0",
           "--ui-type", "none", "--output-artifact-dir", str(out), "--random-seed", "1",
           "--no-server-metrics", "--no-gpu-telemetry", "--no-auto-plot"]
    if goodput:
        cmd += ["--goodput", goodput]
    m = run_pinned(cmd, core, n / rate + 180, server_pid)
    doc = out / "profile_export_aiperf.json"
    if m.rc != 0 or not doc.exists():
        return {"error": f"aiperf exit {m.rc}: {(m.err or m.out).strip()[-300:]}", "ran": m}
    d = json.loads(doc.read_text())

    def q(key: str, p: str) -> float | None:
        return (d.get(key) or {}).get(p)

    good = q("good_request_fraction", "avg")
    return {"ran": m, "requests": int(q("request_count", "avg") or 0),
            "ttft": (q("time_to_first_token", "p50"), q("time_to_first_token", "p95")),
            "ttfo": (q("time_to_first_output_token", "p50"), q("time_to_first_output_token", "p95")),
            "gaps": (q("inter_chunk_latency", "p50"), q("inter_chunk_latency", "p95")),
            "mean_itl": (q("inter_token_latency", "p50"), q("inter_token_latency", "p95")),
            "good": good}


# ------------------------------------------------------------------ the server's truth
def truth(recs: list[dict]) -> dict:
    def p(xs) -> tuple[float, float] | None:
        xs = np.asarray([x for x in xs if x is not None], dtype=float)
        return (float(np.percentile(xs, 50)), float(np.percentile(xs, 95))) if len(xs) else None

    ttft = [(r["first"] - r["recv"]) * 1e3 for r in recs if r["first"] is not None]
    ttfo = [(r["first_output"] - r["recv"]) * 1e3 for r in recs if r.get("first_output") is not None]
    gaps = [g * 1e3 for r in recs for g in r.get("gaps") or ()]
    mean_itl = [(r["last"] - r["first"]) / (r["tokens"] - 1) * 1e3 for r in recs
                if r["first"] is not None and r["tokens"] > 1]
    return {"requests": len(recs), "ttft": p(ttft), "ttfo": p(ttfo), "gaps": p(gaps), "mean_itl": p(mean_itl),
            "ttft_all": ttft}


def arrivals(recs: list[dict], rate: float, warmup_s: float = 1.0) -> dict:
    """The sustain rule's figures from the server's reads (see the module docstring), over the arrivals
    after the first `warmup_s` seconds' worth (R x warmup_s requests): a tool's start-up (its first
    connections, first-use costs) is not the rate it sustains."""
    recv = np.sort(np.asarray([r["recv"] for r in recs], dtype=float))
    recv = recv[min(len(recv), int(rate * warmup_s)):]
    if len(recv) < 2:
        return {"achieved": 0.0, "lag_p99_ms": float("inf")}
    achieved = (len(recv) - 1) / (recv[-1] - recv[0])
    lag = recv - (recv[0] + np.arange(len(recv)) / rate)
    lag -= lag.min()
    return {"achieved": float(achieved), "lag_p99_ms": float(np.percentile(lag, 99) * 1e3)}


# ------------------------------------------------------------------ the phases
def accuracy(a, cores, exe, tok, work, reasoning: int, goodput: tuple[str, str]) -> dict:
    """`--repeat` rounds, the tools' order alternating (stinger first, then AIPerf first, ...): a busy
    machine's load drifts, and neither tool may always run in the quieter half. Per tool, each figure is
    the median over its rounds; every round is kept in `rounds`."""
    rounds: dict[str, list[dict]] = {"stinger": [], "AIPerf": []}
    for k in range(a.repeat):
        order = ("stinger", "AIPerf") if k % 2 == 0 else ("AIPerf", "stinger")
        for name in order:
            if name == "AIPerf" and exe is None:
                continue
            s = serve(a, cores, reasoning)
            load = os.getloadavg()[0]
            try:
                if name == "stinger":
                    r = stinger_run(s.url, a.rate, a.requests, goodput[0], work, cores.generator, s.proc.pid)
                else:
                    r = aiperf_run(exe, tok, s.url, a.rate, a.requests, goodput[1], work, cores.generator,
                                   s.proc.pid)
            finally:
                s.stop()
            recs = s.records()
            r["load"] = load
            r["truth"] = truth(recs)
            # goodput by the truth: the share of the server's requests whose own TTFT meets the bound
            bound = float(goodput[0].split("<")[1].removesuffix("ms"))
            all_ttft = r["truth"].pop("ttft_all")
            r["truth_good"] = float(np.mean(np.asarray(all_ttft) < bound)) if recs else None
            r["errors"] = {key: _errors(r, key) for key in ("ttft", "ttfo", "gaps", "mean_itl")}
            rounds[name].append(r)
    out: dict = {}
    for name, rs in rounds.items():
        good = [r for r in rs if "error" not in r]
        if not good:
            out[name] = rs[0] if rs else {"error": "AIPerf not found (install: see the module docstring)"}
            continue
        med = dict(good[0])
        med["errors"] = {key: [_median([r["errors"][key][q] for r in good]) for q in (0, 1)]
                         for key in ("ttft", "ttfo", "gaps", "mean_itl")}
        for key in ("good", "truth_good"):
            med[key] = _median([r.get(key) for r in good])
        med["cpu_per_request_s"] = _median([r["ran"].cpu_s / max(r["requests"], 1) for r in good])
        med["rounds"] = [{k: (vars(v) if isinstance(v, Ran) else v) for k, v in r.items() if k != "ran"} | {
            "cpu_s": r["ran"].cpu_s, "wall_s": r["ran"].wall_s} for r in rs]
        out[name] = med
    return out


def _errors(r: dict, key: str) -> list[float | None]:
    t = (r.get("truth") or {}).get(key)
    got = r.get(key)
    if "error" in r or not t or not got:
        return [None, None]
    return [None if got[q] is None else got[q] - t[q] for q in (0, 1)]


def _median(xs: list) -> float | None:
    xs = [x for x in xs if x is not None]
    return float(np.median(xs)) if xs else None


def sustains(tool: str, exe, tok, a, cores, rate: float, work: Path) -> dict:
    """One step of the search: up to `--tries` runs at `rate`, sustained when one of them is."""
    for _ in range(max(1, a.tries)):
        step = _try_rate(tool, exe, tok, a, cores, rate, work)
        if step["sustained"]:
            break
    return step


def _try_rate(tool: str, exe, tok, a, cores, rate: float, work: Path) -> dict:
    n = max(20, round(rate * a.search_seconds))
    s = serve(a, cores)
    try:
        if tool == "stinger":
            r = stinger_run(s.url, rate, n, None, work, cores.generator, s.proc.pid)
        else:
            r = aiperf_run(exe, tok, s.url, rate, n, None, work, cores.generator, s.proc.pid)
    finally:
        s.stop()
    recs = s.records()
    arr = arrivals(recs, rate, a.search_warmup)
    m: Ran = r["ran"]
    ok = ("error" not in r and len(recs) == n and r["requests"] == n and arr["achieved"] >= 0.95 * rate
          and arr["lag_p99_ms"] <= a.max_lag_ms)
    step = {"rate": rate, "n": n, "answered": len(recs), "ok": r.get("requests"), **arr, "sustained": ok,
            "cpu_ms_per_request": 1e3 * m.cpu_s / max(len(recs), 1), "server_cpu_share": m.server_cpu_s / m.wall_s,
            "error": r.get("error")}
    print(f"  {tool:8} {rate:7.1f}/s x {n:5}: answered {len(recs):5}, achieved {arr['achieved']:7.1f}/s, "
          f"lag p99 {arr['lag_p99_ms']:8.1f} ms, CPU {step['cpu_ms_per_request']:.2f} ms/req, server "
          f"{100 * step['server_cpu_share']:.0f} % -> {'sustained' if ok else 'NOT sustained'}"
          + (f" ({r['error'][:80]})" if r.get("error") else ""), flush=True)
    return step


def marginal(tool: str, exe, tok, a, cores, work: Path) -> dict:
    """CPU per request at steady state: two runs at `--cpu-rate`, `--cpu-requests` apart in size; the
    difference of their tree CPU over the difference of their requests (start-up and shutdown cancel)."""
    got = []
    for n in (a.cpu_requests[0], a.cpu_requests[1]):
        s = serve(a, cores)
        try:
            if tool == "stinger":
                r = stinger_run(s.url, a.cpu_rate, n, None, work, cores.generator, s.proc.pid)
            else:
                r = aiperf_run(exe, tok, s.url, a.cpu_rate, n, None, work, cores.generator, s.proc.pid)
        finally:
            s.stop()
        if "error" in r:
            return {"error": r["error"]}
        got.append((r["requests"], r["ran"].cpu_s, r["ran"].wall_s))
    (n1, c1, _), (n2, c2, _) = got
    per = (c2 - c1) / (n2 - n1) if n2 > n1 else float("nan")
    print(f"  {tool:8} {a.cpu_rate:g}/s: {n1} requests {c1:.2f} CPU s, {n2} requests {c2:.2f} CPU s -> "
          f"{1e3 * per:.3f} ms/request at steady state, start-up and end {c1 - n1 * per:.2f} CPU s", flush=True)
    return {"runs": got, "cpu_ms_per_request": 1e3 * per, "fixed_cpu_s": c1 - n1 * per,
            "ceiling_rps": 1.0 / per if per > 0 else None}


def search(tool: str, exe, tok, a, cores, work: Path) -> dict:
    steps: list[dict] = []
    rate, best, worst = a.search_start, None, None
    while rate <= a.search_cap:
        st = sustains(tool, exe, tok, a, cores, rate, work)
        steps.append(st)
        if not st["sustained"]:
            worst = rate
            break
        best = rate
        rate *= 2
    if best is not None and worst is not None:
        for _ in range(a.bisect):
            mid = round((best * worst) ** 0.5, 1)
            st = sustains(tool, exe, tok, a, cores, mid, work)
            steps.append(st)
            if st["sustained"]:
                best = mid
            else:
                worst = mid
    return {"max_rate": best, "first_failed": worst, "capped": worst is None, "steps": steps}


# ------------------------------------------------------------------ the table
def err(r: dict, key: str, k: int) -> str:
    e = (r.get("errors") or {}).get(key)
    return "n/a" if not e or e[k] is None else f"{e[k]:+.2f}"


def table(acc: dict, rsn: dict, searched: dict | None, steady: dict, a) -> str:
    rows = []
    for name in ("stinger", "AIPerf"):
        r, q = acc.get(name, {}), rsn.get(name, {})
        if "error" in r:
            rows.append(f"| {name} | {r['error'][:90]} |" + " |" * 11)
            continue
        cpu = 1e3 * r["cpu_per_request_s"]
        mx = "" if searched is None else searched.get(name, {})
        mx_s = ("n/a" if not mx else (f">= {mx['max_rate']:g}" if mx.get("capped") else
                                      f"{mx['max_rate']:g}" if mx.get("max_rate") else f"< {a.search_start:g}"))
        rows.append(f"| {name} | {err(r, 'ttft', 0)} | {err(r, 'ttft', 1)} | {err(q, 'ttfo', 0)} | {err(q, 'ttfo', 1)} "
                    f"| {err(r, 'gaps', 0)} | {err(r, 'gaps', 1)} | {err(r, 'mean_itl', 1)} "
                    f"| {_pct(r.get('good'))} ({_pct(r.get('truth_good'))}) / {_pct(q.get('good'))} "
                    f"({_pct(q.get('truth_good'))}) | {cpu:.2f} | {_steady(steady.get(name))} | {mx_s} |")
    head = ("| tool | TTFT p50 err ms | TTFT p95 err | TTFO p50 err | TTFO p95 err | ITL (every gap) p50 err "
            "| ITL p95 err | per-request mean ITL p95 err | goodput ttft<45ms / ttft<35ms (server's truth) "
            "| client CPU ms/request (whole run) | steady-state CPU ms/request (CPU-bound ceiling/s) "
            "| max rate/s sustained on one core (search) |")
    sep = "|" + "---|" * 12
    return "\n".join([head, sep, *rows])


def _fmt(e) -> str:
    return "n/a" if not e or e[0] is None else f"{e[0]:+.2f}/{e[1]:+.2f}"


def _steady(m: dict | None) -> str:
    if not m:
        return "n/a"
    if "error" in m:
        return m["error"][:60]
    return f"{m['cpu_ms_per_request']:.3f} ({m['ceiling_rps']:.0f})" if m.get("ceiling_rps") else "n/a"


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.1f} %"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=5.0)
    ap.add_argument("--requests", type=int, default=60)
    ap.add_argument("--ttft-ms", type=float, default=40.0)
    ap.add_argument("--itl-ms", type=float, default=8.0)
    ap.add_argument("--long-every", type=int, default=10)
    ap.add_argument("--long-ms", type=float, default=40.0)
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--reasoning", type=int, default=16)
    ap.add_argument("--search-seconds", type=float, default=6.0)
    ap.add_argument("--search-start", type=float, default=25.0)
    ap.add_argument("--search-cap", type=float, default=1600.0)
    ap.add_argument("--bisect", type=int, default=2)
    ap.add_argument("--max-lag-ms", type=float, default=25.0)
    ap.add_argument("--no-search", action="store_true")
    ap.add_argument("--search-warmup", type=float, default=1.0,
                    help="seconds of the first arrivals left out of the sustain rule (start-up)")
    ap.add_argument("--search-only", action="store_true", help="only the rate search (no accuracy, no steady CPU)")
    ap.add_argument("--tries", type=int, default=2,
                    help="a rate not sustained is tried again, up to this many times (a stall of another process "
                         "on a shared machine is not the tool's limit; one that cannot keep up fails every try)")
    ap.add_argument("--repeat", type=int, default=2, help="accuracy rounds per tool, the order alternating")
    ap.add_argument("--cpu-rate", type=float, default=40.0, help="the steady-state CPU runs' rate")
    ap.add_argument("--cpu-requests", type=lambda x: [int(v) for v in x.split(",")], default=[100, 500],
                    help="the two steady-state CPU runs' sizes, N1,N2")
    ap.add_argument("--aiperf", default=None, help="path of the aiperf executable")
    ap.add_argument("--no-save", action="store_true")
    a = ap.parse_args(argv)
    exe = find_aiperf(a.aiperf)
    cores = pick_cores()
    work = Path(tempfile.mkdtemp(prefix="stinger-bench-llm-"))
    print(f"LLM server: TTFT {a.ttft_ms:g} ms, ITL {a.itl_ms:g} ms (every {a.long_every}th gap {a.long_ms:g} ms), "
          f"{a.tokens} tokens; {a.rate:g} req/s x {a.requests}; {cores.note}; load average {os.getloadavg()[0]:.2f}",
          flush=True)
    if exe is None:
        print("AIPerf: not found (--aiperf, $AIPERF, /opt/aiperf/bin/aiperf, PATH); its rows say so", flush=True)
    try:
        tok = work / "tokenizer"
        if exe is not None:
            subprocess.run([str(Path(exe).with_name("python")), "-c", _TOKENIZER, str(tok)], check=True,
                           capture_output=True, timeout=300)
        acc: dict = {"stinger": {"error": "skipped (--search-only)"}, "AIPerf": {"error": "skipped (--search-only)"}}
        rsn: dict = dict(acc)
        steady: dict = {}
        if not a.search_only:
            print("accuracy ...", flush=True)
            acc = accuracy(a, cores, exe, tok, work, 0, ("ttft<45ms", "time_to_first_token:45"))
            print("reasoning ...", flush=True)
            rsn = accuracy(a, cores, exe, tok, work, a.reasoning, ("ttft<35ms", "time_to_first_token:35"))
        for name in ("stinger", "AIPerf") if not a.search_only else ():
            if name == "AIPerf" and exe is None:
                continue
            print(f"steady-state CPU, {name} ...", flush=True)
            steady[name] = marginal("stinger" if name == "stinger" else "aiperf", exe, tok, a, cores, work)
        searched = None
        if not a.no_search:
            searched = {}
            for name in ("stinger", "AIPerf"):
                if name == "AIPerf" and exe is None:
                    continue
                print(f"highest sustained rate, {name} ...", flush=True)
                searched[name] = search("stinger" if name == "stinger" else "aiperf", exe, tok, a, cores, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    if not a.search_only:
        print(table(acc, rsn, searched, steady, a))
    if searched:
        print(f"\nThe rate search (sustained: all answered, arrivals within 5 % of offered, p99 schedule lag <= "
              f"{a.max_lag_ms:g} ms by the server's record after the first {a.search_warmup:g} s; up to {a.tries} "
              f"tries a rate):\n")
        print("| tool | highest sustained rate/s | first rate not sustained | its achieved rate/s, lag p99 ms "
              "| CPU ms/request at the highest sustained |")
        print("|---|---|---|---|---|")
        for name, sr in searched.items():
            top = next((st for st in sr["steps"] if st["rate"] == sr["max_rate"] and st["sustained"]), None)
            bad = next((st for st in sr["steps"] if st["rate"] == sr["first_failed"]), None)
            best = f"< {a.search_start:g}" if sr["max_rate"] is None else f"{sr['max_rate']:g}"
            fail = f"none up to {a.search_cap:g}" if sr["first_failed"] is None else f"{sr['first_failed']:g}"
            why = "" if bad is None else f"{bad['achieved']:.1f}, {bad['lag_p99_ms']:.1f}"
            cpu = "" if top is None else f"{top['cpu_ms_per_request']:.2f}"
            print(f"| {name} | {best} | {fail} | {why} | {cpu} |")
    for name in ("stinger", "AIPerf"):
        for label, r in (("accuracy", acc.get(name, {})), ("reasoning", rsn.get(name, {}))):
            for k, rd in enumerate(r.get("rounds") or ()):
                e = rd.get("errors", {})
                busy = f", stinger said machine busy: {rd.get('busy')}" if name == "stinger" else ""
                print(f"  {name} {label} round {k + 1}: load {rd.get('load', 0):.1f}, wall {rd.get('wall_s', 0):.1f} s, "
                      f"CPU {rd.get('cpu_s', 0):.2f} s, ok {rd.get('requests')}, TTFT err p50/p95 "
                      f"{_fmt(e.get('ttft'))}, ITL err {_fmt(e.get('gaps'))}{busy}")
    if "error" not in acc["stinger"] and "error" not in acc.get("AIPerf", {"error": 1}):
        ratio = acc["AIPerf"]["cpu_per_request_s"] / acc["stinger"]["cpu_per_request_s"]
        print(f"  client CPU per request (whole run, median of rounds), AIPerf / stinger: {ratio:.1f}x")
    if searched and len(searched) == 2:
        both = [st["rate"] for st in searched["stinger"]["steps"] if st["sustained"]]
        common = max((st["rate"] for st in searched["AIPerf"]["steps"] if st["sustained"] and st["rate"] in both),
                     default=None)
        if common is not None:
            cs = {n: next(st for st in searched[n]["steps"] if st["rate"] == common)["cpu_ms_per_request"]
                  for n in ("stinger", "AIPerf")}
            print(f"  at {common:g}/s (the highest rate both sustained): CPU ms/request stinger {cs['stinger']:.2f}, "
                  f"AIPerf {cs['AIPerf']:.2f} ({cs['AIPerf'] / cs['stinger']:.1f}x)")
    if not a.no_save:
        res = BENCH_DIR / "results"
        res.mkdir(exist_ok=True)
        path = res / f"llm-parity-{time.strftime('%Y%m%d-%H%M%S')}.json"

        def plain(d: dict) -> dict:
            return {k: (vars(v) if isinstance(v, Ran) else v) for k, v in d.items()}

        path.write_text(json.dumps({"bench": "llm-parity", "args": vars(a), "cores": cores.note,
                                    "accuracy": {k: plain(v) for k, v in acc.items()},
                                    "reasoning": {k: plain(v) for k, v in rsn.items()},
                                    "steady_cpu": steady, "search": searched,
                                    "load_average_end": os.getloadavg()}, indent=2, default=str))
        print(f"\nwritten: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
