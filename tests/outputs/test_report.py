"""outputs/report.py: report.html from real run directories (`stinger run`, `ab`, `capacity` against
reference servers), and the page itself in headless Chromium (Playwright driving the system's
Chromium: no browser download).

The runs are short (2-3 s of load, a 2-step capacity search) and shared by the module.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from html import escape
from pathlib import Path

import pytest

from stinger.core.secrets import scrub
from stinger.outputs.report import REPORT, render_report, write_report
from stinger.outputs.svgchart import line_chart, nice_ticks
from stinger.testing.servers import RefServer

CLI = [sys.executable, "-c", "import sys; from stinger.cli import main; main(sys.argv[1:])"]
SECRET = "SECRET7token"
URL_PASSWORD = "hunter2pass"


def stinger(*args: str, cwd: Path, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, env=env)


def only_dir(out: Path) -> Path:
    [d] = [p for p in out.iterdir() if p.is_dir()]
    return d


def table_rows(html: str, cls: str) -> int:
    """Rows (header included) of the table of class `cls`."""
    start = html.index(f'<table class="{cls}">')
    return html[start:html.index("</table>", start)].count("<tr>")


def values(html: str) -> dict[tuple[str, int], float | None]:
    """(data-key, occurrence) -> data-value of every headline number, in page order."""
    seen: dict[str, int] = {}
    out = {}
    for key, raw in re.findall(r'data-key="([^"]+)" data-value="([^"]*)"', html):
        k = seen.get(key, 0)
        seen[key] = k + 1
        out[(key, k)] = json.loads(raw.replace("&quot;", '"')) if raw else None
    return out


# ------------------------------------------------------------------ real run directories
@pytest.fixture(scope="module")
def servers():
    with RefServer("delay", delay_ms=3) as fast, RefServer("delay", delay_ms=8) as slow, \
            RefServer("slots", slots=2, service_ms=10) as slots:
        yield fast, slow, slots


@pytest.fixture(scope="module")
def run_dir(servers, tmp_path_factory) -> Path:
    """`stinger run` with a secret header, a password in the URL and a process monitor on the server."""
    fast, _, _ = servers
    out = tmp_path_factory.mktemp("run")
    url = fast.url.replace("http://", f"http://user:{URL_PASSWORD}@") + "/"
    proc = stinger("run", "--url", url, "-H", f"Authorization: Bearer {SECRET}", "--rate", "40", "--duration", "2s",
                   "--monitor", f"process=pid:{fast.pid}", "--slo", "p99<5s", "--name", "report-run",
                   "--out", str(out), "--quiet", cwd=out)
    assert proc.returncode == 0, proc.stderr
    return only_dir(out)


@pytest.fixture(scope="module")
def ab_dir(servers, tmp_path_factory) -> Path:
    fast, slow, _ = servers
    out = tmp_path_factory.mktemp("ab")
    proc = stinger("ab", "--a", fast.url + "/", "--b", slow.url + "/", "--rate", "40", "--duration", "3s",
                   "--out", str(out), "--quiet", cwd=out)
    assert proc.returncode == 0, proc.stderr
    return only_dir(out)


@pytest.fixture(scope="module")
def capacity_dir(servers, tmp_path_factory) -> Path:
    _, _, slots = servers
    out = tmp_path_factory.mktemp("capacity")
    proc = stinger("capacity", "--url", slots.url + "/", "--step-duration", "1s", "--step-warmup", "0.3s",
                   "--start", "100", "--growth", "4", "--max-steps", "2", "--price-per-hour", "1",
                   "--out", str(out), "--quiet", cwd=out)
    assert proc.returncode in (0, 1), proc.stderr
    return only_dir(out)


@pytest.fixture(scope="module")
def ab_capacity_out(servers, tmp_path_factory) -> Path:
    """`stinger ab --split capacity`: a search per variant (two 1 s steps each), then the verdict's own directory."""
    fast, slow, _ = servers
    out = tmp_path_factory.mktemp("abcap")
    proc = stinger("ab", "--split", "capacity", "--a", fast.url + "/", "--b", slow.url + "/", "--step-duration", "1s",
                   "--step-warmup", "0.3s", "--start", "50", "--growth", "3", "--max-steps", "2",
                   "--out", str(out), "--quiet", cwd=out)
    assert proc.returncode in (0, 1), proc.stderr
    return out


