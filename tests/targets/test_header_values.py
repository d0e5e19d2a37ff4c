"""Header values the user gives are one line of Latin-1, wherever they are given (issue 15 item 4).

`-H` refused a line break; `--content-type` let one through (a second header, or a second
request, smuggled onto the wire: the server counted it), and the openai and kserve targets'
headers were not checked at all (a traceback in kserve's readiness check). One rule now, one
line and exit 2 for each.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from stinger.errors import SpecError
from stinger.spec import parse_spec


def _stinger(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stinger.cli", *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("target", [
    {"type": "http", "url": "http://127.0.0.1:9/"},
    {"type": "kserve", "url": "http://127.0.0.1:9", "model": "m"},
    {"type": "openai", "url": "http://127.0.0.1:9", "model": "m"},
])
@pytest.mark.parametrize("value, why", [("a\r\nX-Evil: 1", "line breaks"), ("a\nb", "line breaks"),
                                        ("😀", "Latin-1")])
def test_every_target_s_headers_are_checked(target, value, why):
    with pytest.raises(SpecError, match=why):
        parse_spec({"target": {**target, "headers": {"X-A": value}}, "payload": {"body": "{}"}})


@pytest.mark.parametrize("value, why", [("text/plain\r\nX-Evil: 1", "line breaks"), ("application/😀", "Latin-1")])
def test_a_content_type_is_checked_as_a_header(value, why):
    with pytest.raises(SpecError, match=why):
        parse_spec({"target": {"url": "http://127.0.0.1:9/"}, "payload": {"body": "x", "content_type": value}})
    ok = parse_spec({"target": {"url": "http://127.0.0.1:9/"}, "load": {"rate": 1, "duration": "1s"},
                     "payload": {"body": "x", "content_type": "text/csv; charset=utf-8"}})
    assert ok.payload.content_type == "text/csv; charset=utf-8"


@pytest.mark.parametrize("args", [
    ["--url", "http://127.0.0.1:9/", "--body", "x", "--content-type", "text/plain\r\nX-Evil: 1"],
    ["--kserve", "http://127.0.0.1:9", "--model", "m", "-H", "X-A: 1\r\nX-Evil: 2"],
])
def test_the_cli_refuses_a_line_break_in_one_line_exit_2(args):
    p = _stinger("run", *args, "--rate", "1", "--duration", "1s", "--quiet")
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr
    [line] = p.stderr.strip().splitlines()
    assert "line breaks" in line, line
