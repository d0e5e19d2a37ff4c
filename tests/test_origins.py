"""Origins on the local backend (issue 19 item 1): two origins whose workers bind 127.0.0.2 and 127.0.0.3,
a reference server that answers connections from 127.0.0.3 later by a known delay; the per-origin rows must
show the delay, the accounting identity exactly per origin, and where each origin ran; an origin that cannot
be placed is one line, exit code 2, before any load."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from stinger.testing.servers import RefServer

pytestmark = pytest.mark.slow

DELAY = 15.0   # ms the server adds to answers on connections from 127.0.0.3


def _stinger(args: list[str], out: Path) -> tuple[subprocess.CompletedProcess, dict | None]:
    cmd = [sys.executable, "-c", "import sys; from stinger.cli import main; sys.argv[0] = 'stinger'; sys.exit(main())",
           "run", "-q", "--out", str(out), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    found = list(out.glob("*/summary.json"))
    return proc, json.loads(found[0].read_text()) if found else None


def test_two_origins_by_source_address_each_show_their_own_latency_and_exact_accounting(tmp_path: Path) -> None:
    with RefServer("delay", delay_ms=5.0, delay_by_source={"127.0.0.3": DELAY}) as server:
        proc, summary = _stinger(["--url", server.url + "/", "--rate", "200", "--duration", "4s",
                                  "--origin", "east:1@127.0.0.2", "--origin", "west:1@127.0.0.3"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert summary is not None
    block = summary["breakdown"]["origin"]
    assert [(o["name"], o["workers"], o["source_address"]) for o in block["origins"]] == \
        [("east", [0], "127.0.0.2"), ("west", [1], "127.0.0.3")]
    rows = {r["origin"]: r for r in block["rows"]}
    assert set(rows) == {"east", "west"} and all(r["variant"] == "default" for r in rows.values())
    whole = summary["variants"]["default"]["requests"]
    for r in rows.values():
        q = r["requests"]
        assert q["scheduled"] == q["ok"] + q["failed"] + q["dropped"] + q["in_flight"] and q["unaccounted"] == 0
        assert q["ok"] == r["latency_ms"]["count"] == r["responses"] > 0   # the histogram holds every answer
    for k in ("scheduled", "ok", "failed", "dropped", "in_flight"):   # the origins add up to the variant
        assert sum(r["requests"][k] for r in rows.values()) == whole[k]
    east, west = rows["east"]["latency_ms"], rows["west"]["latency_ms"]
    # the tolerance is this run's own noise: each origin's spread between its p50 and p90
    noise = (east["p90"] - east["p50"]) + (west["p90"] - west["p50"])
    assert abs((west["p50"] - east["p50"]) - DELAY) <= max(noise, 0.5), (east, west)
    run_dir = next(tmp_path.glob("*/"))
    spec_yaml = (run_dir / "spec.yaml").read_text()
    assert "origins:" in spec_yaml and "source_address: 127.0.0.3" in spec_yaml
    report = (run_dir / "report.html").read_text()
    assert "per origin" in report and "origin west: source 127.0.0.3" in report


@pytest.mark.parametrize(("args", "says"), [
    (["--origin", "east:1@203.0.113.7"], "origin east: source address 203.0.113.7 cannot be bound here"),
    (["--origin", "east"], "expected NAME:WORKERS[@ADDRESS]"),
    (["--origin", "east:1", "--origin", "east:2"], "origin 'east' is given twice"),
    (["--origin", "east:1", "--origin", "west:1", "--workers", "3"], "the origins' workers add up to 2"),
    (["--origin", "east:1", "--origin", "west:1", "--users", "1"], "the closed model runs at most 1 users"),
])
def test_an_origin_that_cannot_be_placed_is_one_line_before_any_load(tmp_path: Path, args, says) -> None:
    load = [] if "--users" in args else ["--rate", "10"]
    proc, summary = _stinger(["--url", "http://127.0.0.1:9/", *load, "--duration", "1s", *args], tmp_path)
    assert proc.returncode == 2, (proc.stdout + proc.stderr)[-2000:]
    assert says in proc.stderr and "Traceback" not in proc.stderr
    assert summary is None and not any(tmp_path.iterdir())
