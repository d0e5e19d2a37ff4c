"""Multi-turn sessions (`--sessions FILE`) against the self-timing LLM server, which records what each
request asked (`record_prompts`: its messages) and gives each answer tokens of its own (`r<serial>t<k>`).

What is proven, from the server's record and the run's requests.csv and summary.json:
- turn k's request carries turns 1..k-1 and exactly the answers the server streamed for them;
- sessions start at the arrival process's instants (constant rate: i / rate), and turn k+1 is intended
  at turn k's done + think (so its latency counts from there: no coordinated omission within a session);
- per-turn rows and per-session totals match the conversations; every scheduled turn is accounted for
  and planned turns = scheduled + never sent, for sessions cut by the run's end and ended by a failure;
- a user's mistake is one line and exit 2.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import stinger
from stinger.core.sessions import unpack
from stinger.testing.llm_server import LlmServer

SRC = str(Path(__file__).resolve().parents[2] / "src")
TOKENS = 5

CONVERSATIONS = [
    {"conversations": [{"from": "system", "value": "be brief"}, {"from": "human", "value": "c0 first"},
                       {"from": "gpt", "value": "a recorded answer, never sent"}, {"from": "human", "value": "c0 second"},
                       {"from": "gpt", "value": "another"}, {"from": "human", "value": "c0 third"}]},
    {"turns": ["c1 first", {"content": "c1 second", "think_time": 0.05}, "c1 third", "c1 fourth"]},
    {"messages": [{"role": "user", "content": "c2 first"}, {"role": "assistant", "content": "x"},
                  {"role": "user", "content": "c2 second"}]},
]
TURNS = [3, 4, 2]


def _write(tmp: Path, convs=CONVERSATIONS) -> Path:
    path = tmp / "conv.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in convs))
    return path


def _run(tmp: Path, server: LlmServer, conv: Path, load: dict, workers: int = 2):
    spec = {"target": {"type": "openai", "url": server.url, "model": "m", "max_tokens": TOKENS},
            "payload": {"sessions": str(conv)},
            "load": {"workers": workers, "seed": 3, **load},
            "output": {"dir": str(tmp / "out"), "save_requests": True}}
    r = stinger.run(spec, outputs=["rundir"])
    run_dir = Path(r.run_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    rows = list(csv.DictReader((run_dir / "requests.csv").open()))
    return summary, rows


def _by_session(rows: list[dict]) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {}
    for r in rows:
        g, k, _last = unpack(int(r["payload"]))
        out.setdefault(g, []).append({**r, "turn": k})
    return {g: sorted(v, key=lambda r: r["turn"]) for g, v in out.items()}


def _accounting(v: dict) -> None:
    req, s = v["requests"], v["sessions"]
    assert req["scheduled"] == req["ok"] + req["failed"] + req["dropped"] + req["in_flight"]
    assert req["unaccounted"] == 0
    assert s["started"] == s["done"] + s["failed"] + s["cut"] and s["open"] == 0
    assert s["turns_planned"] == s["turns_scheduled"] + s["turns_unsent"]
    assert s["turns_scheduled"] == req["scheduled"] + req["warmup"]


@pytest.mark.slow
def test_turn_k_carries_the_answers_streamed_for_turns_before_it_and_sessions_start_on_schedule(tmp_path):
    conv = _write(tmp_path)
    rate, think = 5.0, 0.03
    with LlmServer(ttft_ms=5, itl_ms=2, tokens=TOKENS, record_prompts=True) as s:
        summary, rows = _run(tmp_path, s, conv, {"rate": rate, "requests": 9, "think_time": think})
    recs = s.records()
    by_serial = {r["serial"]: r for r in recs}
    by_answer = {r["answer"]: r for r in recs}
    assert len(recs) == 9 // 3 * sum(TURNS)   # 9 sessions: every conversation three times, every turn sent
    turns_seen = [0] * 5
    for r in recs:
        msgs = r["messages"]
        users = [m for m in msgs if m["role"] == "user"]
        answers = [m["content"] for m in msgs if m["role"] == "assistant"]
        k = len(users)                      # this is turn k (1-based)
        turns_seen[k] += 1
        assert len(answers) == k - 1        # it carries k - 1 answers ...
        if k > 1:                           # ... exactly the ones the server streamed for turns 1..k-1
            prev = by_answer[answers[-1]]   # the previous turn: the request whose answer is the last one here
            assert msgs[:-2] == prev["messages"] and msgs[-2] == {"role": "assistant", "content": prev["answer"]}
            assert prev["serial"] < r["serial"] and by_serial[prev["serial"]] is prev
        # the recorded answers of the dataset never travel; its system prompt does
        assert "a recorded answer, never sent" not in json.dumps(msgs)
        if users[0]["content"].startswith("c0"):
            assert msgs[0] == {"role": "system", "content": "be brief"}
    assert turns_seen[1:] == [9, 9, 6, 3]

    v = summary["variants"]["default"]
    _accounting(v)
    assert v["requests"]["ok"] == 27 and v["sessions"] == {
        "started": 9, "done": 9, "failed": 0, "cut": 0, "open": 0,
        "turns_scheduled": 27, "turns_unsent": 0, "turns_planned": 27}
    # per-turn rows: turn k of every session
    turn_rows = {r["label"]: r for r in summary["breakdown"]["turn"]["rows"]}
    assert {k: r["responses"] for k, r in turn_rows.items()} == {"1": 9, "2": 9, "3": 6, "4": 3}
    assert all(r["ok"] == r["responses"] and r["latency_ms"]["count"] == r["ok"] for r in turn_rows.values())
    # per-session totals: 9 sessions answered whole, 3 turns on average, TOKENS output tokens a turn
    assert v["session_turns"]["count"] == 9 and v["session_turns"]["mean"] == pytest.approx(3.0, abs=1e-3)
    assert v["session_output_tokens"]["mean"] == pytest.approx(3.0 * TOKENS, abs=1e-3)
    assert v["session_output_tokens"]["max"] == 4 * TOKENS

    sessions = _by_session(rows)
    assert len(sessions) == 9
    starts = sorted(float(t[0]["intended_s"]) for t in sessions.values())
    np.testing.assert_allclose(np.array(starts) - starts[0], np.arange(9) / rate, atol=2e-6)   # on schedule
    durations = []
    for turns in sessions.values():
        conv_turns = len(turns)
        assert conv_turns in TURNS and [t["turn"] for t in turns] == list(range(conv_turns))
        for a, b in itertools.pairwise(turns):
            # turn k+1 is intended at turn k's done + its think time (c1's second turn sets its own)
            gap = float(b["intended_s"]) - float(a["done_s"])
            assert gap == pytest.approx(0.05 if conv_turns == 4 and b["turn"] == 1 else think, abs=2e-6)
            assert float(b["sent_s"]) >= float(b["intended_s"])
        durations.append(float(turns[-1]["done_s"]) - float(turns[0]["intended_s"]))
    # the session totals are the requests' own: the duration histogram holds each session's (3 digits)
    assert v["session_ms"]["max"] == pytest.approx(max(durations) * 1e3, rel=2e-3)
    assert v["session_ms"]["min"] == pytest.approx(min(durations) * 1e3, rel=2e-3)


@pytest.mark.slow
def test_sessions_cut_by_the_run_end_count_their_unsent_turns(tmp_path):
    conv = _write(tmp_path, [{"turns": ["q1", "q2", "q3", "q4"]}])
    with LlmServer(ttft_ms=5, itl_ms=2, tokens=TOKENS, record_prompts=True) as s:
        # starts at 0, 1, 2 s; a turn every ~1 s after the answer: none reaches its fourth turn by 2.5 s
        summary, rows = _run(tmp_path, s, conv, {"rate": 1.0, "duration": "2.5s", "think_time": "1s"}, workers=1)
    v = summary["variants"]["default"]
    _accounting(v)
    sessions = _by_session(rows)
    sent = {g: len(t) for g, t in sessions.items()}
    assert len(sent) == 3 and all(n < 4 for n in sent.values())
    assert v["sessions"]["cut"] == 3 and v["sessions"]["done"] == 0
    assert v["sessions"]["turns_unsent"] == sum(4 - n for n in sent.values())
    assert v["sessions"]["turns_planned"] == 12
    assert len(s.records()) == v["requests"]["ok"] == sum(sent.values())
    # no turn was intended past the run's duration
    assert max(float(r["intended_s"]) for r in rows) < 2.5
    assert "session_ms" not in v   # no session answered whole: no totals, not zeros


@pytest.mark.slow
def test_a_failed_turn_ends_its_session_and_its_later_turns_are_never_sent(tmp_path):
    conv = _write(tmp_path, [{"turns": ["fine", "please fail", "never sent"]}, {"turns": ["ok one", "ok two"]}])
    with LlmServer(ttft_ms=5, itl_ms=2, tokens=TOKENS, record_prompts=True) as s:
        summary, _rows = _run(tmp_path, s, conv, {"rate": 4.0, "requests": 4, "think_time": "10ms"})
    v = summary["variants"]["default"]
    _accounting(v)
    assert v["sessions"]["failed"] == 2 and v["sessions"]["done"] == 2 and v["sessions"]["turns_unsent"] == 2
    assert v["requests"]["failed"] == 2 and v["errors"]["model_error"] == 2
    asked = [m["content"] for r in s.records() for m in r["messages"] if m["role"] == "user"]
    assert "never sent" not in asked
    assert v["session_turns"]["count"] == 2 and v["session_turns"]["mean"] == pytest.approx(2.0, abs=1e-3)


def _stinger(args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "stinger.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize(("content", "extra", "expected"), [
    ('{"turns": []}\n', [], "empty conversation"),
    ('{"conversations": [{"from": "gpt", "value": "only an answer"}]}\n', [], "empty conversation"),
    ('{"conversations": [{"from": "robot", "value": "?"}]}\n', [], "robot"),
    ('{"turns": ["a"], "think_time": -1}\n', [], "think_time"),
    ("not json\n", [], "not JSON"),
    ('{"turns": ["a"]}\n', ["--users", "2"], "open model"),
    ('{"turns": ["a"]}\n', ["completions"], "chat"),
])
def test_a_users_mistake_is_one_line_and_exit_2(tmp_path, content, extra, expected):
    conv = tmp_path / "c.jsonl"
    conv.write_text(content)
    load = [] if "--users" in extra else ["--rate", "1"]
    url = "http://127.0.0.1:9/v1" + ("/completions" if extra == ["completions"] else "")
    extra = [] if extra == ["completions"] else extra
    r = _stinger(["run", "--openai", url, "--model", "m", "--sessions", str(conv), *load,
                  "--duration", "1s", "--out", str(tmp_path / "o"), "-q", *extra])
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert r.returncode == 2 and len(lines) == 1 and expected in lines[0], r.stderr


@pytest.mark.slow
def test_sessions_over_the_anthropic_api_carry_its_streamed_text(tmp_path):
    from stinger.targets.base import build_target
    from stinger.testing.anthropic_server import AnthropicServer

    conv = _write(tmp_path)
    with AnthropicServer(ttft_ms=5, itl_ms=2, tokens=TOKENS) as s:
        spec = {"target": {"type": "anthropic", "url": s.url, "model": "m", "max_tokens": TOKENS},
                "payload": {"sessions": str(conv)}, "load": {"rate": 5, "requests": 3, "workers": 1, "seed": 1},
                "output": {"dir": str(tmp_path / "out")}}
        r = stinger.run(spec, outputs=["rundir"])
    v = json.loads((Path(r.run_dir) / "summary.json").read_text())["variants"]["default"]
    _accounting(v)
    assert v["sessions"]["done"] == 3 and v["requests"]["ok"] == sum(TURNS)
    # the history's answers are the streamed text deltas; the system prompt travels as `system`
    from stinger.spec.model import parse_spec

    api = build_target(parse_spec(spec).target).api
    stream = (b'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":3}}}\n\n'
              b'event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"type":"thinking_delta",'
              b'"thinking":"hm"}}\n\n'
              b'event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"type":"text_delta",'
              b'"text":"Hello "}}\n\n'
              b'event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"type":"text_delta",'
              b'"text":"there"}}\n\n')
    assert api.answer_text(stream) == "Hello there"
    assert api.answer_text(b'event: error\ndata: {"type":"error","error":{"message":"overloaded"}}\n\n') is None
    body = json.loads(api.body(b'{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"q"}]}'))
    assert body["system"] == "be brief" and body["messages"] == [{"role": "user", "content": "q"}]


@pytest.mark.slow
def test_a_stopped_run_counts_its_open_sessions_cut_and_their_unsent_turns(tmp_path):
    import signal
    import time

    conv = _write(tmp_path, [{"turns": ["q1", "q2", "q3", "q4", "q5"]}])
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with LlmServer(ttft_ms=5, itl_ms=2, tokens=TOKENS, record_prompts=True) as s:
        proc = subprocess.Popen([sys.executable, "-m", "stinger.cli", "run", "--openai", s.url, "--model", "m",
                                 "--sessions", str(conv), "--rate", "4", "--duration", "60s", "--think-time", "2s",
                                 "--workers", "1", "--out", str(out), "-q", "--save-requests"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while len(s.records()) < 6 and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.1)
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 143, err
    summary = json.loads(next(out.rglob("summary.json")).read_text())
    v = summary["variants"]["default"]
    _accounting(v)
    sess = v["sessions"]
    # every session was still waiting for a later turn (2 s apart) when the stop came: all cut, none done
    assert sess["cut"] == sess["started"] >= 6 and sess["done"] == 0
    assert sess["turns_planned"] == 5 * sess["started"]
    rows = list(csv.DictReader(next(out.rglob("requests.csv")).open()))
    sent = len({(r["payload"]) for r in rows})
    assert sess["turns_scheduled"] == sent and sess["turns_unsent"] == 5 * sess["started"] - sent


@pytest.mark.slow
def test_in_a_split_every_turn_of_a_session_goes_to_its_variant(tmp_path):
    conv = _write(tmp_path)
    with LlmServer(ttft_ms=5, itl_ms=2, tokens=TOKENS, record_prompts=True) as a, \
            LlmServer(ttft_ms=5, itl_ms=2, tokens=TOKENS, record_prompts=True) as b:
        spec = {"split": "split",
                "variants": [{"name": "A", "target": {"type": "openai", "url": a.url, "model": "m", "max_tokens": TOKENS}},
                             {"name": "B", "target": {"type": "openai", "url": b.url, "model": "m", "max_tokens": TOKENS}}],
                "payload": {"sessions": str(conv)}, "load": {"rate": 8, "requests": 12, "workers": 2, "seed": 5},
                "output": {"dir": str(tmp_path / "out")}}
        r = stinger.run(spec, outputs=["rundir"])
    summary = json.loads((Path(r.run_dir) / "summary.json").read_text())
    for name, server in (("A", a), ("B", b)):
        v = summary["variants"][name]
        _accounting(v)
        recs = server.records()
        answers = {x["answer"] for x in recs}
        # each later turn's history holds answers this variant's server gave, never the other's
        for x in recs:
            assert all(m["content"] in answers for m in x["messages"] if m["role"] == "assistant")
        assert v["requests"]["ok"] == len(recs) and v["sessions"]["done"] == v["sessions"]["started"]
        first_turns = sum(1 for x in recs if sum(m["role"] == "user" for m in x["messages"]) == 1)
        assert first_turns == v["sessions"]["started"]
    assert summary["variants"]["A"]["sessions"]["started"] + summary["variants"]["B"]["sessions"]["started"] == 12
    assert min(summary["variants"][n]["sessions"]["started"] for n in "AB") > 0


@pytest.mark.slow
def test_a_run_whose_sessions_were_all_cut_says_so_in_the_warnings_and_the_report(tmp_path):
    """3 of 3 sessions cut by the run's end: the terminal showed the sessions block, report.html did not,
    and neither warned that no session completed."""
    from stinger.outputs.report import render_report

    conv = _write(tmp_path, [{"turns": ["q1", "q2", "q3", "q4"]}])
    with LlmServer(ttft_ms=5, itl_ms=2, tokens=TOKENS) as s:
        summary, _rows = _run(tmp_path, s, conv, {"rate": 1.0, "duration": "2.5s", "think_time": "1s"}, workers=1)
    v = summary["variants"]["default"]["sessions"]
    assert v["started"] == v["cut"] == 3 and v["done"] == 0
    warn = [w for w in summary["warnings"] if "no session completed" in w]
    assert warn == [f"default: no session completed (3 started: 0 failed, 3 cut by the run's end; "
                    f"{v['turns_unsent']} of 12 planned turns never sent): lengthen --duration or shorten the sessions"]
    html = render_report(next((tmp_path / "out").iterdir()))
    assert '<section id="sessions"><h2>Sessions</h2>' in html
    row = html.split('<table class="sessions">', 1)[1].split("</table>", 1)[0]
    cells = [c.split("</td>")[0] for c in row.split("<td>")[1:]]
    assert cells[:8] == ["default", "3", "0", "0", "3", str(v["turns_scheduled"]), "12", str(v["turns_unsent"])], cells
    assert "no session completed" in html   # the headline's warnings
