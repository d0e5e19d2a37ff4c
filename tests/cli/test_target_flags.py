"""The target's flags come from what each kind declares (`TargetFlags`), and `ab` takes the same ones
as `run` (issue 17 item 3): `--target KIND=ARG` is the alias, a vendor's kind brings its flags, and
`ab --kserve URL --a M1 --b M2` makes two variants on one server, each served by its own model's route
(the reference server's own recording is the ground truth)."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any, ClassVar

import click
import pytest

from stinger.cli import main, resolve_spec
from stinger.targets.abilities import TargetFlag
from stinger.testing.servers import RefServer


def stinger(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


LOAD = {"rate": "5", "duration": "1s", "body": '"hi"'}


@pytest.mark.parametrize("alias, kind, arg, more", [
    ("urls", "http", "http://127.0.0.1:9/x", {}),
    ("kserve", "kserve", "http://127.0.0.1:9", {"model": "m"}),
    ("openai", "openai", "http://127.0.0.1:9/v1", {"model": "m"}),
    ("sagemaker", "sagemaker", "ep1", {"region": "us-east-1"}),
])
def test_target_kind_arg_is_the_alias(alias, kind, arg, more):
    by_alias, _ = resolve_spec(None, {alias: (arg,), **more, **LOAD})
    by_target, _ = resolve_spec(None, {"target_flag": f"{kind}={arg}", **more, **LOAD})
    assert by_alias.target == by_target.target and by_alias.target.tag == by_target.target.tag


def test_target_flag_fake_needs_no_alias_of_its_own(capsys, tmp_path):
    code, _, err = stinger(capsys, "run", "--target", "fake=1ms", "--rate", "50", "--requests", "20", "-q",
                           "--out", str(tmp_path))
    assert code == 0, err
    summary = json.loads(next(tmp_path.glob("*/summary.json")).read_text())
    assert summary["variants"]["default"]["requests"]["ok"] == 20


@pytest.mark.parametrize("args, says", [
    (["--target", "pigeon=x"], "--target: 'pigeon=x': expected KIND=ARG, KIND one of http, fake, openai, kserve"),
    (["--target", "kserve"], "expected KIND=ARG"),
    (["--url", "http://127.0.0.1:9/", "--target", "fake=1ms"], "give one target: --url or --target, not both"),
    (["--url", "http://127.0.0.1:9/", "--model", "m"], "--model needs --openai URL or --kserve URL"),
    (["--target", "fake=1ms", "--header", "A: b"], "--header needs --url URL"),
])
def test_target_flags_misused_are_one_line_errors(capsys, args, says):
    code, _, err = stinger(capsys, "run", *args, "--rate", "1", "--duration", "1s")
    assert code == 2 and err.count("\n") == 1 and says in err, err


class _PigeonSide:
    """A test vendor's coordinator half: its alias and one flag of its own, nothing else."""

    alias: ClassVar[str | None] = "--pigeon"
    alias_metavar: ClassVar[str] = "LOFT"
    alias_help: ClassVar[str] = "A pigeon loft"
    flags: ClassVar[tuple[TargetFlag, ...]] = (TargetFlag("--wingspan", "wingspan", "How wide.", type=int),)
    variant_key: ClassVar[str] = "loft"

    def from_flag(self, arg: str) -> dict[str, Any]:
        return {"type": "plain", "via": "pigeon", "loft": arg}


def test_a_vendors_kind_brings_its_alias_and_flags_to_run_capacity_and_ab(monkeypatch):
    """Nothing in the CLI names the kind: a vendor's `sides` line is enough (the commands are built
    again here, as a process that has the vendor installed builds them at import)."""
    import stinger.vendors
    from stinger.cli.targets import named_target, target_options
    from stinger.targets import abilities

    package = types.ModuleType("stinger_test_pigeon")
    package.PLUGINS = {"sides": {"pigeon": f"{__name__}:_PigeonSide"}}
    monkeypatch.setitem(sys.modules, "stinger_test_pigeon", package)
    monkeypatch.setitem(stinger.vendors.VENDORS, "pigeon", "stinger_test_pigeon")
    monkeypatch.setattr(abilities, "_made", {})

    command = target_options(click.command()(lambda **kw: None))
    opts = {o for p in command.params for o in p.opts}
    assert {"--pigeon", "--wingspan", "--target", "--url", "--kserve"} <= opts
    ctx = command.make_context("run", ["--pigeon", "loft7", "--wingspan", "3"])
    named = named_target(dict(ctx.params))
    assert named.target == {"type": "plain", "via": "pigeon", "loft": "loft7", "wingspan": 3}
    ctx = command.make_context("run", ["--target", "pigeon=loft9"])
    assert named_target(dict(ctx.params)).target["loft"] == "loft9"


