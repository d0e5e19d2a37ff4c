"""stinger's signed bytes against botocore's own SigV4 signing of the same request."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest

pytest.importorskip("botocore")

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from stinger.errors import UsageError
from stinger.vendors.sagemaker import sigv4

WALL = 1_790_000_000.25
URL = "https://runtime.sagemaker.eu-west-1.amazonaws.com/endpoints/my-endpoint/invocations"
HEADERS = [
    ("Content-Type", "application/json"),
    ("Accept", "application/json"),
    ("X-Amzn-SageMaker-Target-Variant", "B"),
    ("X-Amzn-SageMaker-Custom-Attributes", "trace=1,x=y"),
    ("X-Amzn-SageMaker-Inference-Id", "abc-123"),
]
BODY = b'{"instances": [[1.0, 2.0, 3.0, 4.0]]}'


def parse(data: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(": ")
        assert k.lower() not in {h.lower() for h in headers}, f"duplicate header {k}"
        headers[k] = v
    return lines[0], headers, body


def botocore_signed(creds, url, headers, body, wall):
    request = AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
    frozen = dt.datetime.fromtimestamp(wall, dt.UTC).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=frozen):
        SigV4Auth(creds, "sagemaker", "eu-west-1").add_auth(request)
    return {k: v for k, v in request.headers.items()}  # noqa: C416


@pytest.mark.parametrize("token", [None, "session-token-xyz"])
@pytest.mark.parametrize("url", [URL, "http://127.0.0.1:8123/endpoints/my-endpoint/invocations-response-stream"])
def test_signed_bytes_match_botocore_header_for_header(token, url):
    creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    signed = sigv4.Signer("eu-west-1", credentials=creds).sign("POST", url, HEADERS, BODY, at=WALL)
    line, headers, body = parse(signed.data)
    assert line == "POST " + url.split("amazonaws.com")[-1].split(":8123")[-1] + " HTTP/1.1"
    assert body == BODY
    assert headers["Content-Length"] == str(len(BODY))
    reference = botocore_signed(creds, url, HEADERS, BODY, WALL)
    for name, value in reference.items():
        assert headers[name] == value, name
    assert headers["Host"] == sigv4.host_header(url)
    assert ("X-Amz-Security-Token" in headers) == (token is not None)
    assert headers["X-Amz-Date"] == dt.datetime.fromtimestamp(WALL, dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    # everything we send beyond the reference: Host (signed) and Content-Length (never signed by botocore)
    assert set(headers) - set(reference) == {"Host", "Content-Length"}


def test_a_different_body_or_time_changes_the_signature():
    creds = Credentials("AKID", "SECRET")
    signer = sigv4.Signer("us-east-1", credentials=creds)
    a = parse(signer.sign("POST", URL, HEADERS, BODY, at=WALL).data)[1]["Authorization"]
    b = parse(signer.sign("POST", URL, HEADERS, BODY + b" ", at=WALL).data)[1]["Authorization"]
    c = parse(signer.sign("POST", URL, HEADERS, BODY, at=WALL + 1).data)[1]["Authorization"]
    assert len({a, b, c}) == 3


def test_expiry_is_four_minutes_or_before_the_credentials_end():
    creds = Credentials("AKID", "SECRET")
    signed = sigv4.Signer("us-east-1", credentials=creds).sign("POST", URL, HEADERS, BODY, at=WALL)
    assert signed.expires == WALL + sigv4.VALIDITY_S == WALL + 240



def test_refreshable_credentials_are_refreshed_at_sign_time():
    import time

    from botocore.credentials import RefreshableCredentials

    now = time.time()
    issued = []

    def refresh():
        issued.append(1)
        # the first set is about to expire (inside botocore's mandatory refresh window), the next lasts an hour
        life = 120 if len(issued) == 1 else 3600
        end = dt.datetime.fromtimestamp(now + life, dt.UTC)
        return {"access_key": f"AK{len(issued)}", "secret_key": "S", "token": "T", "expiry_time": end.isoformat()}

    refreshable = RefreshableCredentials.create_from_metadata(refresh(), refresh, "test")
    signed = sigv4.Signer("us-east-1", credentials=refreshable).sign("POST", URL, HEADERS, BODY, at=now)
    assert "Credential=AK2/" in parse(signed.data)[1]["Authorization"]
    assert signed.expires == now + sigv4.VALIDITY_S


def test_bytes_are_not_used_past_the_credentials_expiry():
    class Ending:
        """Credentials that end 100 s after the signing instant."""

        _expiry_time = dt.datetime.fromtimestamp(WALL + 100, dt.UTC)

        def get_frozen_credentials(self):
            return Credentials("AKID", "SECRET", "TOKEN").get_frozen_credentials()

    signed = sigv4.Signer("us-east-1", credentials=Ending()).sign("POST", URL, HEADERS, BODY, at=WALL)
    assert signed.expires == pytest.approx(WALL + 100 - sigv4.CREDENTIAL_MARGIN_S)


def test_no_credentials_is_one_line_usage_error(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_DEFAULT_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(UsageError) as info:
        sigv4.default_credentials()
    assert "\n" not in str(info.value) and "no AWS credentials" in str(info.value)


def test_missing_botocore_names_the_extra(monkeypatch):
    import builtins

    real = builtins.__import__

    def fake(name, *args, **kwargs):
        if name.startswith("botocore"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(UsageError, match=r"needs the aws extra: pip install 'stinger\[aws\]'"):
        sigv4.require_botocore()


def test_credentials_that_cannot_be_refreshed_are_a_one_line_run_error():
    from stinger.errors import RunError

    class Broken:
        def get_frozen_credentials(self):
            raise RuntimeError("The SSO session has expired\nrun aws sso login")

    with pytest.raises(RunError, match=r"^AWS credentials could not be refreshed: The SSO session has expired$"):
        sigv4.Signer("us-east-1", credentials=Broken()).sign("POST", URL, HEADERS, BODY)
