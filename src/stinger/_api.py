"""The public Python API behind `stinger.run`, `capacity`, `ab`, `compare`, `read_run`.

The command line is a thin layer over these functions (flags -> spec -> call ->
exit code), so a script, a notebook and `stinger` run the same code and judge
results by the same rules. A spec is a `Spec`, a dict in the spec file's
shape, or the path of a YAML spec file.

`outputs` says what is shown and kept: registered names ("terminal",
"rundir", "jsonl") or objects implementing `stinger.Output`. The default is
`("rundir",)`: the run directory is written and nothing is printed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stinger._results import AbResult, CapacityResult, CompareResult, RunResult
from stinger.errors import UsageError
from stinger.scale.control import RunControl  # light: no numpy, no event loop (the CLI's --control makes one)

if TYPE_CHECKING:
    from stinger.spec import Spec

SpecLike = Any   # Spec | dict | str | os.PathLike
DEFAULT_OUTPUTS = ("rundir",)


def load_spec(spec: SpecLike) -> Spec:
    """A validated `Spec` from a `Spec`, a dict, or a YAML file's path (errors name the field and line)."""
    return _resolve(spec)


def _resolve(spec: SpecLike) -> Spec:
    from stinger.spec import Spec, load_spec_file, parse_spec

    if isinstance(spec, Spec):
        pass
    elif isinstance(spec, dict):
        spec = parse_spec(spec, source="spec")
    elif isinstance(spec, (str, os.PathLike)):
        data, text, source = load_spec_file(spec)
        spec = parse_spec(data, source=source, text=text)
    else:
        raise UsageError(f"a spec is a Spec, a dict or a YAML file's path, not {type(spec).__name__}")
    return spec


def _outputs(outputs: Iterable | None) -> list:
    from stinger.outputs.base import resolve

    if isinstance(outputs, (str, bytes)):
        outputs = [outputs]
    return resolve(DEFAULT_OUTPUTS if outputs is None else outputs)


def run(spec: SpecLike, *, outputs: Iterable | None = None, workers: int | None = None,
        control: RunControl | None = None) -> RunResult:
    """One load test. Returns its summary (summary.json), run directory and exit code. `control`: a
    `stinger.RunControl` to change the rate or users while it runs, or stop it early."""
    from stinger.orchestrate.run import run_spec

    report = run_spec(_resolve(spec), workers=workers, outputs=_outputs(outputs), control=control)
    return RunResult(summary=report.summary, run_dir=report.run_dir, exit_code=report.exit_code)


_CAPACITY_OPTIONS = ("mode", "start", "growth", "precision", "max_target", "min_target", "max_steps", "confirm",
                     "step_duration", "step_warmup", "hold", "slos", "price_per_hour", "instances",
                     "adaptive")


def _capacity_options(options: dict):
    from stinger.core.schedule import parse_duration
    from stinger.orchestrate.capacity import CapacityOptions

    unknown = sorted(set(options) - set(_CAPACITY_OPTIONS))
    if unknown:
        raise UsageError(f"unknown capacity option(s) {', '.join(unknown)}; expected {', '.join(_CAPACITY_OPTIONS)}")
    kw = dict(options)
    for k in ("step_duration", "step_warmup", "hold"):
        if isinstance(kw.get(k), str):
            kw[k] = parse_duration(kw[k])
    if isinstance(kw.get("precision"), str):
        from stinger.core.units import parse_fraction

        kw["precision"] = parse_fraction(kw["precision"], what="precision", allow_over_one=True)
    if kw.get("mode", "rate") not in ("rate", "concurrency"):
        raise UsageError(f"capacity mode {kw['mode']!r}: expected rate or concurrency")
    if "start" not in kw or kw["start"] is None:
        kw["start"] = 10.0 if kw.get("mode", "rate") == "rate" else 1.0
    kw["slos"] = list(kw.get("slos") or ())
    return CapacityOptions(**kw)


def capacity(spec: SpecLike, *, outputs: Iterable | None = None, **options) -> CapacityResult:
    """A capacity search: the highest load that meets the SLOs.

    Options (all optional): mode ("rate" or "concurrency"), start, growth, precision (0.05 or "5%"),
    max_target, max_steps, confirm (re-tests of a failing step, default 1), step_duration, step_warmup
    ("8s" or seconds), hold (after the search, run the load found this long and judge it: "30s"),
    adaptive (True: the whole search in one run, its steps as windows of a live ramp, then the hold), slos (list of texts), price_per_hour, instances.
    """
    from stinger.core.exit_codes import capacity_exit_code
    from stinger.orchestrate.capacity import run_capacity

    s = _resolve(spec)
    opts = _capacity_options(options)
    out = run_capacity(s, opts, outputs=_outputs(outputs))
    code = capacity_exit_code(out)
    run_dir = out.get("run_dir")
    return CapacityResult(summary=out, run_dir=Path(run_dir) if run_dir else None, exit_code=code)


