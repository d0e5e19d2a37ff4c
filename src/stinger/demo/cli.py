"""The demo's commands: ``stinger demo`` (the embedded demo, end to end) and ``stinger serve-demo``
(the demo model server in the foreground).

This module owns the commands' options and their validation only; the server lives in
``stinger.demo.server`` and the stories in ``stinger.demo.run``. ``stinger.cli`` registers both
commands on the ``stinger`` group (and puts their options in help sections).
"""

from __future__ import annotations

import sys

import click

from stinger.demo.models import VARIANTS
from stinger.demo.server import LOG_LEVELS, DemoConfig, serve
from stinger.errors import SpecError, StingerError


def _parse_variants(
    _ctx: click.Context, _param: click.Parameter, value: str | None
) -> tuple[str, ...]:
    if value is None:
        return VARIANTS
    names = tuple(part.strip() for part in value.split(","))
    for name in names:
        if name not in VARIANTS:
            raise click.BadParameter(
                f"unknown variant {name!r}; expected a comma list from {', '.join(VARIANTS)}"
            )
    if len(set(names)) != len(names):
        raise click.BadParameter(f"a variant is named twice in {value!r}")
    return names


@click.command("serve-demo")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
    help="Port to listen on; 0 picks a free one and prints it.",
)  # fmt: skip
@click.option(
    "--workers", type=click.IntRange(min=1), default=1, show_default=True,
    help="Server processes. One worker serves one request at a time, like a "
    "single-threaded model server; each adds about one core of capacity.",
)  # fmt: skip
@click.option(
    "--variants", callback=_parse_variants, metavar="LIST",
    help=f"Comma list of model variants to serve, from {','.join(VARIANTS)} "
    "(default: all). The first is the default variant of /invocations.",
)  # fmt: skip
@click.option(
    "--delay-ms", type=click.FloatRange(min=0), default=0.0, show_default=True,
    help="Extra latency added to every invocation (an async sleep: it uses no capacity).",
)  # fmt: skip
@click.option(
    "--jitter-ms", type=click.FloatRange(min=0), default=0.0, show_default=True,
    help="Uniform random extra delay on top of --delay-ms, in [0, jitter].",
)  # fmt: skip
@click.option(
    "--error-rate", type=click.FloatRange(0.0, 1.0), default=0.0, show_default=True,
    help="Fraction of valid invocations answered 500 (drawn from --seed).",
)  # fmt: skip
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the injected errors and jitter.")  # fmt: skip
@click.option(
    "--log-level", type=click.Choice(LOG_LEVELS), default="warning", show_default=True,
    help="Server log level; there is no access log (it would slow the server).",
)  # fmt: skip
@click.option("--sagemaker", "sagemaker_stack", is_flag=True,
              help="Instead: an offline SageMaker on loopback (moto's control plane and CloudWatch, the demo "
                   "models, a SigV4-checking runtime front); prints the URLs and fake credentials to use.")
def serve_demo(
    host: str,
    port: int,
    workers: int,
    variants: tuple[str, ...],
    delay_ms: float,
    jitter_ms: float,
    error_rate: float,
    seed: int,
    log_level: str,
    sagemaker_stack: bool = False,
) -> None:
    """Serve the demo models (scikit-learn, handwritten digits) until Ctrl-C.

    A SageMaker-style endpoint: GET /ping, POST /invocations (JSON or CSV),
    POST /variants/NAME/invocations, GET /metrics (Prometheus). Replies carry a
    Server-Timing header with the model and total handler time.
    """
    if sagemaker_stack:
        _serve_sagemaker()
        return
    try:
        config = DemoConfig(
            host=host, port=port, workers=workers, variants=variants, delay_ms=delay_ms,
            jitter_ms=jitter_ms, error_rate=error_rate, seed=seed, log_level=log_level,
        )  # fmt: skip
    except SpecError as exc:  # e.g. an infinite delay, which FloatRange allows
        raise click.BadParameter(str(exc)) from None

    def announce(url: str) -> None:
        row = ",".join(["0"] * 64)
        click.echo(f"stinger-demo listening on {url}")
        click.echo(
            f"variants: {', '.join(config.variants)} (default {config.default_variant}); "
            f"{workers} worker(s); models train for a second or two, then /ping answers 200"
        )
        click.echo("try:")
        click.echo(
            f"  curl -s -H 'Content-Type: text/csv' --data '{row}' "
            f"{url}/variants/{config.default_variant}/invocations"
        )
        click.echo("Ctrl-C to stop.")

    try:
        serve(config, announce=announce)
    except StingerError as exc:
        raise click.ClickException(str(exc)) from None