# ------------------------------------------------------------------ the renderer
@pytest.mark.slow
def test_every_run_kind_leaves_a_report(run_dir, ab_dir, capacity_dir):
    for d in (run_dir, ab_dir, capacity_dir):
        html = (d / REPORT).read_text()
        assert html.startswith("<!DOCTYPE html>") and "</html>" in html, d
    assert "A/B verdict" in (ab_dir / REPORT).read_text()
    assert "capacity curve" in (capacity_dir / REPORT).read_text()


@pytest.mark.slow
def test_an_ab_capacity_report_links_each_variant_s_search(ab_capacity_out):
    [verdict_dir] = [d for d in ab_capacity_out.iterdir() if (d / "verdict.json").is_file()]
    verdict = json.loads((verdict_dir / "verdict.json").read_text())
    html = (verdict_dir / REPORT).read_text()
    assert table_rows(html, "caps") == len(verdict["capacity"]) + 1
    for name, c in verdict["capacity"].items():
        linked = Path(c["run_dir"]) / REPORT
        assert linked.is_file(), name
        assert f'href="../{linked.parent.name}/{REPORT}"' in html
        assert "capacity curve" in linked.read_text()


@pytest.mark.slow
def test_headline_numbers_are_summary_json_s(run_dir, ab_dir):
    for d in (run_dir, ab_dir):
        summary = json.loads((d / "summary.json").read_text())
        got = values((d / REPORT).read_text())
        assert got[("exit_status", 0)] == 0
        for k, (name, v) in enumerate(summary["variants"].items()):
            assert got[("achieved_rps", k)] == v["throughput"]["achieved_rps"], name
            assert got[("offered_rps", k)] == v["throughput"]["offered_rps"], name
            assert got[("error_rate", k)] == v["error_rate"], name
            assert got[("p99", k)] == v["latency_ms"]["p99"], name


@pytest.mark.slow
def test_run_report_has_every_section(run_dir):
    html = (run_dir / REPORT).read_text()
    for section in ("headline", "latency", "over-time", "distribution", "resources", "self-check", "settings"):
        assert f'<section id="{section}">' in html, section
    summary = json.loads((run_dir / "summary.json").read_text())
    lat = summary["variants"]["default"]["latency_ms"]
    # the percentile table row for latency carries summary.json's figures
    row = re.search(r"<tr><td>default</td><td>latency</td>(.*?)</tr>", html).group(1)
    assert f"<td>{lat['count']:,}</td>" in row
    assert "pass: p99&lt;5s" in html                            # the SLO, passed
    assert str(summary["seed"]) in html                         # the settings
    assert "endpoint.cpu_pct" in html                           # the process monitor's series


@pytest.mark.slow
def test_no_secret_reaches_the_report(run_dir):
    data = (run_dir / REPORT).read_bytes()
    assert SECRET.encode() not in data and URL_PASSWORD.encode() not in data
    assert b"&lt;redacted&gt;" in data                          # the spec's header, shown redacted


@pytest.mark.slow
def test_ab_report_lists_every_verdict_row_with_its_interval(ab_dir):
    html = (ab_dir / REPORT).read_text()
    verdict = json.loads((ab_dir / "verdict.json").read_text())
    assert verdict["rows"]
    for r in verdict["rows"]:
        assert f"<td>{escape(r['metric'])}</td>" in html, r["metric"]
    assert table_rows(html, "verdict") == len(verdict["rows"]) + 1
    assert verdict["sentence"].split(" (")[0] in html.replace("&#x27;", "'")


