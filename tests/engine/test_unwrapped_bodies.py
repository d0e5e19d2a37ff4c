"""engine/batch.py: a carrier that rewrites the answers (gRPC's protobuf -> V2 JSON, `Interpretation.bodies`)
has its rewrite read by the run's checks and prediction path, not the bytes as they came."""

from __future__ import annotations

from dataclasses import dataclass

from stinger.core.checks import compile_json_path
from stinger.engine.batch import Flusher
from stinger.engine.columns import Columns
from stinger.engine.plan import VariantPlan, WorkerPlan
from stinger.targets.base import Interpretation
from stinger.targets.http import Config as HttpConfig

T0 = 100.0


@dataclass
class Slots:
    check: object = None
    prediction: object = None

    def label(self, p: int) -> object:
        return None


class Rewriting:
    """Reads every body `b"raw:N"` as the JSON `{"p": N}`."""

    def interpret(self, batch):
        return Interpretation(bodies=[b'{"p": %s}' % b[4:] for b in batch.bodies])


def flush(targets, nvar: int):
    plan = WorkerPlan(worker=0, workers=1, variants=tuple(VariantPlan(f"v{k}", HttpConfig(url="http://127.0.0.1:9/"))
                                                          for k in range(nvar)), warmup=0.0, duration=10.0)
    cols = Columns(header_names=(), keep_bodies=True)
    for k in range(4):
        v = k % nvar
        cols.rows.append((T0, T0, T0 + 0.01, T0 + 0.02, 0, 200, v, 10, k, 0, -1))
        cols.bodies.append(b"raw:%d" % k)
    return Flusher(plan, T0, Slots(prediction=compile_json_path("p")), targets=targets).flush(
        cols, {"scheduled": [4 // nvar] * nvar, "dropped": [0] * nvar}, loop_lags=[], in_flight=0,
        in_flight_by_variant=None, final=False, cpu=0.0)


def test_predictions_read_the_bodies_a_target_rewrote():
    rec = flush([Rewriting()], 1)
    assert sorted(p[2] for p in rec.predictions) == [0, 1, 2, 3]


def test_a_target_serving_some_variants_rewrites_only_its_rows():
    rec = flush([Rewriting(), None], 2)   # v0 rewritten (payloads 0, 2); v1's bodies stay unreadable
    assert sorted((p[0], p[2]) for p in rec.predictions) == [("v0", 0), ("v0", 2)]
