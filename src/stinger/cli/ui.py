"""`stinger ui`: the web page to start, steer and stop runs and browse them (the app: `stinger/ui/`).

The CLI hands the app its own check of a run's arguments (`check_run`: click's parser of `stinger run`,
then `resolve_spec`, exactly as a terminal run), so a mistake in the form is the CLI's one line.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Any

import click

from stinger.cli.help import GroupedCommand, option
from stinger.cli.outputs import error_line, one_line

EXAMPLES = (
    "stinger ui",
    "stinger ui --port 8089 --runs runs/",
)


def check_run(argv: list[str]) -> tuple[Any, dict[str, Any]]:
    """`stinger run ARGV` parsed and resolved as the command does, without running: the spec and its data
    with secrets redacted (a seed no one gave left out: the run draws its own), or `Invalid` with the CLI's one line."""
    from stinger.cli.resolve import resolve_spec
    from stinger.cli.run import run
    from stinger.core.secrets import redacted
    from stinger.ui.app import Invalid

    try:
        with run.make_context("run", list(argv)) as ctx:
            params = dict(ctx.params)
        spec_file = params.pop("spec_file", None)
        for own in ("quiet", "dashboard", "price", "control", "jsonl"):
            params.pop(own, None)
        spec, data = resolve_spec(spec_file, params)
    except Exception as exc:
        line = error_line(exc)
        if line is None:
            raise
        raise Invalid(one_line(line[0])) from None
    shown = redacted(data)
    if spec_file is None and "--seed" not in argv and isinstance(shown.get("load"), dict):
        shown["load"].pop("seed", None)
    return spec, shown


def explain(exc: BaseException) -> str | None:
    line = error_line(exc)
    return None if line is None else one_line(line[0])


@click.command(cls=GroupedCommand, examples=EXAMPLES)
@option("--host", group="Outputs", rank=0, default="127.0.0.1", show_default=True,
        help="Address to listen on. Beyond loopback (e.g. 0.0.0.0) every page needs the token.")
@option("--port", group="Outputs", rank=1, default=8089, show_default=True, type=click.IntRange(0, 65535),
        help="Port to listen on (0: any free one).")
@option("--runs", "runs_dir", group="Outputs", rank=2, default="runs", show_default=True, metavar="DIR",
        help="The runs directory: where runs started here are written, and which runs are listed.")
def ui(host: str, port: int, runs_dir: str) -> None:
    """A web page to define a test (a form or a spec), start it, follow it live, change its rate or users,
    stop it, and browse the runs in DIR (reports, compare, summary and CSV). One run at a time.

    A token is printed in the URL at the start; it is needed for every change, and for every page when
    bound beyond loopback."""
    import uvicorn

    from stinger.errors import UsageError
    from stinger.ui.app import UiApp, make_app
    from stinger.ui.guard import is_loopback, new_token

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
        sock.listen(128)   # connections wait in the backlog from now: the URL printed below answers at once
    except (OSError, UnicodeError) as exc:
        sock.close()
        raise UsageError(f"--host/--port: cannot listen on {host}:{port} ({getattr(exc, 'strerror', None) or exc}); "
                         "expected a local address and a free port") from None
    port = sock.getsockname()[1]
    public = not is_loopback(host.strip("[]"))
    token = new_token()
    ui_app = UiApp(Path(runs_dir), check_run, explain)
    ui_app.warm_up()
    app = make_app(ui_app, token=token, port=port, public=public)
    shown = "127.0.0.1" if public and family == socket.AF_INET else host
    shown = f"[{shown.strip('[]')}]" if ":" in shown else shown
    if public:
        click.echo(f"stinger ui: listening on {host}:{port}: every page needs the token "
                   "(from elsewhere, use this machine's address with the same ?token=)", err=True)
    click.echo(f"stinger ui: http://{shown}:{port}/?token={token}", err=True)   # last: the line to open
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    sys.exit(0)
