#!/usr/bin/env python3
"""Signing cost: how long one SigV4 signature of a SageMaker request takes on this machine.

    python3 bench/sign_cost.py [--n 20000] [--body-bytes 200]

Signs the same InvokeEndpoint request (a JSON body of --body-bytes, five
SageMaker headers, a session token) --n times with `stinger.vendors.sagemaker.sigv4.Signer`
(botocore's SigV4Auth, clock pinned) and prints microseconds per signature, the
best of three rounds (the least disturbed by the other processes on the machine).

What it means for a run: the engine signs once per distinct request and keeps
the bytes for 4 minutes, so the signing CPU of a run is about
`distinct bodies x runs-of-4-minutes x cost`, not `requests x cost`. The last
line prints the rate one core could sustain if every request were signed anew,
the worst case. Credentials are fake and nothing is sent anywhere.
"""

from __future__ import annotations

import argparse
import json
import time

from botocore.credentials import Credentials

from stinger.vendors.sagemaker.sigv4 import Signer

URL = "https://runtime.sagemaker.us-east-1.amazonaws.com/endpoints/bench-endpoint/invocations"
HEADERS = (
    ("Content-Type", "application/json"),
    ("Accept", "application/json"),
    ("X-Amzn-SageMaker-Target-Variant", "variant-a"),
    ("X-Amzn-SageMaker-Custom-Attributes", "bench=1"),
    ("X-Amzn-SageMaker-Inference-Id", "bench-0001"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--body-bytes", type=int, default=200)
    args = parser.parse_args()
    body = json.dumps({"instances": [[0.5] * max(1, args.body_bytes // 5)]}).encode()[: args.body_bytes]
    signer = Signer("us-east-1", credentials=Credentials("AKIDBENCH", "SECRETBENCH", "TOKENBENCH"))
    wall = time.time()
    rounds = []
    for _ in range(3):
        t0 = time.perf_counter()
        for i in range(args.n):
            signer.sign("POST", URL, HEADERS, body, at=wall + i * 1e-3)
        rounds.append((time.perf_counter() - t0) / args.n * 1e6)
    best = min(rounds)
    print(f"sigv4 sign: {best:.1f} us/request (best of 3 x {args.n}; rounds "
          f"{', '.join(f'{r:.1f}' for r in rounds)} us), body {len(body)} B")
    print(f"one core signing every request anew: {1e6 / best:,.0f} req/s; "
          f"with the engine's 4-minute cache: once per distinct body per 240 s")


if __name__ == "__main__":
    main()
