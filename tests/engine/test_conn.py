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

    def on_header_too_large(self, conn: Conn) -> None:
        self.finished.append(("header_too_large", conn.nbytes))
        conn.busy = False


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


# ------------------------------------------------------ the head cap (issue 16 item 6)
def _head_cap(*parts: bytes, max_header: int = 1024, cls=None) -> Engine:
    """Feed until the response ends (the real engine closes the connection at the cap)."""
    engine = Engine()
    pool = Pool(index=0, endpoint=None, target=None, address="", ssl=None, is_head=False, cache=[])
    conn = (cls or conn_class((), False, max_header=max_header))(engine, pool, False)
    conn.busy = True
    for part in parts:
        if conn.busy:
            conn.data_received(part)
    return engine


def test_a_head_past_the_cap_fails_once_it_passes_it_whatever_the_reads():
    head = b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 5000
    for cut in (1, 900, 1100, len(head)):   # one read, or several
        [(what, nbytes)] = _head_cap(head[:cut], head[cut:]).finished
        assert what == "header_too_large" and nbytes > 1024


def test_a_head_under_the_cap_passes_with_a_body_past_it_in_any_reads():
    body = b"x" * 10_000
    resp = b"HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n" + body
    for cut in (5, 20, 45, 500, 2000):   # the head split, whole, or with part of the body
        [(status, *_)] = _head_cap(resp[:cut], resp[cut:]).finished
        assert status == 200, cut


def test_after_an_interim_response_the_final_head_is_the_one_capped():
    interim = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
    big = b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000
    [(status, *_)] = _head_cap(interim + big[:30], big[30:]).finished          # no false alarm
    assert status == 200
    [(status, *_)] = _head_cap(interim, big[:30], big[30:]).finished
    assert status == 200
    endless = b"HTTP/1.1 200 OK\r\nX-Endless: " + b"a" * 3000                  # and the final head is capped
    [(what, _)] = _head_cap(interim + endless[:100], endless[100:]).finished
    assert what == "header_too_large"
    [(what, _)] = _head_cap(interim, endless, cls=conn_class((), False, head=True, max_header=1024)).finished
    assert what == "header_too_large"


def test_the_default_cap_is_64_kib_on_the_plain_classes():
    assert Conn.max_header == HeadConn.max_header == 64 * 1024
    assert conn_class((), False, max_header=4096).max_header == 4096
