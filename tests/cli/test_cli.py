"""The `stinger` command line: exit codes, one-line errors, run directories, report.

Exit codes are checked through `stinger.cli.main` (in process: fast) and, for a
representative few, through the real command in a subprocess (`python -m
stinger.cli`), which also shows that no traceback reaches the user.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from stinger.cli import main


def stinger(capsys, *args: str) -> tuple[int, str, str]:
    """Run `stinger ARGS` in process: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out = capsys.readouterr()
    code = info.value.code
    return (0 if code is None else code), out.out, out.err


def stinger_proc(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run the real command in a subprocess."""
    return subprocess.run([sys.executable, "-m", "stinger.cli", *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def run_dirs(out: Path) -> list[Path]:
    return sorted(p for p in out.iterdir() if p.is_dir()) if out.exists() else []


def the_run(out: Path) -> tuple[Path, dict]:
    [d] = run_dirs(out)
    return d, json.loads((d / "summary.json").read_text())


def assert_one_line_error(err: str) -> None:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("stinger: error: "), err
    assert "Traceback" not in err


# ---------------------------------------------------------- a real run (module)
@pytest.fixture(scope="module")
def secret_run(endpoint, tmp_path_factory):
    """`stinger run` as a user types it, with secret headers, 50 req/s for 2 s."""
    out = tmp_path_factory.mktemp("runs")
    proc = stinger_proc("run", "--url", endpoint + "/auth", "-H", "Authorization: Bearer SECRET123",
                        "-H", "X-Api-Key: KEY456", "--rate", "50", "--duration", "2s", "--out", str(out),
                        "--quiet", "--name", "cli-run")
    return proc, out


@pytest.mark.slow
def test_run_exits_0_and_writes_summary(secret_run):
    proc, out = secret_run
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    d, summary = the_run(out)
    assert d.name.endswith("cli-run")
    v = summary["variants"]["default"]
    assert v["requests"]["scheduled"] == 100
    # /auth answers 401 without the header: every request carried it
    assert v["requests"]["ok"] == 100, v["errors"]
    assert v["requests"]["unaccounted"] == 0
    assert summary["slo_passed"] is True
    for name in ("spec.yaml", "intervals.csv", "histograms.hlog"):
        assert (d / name).is_file()


@pytest.mark.slow
def test_secrets_never_written(secret_run):
    _, out = secret_run
    d, _ = the_run(out)
    files = [f for f in d.rglob("*") if f.is_file()]
    assert files
    for f in files:
        data = f.read_bytes()
        assert b"SECRET123" not in data and b"KEY456" not in data, f
    spec = yaml.safe_load((d / "spec.yaml").read_text())
    assert spec["target"]["headers"] == {"Authorization": "<redacted>", "X-Api-Key": "<redacted>"}


@pytest.mark.slow
def test_report_re_renders(secret_run):
    _, out = secret_run
    d, _ = the_run(out)
    proc = stinger_proc("report", str(d))
    assert proc.returncode == 0, proc.stderr
    assert "latency p99" in proc.stdout
    assert "requests scheduled" in proc.stdout and "100" in proc.stdout


@pytest.mark.slow
def test_report_json(secret_run):
    _, out = secret_run
    d, summary = the_run(out)
    proc = stinger_proc("report", "--json", str(d))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == summary


# ------------------------------------------------------------------- SLOs
@pytest.mark.parametrize("slo, code", [("p95<0.001ms", 1), ("p95<10s", 0)])
def test_slo_verdict_sets_exit_code(capsys, endpoint, tmp_path, slo, code):
    got, _, err = stinger(capsys, "run", "--url", endpoint + "/ok", "--rate", "20", "--duration", "0.5s",
                          "--slo", slo, "--out", str(tmp_path), "--quiet")
    assert got == code, err
    _, summary = the_run(tmp_path)
    assert summary["slo_passed"] is (code == 0)
    [verdict] = summary["slo"]
    assert verdict["passed"] is (code == 0) and verdict["variant"] == "default"


# ----------------------------------------------------------- unreachable host
def test_unreachable_host_is_measured_not_a_crash(capsys, closed_port, tmp_path):
    code, _, err = stinger(capsys, "run", "--url", f"http://127.0.0.1:{closed_port}/x", "--rate", "10",
                           "--duration", "0.5s", "--out", str(tmp_path), "--quiet")
    # measured, not a crash; but a run with no successful response is no pass (issue 9 item 12): exit 1
    assert code == 1, err
    assert "Traceback" not in err
    assert "no request succeeded" in err and "connect x5" in err
    _, summary = the_run(tmp_path)
    v = summary["variants"]["default"]
    assert v["requests"]["scheduled"] == 5
    assert v["errors"]["connect"] == 5 and v["requests"]["ok"] == 0
    assert v["error_rate"] == 1.0
    # no successful response: no latency figures at all (null, never 0.00)
    assert v["latency_ms"]["count"] == 0 and v["latency_ms"]["p50"] is None and v["latency_ms"]["mean"] is None
    assert summary["no_success"] == ["default"]
    assert summary["failures"]["default"]["top_errors"] == [{"kind": "connect", "count": 5}]


def test_all_404_is_loud_and_exits_1(endpoint, tmp_path):
    """Issue 9 item 12: an endpoint that answers 404 to everything must not look like a pass."""
    proc = stinger_proc("run", "--url", endpoint + "/nothing-here", "--rate", "20", "--duration", "1s",
                        "--out", str(tmp_path))
    assert proc.returncode == 1, proc.stderr
    text = " ".join(proc.stdout.split())
    assert "NO REQUEST SUCCEEDED (default): 100.0% of 20 failed; HTTP 404 x20" in text, proc.stdout
    assert "latency p50 (ms) n/a" in text and "0.00" not in text.split("latency p50 (ms)")[1][:20]
    _, summary = the_run(tmp_path)
    assert summary["failures"]["default"]["top_status"] == [{"status": 404, "count": 20}]
    assert summary["variants"]["default"]["latency_ms"]["p99"] is None


def test_unreachable_host_with_slo_exits_1(capsys, closed_port, tmp_path):
    code, _, err = stinger(capsys, "run", "--url", f"http://127.0.0.1:{closed_port}/x", "--rate", "10",
                           "--duration", "0.5s", "--slo", "error_rate<1%", "--out", str(tmp_path), "--quiet")
    assert code == 1, err
    assert "Traceback" not in err


# ----------------------------------------------------------- the user's mistakes
def write(tmp_path: Path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text).lstrip("\n"))
    return str(p)


BAD_INPUTS = {
    # id: (args after 'run' (URL substituted), words expected in the message)
    "rate-zero": (["--url", "{ok}", "--rate", "0", "--duration", "1s"], "rate must be > 0"),
    "rate-negative": (["--url", "{ok}", "--rate", "-5", "--duration", "1s"], "rate must be > 0"),
    "rate-word": (["--url", "{ok}", "--rate", "lots", "--duration", "1s"], "invalid rate"),
    "duration-bad": (["--url", "{ok}", "--rate", "5", "--duration", "forever"], "duration"),
    "duration-zero": (["--url", "{ok}", "--rate", "5", "--duration", "0"], "load.duration"),
    "requests-zero": (["--url", "{ok}", "--rate", "5", "--requests", "0"], "load.requests"),
    "url-not-a-url": (["--url", "notaurl", "--rate", "5", "--duration", "1s"], "notaurl"),
    "url-ftp": (["--url", "ftp://x", "--rate", "5", "--duration", "1s"], "http://"),
    "url-bad-port": (["--url", "http://127.0.0.1:99999/", "--rate", "5", "--duration", "1s"], "99999"),
    "no-target": (["--rate", "5", "--duration", "1s"], "no target"),
    "no-bound": (["--url", "{ok}", "--rate", "5"], "bound"),
    "data-missing": (["--url", "{ok}", "--rate", "5", "--duration", "1s", "--data", "{tmp}/missing.jsonl"],
                     "missing.jsonl"),
    "slo-bad": (["--url", "{ok}", "--rate", "5", "--duration", "1s", "--slo", "p95<<3"], "p95<<3"),
    "slo-unknown-metric": (["--url", "{ok}", "--rate", "5", "--duration", "1s", "--slo", "p42<3ms"], "p42"),
    "unknown-flag": (["--url", "{ok}", "--rate", "5", "--duration", "1s", "--bogus"], "--bogus"),
    "header-no-colon": (["--url", "{ok}", "--rate", "5", "--duration", "1s", "-H", "nocolon"], "nocolon"),
    "workers-word": (["--url", "{ok}", "--rate", "5", "--duration", "1s", "--workers", "many"], "many"),
    "check-path-bad": (["--url", "{ok}", "--rate", "5", "--duration", "1s", "--check-json-path", "$..["],
                       "JSON path"),
    "ramp-bad": (["--url", "{ok}", "--duration", "1s", "--ramp", "1:2"], "ramp"),
    "spec-missing": (["{tmp}/nope.yaml"], "nope.yaml"),
    "header-not-latin1": (["--url", "{ok}", "--rate", "5", "--requests", "1", "-H", "X-Name: \u2603"],
                          "X-Name"),
    # issue 15, item 8: inputs that cannot mean what they say (both ran and exited 0 before)
    "slo-error-rate-bare-one": (["--url", "{ok}", "--rate", "5", "--duration", "1s", "--slo", "error_rate<1"],
                                "write error_rate<1% or error_rate<0.01"),
    "warmup-as-long-as-duration": (["--url", "{ok}", "--rate", "5", "--duration", "2s", "--warmup", "2s"],
                                   "nothing would be measured"),
    "warmup-longer-than-duration": (["--url", "{ok}", "--rate", "5", "--duration", "2s", "--warmup", "3s"],
                                    "not shorter than load.duration"),
    "warmup-longer-than-the-ramp": (["--url", "{ok}", "--ramp", "1:10:2s", "--warmup", "5s"],
                                    "not shorter than the load shape's length"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS), ids=list(BAD_INPUTS))
def test_bad_input_exits_2_with_one_line(capsys, endpoint, tmp_path, case):
    args, words = BAD_INPUTS[case]
    out = tmp_path / "runs"
    args = [a.replace("{ok}", endpoint + "/ok").replace("{tmp}", str(tmp_path)) for a in args]
    code, stdout, err = stinger(capsys, "run", *args, "--out", str(out), "--quiet")
    assert code == 2, (code, err)
    assert_one_line_error(err)
    assert words in err, err
    assert stdout == ""
    assert run_dirs(out) == []  # found before any load


SPEC_UNKNOWN_FIELD = """
    target:
      url: {url}
    load:
      rate: 5
      duration: 1s
      burst: 3
"""

SPEC_MALFORMED = """
    target:
      url: [unclosed
    load:
      rate: 5
"""

SPEC_HEADER_INJECTION = """
    target:
      url: {url}
      headers:
        X-Note: "fine\\r\\nX-Injected: evil"
    load:
      rate: 5
      requests: 1
"""


@pytest.mark.parametrize("text, words", [
    (SPEC_UNKNOWN_FIELD, "spec.yaml line 6: load.burst: unknown field"),
    (SPEC_MALFORMED, "spec.yaml line 3: invalid YAML"),
    ("- just\n- a list\n", "mapping"),
    (SPEC_HEADER_INJECTION, "X-Note"),
], ids=["unknown-field", "malformed", "not-a-mapping", "header-crlf"])
def test_bad_spec_file_exits_2_naming_the_line(capsys, endpoint, tmp_path, text, words):
    spec = write(tmp_path, "spec.yaml", text.format(url=endpoint + "/ok"))
    out = tmp_path / "runs"
    code, _, err = stinger(capsys, "run", spec, "--out", str(out), "--quiet")
    assert code == 2, (code, err)
    assert_one_line_error(err)
    assert words in err, err
    assert run_dirs(out) == []


@pytest.mark.parametrize("args, words", [
    (["run", "--url", "http://127.0.0.1:1/", "--rate", "0", "--duration", "1s"], "rate must be > 0"),
    (["run", "--url", "http://127.0.0.1:1/", "--rate", "5", "--duration", "1s", "--nope"], "--nope"),
    (["run", "--url", "ftp://x", "--rate", "5", "--duration", "1s"], "http://"),
    (["report", "/no/such/run/dir"], "does not exist"),
], ids=["rate-zero", "unknown-flag", "url-ftp", "report-missing"])
def test_real_command_errors_have_no_traceback(tmp_path, args, words):
    proc = stinger_proc(*args, "--out", str(tmp_path)) if args[0] == "run" else stinger_proc(*args)
    assert proc.returncode == 2, proc.stderr
    assert_one_line_error(proc.stderr)
    assert words in proc.stderr
    assert proc.stdout == ""


def test_report_on_a_directory_that_is_not_a_run(capsys, tmp_path):
    code, _, err = stinger(capsys, "report", str(tmp_path))
    assert code == 2
    assert_one_line_error(err)
    assert "not a stinger run directory" in err


# ----------------------------------------------------------- spec file + flags
def test_spec_file_with_flag_override(capsys, endpoint, tmp_path):
    spec = write(tmp_path, "spec.yaml", f"""
        name: from-file
        target:
          url: {endpoint}/ok
        load:
          rate: 5
          duration: 0.5s
        slo: ["p95<10s"]
    """)
    out = tmp_path / "runs"
    code, _, err = stinger(capsys, "run", spec, "--rate", "40", "--body", '{"x": 1}', "--out", str(out), "--quiet")
    assert code == 0, err
    d, summary = the_run(out)
    assert d.name.endswith("from-file")
    v = summary["variants"]["default"]
    assert v["requests"]["scheduled"] == 20  # 40 req/s (the flag), 0.5 s (the file)
    assert v["requests"]["ok"] == 20
    assert summary["slo"] and summary["slo_passed"] is True  # the file's SLO is kept
    saved = yaml.safe_load((d / "spec.yaml").read_text())
    assert saved["load"]["rate"] == 40.0
    assert saved["target"]["method"] == "POST"  # a body implies POST
    assert saved["payload"]["body"] == '{"x": 1}'


def test_closed_model_from_flags(capsys, endpoint, tmp_path):
    code, _, err = stinger(capsys, "run", "--url", endpoint + "/ok", "--users", "2", "--requests", "6",
                           "--out", str(tmp_path), "--quiet")
    assert code == 0, err
    _, summary = the_run(tmp_path)
    assert summary["mode"] == "closed"
    assert summary["variants"]["default"]["requests"]["scheduled"] == 6


def test_help_and_version(capsys):
    code, out, _ = stinger(capsys, "--help")
    assert code == 0 and "run" in out and "report" in out
    code, out, _ = stinger(capsys, "run", "--help")
    assert code == 0 and "--rate" in out and "--slo" in out
    code, out, _ = stinger(capsys, "--version")
    assert code == 0 and "stinger" in out


@pytest.mark.parametrize("flag", ["--rate", "--duration", "--ramp", "--requests"])
def test_capacity_does_not_offer_flags_its_steps_would_ignore(capsys, flag):
    """Issue 9 item 14: each capacity step sets its own load, so these flags are not listed (nor taken)."""
    code, _, err = stinger(capsys, "capacity", "--url", "http://127.0.0.1:9/", flag, "5")
    assert code == 2 and f"No such option '{flag}'" in err, err
    code, out, _ = stinger(capsys, "capacity", "--help")
    listed = [line.split()[0] for line in out.split("Examples:")[0].splitlines() if line.startswith("  -")]
    assert code == 0 and "--url" in listed and flag not in listed
