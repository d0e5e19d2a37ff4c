"""`stinger ui`'s guard, against the real app (uvicorn in a subprocess, `stinger ui --port 0`): the token on
every change (401 without it, 403 wrong, never from a cookie or another origin), POST only, every route
tokened when bound beyond loopback (0.0.0.0, reached through 127.0.0.1), the Host header checked (DNS
rebinding), the token never logged; the form's mistakes are the CLI's own one line; a run's files by
exact name only; one run at a time."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from stinger.testing.servers import RefServer
from stinger.testing.ui_flow import UiProcess

CHANGES = ("/api/start", "/api/change", "/api/stop", "/api/check")
READS = ("/", "/api/state", "/api/runs")


def call(ui: UiProcess, path: str, *, method: str = "GET", data: dict | None = None, token: str | None = None,
         headers: dict | None = None) -> tuple[int, bytes]:
    h = {"Content-Type": "application/json"} if method == "POST" else {}
    if token is not None:
        h["X-Stinger-Token"] = token
    h.update(headers or {})
    body = json.dumps(data or {}).encode() if method == "POST" else None
    req = urllib.request.Request(ui.base + path, data=body, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture(scope="module")
def loopback(tmp_path_factory):
    with UiProcess(tmp_path_factory.mktemp("runs-lo")) as ui:
        yield ui


@pytest.fixture(scope="module")
def public(tmp_path_factory):
    with UiProcess(tmp_path_factory.mktemp("runs-pub"), host="0.0.0.0") as ui:
        yield ui


@pytest.fixture(params=["loopback", "public"])
def ui(request):
    return request.getfixturevalue(request.param)


def test_the_url_printed_carries_a_token_and_the_address(loopback, public):
    assert loopback.url.startswith(f"http://127.0.0.1:{loopback.port}/?token=") and len(loopback.token) >= 40
    assert public.token != loopback.token
    assert "every page needs the token" in public.stderr()


@pytest.mark.parametrize("path", CHANGES)
def test_every_change_needs_the_token_in_its_header(ui, path):
    assert call(ui, path, method="POST")[0] == 401
    assert call(ui, path, method="POST", token="not-the-token")[0] == 403
    assert call(ui, path, method="POST", token=ui.token[:-1])[0] == 403
    # a cookie alone (what a cross-site form would carry) is never read; nor the query string on a POST
    assert call(ui, path, method="POST", headers={"Cookie": f"token={ui.token}"})[0] == 401
    assert call(ui, f"{path}?token={ui.token}", method="POST")[0] == 401
    # the token from another site's page (it would need CORS, never granted; refused anyway)
    assert call(ui, path, method="POST", token=ui.token, headers={"Origin": "http://evil.example"})[0] == 403
    # a change is a POST: GET with the token changes nothing
    assert call(ui, f"{path}?token={ui.token}", token=ui.token)[0] == 405
    # JSON only (an HTML form cannot post it)
    status, _ = call(ui, path, method="POST", token=ui.token, headers={"Content-Type": "text/plain"})
    assert status == 415


@pytest.mark.parametrize("path", READS)
def test_reads_need_the_token_only_beyond_loopback(loopback, public, path):
    assert call(loopback, path)[0] == 200
    assert call(public, path)[0] == 401
    assert call(public, f"{path}?token=wrong")[0] == 403
    assert call(public, f"{path}?token={public.token}")[0] == 200
    assert call(public, path, token=public.token)[0] == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1:1", "localhost.evil.example:{port}",
                                  "127.0.0.1.nip.io:{port}"])
def test_a_host_header_not_naming_this_listener_is_refused(ui, host):
    host = host.format(port=ui.port)
    for path in ("/", "/api/state"):
        assert call(ui, f"{path}?token={ui.token}", token=ui.token, headers={"Host": host})[0] == 403
    assert call(ui, "/api/stop", method="POST", token=ui.token, headers={"Host": host})[0] == 403
    assert call(ui, "/api/state", token=ui.token, headers={"Host": f"localhost:{ui.port}"})[0] == 200


def test_the_page_is_self_contained_under_a_strict_csp(loopback):
    req = urllib.request.Request(loopback.base + "/")
    with urllib.request.urlopen(req, timeout=10) as r:
        csp, page = r.headers["Content-Security-Policy"], r.read().decode()
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "<script src" not in page and "@import" not in page
    assert page.count("<link") == 1 and '<link rel="icon" href="data:,">' in page   # no favicon fetched either
    script = page.split("<script>")[1]
    assert "http://" not in script.replace("http://www.w3.org/2000/svg", "") and "https://" not in script
    assert "innerHTML" not in script and "eval(" not in script


def cli_error(args: list[str]) -> str:
    proc = subprocess.run([sys.executable, "-m", "stinger.cli", "run", *args], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2, proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("stinger: error: ")
    return line.removeprefix("stinger: error: ")


@pytest.mark.parametrize("form,args", [
    ({"url": "http://127.0.0.1:9/x", "rate": "fifty", "duration": "2s"},
     ["--url", "http://127.0.0.1:9/x", "--rate", "fifty", "--duration", "2s"]),
    ({"url": "http://127.0.0.1:9/x", "rate": "10"}, ["--url", "http://127.0.0.1:9/x", "--rate", "10"]),
    ({"url": "http://127.0.0.1:9/x", "rate": "10", "duration": "2s", "slo": "p95<<3ms"},
     ["--url", "http://127.0.0.1:9/x", "--rate", "10", "--duration", "2s", "--slo", "p95<<3ms"]),
    ({"url": "http://127.0.0.1:9/x", "rate": "10", "duration": "2s", "monitor": "nosuch=1"},
     ["--url", "http://127.0.0.1:9/x", "--rate", "10", "--duration", "2s", "--monitor", "nosuch=1"]),
    ({"kind": "openai", "url": "http://127.0.0.1:9/v1", "rate": "10", "duration": "2s"},
     ["--openai", "http://127.0.0.1:9/v1", "--rate", "10", "--duration", "2s"]),
])
def test_a_mistake_in_the_form_is_the_clis_own_line(loopback, form, args):
    status, body = call(loopback, "/api/check", method="POST", token=loopback.token, data={"form": form})
    assert status == 400
    assert json.loads(body)["error"] == cli_error(args)
    status, body = call(loopback, "/api/start", method="POST", token=loopback.token, data={"form": form})
    assert status == 400 and json.loads(body)["error"] == cli_error(args)


def test_a_pasted_spec_is_checked_as_a_spec_file_and_its_secrets_never_shown(loopback, tmp_path):
    spec = ("name: pasted\ntarget:\n  url: http://127.0.0.1:9/x\n  headers:\n    Authorization: Bearer pasted-secret-0123456789\n"
            "load:\n  rate: 10\n  duration: 2s\n")
    status, body = call(loopback, "/api/check", method="POST", token=loopback.token,
                        data={"spec": spec, "form": {"rate": "20"}})
    assert status == 200, body
    checked = json.loads(body)["spec"]
    assert "pasted-secret" not in body.decode() and checked["load"]["rate"] == 20.0   # the flags win
    assert checked["name"] == "pasted"
    bad = spec.replace("rate: 10", "rat: 10")
    status, body = call(loopback, "/api/check", method="POST", token=loopback.token, data={"spec": bad})
    assert status == 400
    (tmp_path / "s.yaml").write_text(bad)
    ui_line = json.loads(body)["error"]
    cli_line = cli_error([str(tmp_path / "s.yaml")])
    assert "pasted-secret" not in ui_line
    assert ui_line.split(": ", 1)[1] == cli_line.split(": ", 1)[1]   # the same line but the file's name
    status, body = call(loopback, "/api/check", method="POST", token=loopback.token,
                        data={"form": {"url": "http://127.0.0.1:9/x", "rate": "5", "duration": "2s",
                                       "header": "Authorization: Bearer form-secret-0123456789"}})
    assert status == 200 and "form-secret" not in body.decode()


def test_a_runs_files_are_served_by_exact_name_only(loopback):
    run = loopback_runs(loopback) / "20260101-000000-x"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps({"variants": {}}))
    (run / "histograms.hlog").write_text("x")
    assert call(loopback, "/runs/20260101-000000-x/summary.json")[0] == 200
    for path in ("/runs/20260101-000000-x/histograms.hlog", "/runs/../summary.json", "/runs/%2e%2e/summary.json",
                 "/runs/20260101-000000-x/..%2fsummary.json", "/runs/nosuch/summary.json"):
        assert call(loopback, path)[0] == 404, path


def loopback_runs(ui: UiProcess) -> Path:
    return Path(ui.proc.args[ui.proc.args.index("--runs") + 1])


def test_one_run_at_a_time_and_changes_checked(loopback):
    with RefServer("delay", delay_ms=5) as srv:
        form = {"url": srv.url + "/", "rate": "20", "duration": "30s"}
        status, body = call(loopback, "/api/start", method="POST", token=loopback.token, data={"form": form})
        assert status == 200, body
        try:
            assert call(loopback, "/api/start", method="POST", token=loopback.token, data={"form": form})[0] == 409
            for bad in ({"rate": "fast"}, {"rate": -1}, {"users": 2.5}, {}, {"rate": 5, "users": 2}):
                assert call(loopback, "/api/change", method="POST", token=loopback.token, data=bad)[0] == 400, bad
        finally:
            assert call(loopback, "/api/stop", method="POST", token=loopback.token)[0] == 200
        deadline = time.monotonic() + 60
        while (state := json.loads(call(loopback, "/api/state")[1]))["status"] != "ended":
            assert time.monotonic() < deadline
            time.sleep(0.2)
    assert state["run_dir"], state
    assert (loopback_runs(loopback) / state["run_dir"] / "summary.json").is_file()
    assert call(loopback, "/api/stop", method="POST", token=loopback.token)[0] == 409


def test_the_token_is_never_logged(loopback, public):
    call(public, f"/api/state?token={public.token}")
    call(loopback, "/api/stop", method="POST", token=loopback.token)
    assert loopback.stderr().count(loopback.token) == 1     # the URL printed at the start, nothing else
    assert public.stderr().count(public.token) == 1


def test_a_mistake_the_run_finds_later_is_still_the_clis_line_on_the_page(loopback):
    """A URL the target opens only when the run builds it: the check passes, the run exits 2 with the CLI's line."""
    form = {"url": "ftp://127.0.0.1:9/x", "model_kind": "users", "users": "3", "duration": "2s"}
    status, body = call(loopback, "/api/start", method="POST", token=loopback.token, data={"form": form})
    if status == 400:   # caught by the check itself: then it is the CLI's line there
        assert json.loads(body)["error"] == cli_error(["--url", form["url"], "--users", "3", "--duration", "2s"])
        return
    assert status == 200, body
    deadline = time.monotonic() + 60
    while (state := json.loads(call(loopback, "/api/state")[1]))["status"] != "ended":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert state["exit_code"] == 2
    assert state["stderr"][-1] == "stinger: error: " + cli_error(["--url", form["url"], "--users", "3", "--duration", "2s"])
