"""engine/http.py: what a connection class captures of a response (no network: bytes are fed by hand)."""

from __future__ import annotations

from stinger.engine.http import Conn, HeadConn, Pool, conn_class


class Engine:
    """Stands in for the engine core: keeps what the connection reports."""

    def __init__(self) -> None:
        self.finished: list[tuple] = []
        self.unsolicited = 0

    def finish(self, conn: Conn) -> None:
        self.finished.append((conn.status, conn.hv, list(conn.chunks), b"".join(conn.body or [])))
        conn.hv = None
        conn.chunks = []
        conn.first_byte = 0.0
        conn.busy = False

    def on_unsolicited(self, conn: Conn) -> None:
        self.unsolicited += 1


def feed(cls: type[Conn], *parts: bytes, want_body: bool = False) -> Engine:
    engine = Engine()
    pool = Pool(index=0, endpoint=None, target=None, address="", ssl=None, is_head=False, cache=[])
    conn = cls(engine, pool, want_body)
    conn.busy = True
    for part in parts:
        conn.data_received(part)
    return engine


RESPONSE = (b"HTTP/1.1 200 OK\r\nServer-Timing: model;dur=3\r\nX-Model: b\r\nX-Other: z\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")


def test_a_run_that_needs_nothing_gets_the_plain_classes():
    assert conn_class((), False) is Conn and conn_class(None, False, head=True) is HeadConn


def test_one_header_is_captured_by_name_whatever_its_case():
    cls = conn_class(("Server-Timing",), False)
    [(status, hv, chunks, body)] = feed(cls, RESPONSE).finished
    assert status == 200 and hv == b"model;dur=3" and chunks == [] and body == b""   # bare: see Columns.hvals


def test_several_headers_are_captured_in_the_order_asked():
    cls = conn_class(("x-model", "server-timing", "x-absent"), False)
    [(_, hv, _, _)] = feed(cls, RESPONSE).finished
    assert list(hv) == [b"b", b"model;dur=3", None]


def test_chunk_times_and_body_are_kept_when_asked():
    cls = conn_class((), True, chunk_times=True)
    [(_, hv, chunks, body)] = feed(cls, RESPONSE[:-20], RESPONSE[-20:], want_body=True).finished
    assert hv is None and body == b"abcde"
    assert len(chunks) == 2 and chunks == sorted(chunks)
