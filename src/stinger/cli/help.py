"""`--help` in sections: every option of a command sits in one named group, groups in one order, the
common flags first (`--url`, `--rate`), and two examples at the end.

`GroupedOption` is a click option with a `group` and a `rank` (lower comes first; ties keep the
declaration order); `GroupedCommand` prints the groups in `SECTIONS` order and its `examples` under
"Examples:". tests/cli/test_help.py holds every command to this structure (not to its words).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

# the order sections appear in, for every command (a command shows the ones its options use)
SECTIONS = ("Target", "Payload", "Load", "Checks and SLOs", "Monitors", "Outputs", "Scale", "A/B", "Capacity",
            "Verdict", "Plan", "Demo", "Server", "Other")


class GroupedOption(click.Option):
    """A click option that knows its help section (`group`) and its place in it (`rank`)."""

    def __init__(self, *args: Any, group: str = "Other", rank: int = 50, **kw: Any) -> None:
        if group not in SECTIONS:
            raise ValueError(f"unknown help section {group!r}")
        super().__init__(*args, **kw)
        self.group = group
        self.rank = rank


def option(*decls: str, group: str, rank: int = 50, **kw: Any):
    """`click.option` with a section and a rank."""
    return click.option(*decls, cls=GroupedOption, group=group, rank=rank, **kw)


def group_of(param: click.Parameter) -> str:
    return getattr(param, "group", "Other")


def sections(command: click.Command, ctx: click.Context) -> list[tuple[str, list[click.Parameter]]]:
    """The command's options by section, in the command's order (`SECTIONS`, its own sections moved up
    after the target's), each ordered by rank (then as declared)."""
    params = [p for p in command.get_params(ctx) if isinstance(p, click.Option) and not p.hidden]
    by: dict[str, list[tuple[int, int, click.Parameter]]] = {}
    for k, p in enumerate(params):
        by.setdefault(group_of(p), []).append((getattr(p, "rank", 50), k, p))
    order = getattr(command, "order", SECTIONS)
    return [(name, [p for _, _, p in sorted(by[name], key=lambda t: t[:2])]) for name in order if name in by]


class GroupedCommand(click.Command):
    """A command whose help lists its options by section and ends with its examples."""

    def __init__(self, *args: Any, examples: Sequence[str] = (), lead: Sequence[str] = (), **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.examples = tuple(examples)
        # the command's own sections (ab's A/B) right after the target's, then the others in SECTIONS order
        self.order = (SECTIONS[0], *lead, *(s for s in SECTIONS[1:] if s not in lead))

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        for name, params in sections(self, ctx):
            rows = [r for r in (p.get_help_record(ctx) for p in params) if r is not None]
            with formatter.section(name):
                formatter.write_dl(rows)

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)
        if self.examples:
            with formatter.section("Examples"):
                for line in self.examples:
                    formatter.write(f"{'':>{formatter.current_indent}}{line}\n")


def grouped(command: click.Command, groups: dict[str, str], examples: Sequence[str]) -> GroupedCommand:
    """A `GroupedCommand` copy of a command defined elsewhere (the demo's, a layer below the CLI), its
    options put in `groups` (option name -> section; the rest in "Other")."""
    params = []
    for p in command.params:
        if isinstance(p, click.Option) and not isinstance(p, GroupedOption):
            p.group = groups.get(p.opts[-1], "Other")  # type: ignore[attr-defined]
        params.append(p)
    return GroupedCommand(command.name, params=params, callback=command.callback, help=command.help,
                          short_help=command.short_help, epilog=command.epilog, examples=examples,
                          context_settings=command.context_settings)

