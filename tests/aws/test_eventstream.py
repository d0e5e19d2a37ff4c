"""The event-stream parser against botocore's, and the streaming timings."""

from __future__ import annotations

import math
import random

import pytest

from stinger.vendors.sagemaker import eventstream as es


def body_of(parts: list[bytes]) -> bytes:
    return b"".join(es.encode(p) for p in parts)


def test_parse_agrees_with_botocore_on_any_read_split():
    botocore_es = pytest.importorskip("botocore.eventstream")
    parts = [b"tok%d " % i for i in range(20)] + [b"", b"x" * 70000]
    body = body_of(parts) + es.encode_exception("ModelStreamError", '{"Message": "boom", "ErrorCode": "E1"}')
    reference = botocore_es.EventStreamBuffer()
    reference.add_data(body)
    expected = [(dict(m.headers), m.payload) for m in reference]
    rng = random.Random(7)
    for _ in range(20):
        cuts = sorted(rng.sample(range(1, len(body)), 12))
        pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)])]
        stream = es.parse([(float(i), p) for i, p in enumerate(pieces)])
        assert [(m.headers, m.payload) for m in stream.messages] == expected
        assert stream.leftover == 0
    assert stream.error == "ModelStreamError: boom"


def test_a_message_is_stamped_when_its_last_byte_arrived():
    body = body_of([b"a", b"b", b"c"])
    one = len(es.encode(b"a"))
    # read 1: first message and half the second; read 2: the rest
    stream = es.parse([(1.0, body[: one + 5]), (1.5, body[one + 5:])])
    assert [m.t for m in stream.messages] == [1.0, 1.5, 1.5]
    assert stream.payload_times == [1.0, 1.5, 1.5]
    ttfc, gaps = es.timings(stream, start=0.75)
    assert ttfc == pytest.approx(250_000)
    assert gaps == pytest.approx([500_000, 0])


def test_cut_off_stream_leaves_bytes_and_no_payload_gives_nan():
    body = es.encode(b"abc")
    stream = es.parse([(0.0, body[:-3])])
    assert stream.messages == [] and stream.leftover == len(body) - 3
    ttfc, gaps = es.timings(stream, 0.0)
    assert math.isnan(ttfc) and gaps == []


def test_corrupt_bytes_raise():
    body = bytearray(es.encode(b"abc"))
    body[-6] ^= 0xFF
    with pytest.raises(es.EventStreamError, match="CRC"):
        es.parse([(0.0, bytes(body))])
    with pytest.raises(es.EventStreamError, match="prelude"):
        es.parse([(0.0, b"\x00\x00\x00\x20\x00\x00\x00\x00\x00\x00\x00\x01")])
