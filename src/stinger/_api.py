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

if TYPE_CHECKING:
    from stinger.spec import Spec

SpecLike = Any   # Spec | dict | str | os.PathLike
DEFAULT_OUTPUTS = ("rundir",)


def load_spec(spec: SpecLike) -> Spec:
    """A validated `Spec` from a `Spec`, a dict, or a YAML file's path (errors name the field and line)."""
    return _resolve(spec)[0]


def _resolve(spec: SpecLike) -> tuple[Spec, dict]:
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
    return spec, spec.model_dump(mode="json", by_alias=True, exclude_none=True)


def _outputs(outputs: Iterable | None) -> list:
    from stinger.outputs.base import resolve

    if isinstance(outputs, (str, bytes)):
        outputs = [outputs]
    return resolve(DEFAULT_OUTPUTS if outputs is None else outputs)


def run(spec: SpecLike, *, outputs: Iterable | None = None, workers: int | None = None) -> RunResult:
    """One load test. Returns its summary (summary.json), run directory and exit code."""
    from stinger.orchestrate.run import run_spec

    s, data = _resolve(spec)
    report = run_spec(s, data, workers=workers, outputs=_outputs(outputs))
    return RunResult(summary=report.summary, run_dir=report.run_dir, exit_code=report.exit_code)


_CAPACITY_OPTIONS = ("mode", "start", "growth", "precision", "max_target", "min_target", "max_steps", "confirm",
                     "step_duration", "step_warmup", "slos", "price_per_hour", "instances")


def _capacity_options(options: dict):
    from stinger.core.schedule import parse_duration
    from stinger.orchestrate.capacity import CapacityOptions

    unknown = sorted(set(options) - set(_CAPACITY_OPTIONS))
    if unknown:
        raise UsageError(f"unknown capacity option(s) {', '.join(unknown)}; expected {', '.join(_CAPACITY_OPTIONS)}")
    kw = dict(options)
    for k in ("step_duration", "step_warmup"):
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
    ("8s" or seconds), slos (list of texts),
    price_per_hour, instances.
    """
    from stinger.core.exit_codes import capacity_exit_code
    from stinger.orchestrate.capacity import run_capacity

    s, data = _resolve(spec)
    opts = _capacity_options(options)
    out = run_capacity(s, data, opts, outputs=_outputs(outputs))
    code = capacity_exit_code(out)
    run_dir = out.get("run_dir")
    return CapacityResult(summary=out, run_dir=Path(run_dir) if run_dir else None, exit_code=code)


def ab(spec: SpecLike, *, mode: str | None = None, alpha: float = 0.05, sequential: bool = False,
       min_effect_ms: float | None = None, capacity: dict | None = None, prices: tuple[float, float] | None = None,
       instances: tuple[int, int] | None = None, outputs: Iterable | None = None) -> AbResult:
    """An A/B test of the spec's variants (the first is the baseline): split, paired, sagemaker (the
    endpoint splits by its own weights; responses attributed from its invoked-variant header) or capacity.

    `mode` defaults to the spec's `split`; `capacity` holds capacity options for mode "capacity";
    `prices`/`instances` give each variant's instance price (USD/h) and count for its cost.
    `min_effect_ms` (with `sequential`): the smallest mean-latency difference worth detecting.
    """
    from stinger.orchestrate.ab import AbOptions, run_ab
    from stinger.outputs.rundir import verdict_dict

    if not 0 < alpha < 1:
        raise UsageError(f"alpha must be between 0 and 1 (e.g. 0.05), got {alpha:g}")
    s, data = _resolve(spec)
    mode = mode or s.split
    if mode not in ("split", "paired", "sagemaker", "capacity"):
        raise UsageError(f"A/B mode {mode!r}: expected split, paired, sagemaker or capacity")
    if mode in ("split", "paired", "sagemaker") and mode != s.split:
        s, data = _resolve({**data, "split": mode})
    if min_effect_ms is not None and not min_effect_ms > 0:
        raise UsageError(f"min_effect_ms must be > 0, got {min_effect_ms:g}")
    opts = AbOptions(mode=mode, alpha=alpha, sequential=sequential, min_effect_ms=min_effect_ms,
                     capacity=_capacity_options(capacity or {}) if mode == "capacity" else None,
                     prices=prices, instances=instances)
    out = run_ab(s, data, opts, outputs=_outputs(outputs))
    return AbResult(summary=out.report.summary if out.report is not None else None,
                    verdict=verdict_dict(out.verdict, out.extra), run_dir=out.run_dir, exit_code=out.exit_code,
                    capacity=out.capacity)


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


def cluster_init(region: str, zones, workers: int, *, out: str | os.PathLike = ".", **options: Any):
    """Write a Ray cluster-launcher YAML (AWS) and a KubeRay RayCluster manifest for `workers` load
    workers over `zones` (node types labelled origin=ZONE), checked by Ray's own parsers; nothing is
    launched (docs/ray.md). Returns the files (`.launcher`, `.kuberay`) and the plan."""
    from stinger.scale import cluster_init as ci

    return ci.write(ci.plan(region, zones, workers, **options), out)


def cluster_command(argv: list[str]) -> int:
    """`stinger cluster init ...` (argv after those two words): the CLI's one call; the exit code.
    The command passes its arguments here unparsed, e.g. with click: a `cluster` group whose `init`
    takes `nargs=-1, type=click.UNPROCESSED` and does `raise SystemExit(_api.cluster_command(list(args)))`."""
    from stinger.scale import cluster_init as ci

    return ci.command(argv)
