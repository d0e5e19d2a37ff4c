"""MLServer (a third-party model server from PyPI) serving a scikit-learn digits model on loopback.

The one place tests and benches start it: `with digits_mlserver(root) as s:` trains a small
LogisticRegression on the first 1,000 digits, writes MLServer's settings (HTTP, gRPC and metrics
ports on 127.0.0.1, no parallel workers) and 100 held-out rows as JSONL, starts `mlserver start`,
waits for the model's readiness route, and stops the process it started by its PID.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from stinger.testing.procs import free_port, stop_process


@dataclass(frozen=True)
class MLServerDigits:
    http_port: int
    grpc_port: int
    metrics_port: int
    data: Path            # 100 held-out rows {"x": [64 features], "label": digit}, JSONL
    features: list        # the first held-out row's features

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc(self) -> str:
        return f"grpc://127.0.0.1:{self.grpc_port}"

    @property
    def metrics(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"


@contextmanager
def digits_mlserver(root: Path, *, ready_timeout: float = 90.0) -> Iterator[MLServerDigits]:
    """MLServer serving model `digits` from files under `root`; RuntimeError if it never becomes ready."""
    import joblib
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    X, y = load_digits(return_X_y=True)
    (root / "digits").mkdir(parents=True, exist_ok=True)
    joblib.dump(LogisticRegression(max_iter=300).fit(X[:1000], y[:1000]), root / "digits" / "model.joblib")
    (root / "digits" / "model-settings.json").write_text(json.dumps({
        "name": "digits", "implementation": "mlserver_sklearn.SKLearnModel", "parameters": {"uri": "./model.joblib"}}))
    http, grpc, metrics = free_port(), free_port(), free_port()
    (root / "settings.json").write_text(json.dumps({"host": "127.0.0.1", "http_port": http, "grpc_port": grpc,
                                                    "metrics_port": metrics, "parallel_workers": 0}))
    data = root / "digits.jsonl"
    data.write_text("\n".join(json.dumps({"x": X[i].tolist(), "label": int(y[i])}) for i in range(1000, 1100)))
    exe = Path(sys.executable).with_name("mlserver")
    proc = subprocess.Popen([str(exe) if exe.exists() else "mlserver", "start", str(root)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = MLServerDigits(http, grpc, metrics, data, X[1000].tolist())
    try:
        wait_model_ready(server.url, "digits", proc, ready_timeout)
        yield server
    finally:
        stop_process(proc)


def wait_model_ready(url: str, model: str, proc: subprocess.Popen, timeout: float) -> None:
    """Return once MLServer at `url` says `model` is ready; RuntimeError if its process ends or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/v2/models/{model}/ready", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("MLServer did not become ready")
        time.sleep(0.3)
