"""User hooks (core/hooks.py) in real runs against a loopback server that records every body it read.

The request hook builds each payload's request once, before the run, in the coordinator (counted here:
once per payload however many requests are sent), and the server reads what it built; the response hook
reads every OK answer on the workers' flush thread: its predictions are judged against its labels, its
token counts become the catalogue's metric, `ok=False` is a failed check. Mistakes are one line, exit 2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

import stinger

HOOKS = textwrap.dedent('''
    import json
    import stinger

    CALLS = []

    def build(req: stinger.Request) -> stinger.Request:
        CALLS.append(req.label)
        row = json.loads(req.body)
        return stinger.Request(body={"inputs": [row["x"]]}, label=req.label, content_type="application/json")

    @stinger.response_hook
    def read(resp):
        x = resp.json()["inputs"][0]
        return stinger.Reading(prediction="even" if x % 2 == 0 else "odd", output_tokens=x + 1, ok=x != 5)

    def broken(req: stinger.Request):
        if json.loads(req.body)["x"] == 3:
            raise KeyError("no field 'text'")
        return req.body

    @stinger.response_hook
    def raises(resp):
        raise ValueError("cannot read this answer")

    def undeclared(thing):
        return thing
''')


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[bytes]

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def echo():
    """A loopback server that answers each POST with its own body and keeps every body it read."""
    handler = type("Echo", (_Echo,), {"seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", handler.seen
    server.shutdown()
    server.server_close()


@pytest.fixture
def hooks_dir(tmp_path, monkeypatch):
    (tmp_path / "my_hooks.py").write_text(HOOKS)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("my_hooks", None)
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps({"x": i, "y": "even" if i % 2 == 0 else "odd"}) + "\n" for i in range(6)))
    yield tmp_path
    sys.modules.pop("my_hooks", None)


def _spec(url, hooks_dir, hooks, **load):
    return {"target": {"url": url, "method": "POST"}, "hooks": hooks,
            "payload": {"data": str(hooks_dir / "rows.jsonl"), "label_field": "y"},
            "load": {"rate": 60, "requests": 30, **load}, "server_time": None,
            "output": {"dir": str(hooks_dir / "runs")}}


def test_request_hook_once_per_payload_and_response_hook_on_every_answer(echo, hooks_dir):
    url, seen = echo
    r = stinger.run(_spec(url, hooks_dir, {"request": "my_hooks:build", "response": "my_hooks:read"}))
    import my_hooks

    assert my_hooks.CALLS == ["even", "odd"] * 3          # once per payload, in this process, before the run
    assert len(seen) == 30                                # ... and the server read what it built, every time
    assert sorted(json.loads(b)["inputs"][0] for b in seen) == sorted(list(range(6)) * 5)
    v = r.summary["variants"]["default"]
    assert v["requests"]["ok"] == 25 and v["errors"]["check_failed"] == 5   # ok=False: payload 5, five times
    assert v["quality"] == {"labelled": 25, "accuracy": 1.0}         # the hook's predictions, the labels
    assert v["output_tokens"]["count"] == 25
    assert v["output_tokens"]["max"] == pytest.approx(5, abs=0.01)  # x + 1 of the OK payloads 0..4
    hooks = r.summary["hooks"]
    assert hooks["request"] == "my_hooks:build" and hooks["response"] == "my_hooks:read"
    assert hooks["payloads"] == 6 and hooks["request_s_per_payload"] > 0
    assert yaml.safe_load((r.run_dir / "spec.yaml").read_text())["hooks"] == {"request": "my_hooks:build",
                                                                                "response": "my_hooks:read"}


def test_a_capacity_search_builds_the_requests_once(echo, hooks_dir):
    url, seen = echo
    out = stinger.capacity(_spec(url, hooks_dir, {"request": "my_hooks:build"}, duration="1s"), outputs=[],
                           start=20, max_steps=2, step_duration=1.0, step_warmup=0.5, slos=["error_rate<50%"])
    import my_hooks

    assert len(out.summary["steps"]) == 2 and len(seen) > 30
    assert len(my_hooks.CALLS) == 6   # two steps, every request built from the one derived dataset
    assert {tuple(json.loads(b)) for b in seen} == {("inputs",)}


def test_a_response_hook_that_raises_fails_the_check_not_the_run(echo, hooks_dir):
    url, _ = echo
    r = stinger.run(_spec(url, hooks_dir, {"response": "my_hooks:raises"}, requests=10))
    v = r.summary["variants"]["default"]
    assert v["requests"]["ok"] == 0 and v["errors"]["check_failed"] == 10
    # the user's error, beside the count it explains (as an endpoint's error message is)
    assert v["error_messages"] == {"check_failed": "response hook: ValueError: cannot read this answer"}


def _cli(hooks_dir, hooks, **load):
    spec = hooks_dir / "spec.yaml"
    spec.write_text(yaml.safe_dump(_spec("http://127.0.0.1:9/", hooks_dir, hooks, **load)))
    return subprocess.run([sys.executable, "-m", "stinger.cli", "run", str(spec), "-q"], capture_output=True,
                          text=True, timeout=60, cwd=hooks_dir, stdin=subprocess.DEVNULL,
                          env={**os.environ, "PYTHONPATH": f"{hooks_dir}:{Path(stinger.__file__).parents[1]}"})


@pytest.mark.parametrize(("hooks", "said"), [
    ({"request": "no_such_module:build"}, "hooks.request: cannot import 'no_such_module'"),
    ({"request": "my_hooks:nothing"}, "hooks.request: module 'my_hooks' has no 'nothing'"),
    ({"request": "my_hooks:read"}, "hooks.request: my_hooks:read is a response hook; give it as hooks.response"),
    ({"response": "my_hooks"}, "'my_hooks' is not module:function"),
    ({"request": "my_hooks:broken"}, "hooks.request failed on payload row 3: KeyError"),
])
def test_a_hook_mistake_is_one_line_exit_2_before_any_load(hooks_dir, hooks, said):
    r = _cli(hooks_dir, hooks)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and said in lines[0] and "Traceback" not in r.stderr, r.stderr
    assert not (hooks_dir / "runs").exists()


def test_a_request_hook_is_refused_where_workers_cannot_read_this_machines_files(hooks_dir):
    r = _cli(hooks_dir, {"request": "my_hooks:build"}, backend="ray")
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [
        "stinger: error: hooks.request works with the local backend: ray workers may run on other machines, "
        "which cannot read the requests it built here"]
    assert not (hooks_dir / "runs").exists()


def test_hooks_from_the_command_line(echo, hooks_dir):
    """`--hook`: the kind from a prefix (`request=`), or from the function's decorator (`read` is marked a
    response hook); a function that declares no kind and has no prefix is one line, exit 2."""
    url, seen = echo
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hooks_dir), os.environ.get("PYTHONPATH", "")])}
    base = [sys.executable, "-m", "stinger.cli", "run", "--url", url, "--method", "POST", "--data",
            str(hooks_dir / "rows.jsonl"), "--label-field", "y", "--rate", "60", "--requests", "12",
            "--no-server-time", "--out", str(hooks_dir / "runs"), "-q"]
    ok = subprocess.run([*base, "--hook", "request=my_hooks:build", "--hook", "my_hooks:read"], env=env,
                        capture_output=True, text=True, cwd=hooks_dir)
    assert ok.returncode == 0, ok.stderr   # ok=False on payload 5 fails its two answers' check (counted below)
    summary = json.loads(next((hooks_dir / "runs").glob("*/summary.json")).read_text())
    assert summary["hooks"]["request"] == "my_hooks:build" and summary["hooks"]["response"] == "my_hooks:read"
    assert summary["variants"]["default"]["errors"]["check_failed"] == 2 and len(seen) == 12
    assert sorted(json.loads(b)["inputs"][0] for b in seen) == sorted(list(range(6)) * 2)
    bad = subprocess.run([*base, "--hook", "my_hooks:undeclared"], env=env, capture_output=True, text=True, cwd=hooks_dir)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert "declares no kind" in bad.stderr and "request=my_hooks:undeclared" in bad.stderr
