"""Name resolution and TLS failures are classified once, not per request (issue 10 item 8).

A `.invalid` host (RFC 6761) resolves nowhere and sends no traffic.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def _cli_run(url: str, out: Path, *extra: str) -> tuple[dict, str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    proc = subprocess.run([sys.executable, "-m", "stinger.cli", "run", "--url", url, *extra,
                           "--out", str(out), "--quiet"], check=False, timeout=60, capture_output=True,
                          text=True, env=env)
    (p,) = out.glob("*/summary.json")
    return json.loads(p.read_text()), proc.stderr


@pytest.mark.slow
def test_unresolvable_host_is_one_dns_kind_counted_per_request(tmp_path):
    summary, stderr = _cli_run("http://no-such-host.invalid/", tmp_path, "--rate", "50", "--duration", "2s",
                               "--workers", "1")
    v = summary["variants"]["default"]
    r = v["requests"]
    assert r["scheduled"] == 100
    assert r["unaccounted"] == 0 and r["in_flight"] == 0, r
    assert v["errors"]["dns"] == r["failed"] == r["scheduled"], v["errors"]
    assert v["errors"]["connect"] == 0
    assert "Future exception was never retrieved" not in stderr
    assert "Traceback" not in stderr


def test_resolve_failure_gives_no_address():
    from stinger.engine.http import resolve
    from stinger.targets.http import parse_endpoint

    ep = parse_endpoint("http://no-such-host.invalid/")
    assert resolve(ep)[1] is None
    ep = parse_endpoint("http://127.0.0.1:9/")
    assert resolve(ep)[1] == "127.0.0.1"
