"""A plain run must not import the statistics stack: scipy alone costs the coordinator
about 0.5 CPU-s, which `bench/` counts against stinger's requests per CPU-second
(a regression of ~10 % against wrk came from exactly this)."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys, stinger
r = stinger.run({"target": {"type": "fake", "delay": "1ms"}, "load": {"rate": 50, "requests": 20}}, outputs=[])
assert r.summary["variants"]["default"]["requests"]["ok"] == 20, r.summary
print(sorted({m.split(".")[0] for m in sys.modules if m.split(".")[0] in ("scipy", "sklearn")}))
"""


def test_a_plain_run_imports_no_statistics_stack():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout
