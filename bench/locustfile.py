"""Locust FastHttpUser driving one GET per task, for the benches in this folder.

BENCH_WAIT_S sets the pause after each request (default 0: as fast as it
goes, for the throughput bench). BENCH_RATE_PER_USER switches to
`constant_throughput(rate)` per user (a paced closed loop, for the accuracy
bench's stall test): Locust still waits for each answer before the next
request, so a stalled server slows the senders instead of growing latency.
"""

import os

from locust import constant, constant_throughput, task
from locust.contrib.fasthttp import FastHttpUser

_RATE = float(os.environ.get("BENCH_RATE_PER_USER", "0") or 0)
_WAIT = float(os.environ.get("BENCH_WAIT_S", "0") or 0)


class BenchUser(FastHttpUser):
    wait_time = constant_throughput(_RATE) if _RATE > 0 else constant(_WAIT)

    @task
    def get(self) -> None:
        self.client.get("/", name="/")
