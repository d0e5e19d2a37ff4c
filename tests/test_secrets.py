"""Secrets never leave stinger (issue 10 item 10).

Real runs against a local reference server with a secret in every place a user
puts one (URL userinfo, secret-looking query parameters, secret headers by
name, by value, and marked with --redact-header), then every file of the run
directories and every captured stream (stdout, stderr of `run`, `capacity`,
`report`, and of an error) is searched for each secret value: 0 hits.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from stinger.core.secrets import redact_url, redacted, scrub

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


# ---------------------------------------------------------------- issue 16 item 7
# an endpoint that answers 500 with credentials in its body, and a /metrics behind basic auth
LEAKY_APP = r'''
import base64, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
BODY = (b'{"error": "denied", "detail": "password=PWbody16&token=TKbody16xyz", '
        b'"aws": "AKIAIOSFODNN7EXAMPLE", "session": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.'
        b'dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"}')
AUTH = "Basic " + base64.b64encode(b"scraper:PROMpw16").decode()
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if self.path.startswith("/metrics"):
            ok = self.headers.get("Authorization") == AUTH
            body = b"# TYPE up gauge\nup 1\n" if ok else b"who are you"
            self.send_response(200 if ok else 401)
        else:
            body = BODY
            self.send_response(500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_POST = do_GET
    def log_message(self, *a):
        pass
s = ThreadingHTTPServer(("127.0.0.1", 0), H)
print("PORT", s.server_address[1], flush=True)
s.serve_forever()
'''
BODY_SECRETS = ["PWbody16", "TKbody16xyz", "AKIAIOSFODNN7EXAMPLE", "eyJhbGciOiJIUzI1NiJ9", "dozjgNryP4J3jVmNHl0w5N"]
MORE_SECRETS = ["PROMpw16", "PROMtoken16", "OAUTHcode16", "VENDORpass16"]


@pytest.fixture(scope="module")
def leaky_endpoint():
    from stinger.testing.procs import stop_process

    proc = subprocess.Popen([sys.executable, "-c", LEAKY_APP], stdout=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    try:
        line = proc.stdout.readline()
        assert line.startswith("PORT "), line
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        stop_process(proc)


def _tty_cli(args: list[str], tmp_path) -> str:
    """The CLI under a pseudo-terminal (the live view and the final summary as a user sees them)."""
    import os
    import pty

    out = bytearray()
    pid, fd = pty.fork()
    if pid == 0:   # pragma: no cover - the child
        os.execvp(sys.executable, [sys.executable, "-m", "stinger.cli", *args])
    try:
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.waitpid(pid, 0)
        os.close(fd)
    return out.decode("utf-8", "replace")


@pytest.fixture(scope="module")
def leaky_run(leaky_endpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("leaky")
    metrics = leaky_endpoint.replace("http://", "http://scraper:PROMpw16@") + "/metrics?token=PROMtoken16"
    wrong = leaky_endpoint.replace("http://", "http://scraper:PROMpw16x@") + "/metrics?token=PROMtoken16"
    screen = _tty_cli(["run", "--url", leaky_endpoint + "/predict?code=OAUTHcode16&model=m1", "-H",
                       "X-Vendor-Pass: VENDORpass16", "--monitor", f"prometheus={metrics}",
                       "--monitor", f"prometheus={wrong}", "--rate", "10", "--duration", "2s",
                       "--out", str(out)], out)
    [run] = [p for p in out.iterdir() if p.is_dir()]
    files = {f.name: f.read_text("utf-8", "replace") for f in run.iterdir() if f.is_file()}
    return screen, files


def test_no_secret_from_an_error_body_a_monitor_url_a_header_or_a_query(leaky_run):
    screen, files = leaky_run
    assert "summary.json" in files and "report.html" in files and "results:" in screen
    leaks = [(where, s) for where, text in {"screen": screen, **files}.items()
             for s in BODY_SECRETS + MORE_SECRETS if s in text]
    assert leaks == [], leaks


def test_a_monitor_url_with_userinfo_is_sent_as_basic_auth(leaky_run):
    _screen, files = leaky_run
    summary = json.loads(files["summary.json"])
    assert summary["series"]["prom.up"]["last"] == 1.0          # the right password: scraped
    # the wrong one: 401, said with the URL that was scraped, credentials and token masked
    said = [w for w in summary["warnings"] if "HTTP 401" in w]
    assert said and "127.0.0.1" in said[0] and "token=<redacted>" in said[0], summary["warnings"]
    sample = summary["variants"]["default"]["sample_responses"]["500"]
    assert '"error": "denied"' in sample and "model=m1" in files["spec.yaml"]   # what is not secret is kept


def test_scrub_and_redact_text_are_linear_in_the_text():
    """The scheme pattern was retried at every letter of a long alphanumeric run (quadratic: a 200 KB
    body took 47 s). Each hostile shape is timed against plain prose of the same length, in the same
    test: a linear scrubber stays within a small factor of it."""
    import time

    from stinger.core.secrets import redact_text

    n = 40_000
    shapes = {"letters then a URL": "A" * n + " http://h/", "letters then ://": "A" * n + "://u:p@h/",
              "letters then =": "A" * n + "=v", "dashed name": "a-" * (n // 2) + ": v", "JWT-ish": "eyJ-" * (n // 4),
              "schemes": "://" * (n // 3), "words": "token " * (n // 6)}
    prose = ("the endpoint said that the model was not ready at http://h:1/x and then answered again " * n)[:n]

    def best(text: str) -> float:
        times = []
        for _ in range(3):
            t = time.perf_counter()
            scrub(text)
            redact_text(text)
            times.append(time.perf_counter() - t)
        return min(times)

    reference = max(best(prose) for _ in range(3))
    slow = {name: round(best(text) / reference, 1) for name, text in shapes.items()}
    assert all(r < 25 for r in slow.values()), slow


def test_named_credentials_are_masked_in_text_an_endpoint_wrote():
    from stinger.core.secrets import redact_text

    body = ('{"password": "pw1pw1", "api_key":"k2k2k2", "X-Vendor-Pass: vp3vp3", token=t4t4t4; '
            'AKIAIOSFODNN7EXAMPLE eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl "error": "kept"}')
    out = redact_text(body)
    assert not any(s in out for s in ("pw1pw1", "k2k2k2", "vp3vp3", "t4t4t4", "AKIAIOSFODNN7EXAMPLE", "eyJhbGci")), out
    assert '"error": "kept"' in out
    assert scrub("bypass=yes passed=3") == "bypass=yes passed=3"   # own documents: only real credentials masked
    assert redact_url("http://h/x?code=c0de&status_code=200") == "http://h/x?code=<redacted>&status_code=200"


def test_a_remembered_short_secret_that_is_a_number_never_breaks_a_json_file(tmp_path):
    from stinger.core.secrets import remember_secrets
    from stinger.outputs.rundir import write_json

    remember_secrets({"target": {"headers": {"X-Api-Key": "1200"}}})
    write_json(tmp_path / "s.json", {"requests": 1200, "note": "key 1200 used"})
    data = json.loads((tmp_path / "s.json").read_text())
    assert data == {"requests": 1200, "note": "key <redacted> used"}


def test_prose_after_token_is_kept_and_credentials_after_it_are_masked():
    """"an HTTP token such as X-Served-By" (a one-line error of the CLI) came out as "an HTTP token
    <redacted> as X-Served-By": the word after "token" was taken for a credential. A plain lowercase
    word after token/basic/digest is prose; a credential-looking value there, any value after Bearer, and
    every named pair are still masked."""
    from stinger.core.secrets import redact_text

    for prose in ("'X Served' is not a header name (an HTTP token such as X-Served-By)",
                  "a bearer token such as this one", "basic load, digest sizes", "token 42 of 100"):
        assert scrub(prose) == prose and redact_text(prose) == prose, (scrub(prose), redact_text(prose))
    assert redact_text("token=abc") == "token=<redacted>"
    assert redact_text("token: abc") == "token: <redacted>"
    assert redact_text('"token": "abc"') == '"token": "<redacted>"'
    for secret, text in (("abc", "Bearer abc"), ("abc.def", "Bearer abc.def"), ("t0k3nVal", "token t0k3nVal"),
                         ("QWxhZGRpbjpv", "Basic QWxhZGRpbjpv"), ("Abcdefgh", "token Abcdefgh"),
                         ("dXNlcjpwYXNz", "Authorization: Digest dXNlcjpwYXNz")):
        assert secret not in scrub(text) and secret not in redact_text(text), (text, scrub(text))


def test_the_served_by_header_error_reads_as_written():
    p = _cli("run", "--target", "fake=2ms", "--rate", "4", "--duration", "1s", "--served-by-header", "X Served")
    assert p.returncode == 2
    assert "(an HTTP token such as X-Served-By)" in p.stderr, p.stderr
    assert "<redacted>" not in p.stderr
