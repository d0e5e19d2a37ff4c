"""core/server_time.py: the one rule that chooses a variant's server time (header, then metrics, then
after-run), over every presence combination of the three sources, each also present with a count of 0."""

from __future__ import annotations

import itertools

import pytest

from stinger.core.server_time import Origin, ServerTimeReading, choose, p50_at_most
from stinger.core.summary import Bound, Hist


def reading(origin: Origin, count: int) -> ServerTimeReading:
    return ServerTimeReading(origin, origin.name.lower(), Hist(count=count, mean=1.0 + origin, p50=None if count == 0
                                                                else 1.0 + origin))


# Each source: absent (None), present with requests (n), present but counted nothing (0).
# (header, metrics, after_run) -> the origin chosen (None: no server time). 27 rows: the 8 presence
# combinations of the three sources, and each present source also with a count of 0.
_STATES = (None, 0, 5)
TABLE = [
    ((h, m, a), next((o for o, c in zip(Origin, (h, m, a), strict=True) if c), None))
    for h, m, a in itertools.product(_STATES, repeat=3)
]


def test_the_table_is_the_rule_written_out():
    written = {
        (None, None, None): None, (5, None, None): Origin.HEADER, (None, 5, None): Origin.METRICS,
        (None, None, 5): Origin.AFTER_RUN, (5, 5, None): Origin.HEADER, (5, None, 5): Origin.HEADER,
        (None, 5, 5): Origin.METRICS, (5, 5, 5): Origin.HEADER,
        # a source that counted nothing never hides a later one
        (0, 5, None): Origin.METRICS, (0, 0, 5): Origin.AFTER_RUN, (0, None, 5): Origin.AFTER_RUN,
        (0, 0, 0): None, (5, 0, 0): Origin.HEADER, (None, 0, 5): Origin.AFTER_RUN, (0, 5, 0): Origin.METRICS,
    }
    table = dict(TABLE)
    assert len(table) == 27
    for row, want in written.items():
        assert table[row] == want, row


@pytest.mark.parametrize(("counts", "want"), TABLE)
def test_choose(counts, want):
    given = [None if c is None else reading(o, c) for o, c in zip(Origin, counts, strict=True)]
    for order in (given, given[::-1]):   # the order the readings are given in does not matter
        got = choose(order)
        assert (None if got is None else got.origin) == want
        if got is not None:
            assert got.count > 0 and got.source == want.name.lower()


def test_among_readings_of_one_origin_the_first_given_wins():
    a = ServerTimeReading(Origin.METRICS, "own monitor", Hist(count=3, mean=1.0))
    b = ServerTimeReading(Origin.METRICS, "the run's monitor", Hist(count=9, mean=2.0))
    assert choose([a, b]) is a and choose([b, a]) is b


def test_p50_at_most_takes_a_bound_s_upper_end():
    assert p50_at_most(Hist(count=4, p50=2.5)) == 2.5
    assert p50_at_most(Hist(count=4, bounds={"p50": Bound(0.0, 0.4)})) == 0.4
    assert p50_at_most(Hist(count=4, bounds={"p50": Bound(5.0, None)})) is None   # unbounded: nothing sure
    assert p50_at_most(Hist(count=0)) is None and p50_at_most(None) is None