def test_a_flag_with_no_field_does_what_it_declares(monkeypatch):
    """--no-cloudwatch adds its declared monitor entry; --control-url is the target's control_url and leaves
    this process's environment alone (it used to set AWS_ENDPOINT_URL_*: a later in-process run inherited it)."""
    import os

    for name in ("AWS_ENDPOINT_URL_SAGEMAKER", "AWS_ENDPOINT_URL_CLOUDWATCH"):
        monkeypatch.delenv(name, raising=False)
    before = dict(os.environ)
    spec, _ = resolve_spec(None, {"sagemaker": ("ep1",), "region": "us-east-1", "no_cloudwatch": True,
                                  "control_url": "http://127.0.0.1:9", **LOAD})
    assert {"type": "cloudwatch", "enabled": False}.items() <= spec.monitors[0].items()
    assert spec.all_variants()[0].target.control_url == "http://127.0.0.1:9"
    assert dict(os.environ) == before


def test_ab_kserve_with_two_models_on_one_server(capsys, tmp_path):
    """Refused before (`ab` had no --kserve). Each variant's requests reach its own model's route: the
    server's recording counts them, and its per-route delays (2 ms, 25 ms) are the verdict's answer."""
    routes = {"/v2/models/m1/infer": 2.0, "/v2/models/m2/infer": 25.0}
    with RefServer("delay", delay_ms=1, routes=routes, record=True) as server:
        code, out, err = stinger(capsys, "ab", "--kserve", server.url, "--a", "m1", "--b", "m2", "--body", "[[1, 2]]",
                                 "--rate", "10", "--requests", "40", "--split", "paired", "-q", "--out", str(tmp_path))
        server.stop()
        assert code == 0, err
        summary = json.loads(next(Path(tmp_path).glob("*/summary.json")).read_text())
        ok = {name: v["requests"]["ok"] for name, v in summary["variants"].items()}
        assert ok == {"A": len(server.route_records("/v2/models/m1/infer")),
                      "B": len(server.route_records("/v2/models/m2/infer"))} and min(ok.values()) > 0
    assert "B is slower than A" in out
    spec = (next(Path(tmp_path).glob("*/spec.yaml"))).read_text()
    assert "model: m1" in spec and "model: m2" in spec


def test_ab_a_b_take_fields_and_a_url_for_the_same_model_on_two_servers():
    from stinger.cli.targets import variant_target

    base = {"type": "kserve", "url": "http://127.0.0.1:1", "model": "m"}
    assert variant_target(base, None, "http://127.0.0.1:2", "--a")["url"] == "http://127.0.0.1:2"
    assert variant_target(base, None, "model=x,version=2", "--a") == {**base, "model": "x", "version": "2"}


@pytest.mark.parametrize("args", [["--url", "http://127.0.0.1:9/"], ["--url", "http://127.0.0.1:9/", "--a", "x", "--b", "y"],
                                  ["--target", "http=http://127.0.0.1:9/"]])
def test_ab_refuses_a_target_whose_value_is_the_variants(capsys, args):
    code, _, err = stinger(capsys, "ab", *args, "--rate", "1", "--duration", "1s")
    assert code == 2 and "use --a and --b for the two variants, not --" in err, err


def test_ab_with_a_named_endpoint_and_no_discovery_asks_for_a_and_b(capsys):
    code, _, err = stinger(capsys, "ab", "--kserve", "http://127.0.0.1:9", "--model", "m", "--rate", "1",
                           "--duration", "1s")
    assert code == 2 and "--kserve URL names one endpoint: give --a and --b (each a model)" in err, err
