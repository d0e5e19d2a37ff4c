"""`stinger compare`: two saved runs, and whether the candidate regressed (exit 1)."""

from __future__ import annotations

import sys

import click

from stinger.cli.help import GroupedCommand, option

EXAMPLES = (
    "stinger compare runs/20260101-120000-baseline runs/20260102-120000-candidate --margin 2ms",
    "stinger compare runs/ab-run:A runs/ab-run:B --report verdict.html",
)


@click.command(cls=GroupedCommand, examples=EXAMPLES)
@click.argument("baseline", metavar="BASELINE_RUN[:VARIANT]")
@click.argument("candidate", metavar="CANDIDATE_RUN[:VARIANT]")
@option("--alpha", group="Verdict", rank=2, default=0.05, show_default=True,
        type=click.FloatRange(0, 1, min_open=True, max_open=True), help="Significance level (family-wise, Holm).")
@option("--paired", group="Verdict", rank=1, is_flag=True,
        help="The runs sent the same payloads in the same order (pairs predictions).")
@option("--report", "report_file", group="Outputs", default=None, metavar="FILE",
        help="Also write the verdict as an HTML report.")
@option("--margin", group="Verdict", rank=0, default="5%", show_default=True, metavar="SHARE|TIME",
        help="Two separate runs: a difference counts only beyond this share of the baseline's value "
             "(or a time such as 2ms; 0 for none) and beyond the drift each run shows between its halves.")
def compare(baseline: str, candidate: str, alpha: float, paired: bool, report_file: str | None, margin: str) -> None:
    """Compare two saved runs; exit 1 when the candidate is significantly worse (a regression).

    Two separate runs differ by more than their own noise, so a regression must also clear
    --margin and the runs' own drift; RUN:A RUN:B of one A/B run reproduces its live verdict.
    """
    from stinger import _api
    from stinger.outputs.terminal import TerminalOutput, make_console

    outs: list = [TerminalOutput(make_console(), live=False)]
    if report_file is None:
        result = _api.compare(baseline, candidate, alpha=alpha, paired=paired, margin=margin, outputs=outs)
    else:
        import tempfile

        from stinger.outputs.report import write_report
        from stinger.outputs.rundir import RunDirOutput

        with tempfile.TemporaryDirectory(prefix="stinger-compare-") as tmp:  # verdict.json, for the renderer
            result = _api.compare(baseline, candidate, alpha=alpha, paired=paired, margin=margin,
                                  outputs=[*outs, RunDirOutput(path=tmp)])
            click.echo(f"report: {write_report(tmp, report_file, title=f'stinger compare: {baseline} vs {candidate}')}")
    if result.regressions:
        click.echo(f"regression: the candidate is significantly worse on {', '.join(result.regressions)}", err=True)
    sys.exit(result.exit_code)
