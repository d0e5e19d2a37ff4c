"""What a command shows and keeps (the terminal, the run directory, the live dashboard), the lines
a quiet run still says on stderr, and the one-line error every mistake ends in."""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click

SAVE_REQUESTS_LOST = "--save-requests:"   # the prefix of the warnings of rows a full disk cost


def outputs(quiet: bool, dashboard: int | None = None) -> list:
    """The terminal (unless --quiet), the run directory, and the live dashboard when asked
    (`--dashboard [PORT]`)."""
    outs: list[Any] = ["rundir"]
    if not quiet:
        from stinger.outputs.terminal import TerminalOutput, make_console

        outs.insert(0, TerminalOutput(make_console()))
    ctx = click.get_current_context(silent=True)
    linger = ctx.meta.get("dashboard_linger") if ctx is not None else None   # --dashboard-linger (cli/flags.py)
    if linger is not None and dashboard is None:
        raise click.BadParameter("needs --dashboard (it keeps the dashboard's page serving after the run)",
                                 param_hint="--dashboard-linger")
    if dashboard is not None:
        from stinger.outputs.dashboard import DashboardOutput

        outs.append(DashboardOutput(port=dashboard, announce=lambda url: click.echo(f"dashboard: {url}", err=True),
                                    linger=linger or 0.0))
    return outs


def warn_failures(summary: dict | None, quiet: bool) -> None:
    """With --quiet nothing else is printed: a run whose requests mostly failed still says so (stderr)."""
    if summary and summary.get("aborted"):
        click.echo(f"stinger: {summary['aborted']} (exit code 3)", err=True)  # on screen, quiet or not
    if not quiet or not summary:
        return
    for w in summary.get("warnings", []):
        if w.startswith(SAVE_REQUESTS_LOST):   # the run is kept, its rows are not: said even when quiet
            click.echo(f"stinger: warning: {w}", err=True)
    for name, f in (summary.get("failures") or {}).items():
        what = "no request succeeded" if not f["ok"] else "most requests failed"
        causes = [f"HTTP {x['status']} x{x['count']}" for x in f.get("top_status", [])]
        causes += [f"{x['kind']} x{x['count']}" + (f" ({x['message']})" if x.get("message") else "")
                   for x in f.get("top_errors", []) if not x["kind"].startswith("http")]
        click.echo(f"stinger: warning: {name}: {what} ({100 * f['error_rate']:.1f}% of {f['ended']:,} failed"
                   + (f": {', '.join(causes)}" if causes else "") + ")", err=True)


def fail(message: str, code: int) -> NoReturn:
    """One line on stderr (secrets scrubbed, at most about 500 characters), then exit `code`."""
    from stinger.core.secrets import scrub

    message = " ".join(scrub(message).split())
    if len(message) > 500:
        message = message[:480] + "..."
    click.echo(f"stinger: error: {message}", err=True)
    sys.exit(code)