@pytest.mark.slow
def test_capacity_report_shows_the_steps(capacity_dir):
    html = (capacity_dir / REPORT).read_text()
    cap = json.loads((capacity_dir / "capacity.json").read_text())
    got = values(html)
    assert got[("max_sustainable", 0)] == cap["max_sustainable"]
    assert table_rows(html, "steps") == len(cap["steps"]) + 1
    assert 'id="chart-capacity"' in html


@pytest.mark.slow
def test_the_distribution_is_the_summary_s_histogram(run_dir, ab_dir):
    """The HDR log's intervals merge to the histogram summary.json was computed from (warm-up excluded),
    and the curve passes through summary.json's percentiles."""
    from stinger.outputs.report import _latency_histograms

    for d in (run_dir, ab_dir):
        summary = json.loads((d / "summary.json").read_text())
        hists = _latency_histograms(d / "histograms.hlog")
        html = (d / REPORT).read_text()
        chart = html[html.index('id="chart-distribution"'):]
        for name, v in summary["variants"].items():
            lat = v["latency_ms"]
            h = hists[name]
            assert h.total_count == lat["count"] and h.max / 1e3 == lat["max"]
            got = h.percentiles((50, 99))
            assert (got[50.0] / 1e3, got[99.0] / 1e3) == (lat["p50"], lat["p99"])
            for p, label in (("p50", "50%"), ("p99", "99%"), ("p99.9", "99.9%")):
                assert f"{name}: {_g(lat[p])} ms at {label}</title>" in chart, (name, p)


def _g(v: float) -> str:
    return f"{v:.6g}"


