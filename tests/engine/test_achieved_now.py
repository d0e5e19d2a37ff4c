"""The live "achieved now" rate (issue 20: a rate change shown within a second): the workers' pulses carry
their ended counts, the coordinator rates them over the last fraction of a second (scale/now_rate.py),
and the live snapshots (and the jsonlines lines built from them) carry it. Real local workers against a
reference server; the time bound is built from what this run measured (its snapshot cadence, its
pulses' window), never an absolute time."""

from __future__ import annotations

import json
import statistics

import pytest

import stinger
from stinger.outputs.jsonlines import JsonLinesOutput
from stinger.scale.frames import alive_body, alive_mark
from stinger.scale.now_rate import NowRate
from stinger.scale.pulse import EVERY
from stinger.testing.servers import RefServer


class Watch:
    """An output keeping what each live snapshot said."""

    name = "watch"

    def __init__(self) -> None:
        self.seen: list[tuple[float, float | None, float | None, float]] = []

    def start(self, info) -> None:
        pass

    def interval(self, snapshot) -> None:
        second = sum(v.last_achieved_rps or 0.0 for v in snapshot.variants)
        self.seen.append((snapshot.elapsed, snapshot.achieved_now_rps, snapshot.achieved_now_window_s, second))

    def finish(self, result) -> None:
        pass


@pytest.mark.slow
def test_the_achieved_now_rate_follows_a_live_change_within_its_window(tmp_path):
    change_at, old, new = 2.5, 50.0, 200.0
    control = stinger.RunControl()
    control.set_rate(f"{new:g}/s", at=change_at)
    watch = Watch()
    lines = tmp_path / "live.jsonl"
    with RefServer("delay", delay_ms=5) as srv:
        spec = {"target": {"url": srv.url}, "load": {"rate": old, "duration": "5s", "workers": 2, "seed": 1}}
        result = stinger.run(spec, control=control, outputs=[watch, JsonLinesOutput(lines)])
    assert [e["rate"] for e in result.summary["events"]] == [new]
    seen = [s for s in watch.seen if s[1] is not None]
    assert seen, watch.seen
    # the noise of this run: how far apart snapshots came, and the widest window a rate was taken over
    gaps = [b[0] - a[0] for a, b in zip(watch.seen, watch.seen[1:], strict=False)]
    widest = max(s[2] for s in seen)
    # at the old rate (a full window after the start, before the change): about the old rate
    steady = [s[1] for s in seen if widest + EVERY < s[0] < change_at]
    assert steady and abs(statistics.median(steady) - old) <= 0.2 * old, steady
    # after the change: >= 90 % of the new rate once a window has filled at it, the pulse carrying it has
    # come, and the next snapshot has been taken
    reached = next(s[0] for s in seen if s[0] > change_at and s[1] >= 0.9 * new)
    bound = change_at + widest + 2 * EVERY + max(gaps)
    assert reached <= bound, (reached, bound, watch.seen)
    # ... and before the last complete interval's figure, which waits for a whole interval at the new rate
    second = next((s[0] for s in watch.seen if s[0] > change_at and s[3] >= 0.9 * new), None)
    assert second is None or reached < second, (reached, second)
    # the jsonlines snapshots carry it, with its window
    rows = [json.loads(x) for x in lines.read_text().splitlines()]
    live = [r for r in rows if r["event"] == "interval" and "achieved_now_rps" in r]
    assert live and all(r["achieved_now_window_s"] > 0 for r in live)
    assert max(r["achieved_now_rps"] for r in live) >= 0.9 * new


def test_the_rate_is_each_workers_rise_over_its_window_summed():
    r = NowRate(window=0.3)
    assert r.read() is None
    for k in range(11):                      # worker 0: 100 req/s, a mark every 0.1 s on its own clock
        r.add(0, 1000.0 + k * 0.1, 10 * k)
    r.add(1, 5.0, 0)                          # worker 1: another clock, 50 req/s
    r.add(1, 5.4, 20)
    rate, window = r.read()
    assert rate == pytest.approx(150.0) and window == pytest.approx((0.3 + 0.4) / 2)
    r.add(0, 1000.95, 50)                     # a count read across a flush's swap (lower): ignored
    r.add(0, 1000.5, 200)                     # out of order: ignored
    assert r.read()[0] == pytest.approx(150.0)
    r.forget(1)                               # ended (its final record) or lost: adds nothing more
    assert r.read()[0] == pytest.approx(100.0)


def test_a_pulse_frame_carries_its_mark_and_an_empty_one_still_means_alive():
    assert alive_mark(alive_body((12.5, 3))) == (12.5, 3)
    assert alive_body(None) == b"" and alive_mark(b"") is None
