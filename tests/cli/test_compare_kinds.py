"""`stinger compare` of runs of different kinds of target (an openai run against a plain HTTP run): a new-user
review saw only "the runs had different loads" and the token rows dropped silently. Now the warning names the
target kinds and the rows only one run has are listed as not compared, in the sentence and the notes.

Real runs: the self-timing LLM server (`stinger.testing.llm_server`) and a reference delay server, on 127.0.0.1.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from stinger.testing.llm_server import LlmServer
from stinger.testing.servers import RefServer

CLI = [sys.executable, "-c", "import sys; from stinger.cli import main; main(sys.argv[1:])"]


def stinger(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def _run_dir(root: Path) -> Path:
    return next(d for d in root.iterdir() if (d / "summary.json").exists())


def test_compare_of_an_openai_run_and_a_plain_run_names_what_differs(tmp_path):
    with LlmServer(ttft_ms=20, itl_ms=4, tokens=4) as llm, RefServer("delay", delay_ms=10) as plain:
        p = stinger("run", "--openai", llm.url, "--model", "m", "--body", '"hi"', "--rate", "20", "--duration",
                    "2s", "-q", "--out", str(tmp_path / "llm"), cwd=tmp_path)
        assert p.returncode == 0, p.stderr
        p = stinger("run", "--url", plain.url + "/", "--rate", "20", "--duration", "2s", "-q",
                    "--out", str(tmp_path / "plain"), cwd=tmp_path)
        assert p.returncode == 0, p.stderr
    cmp = stinger("compare", str(_run_dir(tmp_path / "llm")), str(_run_dir(tmp_path / "plain")), cwd=tmp_path)
    out = " ".join(cmp.stdout.split())
    assert "the runs measured different kinds of target: baseline openai" in out, out
    assert "candidate plain" in out, out
    assert "not compared: time to first token (only in baseline)" in out, out
    assert "inter-token latency (only in baseline)" in out, out
