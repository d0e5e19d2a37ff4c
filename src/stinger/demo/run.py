"""`stinger demo`: the embedded demo end to end, in one command and under a minute.

Starts the demo model endpoint on loopback, writes a labelled dataset drawn
from scikit-learn's bundled digits, runs a short open-model load test against
it with the live view, prints the summary, leaves a run directory, and stops
the server (by its PID) whatever happens.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from rich.console import Console


def run_demo(*, duration: str = "10s", rate: str = "200", out: str = "runs", quiet: bool = False) -> int:
    from stinger.demo.models import write_demo_dataset
    from stinger.demo.process import DemoServer
    from stinger.session import run_spec
    from stinger.spec import parse_spec

    from stinger.report.terminal import make_console

    console = make_console()
    with tempfile.TemporaryDirectory(prefix="stinger-demo-") as tmp:
        data = write_demo_dataset(Path(tmp) / "digits.jsonl", fmt="jsonl")
        if not quiet:
            console.print("[bold]stinger demo[/]: starting the demo model endpoint (scikit-learn on digits) ...")
        with DemoServer(port=0, workers=1) as server:
            spec_data = {
                "name": "demo",
                "target": {"url": server.invocations_url("fast"), "method": "POST"},
                "payload": {"data": str(data), "label_field": "label", "order": "random"},
                "load": {"rate": rate, "duration": duration, "warmup": "1s", "timeout": "5s"},
                "check": {"status": "2xx", "json_path": "$.predictions[0]"},
                "prediction": "$.predictions[0]",
                "slo": ["p95<300ms", "error_rate<1%"],
                "monitors": [{"type": "prometheus", "url": server.metrics_url, "preset": "demo"}],
                "output": {"dir": out},
            }
            spec = parse_spec(spec_data, source="demo")
            if not quiet:
                console.print(f"endpoint {server.url} (pid {server.pid}); {rate} req/s for {duration}")
            report = run_spec(spec, spec.model_dump(mode="json", by_alias=True, exclude_none=True),
                              console=console, quiet=quiet)
    return report.exit_code
