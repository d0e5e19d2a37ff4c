"""A SageMaker runtime on loopback with no control-plane URL is a local emulator: stinger makes no
connection off this machine for it (issue 15, item 7). The docs said it never asks AWS's DescribeEndpoint
then; `ab --sagemaker NAME --endpoint-url http://127.0.0.1:...` did, five times (botocore's retries).

The commands run in this process (and its forked workers) with every name lookup and connect that is not
loopback recorded and refused, so any attempt fails the test, whether or not this machine is online.
"""

from __future__ import annotations

import ipaddress
import socket

import pytest

from stinger.cli import main
from stinger.testing.servers import RefServer


def _loopback(host: object) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture
def remote_attempts(monkeypatch) -> list:
    """Every non-loopback lookup or connect attempted in this process, each refused."""
    attempts: list = []
    real_getaddrinfo, real_connect, real_connect_ex = socket.getaddrinfo, socket.socket.connect, socket.socket.connect_ex

    def getaddrinfo(host, *args, **kwargs):
        if host is not None and not _loopback(host.decode() if isinstance(host, bytes) else host):
            attempts.append(("lookup", host))
            raise socket.gaierror(socket.EAI_NONAME, f"test: no lookup of {host} off this machine")
        return real_getaddrinfo(host, *args, **kwargs)

    def guard(sock: socket.socket, address) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
            attempts.append(("connect", address))
            raise OSError(f"test: no connection to {address} off this machine")

    def connect(self, address):
        guard(self, address)
        return real_connect(self, address)

    def connect_ex(self, address):
        guard(self, address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    return attempts


@pytest.fixture(scope="module")
def runtime():
    """Any loopback server stands for the emulator's runtime: the point is where else stinger connects."""
    with RefServer("delay", delay_ms=1) as server:
        yield server


def _stinger(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out = capsys.readouterr()
    return info.value.code or 0, out.out, out.err


def test_the_guard_refuses_what_is_not_loopback(remote_attempts) -> None:
    with pytest.raises(OSError):
        socket.getaddrinfo("api.sagemaker.us-east-1.amazonaws.com", 443)
    with pytest.raises(OSError), socket.socket() as s:
        s.connect(("192.0.2.1", 443))
    assert len(remote_attempts) == 2


def test_run_on_a_loopback_runtime_stays_on_loopback(aws_env, remote_attempts, runtime, capsys, tmp_path) -> None:
    code, _, err = _stinger(capsys, "run", "--sagemaker", "local-endpoint", "--region", "us-east-1",
                            "--endpoint-url", runtime.url, "--rate", "5", "--duration", "1s", "-q",
                            "--out", str(tmp_path))
    assert remote_attempts == [], remote_attempts
    assert code == 0, err


@pytest.mark.parametrize("split", ["paired", "sagemaker"])
def test_ab_on_a_loopback_runtime_never_asks_aws(aws_env, remote_attempts, runtime, capsys, tmp_path, split) -> None:
    """Before: DescribeEndpoint at api.sagemaker.us-east-1.amazonaws.com. Now: one line, exit 2, no connection."""
    code, out, err = _stinger(capsys, "ab", "--sagemaker", "local-endpoint", "--region", "us-east-1",
                              "--endpoint-url", runtime.url, "--split", split, "--rate", "5", "--duration", "1s",
                              "-q", "--out", str(tmp_path))
    assert remote_attempts == [], remote_attempts
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "--control-url" in err and "local runtime" in err
