"""Fixtures for the SageMaker tests: fake AWS credentials, and moto's real server on loopback."""

from __future__ import annotations

import socket

import pytest

from stinger.testing.moto_server import MotoServer, client_env


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    """Fake keys and a region in the environment; no developer's real config is read."""
    for name, value in client_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))


@pytest.fixture(scope="module")
def moto():
    pytest.importorskip("moto")
    with MotoServer() as server:
        yield server


def _exchange(port: int, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send one request, read one response (Content-Length or chunked)."""
    import httptools

    class Reply:
        def __init__(self):
            self.headers, self.body, self.done = {}, [], False

        def on_header(self, k, v):
            self.headers[k.decode().lower()] = v.decode()

        def on_body(self, b):
            self.body.append(b)

        def on_message_complete(self):
            self.done = True

    reply = Reply()
    parser = httptools.HttpResponseParser(reply)
    with socket.create_connection(("127.0.0.1", port), timeout=20) as conn:
        conn.sendall(data)
        while not reply.done:
            chunk = conn.recv(65536)
            assert chunk, "connection closed early"
            parser.feed_data(chunk)
    return parser.get_status_code(), reply.headers, b"".join(reply.body)


@pytest.fixture
def http_exchange():
    """`exchange(port, request_bytes) -> (status, lower-case headers, body)` over one loopback connection."""
    return _exchange
