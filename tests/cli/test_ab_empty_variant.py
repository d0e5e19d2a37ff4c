"""A variant that got no requests fails an A/B run (exit 1, said loudly), and a zero weight is a usage
error (exit 2): a new-user review saw "No comparisons between A and B were made" pass with exit 0.

Real runs against reference delay servers on 127.0.0.1 (a few seconds of load each).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from stinger.testing.servers import RefServer

CLI = [sys.executable, "-c", "import sys; from stinger.cli import main; main(sys.argv[1:])"]


def stinger(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def servers():
    with RefServer("delay", delay_ms=20) as slow, RefServer("delay", delay_ms=10) as fast:
        yield slow, fast


def test_variant_with_no_requests_fails_the_run(servers, tmp_path):
    """--weights 99,1 over 10 requests: B gets none. Before: "No comparisons ... were made", exit 0, no
    warning. Now: exit 1, said on stderr and in the summary, and the verdict says why there is none."""
    slow, fast = servers
    proc = stinger("ab", "--a", slow.url + "/", "--b", fast.url + "/", "--weights", "99,1", "--rate", "5", "--seed", "1",
                   "--duration", "2s", "--out", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "a variant had no successful response: B got no requests" in proc.stderr, proc.stderr
    run = next(p for p in tmp_path.iterdir() if p.is_dir())
    summary = json.loads((run / "summary.json").read_text())
    assert summary["no_success"] == ["B"], summary["no_success"]
    assert any(w.startswith("variant B got no requests") for w in summary["warnings"]), summary["warnings"]
    v = json.loads((run / "verdict.json").read_text())
    assert v["sentence"].startswith("No verdict: B got no requests"), v["sentence"]


@pytest.mark.parametrize("weights", ["100,0", "0,5", "-1,2"])
def test_zero_weight_is_a_usage_error(weights, tmp_path):
    proc = stinger("ab", "--a", "http://127.0.0.1:9/", "--b", "http://127.0.0.1:9/", "--weights", weights,
                   "--rate", "5", "--duration", "1s", "--out", str(tmp_path), cwd=tmp_path)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "expected two positive weights" in lines[0] and "Traceback" not in proc.stderr


def test_every_session_on_one_variant_fails_the_run(tmp_path):
    """--sessions with one session: its turns stay on one variant, the other gets nothing (before: exit 0)."""
    from stinger.testing.llm_server import LlmServer

    conv = tmp_path / "conv.jsonl"
    conv.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"},
                                             {"role": "user", "content": "again"}]}) + "\n")
    with LlmServer(ttft_ms=10, itl_ms=2, tokens=3) as a, LlmServer(ttft_ms=10, itl_ms=2, tokens=3) as b:
        proc = stinger("ab", "--openai", a.url, "--model", "m", "--a", f"url={a.url}", "--b", f"url={b.url}",
                       "--sessions", str(conv), "--requests", "1", "--rate", "1", "--out", str(tmp_path / "out"),
                       "-q", cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "a variant had no successful response" in proc.stderr, proc.stderr
    assert "got no requests" in proc.stdout, proc.stdout
