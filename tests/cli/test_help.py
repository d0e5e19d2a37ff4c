"""`--help` in sections (issue 17 item 3): for every command the sections come in one order, each
option sits in exactly one of them, the common flags (`--url`, `--rate`) come first in theirs, and two
examples end the help, each of which parses. Structure, not wording."""

from __future__ import annotations

import shlex

import click
import pytest

from stinger.cli import cli, main
from stinger.cli.help import SECTIONS, GroupedCommand, sections

# `cluster` is a group (its `init` flags are parsed by stinger.scale.cluster_init, with their own --help)
COMMANDS = sorted(n for n in cli.commands if n != "cluster")


def help_text(capsys, name: str) -> str:
    with pytest.raises(SystemExit) as exc:
        main([name, "--help"])
    assert exc.value.code == 0
    return capsys.readouterr().out


def test_every_command_has_grouped_help():
    assert set(COMMANDS) == {"run", "capacity", "ab", "compare", "plan", "report", "demo", "serve-demo", "ui"}
    assert all(isinstance(cli.commands[n], GroupedCommand) for n in COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_sections_appear_in_order_and_hold_every_option_once(capsys, name):
    text = help_text(capsys, name)
    heads = [line[:-1] for line in text.splitlines() if line and not line.startswith(" ") and line.endswith(":")]
    command = cli.commands[name]
    order = command.order    # SECTIONS, a command's own sections (ab's A/B) moved up after the target's
    assert sorted(order) == sorted(SECTIONS) and order[0] == "Target"
    assert [s for s in order if s not in {"A/B"}] == [s for s in SECTIONS if s != "A/B"]
    shown = [h for h in heads if h in SECTIONS]
    assert shown == sorted(shown, key=order.index) and len(shown) == len(set(shown)), heads
    assert "Options" not in heads and heads[-1] == "Examples", heads
    ctx = click.Context(command, info_name=name)
    listed = [p for _, params in sections(command, ctx) for p in params]
    options = [p for p in command.get_params(ctx) if isinstance(p, click.Option)]
    assert sorted(map(id, listed)) == sorted(map(id, options))      # each option in exactly one section
    for p in options:   # and printed under it
        assert sum(line.lstrip().startswith(p.opts[0]) or line.lstrip().startswith(p.opts[-1])
                   for line in text.split("Examples:")[0].splitlines()
                   if line.startswith("  -")) >= 1, p.opts


@pytest.mark.parametrize("name, flag", [("run", "--url"), ("run", "--rate"), ("ab", "--url"), ("ab", "--rate"),
                                        ("capacity", "--url")])
def test_common_flags_come_first_in_their_section(name, flag):
    command = cli.commands[name]
    for _, params in sections(command, click.Context(command, info_name=name)):
        names = [p.opts[-1] for p in params]
        if flag in names:
            assert names.index(flag) < 5, names
            return
    pytest.fail(f"{flag} not in {name}'s help")


def test_run_help_begins_with_the_target_then_the_payload_and_the_load(capsys):
    heads = [line[:-1] for line in help_text(capsys, "run").splitlines() if line.endswith(":") and line[0] != " "]
    assert heads[:7] == ["Target", "Payload", "Load", "Checks and SLOs", "Monitors", "Outputs", "Scale"]
    heads = [line[:-1] for line in help_text(capsys, "ab").splitlines() if line.endswith(":") and line[0] != " "]
    assert heads[:3] == ["Target", "A/B", "Payload"] and heads[-3:] == ["Capacity", "Other", "Examples"]


@pytest.mark.parametrize("name", COMMANDS)
def test_two_examples_that_parse(capsys, name):
    command = cli.commands[name]
    assert len(command.examples) == 2
    for example in command.examples:
        argv = shlex.split(example)
        assert argv[:2] == ["stinger", name], example
        ctx = command.make_context(name, argv[2:])   # parses (raises a UsageError when it does not)
        assert ctx.params is not None
    text = help_text(capsys, name)
    assert all(e in text.split("Examples:")[1] for e in command.examples)
