"""An origin's source address on the engine's transports: HTTP/1.1 binds it (the server sees it), gRPC
refuses it in one line (grpcio has no way to bind a channel's local address)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from stinger.engine.transport import Pool
from stinger.targets.base import Endpoint


def _pool(port: int, source: str | None, scheme: str = "http") -> Pool:
    ep = Endpoint(scheme=scheme, host="127.0.0.1", port=port, path="/", url=f"{scheme}://127.0.0.1:{port}/")
    return Pool(index=0, endpoint=ep, target=None, address=None, ssl=None, is_head=False, cache=[], source=source)


def test_http1_connections_leave_from_the_origin_s_source_address() -> None:
    from stinger.engine.http import Http1

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        seen = []
        for source in ("127.0.0.2", None):
            pool = _pool(port, source)
            t = Http1()
            t.prepare(pool, verify_tls=True)

            async def connect(pool=pool, t=t):
                loop = asyncio.get_running_loop()
                transport, _ = await t.open(loop, asyncio.Protocol(), pool)
                transport.close()

            asyncio.run(connect())
            conn, peer = listener.accept()
            conn.close()
            seen.append(peer[0])
    assert seen == ["127.0.0.2", "127.0.0.1"]


def test_grpc_refuses_a_source_address_in_one_line() -> None:
    pytest.importorskip("grpc")
    from stinger.engine.grpc import Grpc

    with pytest.raises(ValueError, match=r"gRPC channels cannot bind one"):
        Grpc().prepare(_pool(9, "127.0.0.2", scheme="grpc"), verify_tls=True)