def split_modes() -> tuple[str, ...]:
    """Every A/B split mode a spec may name: split, paired, then each one an endpoint makes (an
    `EndpointSplit` ability of a target kind, e.g. a cloud endpoint's own weighted split)."""
    from stinger.targets.abilities import split_modes as modes

    return modes()


def discover_variants(target: dict[str, Any], *, pin: bool = True) -> list[dict[str, Any]]:
    """`ab` without --a/--b: the variants the endpoint of `target` (a `target:` mapping) says it has
    (its kind's `VariantDiscovery` ability), as spec variants: each pinned to one (`pin`), or all
    sharing one target the endpoint splits. A kind that cannot list them is a one-line UsageError."""
    from pydantic import ValidationError

    from stinger.errors import SpecError
    from stinger.targets.abilities import TargetFlags, VariantDiscovery, coordinator_side
    from stinger.targets.base import config_class, normalise_target

    t = normalise_target(target)
    sides = [coordinator_side(t["via"]), coordinator_side(t["type"])]
    side = next((s for s in sides if isinstance(s, VariantDiscovery)), None)
    if side is None:
        raise UsageError(f"a {t['type']} target via {t['via']} cannot list its endpoint's variants; "
                         "expected --a and --b (or variants: in a spec)")
    flags = next((s for s in sides if isinstance(s, TargetFlags)), None)
    where = flags.alias if flags is not None and flags.alias else "target"
    try:
        config = config_class(f"{t['type']}@{t['via']}").model_validate(t)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise SpecError(f"{where}.{field}: {msg}" if field else f"{where}: {msg}") from None
    return [{"name": d.name, "weight": d.weight, "target": d.config.model_dump(mode="json", exclude_none=True)}
            for d in side.discover_variants(config, pin=pin)]


def ab(spec: SpecLike, *, mode: str | None = None, alpha: float = 0.05, sequential: bool = False,
       min_effect_ms: float | None = None, capacity: dict | None = None, prices: tuple[float, float] | None = None,
       instances: tuple[int, int] | None = None, outputs: Iterable | None = None,
       control: RunControl | None = None) -> AbResult:
    """An A/B test of the spec's variants (the first is the baseline): split, paired, a split the endpoint
    makes (`split_modes()`: by its own weights, each response attributed from a header it sets) or capacity.

    `mode` defaults to the spec's `split`; `capacity` holds capacity options for mode "capacity";
    `prices`/`instances` give each variant's instance price (USD/h) and count for its cost.
    `min_effect_ms` (with `sequential`): the smallest mean-latency difference worth detecting.
    """
    from stinger.orchestrate.ab import AbOptions, run_ab
    from stinger.outputs.rundir import verdict_dict

    if not 0 < alpha < 1:
        raise UsageError(f"alpha must be between 0 and 1 (e.g. 0.05), got {alpha:g}")
    s = _resolve(spec)
    mode = mode or s.split
    modes = split_modes()
    if mode not in (*modes, "capacity"):
        raise UsageError(f"A/B mode {mode!r}: expected {', '.join(modes)} or capacity")
    if mode in modes and mode != s.split:
        s = _with_split(s, mode)
    if min_effect_ms is not None and not min_effect_ms > 0:
        raise UsageError(f"min_effect_ms must be > 0, got {min_effect_ms:g}")
    if control is not None and mode == "capacity":
        raise UsageError("a capacity search sets each step's load itself; a live control applies to one run "
                         "(stinger run or ab without mode capacity)")
    opts = AbOptions(mode=mode, alpha=alpha, sequential=sequential, min_effect_ms=min_effect_ms,
                     capacity=_capacity_options(capacity or {}) if mode == "capacity" else None,
                     prices=prices, instances=instances, control=control)
    out = run_ab(s, opts, outputs=_outputs(outputs))
    return AbResult(summary=out.report.summary if out.report is not None else None,
                    verdict=verdict_dict(out.verdict, out.extra), run_dir=out.run_dir, exit_code=out.exit_code,
                    capacity=out.capacity)


def _with_split(s: Spec, mode: str) -> Spec:
    """The spec in another split mode: a copy (nothing parsed again) held to the spec's own rules on a
    split (paired needs the open model; an endpoint split its own shape of variants), which a model_copy skips."""
    from collections.abc import Callable
    from typing import cast

    from stinger.errors import SpecError

    copy = s.model_copy(update={"split": mode})
    try:
        cast(Callable[[], object], copy._targets)()   # the spec's whole-model rules (spec/model.py), on the copy
    except ValueError as exc:
        raise SpecError(f"spec: {exc}") from None
    return copy


