"""A disk that fills while a run writes its results (issue 16 item 5).

The fault is the operating system's own, not a mock: the CLI runs in a child process
whose file-size limit (RLIMIT_FSIZE, with SIGXFSZ ignored) makes every write past the
limit fail with EFBIG, in the coordinator and in its forked workers alike; and, where
this test may mount one (root), a real 1 MiB tmpfs filled to the brim (ENOSPC).

What must hold: exit code 3 with one line naming the file; summary.json is written
first, and whole or not at all; no temporary or hidden row file is left behind;
--save-requests on a full disk loses its rows (a warning), never the run.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from stinger.core.atomic import WriteFailed, replacing, write_text
from stinger.testing.servers import RefServer


@pytest.fixture(scope="module")
def server():
    with RefServer("delay", delay_ms=1) as s:
        yield s


def _limit_file_size(nbytes: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # a write past the limit fails (EFBIG) instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))
    return apply


def _stinger(args: list[str], *, preexec=None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stinger.cli", *args], capture_output=True, text=True,
                          timeout=timeout, preexec_fn=preexec, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})


def _leftovers(run_dir: Path) -> list[str]:
    return sorted(p.name for p in run_dir.iterdir() if p.name.startswith("."))


def _run_dir(out: Path) -> Path:
    dirs = [p for p in out.iterdir() if p.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


@pytest.mark.parametrize("limit_kib, summary_fits", [(3, False), (16, True)])
def test_a_full_disk_exits_3_naming_the_file_and_never_truncates_the_summary(server, tmp_path, limit_kib,
                                                                              summary_fits):
    out = tmp_path / "runs"
    res = _stinger(["run", "--url", server.url + "/", "--rate", "50", "--duration", "1s", "--out", str(out), "-q"],
                   preexec=_limit_file_size(limit_kib * 1024))
    lines = res.stderr.splitlines()
    assert res.returncode == 3, res.stderr
    assert len(lines) == 1 and lines[0].startswith("stinger: error: cannot write "), res.stderr
    assert "File too large" in lines[0]
    run_dir = _run_dir(out)
    named = Path(lines[0].split("cannot write ", 1)[1].rsplit(":", 1)[0])
    assert named.parent == run_dir and not named.exists()   # the file it names was not left half-written
    summary = run_dir / "summary.json"
    assert summary.exists() == summary_fits
    if summary_fits:
        assert json.loads(summary.read_text())["variants"]["default"]["requests"]["ok"] > 0
    assert _leftovers(run_dir) == []


def test_save_requests_on_a_full_disk_loses_its_rows_not_the_run(server, tmp_path):
    out = tmp_path / "runs"
    # 64 KiB: the summary, spec, report fit; ~1,000 rows of the 1,600 do not, and neither does requests.csv
    # (--request-id: a spill record is 95 bytes since rows carry request numbers and LLM columns, so the csv
    # lines of the rows that fit are made longer than that by their 32-digit request_id)
    res = _stinger(["run", "--url", server.url + "/", "--rate", "800", "--duration", "2s", "--save-requests",
                    "--request-id", "--out", str(out), "-q"], preexec=_limit_file_size(64 * 1024))
    assert res.returncode == 0, res.stderr
    run_dir = _run_dir(out)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["variants"]["default"]["requests"]["ok"] == 1600
    said = [w for w in summary["warnings"] if w.startswith("--save-requests:")]
    assert any("worker 0 stopped writing per-request rows" in w for w in said), summary["warnings"]
    assert any("requests.csv was not written" in w for w in said), summary["warnings"]
    assert "requests_file" not in summary and not (run_dir / "requests.csv").exists()
    assert (run_dir / "report.html").exists()
    assert _leftovers(run_dir) == []                       # no .requests-w*.bin, no temporary file
    assert all(line.startswith("stinger: warning: --save-requests:") for line in res.stderr.splitlines())


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "summary.json"
    write_text(path, "old\n")

    def fill(tmp: Path) -> None:
        tmp.write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(WriteFailed) as info, replacing(path) as tmp:
        fill(tmp)
    assert str(info.value) == f"cannot write {path}: No space left on device"
    assert info.value.exit_code == 3
    assert path.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]


def _mount_tmpfs(where: Path) -> bool:
    where.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)],
                          capture_output=True).returncode == 0


def test_a_real_full_tmpfs(server, tmp_path):
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk):
        pytest.skip("mounting a tmpfs needs root (the RLIMIT_FSIZE tests above cover the same paths)")
    try:
        free = shutil.disk_usage(disk).free
        (disk / "fill").write_bytes(b"\0" * (free - 12 * 1024))   # room for the summary, not for everything
        res = _stinger(["run", "--url", server.url + "/", "--rate", "50", "--duration", "1s", "--out",
                        str(disk / "runs"), "-q"])
        lines = res.stderr.splitlines()
        assert res.returncode == 3 and len(lines) == 1, res.stderr
        assert "No space left on device" in lines[0] and "cannot write " + str(disk / "runs") in lines[0]
        run_dir = _run_dir(disk / "runs")
        json.loads((run_dir / "summary.json").read_text())
        assert _leftovers(run_dir) == []
    finally:
        subprocess.run(["umount", str(disk)], check=False)
