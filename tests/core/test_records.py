"""core/records.py: the Result record's stable serialised form and the error kinds."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stinger.core.records import ERROR_KINDS, ERROR_LABELS, Kind, Result

FIELDS = ["variant", "intended", "sent", "first_byte", "done", "kind", "status", "bytes_in", "server_ms"]


def make(**kw) -> Result:
    base = dict(variant="A", intended=1.0, sent=1.001, first_byte=1.02, done=1.05, kind=int(Kind.OK),
                status=200, bytes_in=512, server_ms=12.5)
    base.update(kw)
    return Result(**base)


def test_serialised_form_is_stable():
    d = make().to_dict()
    assert list(d) == FIELDS
    assert d == {"variant": "A", "intended": 1.0, "sent": 1.001, "first_byte": 1.02, "done": 1.05,
                 "kind": 0, "status": 200, "bytes_in": 512, "server_ms": 12.5}


def test_round_trip_through_json():
    r = make(kind=int(Kind.HTTP_5XX), status=503)
    back = Result.from_dict(json.loads(json.dumps(r.to_dict())))
    assert back == r


def test_round_trip_keeps_nan_fields():
    r = make(sent=float("nan"), first_byte=float("nan"), kind=int(Kind.CONNECT), status=0,
             bytes_in=0, server_ms=float("nan"))
    back = Result.from_dict(json.loads(json.dumps(r.to_dict())))  # json writes NaN and reads it back
    assert math.isnan(back.sent) and math.isnan(back.first_byte) and math.isnan(back.server_ms)
    assert (back.variant, back.intended, back.done, back.kind, back.status) == ("A", 1.0, 1.05, 1, 0)


def test_from_dict_ignores_extra_keys_and_defaults_server_ms():
    d = make().to_dict()
    d["extra"] = "ignored"
    assert Result.from_dict(d) == make()
    r = Result("B", 0.0, 0.1, 0.2, 0.3, 0, 200, 10)
    assert math.isnan(r.server_ms)


def test_from_dict_missing_field_raises():
    d = make().to_dict()
    del d["done"]
    with pytest.raises(KeyError):
        Result.from_dict(d)


def test_derived_times():
    r = make(intended=10.0, sent=10.25, done=11.0)
    assert r.latency == pytest.approx(1.0)
    assert r.service_time == pytest.approx(0.75)
    assert r.schedule_lag == pytest.approx(0.25)
    assert r.latency == pytest.approx(r.schedule_lag + r.service_time)


def test_frozen_and_slotted():
    r = make()
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.status = 500  # type: ignore[misc]
    assert not hasattr(r, "__dict__")


@given(
    variant=st.text(min_size=1, max_size=20),
    times=st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=4, max_size=4),
    kind=st.sampled_from(list(Kind)),
    status=st.integers(0, 599),
    nbytes=st.integers(0, 2**40),
)
def test_round_trip_property(variant, times, kind, status, nbytes):
    r = Result(variant, *sorted(times), int(kind), status, nbytes, 1.5)
    assert Result.from_dict(json.loads(json.dumps(r.to_dict()))) == r


# --------------------------------------------------------------------- kinds
def test_kind_values_are_stable():
    # small integers on the hot path and in the workers' messages: never renumber
    assert [(k.name, int(k)) for k in Kind] == [
        ("OK", 0), ("CONNECT", 1), ("TIMEOUT", 2), ("RESET", 3), ("INVALID", 4),
        ("HTTP_4XX", 5), ("HTTP_5XX", 6), ("CHECK", 7)]


def test_kind_labels():
    assert {k: k.label for k in Kind} == {
        Kind.OK: "ok", Kind.CONNECT: "connect", Kind.TIMEOUT: "timeout", Kind.RESET: "reset",
        Kind.INVALID: "invalid_response", Kind.HTTP_4XX: "http_4xx", Kind.HTTP_5XX: "http_5xx",
        Kind.CHECK: "check_failed"}


def test_error_kinds_are_every_kind_but_ok():
    assert Kind.OK not in ERROR_KINDS
    assert set(ERROR_KINDS) | {Kind.OK} == set(Kind)
    assert ERROR_LABELS == tuple(k.label for k in ERROR_KINDS)
    assert len(set(ERROR_LABELS)) == len(ERROR_LABELS) and "ok" not in ERROR_LABELS
