"""`stinger cluster init`: the files to start a Ray cluster for stinger (a launcher YAML and a KubeRay
manifest, docs/ray.md); the flags are parsed by `stinger.scale.cluster_init`, behind `_api`."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cluster() -> None:
    """Get machines for a many-machine run: write Ray's cluster files (nothing is launched)."""


@cluster.command("init", context_settings={"ignore_unknown_options": True, "help_option_names": []},
                 add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def init(args: tuple[str, ...]) -> None:
    """Write NAME-ray.yaml (ray up) and NAME-kuberay.yaml (kubectl apply -f) for --aws --region R
    --zones a,b,c --workers N; `stinger cluster init --help` lists every flag."""
    from stinger import _api

    raise SystemExit(_api.cluster_command(list(args)))