def _serve_sagemaker() -> None:
    """`serve-demo --sagemaker`: `demo.sagemaker_stack.SageMakerDemo` until Ctrl-C (stopped by its PIDs)."""
    import time

    from stinger.demo.sagemaker_stack import SageMakerDemo

    with SageMakerDemo(publish_s=5.0) as stack:
        env = " ".join(f"{k}={v}" for k, v in SageMakerDemo.env().items() if v)
        click.echo(f"SageMaker endpoint {stack.endpoint!r}: runtime {stack.runtime_url}, "
                   f"control plane and CloudWatch {stack.control_url}")
        click.echo("variants: " + ", ".join(f"{v.name} ({v.model} on {v.instance_type})" for v in stack.variants))
        click.echo("try:")
        click.echo(f"  {env} stinger ab --sagemaker {stack.endpoint} --endpoint-url {stack.runtime_url} "
                   f"--control-url {stack.control_url} --body '{{\"instances\": [[0.2, ...64 numbers]]}}' "
                   "--rate 20 --duration 10s")
        click.echo("Ctrl-C to stop.")
        try:
            while True:
                time.sleep(1.0)
        except KeyboardInterrupt:
            pass


@click.command("demo")
@click.option("--duration", default="12s", show_default=True, help="How long the demo load runs.")
@click.option("--rate", default=None, help="Requests per second to each variant (each payload goes to both; "
                                          "default 20).")
@click.option("--out", default="runs", show_default=True, help="Where the run directory goes.")
@click.option("--quiet", "-q", is_flag=True, help="No live view.")
@click.option("--capacity", "capacity_search", is_flag=True,
              help="Instead: a capacity search on the demo's 'accurate' variant (about a minute).")
@click.option("--sagemaker", "sagemaker_demo", is_flag=True,
              help="Instead: the SageMaker A/B story offline (moto, a SigV4 front, CloudWatch read back; "
                   "needs pip install 'stinger[aws]' and moto).")
@click.option("--split", "demo_split", type=click.Choice(["paired", "sagemaker"]), default=None,
              help="With --sagemaker: paired (each request pinned with TargetVariant, the default) or sagemaker "
                   "(the endpoint splits one stream by its weights; responses attributed from its header).")
def demo(duration: str, rate: str | None, out: str, quiet: bool, capacity_search: bool, sagemaker_demo: bool,
         demo_split: str | None) -> None:
    """Start the demo model endpoint, A/B-test its two variants (fast vs accurate), print the verdict, stop it."""
    from stinger.demo.run import run_capacity_demo, run_demo, run_sagemaker_demo

    if demo_split is not None and not sagemaker_demo:
        raise click.UsageError("--split needs --sagemaker (the plain demo always pairs)")
    if sagemaker_demo:
        sys.exit(run_sagemaker_demo(duration=duration, rate=rate or "20", out=out, quiet=quiet,
                                    split=demo_split or "paired"))
    rate = rate or "20"   # the two models share one worker: at 40 req/s each it ran at ~80 % (accurate ~19 ms)
    if capacity_search:
        sys.exit(run_capacity_demo(out=out, quiet=quiet))
    sys.exit(run_demo(duration=duration, rate=rate, out=out, quiet=quiet))


# `stinger --help`'s sections of these commands' options (option -> section; `stinger.cli.help`) and their examples
SECTIONS = {
    "demo": {"--duration": "Load", "--rate": "Load", "--out": "Outputs", "--quiet": "Outputs", "--capacity": "Demo",
             "--sagemaker": "Demo", "--split": "Demo"},
    "serve-demo": {"--host": "Server", "--port": "Server", "--workers": "Server", "--log-level": "Server",
                   "--sagemaker": "Server", "--variants": "Demo", "--delay-ms": "Demo", "--jitter-ms": "Demo",
                   "--error-rate": "Demo", "--seed": "Demo"},
}
EXAMPLES = {
    "demo": ("stinger demo", "stinger demo --capacity --out runs"),
    "serve-demo": ("stinger serve-demo --port 8080", "stinger serve-demo --workers 2 --delay-ms 5"),
}
