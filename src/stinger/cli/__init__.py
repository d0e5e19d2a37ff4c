"""The `stinger` command line: a thin layer over the public API (`stinger._api`).

Each command parses its flags into a spec, calls the API, prints through the terminal output, and
exits with the result's exit code. One file per command; the flags they share live in one table
(`flags.py`), the target's are generated from what each target kind declares (`targets.py`), and
`--help` lists them in sections with two examples (`help.py`). The CLI imports no orchestration,
engine, worker backend or vendor package (import-linter: "the CLI is thin").

    stinger run [SPEC] [flags]     one load test (flags override the spec file)
    stinger capacity [SPEC]        the highest load that meets the SLOs
    stinger ab [SPEC]              an A/B test of two variants, with a verdict
    stinger compare RUN_A RUN_B    compare two saved runs (a regression gate)
    stinger plan                   how long an A/B test must run
    stinger report RUN_DIR         re-render a saved run, and its HTML report (report.html)
    stinger ui                     a web page to start, steer and stop runs and browse them  (ui/)
    stinger demo                   the embedded demo, end to end         (demo/cli.py)
    stinger serve-demo             the demo model endpoint alone         (demo/cli.py)

Exit codes, the same for every command (`stinger.ExitCode`):
0 success; 1 an SLO was violated, a variant had no successful response, a
capacity search found no load meeting the SLOs, or `compare` found a regression;
2 the user's mistake (bad flag, spec, URL, dataset), one line on stderr, no
traceback; 3 the run could not proceed or is incomplete (a load worker was lost, or an abort rule
stopped it: --abort-on, or every request of 5 s failed to connect); 130 stopped by Ctrl-C and 143 by
SIGTERM (results kept).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from importlib import import_module
from typing import Any

import click

from stinger import __version__
from stinger.cli.outputs import error_line, fail
from stinger.errors import ExitCode, StingerError

__all__ = ["cli", "main", "resolve_spec"]


def _demo_command(name: str) -> click.Command:
    """A demo command (a layer below), in the sections and with the examples the demo gives it."""
    from stinger.cli.help import grouped
    from stinger.demo import cli as demo_cli

    command = {"demo": demo_cli.demo, "serve-demo": demo_cli.serve_demo}[name]
    return grouped(command, demo_cli.SECTIONS[name], demo_cli.EXAMPLES[name])


# each command is imported when it is asked for: `stinger --version`, `report` and `compare` do not
# build the target flags (which imports every target kind's config)
COMMANDS: dict[str, str | Callable[[], click.Command]] = {
    "run": "stinger.cli.run:run", "capacity": "stinger.cli.capacity:capacity", "ab": "stinger.cli.ab:ab",
    "compare": "stinger.cli.compare:compare", "plan": "stinger.cli.plan:plan", "report": "stinger.cli.report:report",
    "demo": lambda: _demo_command("demo"), "serve-demo": lambda: _demo_command("serve-demo"),
    "cluster": "stinger.cli.cluster:cluster", "ui": "stinger.cli.ui:ui",
}


class _Commands(dict[str, click.Command]):
    """`cli.commands`: every command by name, each made on first use."""

    def __missing__(self, name: str) -> click.Command:
        ref = COMMANDS[name]
        if callable(ref):
            command = ref()
        else:
            module, _, attr = ref.partition(":")
            command = getattr(import_module(module), attr)
        self[name] = command
        return command

    def get(self, name: str, default: Any = None) -> Any:
        return self[name] if name in COMMANDS else default

    def __contains__(self, name: object) -> bool:
        return name in COMMANDS

    def __iter__(self) -> Iterator[str]:
        return iter(COMMANDS)

    def __len__(self) -> int:
        return len(COMMANDS)


class _Group(click.Group):
    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.commands = _Commands()

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="stinger")
def cli() -> None:
    """Load-test and A/B-test machine-learning model endpoints.

    \b
    Exit codes (every command):
      0    success
      1    an SLO was violated, a variant had no successful response,
           no load met the SLOs (capacity), or a regression (compare)
      2    your mistake: a bad flag, spec, URL or dataset (one line on stderr)
      3    the run could not proceed, or is incomplete (a load worker was lost,
           unless --on-worker-loss rebalance kept its load; or an abort rule stopped it)
      130  stopped by Ctrl-C, 143 by SIGTERM (what was measured is kept)
    """


def __getattr__(name: str) -> Any:
    if name == "resolve_spec":   # (tests and scripts use it; it imports the target kinds)
        from stinger.cli.resolve import resolve_spec

        return resolve_spec
    raise AttributeError(name)


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="stinger", standalone_mode=False)
    except click.exceptions.Abort:
        fail("aborted", ExitCode.INTERRUPTED)
    except (click.ClickException, StingerError) as exc:
        fail(*(error_line(exc) or (str(exc), ExitCode.USAGE)))
    except KeyboardInterrupt:
        fail("interrupted", ExitCode.INTERRUPTED)
    except SystemExit:
        raise
    except (RecursionError, MemoryError) as exc:  # an input past what any limit caught: still one line
        fail(f"the input is too large or too deeply nested ({type(exc).__name__})", ExitCode.USAGE)
    except OSError as exc:
        from stinger.core.atomic import is_disk_full

        if not is_disk_full(exc):
            raise
        # a full disk met outside the run files' own writer (a spill file, a dataset cache): still one line
        fail(f"cannot write {exc.filename or 'a file'}: {exc.strerror or exc}", ExitCode.RUN_ERROR)
    sys.exit(0)
