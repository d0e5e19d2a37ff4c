"""The offline SageMaker of `stinger demo --sagemaker`: moto, the demo servers and the front, on loopback.

This module owns starting and stopping the processes that stand in for
SageMaker, and registering the endpoint in moto's control plane so that
DescribeEndpoint tells the same story the front serves:

* moto's server (`testing.moto_server.MotoServer`): the SageMaker control plane
  (the endpoint, its config and production variants with instance types and
  weights) and CloudWatch (where the front publishes);
* the demo model servers (`demo.process.DemoServer`), one per production variant
  (its "instance"): the real scikit-learn variants;
* the front (`demo.sagemaker_front`, via `FrontProcess`): the SageMaker runtime,
  SigV4 checked, variants routed, metrics published to moto by its publisher
  process (`demo.cw_publisher`), which also samples each model server as its
  variant's instance metrics (CPU, memory, disk).

Every process is started here and stopped here, by its own PID. A client of
the stack (a stinger run, a test) uses `env()` (fake keys and the region) with
`runtime_url` as the target's `endpoint_url` and `control_url` for the
control plane and CloudWatch.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType

from stinger.demo.process import DemoServer
from stinger.demo.sagemaker_front import ANNOUNCE_PREFIX
from stinger.errors import RunError
from stinger.testing.moto_server import REGION, MotoServer, client_env
from stinger.testing.procs import stop_process

ROLE_ARN = "arn:aws:iam::123456789012:role/stinger-demo"


@dataclass(frozen=True, slots=True)
class DemoVariant:
    """A production variant of the demo endpoint and the demo model that serves it."""

    name: str
    model: str                        # a demo server variant (`stinger.demo.models.VARIANTS`)
    instance_type: str = "ml.m5.large"
    instances: int = 1
    weight: float = 1.0
    delay_ms: float = 0.0             # the front adds this to the model's time (a known slower variant)


DEFAULT_VARIANTS = (DemoVariant("A", "fast", "ml.m5.large"), DemoVariant("B", "accurate", "ml.c5.xlarge"))


class FrontProcess:
    """`python -m stinger.demo.sagemaker_front` as a child process, its URL read from its announcement."""

    def __init__(self, args: Sequence[str], env: dict[str, str] | None = None) -> None:
        self.args = list(args)
        self.env = env
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self) -> FrontProcess:
        self.proc = subprocess.Popen([sys.executable, "-m", "stinger.demo.sagemaker_front", *self.args],
                                     stdout=subprocess.PIPE, text=True, env=self.env)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line.startswith(ANNOUNCE_PREFIX):
            self.stop()
            raise RunError(f"the SageMaker front did not start (it said {line.strip()!r})")
        self.url = line[len(ANNOUNCE_PREFIX):].strip()
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None


class SageMakerDemo:
    """The whole offline SageMaker; a context manager."""

    def __init__(self, endpoint: str = "stinger-demo", variants: Sequence[DemoVariant] = DEFAULT_VARIANTS,
                 *, publish_s: float = 5.0, max_concurrency: int = 0, seed: int = 0,
                 stream_parts: int = 4, stream_gap_ms: float = 0.0) -> None:
        if not variants:
            raise RunError("the SageMaker demo needs at least one variant")
        self.endpoint = endpoint
        self.variants = tuple(variants)
        self.publish_s = publish_s
        self.max_concurrency = max_concurrency
        self.seed = seed
        self.stream_parts = stream_parts      # a streamed reply: this many PayloadParts,
        self.stream_gap_ms = stream_gap_ms    # this far apart (a known ground truth for chunk_gap)
        self.moto = MotoServer()
        # one model server per production variant, as each variant has instances of its own: the front
        # publishes each one's CPU and memory as that variant's instance metrics
        self.demos = {v.name: DemoServer(variants=[v.model]) for v in self.variants}
        self.front: FrontProcess | None = None

    @property
    def demo(self) -> DemoServer:
        """The first production variant's model server."""
        return self.demos[self.variants[0].name]

    @property
    def runtime_url(self) -> str:
        if self.front is None:
            raise RunError("the SageMaker demo is not running")
        return self.front.url

    @property
    def control_url(self) -> str:
        return self.moto.url

    @staticmethod
    def env() -> dict[str, str]:
        """Fake credentials and the region, for any AWS client of the stack."""
        return client_env(REGION)

    def start(self) -> SageMakerDemo:
        try:
            self.moto.start()
            for server in self.demos.values():
                server.start()
            self._register()
            variants = ",".join(f"{v.name}={v.model}" for v in self.variants)
            weights = ",".join(f"{v.name}={v.weight}" for v in self.variants)
            delays = ",".join(f"{v.name}={v.delay_ms}" for v in self.variants)
            self.front = FrontProcess([
                "--port", "0", "--backend", self.demo.url, "--endpoint", self.endpoint, "--region", REGION,
                "--backends", ",".join(f"{n}={d.url}" for n, d in self.demos.items()),
                "--instance-pids", ",".join(f"{n}={d.pid}" for n, d in self.demos.items()),
                "--variants", variants, "--weights", weights, "--delays-ms", delays,
                "--cloudwatch-url", self.moto.url,
                "--publish-s", str(self.publish_s), "--max-concurrency", str(self.max_concurrency),
                "--seed", str(self.seed), "--stream-parts", str(self.stream_parts),
                "--stream-gap-ms", str(self.stream_gap_ms),
            ], env={**os.environ, **self.env()}).start()
        except BaseException:
            self.stop()
            raise
        return self

    def _register(self) -> None:
        """The endpoint, its config and variants in moto's control plane (what DescribeEndpoint returns)."""
        import boto3  # type: ignore[import-untyped]

        sm = boto3.client("sagemaker", **self.moto.client_kwargs())
        for v in self.variants:
            sm.create_model(ModelName=f"{self.endpoint}-{v.name}", ExecutionRoleArn=ROLE_ARN,
                            PrimaryContainer={"Image": f"stinger-demo:{v.model}"})
        sm.create_endpoint_config(EndpointConfigName=f"{self.endpoint}-config", ProductionVariants=[
            {"VariantName": v.name, "ModelName": f"{self.endpoint}-{v.name}", "InitialInstanceCount": v.instances,
             "InstanceType": v.instance_type, "InitialVariantWeight": v.weight} for v in self.variants])
        sm.create_endpoint(EndpointName=self.endpoint, EndpointConfigName=f"{self.endpoint}-config")

    def stop(self) -> None:
        """Front first (it publishes its last figures to moto on the way out), then the demo, then moto."""
        if self.front is not None:
            self.front.stop()
            self.front = None
        for server in self.demos.values():
            server.stop()
        self.moto.stop()

    def __enter__(self) -> SageMakerDemo:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
