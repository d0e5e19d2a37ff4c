"""What a command shows and keeps (the terminal, the run directory, the live dashboard), the lines
a quiet run still says on stderr, and the one-line error every mistake ends in."""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click

SAVE_REQUESTS_LOST = "--save-requests:"   # the prefix of the warnings of rows a full disk cost


def outputs(quiet: bool, dashboard: int | None = None, jsonl: str | None = None) -> list:
    """The terminal (unless --quiet), the run directory, the live dashboard when asked
    (`--dashboard [PORT]`), and JSON lines when asked (`--jsonl PATH`, - for standard output)."""
    outs: list[Any] = ["rundir"]
    if jsonl is not None:
        from stinger.outputs.jsonlines import JsonLinesOutput

        outs.append(JsonLinesOutput(None if jsonl == "-" else jsonl))
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
        # the run is kept, its rows are not; a worker was lost (even when its share was rebalanced and the
        # run exits 0): said even when quiet
        if w.startswith(SAVE_REQUESTS_LOST) or (w.startswith("worker ") and " was lost (" in w):
            click.echo(f"stinger: warning: {w}", err=True)
    for name, f in (summary.get("failures") or {}).items():
        what = "no request succeeded" if not f["ok"] else "most requests failed"
        causes = [f"HTTP {x['status']} x{x['count']}" for x in f.get("top_status", [])]
        causes += [f"{x['kind']} x{x['count']}" + (f" ({x['message']})" if x.get("message") else "")
                   for x in f.get("top_errors", []) if not x["kind"].startswith("http")]
        click.echo(f"stinger: warning: {name}: {what} ({100 * f['error_rate']:.1f}% of {f['ended']:,} failed"
                   + (f": {', '.join(causes)}" if causes else "") + ")", err=True)


def error_line(exc: BaseException) -> tuple[str, int] | None:
    """A user's mistake as the one line and exit code the CLI ends in (`main`, and `stinger ui`'s
    checks, which show the same line); None for anything that is not one."""
    from stinger.errors import ExitCode, StingerError

    if isinstance(exc, click.exceptions.NoSuchOption):
        return exc.format_message() + " (see --help)", ExitCode.USAGE
    if isinstance(exc, click.ClickException):
        return " ".join(exc.format_message().split()), exc.exit_code if exc.exit_code else ExitCode.USAGE
    if isinstance(exc, StingerError):
        return (str(exc).splitlines()[0] if str(exc) else type(exc).__name__), exc.exit_code
    return None


def one_line(message: str) -> str:
    """A message as the CLI writes it: secrets scrubbed, one line, at most about 500 characters."""
    from stinger.core.secrets import scrub

    message = " ".join(scrub(message).split())
    return message[:480] + "..." if len(message) > 500 else message


def fail(message: str, code: int) -> NoReturn:
    """One line on stderr (secrets scrubbed, at most about 500 characters), then exit `code`."""
    click.echo(f"stinger: error: {one_line(message)}", err=True)
    sys.exit(code)
