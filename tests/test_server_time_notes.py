"""The notes about server time (issue: a new-user review): the presets they name come from the presets'
registry (the help and the note named mlserver..vllm and missed tgi, sglang and dcgm, which the CLI
takes), and a run in which no request succeeded says nothing about a missing Server-Timing header."""

from __future__ import annotations

import subprocess
import sys

import stinger
from stinger.monitors.prometheus import PRESETS


def test_the_monitor_help_and_the_note_list_every_preset_of_the_registry():
    from stinger.core.server_time import server_time_note
    from stinger.monitors.presets import server_time_presets

    timed = [n for n, p in PRESETS.items() if p.server_time]
    assert {"tgi", "sglang", "vllm", "mlserver"} <= set(timed) and "dcgm" not in timed   # dcgm: GPU figures only
    assert server_time_presets() == tuple(timed)
    note = server_time_note(["default"], "the endpoint sent no server-timing header")
    assert note.endswith(f"--monitor prometheus=URL:PRESET ({', '.join(timed)})"), note
    out = subprocess.run([sys.executable, "-m", "stinger.cli", "run", "--help"], capture_output=True, text=True,
                         timeout=60, env={"COLUMNS": "400", "PATH": "/usr/bin:/bin",
                                          **{k: v for k, v in __import__("os").environ.items() if k == "PYTHONPATH"}})
    text = " ".join(out.stdout.split())
    assert f"Prometheus presets: {', '.join(PRESETS)};" in text, text[:3000]
    assert f"one naming a server-time metric ({', '.join(timed)})" in text


def test_a_run_where_no_request_succeeded_says_nothing_about_server_time(tmp_path):
    r = stinger.run({"target": {"type": "http", "url": "http://127.0.0.1:1/"}, "load": {"rate": 10, "requests": 5},
                     "output": {"dir": str(tmp_path)}}, outputs=[])
    assert r.summary["variants"]["default"]["requests"]["ok"] == 0
    st = r.summary["server_time"]
    assert "note" not in st and not st.get("missing"), st
    assert not any("server-timing" in w.lower() for w in r.summary["warnings"])
    # a run that succeeded still gets the note (the rule only skips variants with nothing to time)
    ok = stinger.run({"target": {"type": "fake", "delay": "1ms"}, "load": {"rate": 50, "requests": 5}}, outputs=[])
    assert "sent no server-timing header" in ok.summary["server_time"]["note"]