def compare(baseline: str | os.PathLike | RunResult, candidate: str | os.PathLike | RunResult, *,
            alpha: float = 0.05, paired: bool = False, margin: str | None = "5%",
            outputs: Iterable | None = ()) -> CompareResult:
    """Compare two saved runs (`RUN_DIR` or `RUN_DIR:VARIANT`, or a `RunResult`);
    exit code 1 when the candidate is significantly worse (a regression).

    Two separate runs: a regression must also clear ``margin`` ("5%" of the baseline's value,
    or a time such as "2ms"; "0" for none) and the drift each run shows between its halves.
    Two variants of one A/B run (`RUN:A RUN:B`): the live verdict, reproduced exactly (the
    run's seed, its variants' names, no band)."""
    from stinger.core.exit_codes import compare_exit_code
    from stinger.orchestrate.compare import (
        compare_variants,
        load_compare_arg,
        load_warnings,
        parse_margin,
        regressed,
    )
    from stinger.outputs.base import tell
    from stinger.outputs.rundir import RunDirOutput, verdict_dict

    if not 0 < alpha < 1:
        raise UsageError(f"alpha must be between 0 and 1 (e.g. 0.05), got {alpha:g}")
    band = parse_margin(margin)
    outs = _outputs(outputs)
    if any(isinstance(o, RunDirOutput) and o.run_dir is None for o in outs):
        raise UsageError("compare writes no run directory of its own; give RunDirOutput(path=...) to keep the verdict")

    def arg(x) -> str:
        if isinstance(x, RunResult):
            if x.run_dir is None:
                raise UsageError("that run was not written to a run directory; compare needs one")
            return str(x.run_dir)
        return os.fspath(x)

    a_arg, b_arg = load_compare_arg(arg(baseline), "baseline"), load_compare_arg(arg(candidate), "candidate")
    a, b = a_arg.data, b_arg.data
    same_run = a.source is not None and a.source == b.source
    if same_run:
        # two variants of one A/B run: its recorded seed and its variants' names, so the rows are
        # the live verdict's, byte for byte (the variants share their seconds: no band)
        a.name, b.name = a_arg.variant_name, b_arg.variant_name
        if a.name == b.name:
            a.name, b.name = "baseline", "candidate"
    seed = int(a_arg.run.get("seed") or 0) if same_run else 0
    v, extra = compare_variants(a, b, paired=paired, alpha=alpha, seed=seed, margin=None if same_run else band)
    if not same_run:
        extra["margin"] = band.text()
    warnings = load_warnings(a_arg, b_arg)
    if warnings:
        extra["warnings"] = warnings
    tell(outs, "verdict", v, extra, None)
    worse = regressed(v)
    return CompareResult(verdict=verdict_dict(v, extra), regressions=tuple(worse),
                         exit_code=compare_exit_code(worse), warnings=tuple(warnings))


def read_run(path: str | os.PathLike) -> RunResult:
    """A saved run directory, from its files alone."""
    from stinger.core.exit_codes import exit_code_of
    from stinger.outputs.rundir import read_run as _read

    saved = _read(path)
    return RunResult(summary=saved.summary, run_dir=saved.path, exit_code=exit_code_of(saved.summary),
                     verdict=saved.verdict())


def plan(*, min_effect: str, baseline: str | None = None, sd_ms: float | None = None, error_rate: str | None = None,
         power: float = 0.8, alpha: float = 0.05, rate: float | None = None, rows: int | None = None,
         at: str | None = None, metric: str = "latency") -> str:
    """How long an A/B test must run to detect `min_effect` (a latency such as "5ms" or a rate such as
    "1%") in `metric`'s verdict rows (latency, a token time such as "ttft", or "goodput"), planned for the
    verdict's own tests; the plan as text (`stinger plan`)."""
    from stinger.orchestrate.ab_plan import plan_ab

    return plan_ab(min_effect=min_effect, baseline=baseline, sd_ms=sd_ms, error_rate=error_rate, power=power,
                   alpha=alpha, rate=rate, rows=rows, at=at, metric=metric)


def cluster_init(region: str, zones, workers: int, *, out: str | os.PathLike = ".", **options: Any):
    """Write a Ray cluster-launcher YAML (AWS) and a KubeRay RayCluster manifest for `workers` load
    workers over `zones` (node types labelled origin=ZONE), checked by Ray's own parsers; nothing is
    launched (docs/ray.md). Returns the files (`.launcher`, `.kuberay`) and the plan."""
    from stinger.scale import cluster_init as ci

    force = bool(options.pop("force", False))   # files already there are kept unless force
    return ci.write(ci.plan(region, zones, workers, **options), Path(out), force=force)


def cluster_command(argv: list[str]) -> int:
    """`stinger cluster init ...` (argv after those two words): the CLI's one call; the exit code.
    The command passes its arguments here unparsed, e.g. with click: a `cluster` group whose `init`
    takes `nargs=-1, type=click.UNPROCESSED` and does `raise SystemExit(_api.cluster_command(list(args)))`."""
    from stinger.scale import cluster_init as ci

    return ci.command(argv)
