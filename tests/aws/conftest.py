"""Fixtures for the SageMaker tests: fake AWS credentials, and moto's real server on loopback."""

from __future__ import annotations

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