@pytest.mark.slow
def test_a_warm_up_is_named_on_the_time_charts(servers, tmp_path):
    fast, _, _ = servers
    proc = stinger("run", "--url", fast.url + "/", "--rate", "20", "--duration", "2s", "--warmup", "1s",
                   "--out", str(tmp_path), "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    html = (only_dir(tmp_path) / REPORT).read_text()
    assert "the first 1 s were warm-up" in html


@pytest.mark.slow
def test_without_an_hdr_log_the_distribution_comes_from_the_summary(run_dir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    (copy / "histograms.hlog").unlink()
    html = render_report(copy)
    assert "summary.json's percentiles" in html
    assert re.search(r'id="chart-distribution".*?data-points="6"', html, re.S)


def test_a_directory_that_is_not_a_run_is_a_usage_error(tmp_path):
    from stinger.errors import UsageError

    with pytest.raises(UsageError, match="not a stinger run directory"):
        render_report(tmp_path)
    with pytest.raises(UsageError, match="does not exist"):
        render_report(tmp_path / "nope")


# ------------------------------------------------------------------ charts
@pytest.mark.parametrize("lo, hi", [(0, 1), (0, 7.3), (3, 997), (0.001, 0.0042), (-5, 5), (10, 10), (0, 1e6)])
def test_nice_ticks_cover_the_range_in_round_steps(lo, hi):
    t = nice_ticks(lo, hi)
    assert t[0] <= lo and t[-1] >= hi and 2 <= len(t) <= 12
    steps = {round(b - a, 9) for a, b in itertools.pairwise(t)}
    assert len(steps) == 1


def test_a_gap_breaks_the_line_and_the_points_are_counted():
    svg = line_chart([("s", [0, 1, 2, 3, 4], [1.0, 2.0, None, 3.0, 4.0])], title="t", chart_id="c")
    assert re.findall(r'data-points="(\d+)"', svg) == ["2", "2"]
    assert svg.count("<circle") == 4


def test_a_long_series_is_thinned_but_keeps_its_spike():
    ys = [1.0] * 20_000
    ys[12_345] = 99.0
    svg = line_chart([("s", list(range(20_000)), ys)], title="t", chart_id="c")
    n = int(re.search(r'data-points="(\d+)"', svg).group(1))
    assert n <= 4100 and "<circle" not in svg
    assert ">99</text>" not in svg and ">100</text>" in svg     # the y axis reaches the spike


# ------------------------------------------------------------------ the command
@pytest.mark.slow
def test_report_command_writes_to_o_and_opens_the_browser(run_dir, tmp_path):
    target = tmp_path / "sent.html"
    opened = tmp_path / "opened"
    env = dict(os.environ, BROWSER=f"{sys.executable} -c \"import sys; open('{opened}', 'w').write(sys.argv[1])\" %s")
    proc = stinger("report", str(run_dir), "-o", str(target), "--open", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert f"report: {target}" in proc.stdout and "latency p99" in proc.stdout
    assert target.read_text() == scrub(render_report(run_dir))
    assert opened.read_text() == target.resolve().as_uri()


def test_report_command_on_a_directory_that_is_not_a_run(tmp_path):
    proc = stinger("report", str(tmp_path), "-o", str(tmp_path / "r.html"), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("stinger: error: ") and len(proc.stderr.splitlines()) == 1
    assert "not a stinger run directory" in proc.stderr and not (tmp_path / "r.html").exists()


@pytest.mark.slow
def test_compare_writes_its_verdict_as_a_report(ab_dir, tmp_path):
    target = tmp_path / "compare.html"
    proc = stinger("compare", f"{ab_dir}:A", f"{ab_dir}:B", "--report", str(target), cwd=tmp_path)
    assert proc.returncode in (0, 1), proc.stderr
    html = target.read_text()
    assert f"<title>stinger compare: {ab_dir}:A vs {ab_dir}:B</title>" in html
    # two variants of one A/B run keep their names: the live verdict, reproduced
    assert table_rows(html, "verdict") >= 2 and "<th>A</th>" in html and "<th>B</th>" in html
    assert "stinger-compare-" not in html                   # the scratch directory is nobody's business


@pytest.mark.slow
def test_report_command_to_an_unwritable_place_is_one_line(run_dir, tmp_path):
    proc = stinger("report", str(run_dir), "-o", str(tmp_path / "no" / "such" / "r.html"), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("stinger: error: cannot write the report to ") and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_the_report_is_rendered_fast(run_dir):
    import time

    render_report(run_dir)                       # imports
    t = time.perf_counter()
    write_report(run_dir)
    assert time.perf_counter() - t < 1.0


# ------------------------------------------------------------------ in a real browser
def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    exe = _chromium()
    if exe is None:
        if os.environ.get("CI"):  # .ci/run installs it: absent there is a broken install step, not a skip
            pytest.fail("no system Chromium in CI: .ci/run's apt-get install chromium did not work")
        pytest.skip("no system Chromium (apt-get install chromium); .ci/run installs it")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


def open_page(browser, path: Path):
    page = browser.new_page()
    problems: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning")
            else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.resolve().as_uri())
    page.wait_for_load_state("load")
    return page, problems, requests


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["run", "ab", "capacity", "ab-capacity"])
def test_the_page_in_chromium(browser, kind, run_dir, ab_dir, capacity_dir, ab_capacity_out):
    if kind == "ab-capacity":
        [d] = [x for x in ab_capacity_out.iterdir() if (x / "verdict.json").is_file()]
    else:
        d = {"run": run_dir, "ab": ab_dir, "capacity": capacity_dir}[kind]
    page, problems, requests = open_page(browser, d / REPORT)
    try:
        assert problems == []
        assert requests and all(u.startswith("file://") for u in requests), requests
        if kind == "ab-capacity":
            verdict = json.loads((d / "verdict.json").read_text())
            assert page.locator("table.caps tbody tr").count() == len(verdict["capacity"])
            assert page.locator("#verdict-sentence").count() == 0     # no summary: the verdict section says it
            assert page.locator("p.sentence").first.inner_text() == verdict["sentence"]
            return
        charts = page.locator("svg.chart")
        assert charts.count() >= (1 if kind == "capacity" else 4)
        # every chart with data drew lines with points, laid out at a real size
        drawn = page.eval_on_selector_all(
            "svg.chart", "els => els.map(e => [e.id, e.querySelectorAll('polyline.series').length,"
            " [...e.querySelectorAll('polyline.series')].reduce((n, p) => n + p.points.numberOfItems, 0),"
            " e.getBoundingClientRect().width])")
        for chart_id, lines, points, width in drawn:
            assert width > 300, chart_id
            if chart_id not in ("chart-error-kinds", "chart-errors") and not chart_id.startswith("chart-resources"):
                assert lines >= 1 and points >= 2, (chart_id, lines, points)
        if kind == "capacity":
            cap = json.loads((d / "capacity.json").read_text())
            shown = page.locator('[data-key="max_sustainable"]').inner_text()
            assert shown.split()[0] == f"{cap['max_sustainable']:.1f}"
            return
        summary = json.loads((d / "summary.json").read_text())
        for name, v in summary["variants"].items():
            card = page.locator(f'.card[data-variant="{name}"]')
            assert card.locator('[data-key="achieved_rps"]').inner_text() == _shown(v["throughput"]["achieved_rps"])
            assert card.locator('[data-key="offered_rps"]').inner_text() == _shown(v["throughput"]["offered_rps"])
            assert card.locator('[data-key="error_rate"]').inner_text() == f"{100 * v['error_rate']:.2f}%"
            assert card.locator('[data-key="p99"]').inner_text() == _shown(v["latency_ms"]["p99"])
        assert page.locator('[data-key="exit_status"]').inner_text().startswith("0 ")
        if kind == "ab":
            verdict = json.loads((d / "verdict.json").read_text())
            assert page.locator("#verdict-sentence").inner_text() == verdict["sentence"]
            assert page.locator("table.verdict tbody tr").count() == len(verdict["rows"])
    finally:
        page.close()


def _shown(v: float) -> str:
    """The headline's number format (core.format.sig, the report's _num), written out independently."""
    a = abs(v)
    if v == 0:
        return "0"
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.1f}"
    if a >= 10:
        return f"{v:.2f}"
    return f"{v:.3f}".rstrip("0").rstrip(".") if a < 1 else f"{v:.2f}"


# ------------------------------------------------------------------ written by the run directory
def test_a_report_that_cannot_be_written_costs_the_run_nothing(tmp_path, capsys):
    from stinger.core.stats import error_rate_diff
    from stinger.core.verdict import verdict
    from stinger.outputs.rundir import RunDirOutput

    (tmp_path / "summary.json").write_text(json.dumps({"variants": {}}))
    (tmp_path / REPORT).mkdir()                              # in the way: the page cannot be written
    out = RunDirOutput(path=tmp_path)
    out.verdict(verdict([error_rate_diff(0, 100, 30, 100)], a_name="A", b_name="B"), {}, tmp_path)
    assert (tmp_path / "verdict.json").is_file() and (tmp_path / "verdict.md").is_file()
    assert out.report_error.startswith("report.html was not written: cannot write the report to ")
    assert "stinger: warning: report.html was not written" in capsys.readouterr().err


def test_a_verdict_beside_a_bare_summary_renders(tmp_path):
    from stinger.core.stats import error_rate_diff
    from stinger.core.verdict import verdict
    from stinger.outputs.rundir import RunDirOutput

    (tmp_path / "summary.json").write_text(json.dumps({"variants": {}}))
    out = RunDirOutput(path=tmp_path)
    out.verdict(verdict([error_rate_diff(0, 100, 30, 100)], a_name="A", b_name="B"), {"pairs": 3}, tmp_path)
    html = (tmp_path / REPORT).read_text()
    assert out.report_error is None and table_rows(html, "verdict") == 2 and "error rate" in html
