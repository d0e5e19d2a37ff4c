"""Secrets never leave stinger (issue 10 item 10).

Real runs against a local reference server with a secret in every place a user
puts one (URL userinfo, secret-looking query parameters, secret headers by
name, by value, and marked with --redact-header), then every file of the run
directories and every captured stream (stdout, stderr of `run`, `capacity`,
`report`, and of an error) is searched for each secret value: 0 hits.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from stinger.core.secrets import redact_url, scrub
from stinger.spec.redact import redacted

SECRETS = ["PWsecretuser", "QKsecret1", "TKsecret2", "SGsecret3", "AMZsecret4", "AUTHsecret5", "XAsecret6",
           "XSsecret7", "CUsecret8", "ERRsecret9", "ERRPWsecret10", "VALsecret11"]


def _cli(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stinger.cli", *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def _secret_url(base: str) -> str:
    return (base.replace("http://", "http://alice:PWsecretuser@")
            + "/predict?api_key=QKsecret1&token=TKsecret2&sig=SGsecret3&X-Amz-Signature=AMZsecret4&model=m1")


HEADERS = ["-H", "Authorization: Bearer AUTHsecret5", "-H", "X-Auth: XAsecret6", "-H", "X-Signature: XSsecret7",
           "-H", "X-Custom: CUsecret8", "--redact-header", "X-Custom", "-H", "X-Whatever: Token VALsecret11"]


@pytest.fixture(scope="module")
def streams_and_files(tmp_path_factory):
    from stinger.testing.servers import RefServer

    out = tmp_path_factory.mktemp("runs")
    streams: dict[str, str] = {}
    with RefServer("delay", delay_ms=1) as s:
        url = _secret_url(s.url)
        p = _cli("run", "--url", url, *HEADERS, "--rate", "20", "--duration", "2s", "--out", str(out / "run"))
        assert p.returncode == 0, p.stderr
        streams["run.stdout"], streams["run.stderr"] = p.stdout, p.stderr
        p = _cli("run", "--url", url, *HEADERS, "--rate", "20", "--duration", "1s", "--out", str(out / "q"), "-q")
        streams["runq.stdout"], streams["runq.stderr"] = p.stdout, p.stderr
        p = _cli("capacity", "--url", url, *HEADERS, "--start", "10", "--max", "20", "--max-steps", "2",
                 "--step-duration", "1s", "--step-warmup", "0s", "--out", str(out / "cap"))
        streams["capacity.stdout"], streams["capacity.stderr"] = p.stdout, p.stderr
    for d in sorted((out / "run").iterdir()) + sorted((out / "cap").iterdir()):
        for args in (["report", str(d)], ["report", str(d), "--json"]):
            p = _cli(*args)
            streams[" ".join(args[:1] + args[2:]) + f" {d.name}.out"] = p.stdout + p.stderr
    # errors that used to echo a credential
    p = _cli("run", "--url", "http://u:ERRPWsecret10@127.0.0.1:99999999/", "-H", "Authorization: Bearer ERRsecret9",
             "--rate", "1", "--duration", "1s", "--out", str(out / "err"))
    streams["error1"] = p.stdout + p.stderr
    assert p.returncode == 2, p.stderr
    p = _cli("run", "--url", "http://127.0.0.1:1/", "-H", "Authorization Bearer ERRsecret9", "--rate", "1",
             "--duration", "1s", "--out", str(out / "err"))
    streams["error2"] = p.stdout + p.stderr
    assert p.returncode == 2, p.stderr
    files = {str(f): f.read_bytes().decode("utf-8", "replace") for f in out.rglob("*") if f.is_file()}
    return streams, files


def test_no_secret_in_any_run_file_or_stream(streams_and_files):
    streams, files = streams_and_files
    assert any(name.endswith("spec.yaml") for name in files) and any("capacity.json" in n for n in files)
    leaks = [(where, s) for where, text in {**streams, **files}.items() for s in SECRETS if s in text]
    assert leaks == [], leaks
    print(f"searched {len(files)} files and {len(streams)} streams: {len(leaks)} leaks")


def test_what_is_not_secret_is_kept(streams_and_files):
    _streams, files = streams_and_files
    spec = next(t for n, t in files.items() if n.endswith("spec.yaml"))
    assert "model=m1" in spec and "/predict" in spec and "127.0.0.1" in spec


# ---------------------------------------------------------------- unit level
@pytest.mark.parametrize("url, kept, gone", [
    ("http://u:p4ssword@h:1/x", ["h:1/x"], ["p4ssword", "u:"]),
    ("https://h/x?api_key=K1&a=1", ["a=1"], ["K1"]),
    ("https://h/x?X-Amz-Signature=abc123&X-Amz-Credential=cred9&X-Amz-Date=2024", ["X-Amz-Date=2024"],
     ["abc123", "cred9"]),
    ("https://h/x?access_token=t0k&sig=s1g", [], ["t0k", "s1g"]),
])
def test_redact_url(url, kept, gone):
    out = redact_url(url)
    assert all(k in out for k in kept) and not any(g in out for g in gone), out


def test_headers_secret_by_name_value_or_mark():
    data = {"target": {"url": "http://h/", "headers": {"X-Auth": "a1b2c3", "X-Signature": "s1s2s3",
                                                        "X-Plain": "Bearer v1v2v3", "Accept": "text/plain",
                                                        "X-Mine": "m1m2m3"}},
            "output": {"redact": ["X-Mine"]}}
    out = redacted(data)["target"]["headers"]
    assert out["Accept"] == "text/plain"
    assert all(out[k] == "<redacted>" for k in ("X-Auth", "X-Signature", "X-Plain", "X-Mine"))


def test_scrub_replaces_remembered_values_anywhere():
    redacted({"target": {"url": "http://h/?token=zz9yy8", "headers": {"Authorization": "Basic QWxhZGRpbjpv"}}})
    text = scrub("failed after zz9yy8 with QWxhZGRpbjpv and Bearer abc.def.ghi")
    assert "zz9yy8" not in text and "QWxhZGRpbjpv" not in text and "abc.def.ghi" not in text


def test_a_short_secret_is_masked_as_a_word_never_inside_other_words():
    from stinger.core.secrets import MASK, remember_secrets, scrub

    remember_secrets({"target": {"headers": {"X-Api-Key": "other"}}})
    remember_secrets({"target": {"headers": {"Authorization": "Bearer tok-0123456789abcdef"}}})
    assert scrub("compared with the others") == "compared with the others"
    assert scrub("key=other; b") == f"key={MASK}; b"
    assert scrub("id:xtok-0123456789abcdefx") == f"id:x{MASK}x"   # a long one anywhere
