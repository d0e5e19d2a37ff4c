"""`stinger report`: a saved run directory re-rendered from its files, and its HTML report."""

from __future__ import annotations

import click

from stinger.cli.help import GroupedCommand, option

EXAMPLES = (
    "stinger report runs/20260101-120000-baseline",
    "stinger report runs/20260101-120000-baseline --json",
)


@click.command(cls=GroupedCommand, examples=EXAMPLES)
@click.argument("run_dir")
@option("--json", "as_json", group="Outputs", rank=0, is_flag=True,
        help="Print summary.json (or capacity.json, verdict.json) instead.")
@option("-o", "--output", "html_out", group="Outputs", rank=1, default=None, metavar="FILE",
        help="Write the HTML report here (default: RUN_DIR/report.html).")
@option("--open", "open_html", group="Outputs", rank=2, is_flag=True, help="Open the HTML report in a web browser.")
def report(run_dir: str, as_json: bool, html_out: str | None, open_html: bool) -> None:
    """Re-render a saved run directory (a run, an A/B test's verdict, a capacity search) from its files,
    and write its self-contained HTML report (RUN_DIR/report.html, or -o FILE)."""
    _report_terminal(run_dir, as_json)
    if as_json and html_out is None and not open_html:
        return
    from stinger.outputs.report import write_report

    path = write_report(run_dir, html_out)
    if not as_json:
        click.echo(f"report: {path}")
    if open_html:
        import webbrowser

        webbrowser.open(path.resolve().as_uri())


def _report_terminal(run_dir: str, as_json: bool) -> None:
    import json
    from pathlib import Path

    from stinger import _api
    from stinger.outputs.rundir import CAPACITY, SUMMARY, VERDICT_JSON, VERDICT_MD, read_json
    from stinger.outputs.terminal import make_console, print_capacity, print_summary

    p = Path(run_dir)
    if p.is_dir() and not (p / SUMMARY).is_file() and ((p / CAPACITY).is_file() or (p / VERDICT_JSON).is_file()):
        data = read_json(p / CAPACITY) or read_json(p / VERDICT_JSON)  # a capacity search, or an A/B's verdict
        if as_json:
            click.echo(json.dumps(data, indent=2))
            return
        console = make_console()
        if (p / CAPACITY).is_file() and data is not None:
            print_capacity(data, console)
    else:
        saved = _api.read_run(run_dir)
        if as_json:
            click.echo(json.dumps(saved.summary, indent=2))
            return
        console = make_console()
        print_summary(saved.summary, console)
    if (p / VERDICT_MD).is_file():
        from rich.markdown import Markdown

        console.print(Markdown((p / VERDICT_MD).read_text()))
