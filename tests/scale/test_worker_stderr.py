"""What a load worker prints on stderr reaches ours through the secrets scrubber.

A worker's traceback or a library's warning can carry the URL or a header value it
was sending; forked workers used to write straight to the terminal's stderr.
"""

from __future__ import annotations

import os

from stinger.core.secrets import remember_secrets
from stinger.engine.worker import Worker
from stinger.orchestrate.planning import build_plans
from stinger.scale.coordinator import execute
from stinger.spec import parse_spec
from stinger.testing.servers import RefServer

TOKEN = "tok-9f8e7d6c5b4a39281706"


def test_a_workers_stderr_is_scrubbed_line_by_line(monkeypatch, capsys):
    remember_secrets({"headers": {"Authorization": f"Bearer {TOKEN}"}})
    real_run = Worker.run

    async def noisy_run(self):
        # what a traceback from the worker would print (fd 2, as the interpreter writes it)
        os.write(2, f"worker {self.plan.worker}: failed sending to http://bob:hunter2pw@127.0.0.1/ "
                    f"with Authorization: {TOKEN}\nsecond line, no newline at the end".encode())
        return await real_run(self)

    monkeypatch.setattr(Worker, "run", noisy_run)   # inherited by the forked workers
    with RefServer("delay", delay_ms=1) as s:
        spec = parse_spec({"target": {"url": s.url + "/"}, "load": {"rate": 40, "requests": 10, "workers": 2}})
        out = execute(build_plans(spec), backend="local")
    assert out.metrics.variants["default"].ok == 10
    err = capsys.readouterr().err
    assert err.count("failed sending to") == 2 and err.count("second line, no newline at the end") == 2, err
    assert TOKEN not in err and "hunter2pw" not in err, err
