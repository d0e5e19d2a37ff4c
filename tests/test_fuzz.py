"""Fuzzed input: generated specs, flag sets, datasets and raw bytes; none may give a traceback,
hang, or a wrong exit code.

Every input goes through the real command line in process (`stinger.cli.main`, which
reads the spec file, merges the flags, validates, and runs the preflight: dataset,
checks, SLOs, safety ceilings, worker plans, file-descriptor limit), and then builds
what a load worker builds first (`engine.slots.build_slots`: the dataset again, the
payload order, the variant choice), where a mistake the preflight missed used to
surface as "load worker 0 could not start" (exit 3). No load is sent: `_api.run`,
`_api.capacity` and `_api.ab` are replaced by those checks.

So the only right outcomes are exit 0 (the input would run) and exit 2 (the user's
mistake, one line on stderr) - exit 1 needs a run, and exit 3 (the run could not
proceed) is never right for an input. An input is counted as a traceback, a hang (more
than HANG_S), a multi-line stderr, or a wrong exit code (anything but 0 or 2).

The inputs are generated (hypothesis, a new draw each run): specs (shapes, variants and
their weights, payload weights, limits), flag sets (load shapes composed from weird
numbers, `--yes`), datasets written for each input (JSONL and JSON records whose strings
may hold lone surrogates, CSV, SageMaker Data Capture records with non-UTF-8 noise,
folders whose files may be sparse files of gigabytes), and raw bytes as a spec. The
issue's named inputs are kept below as regressions beside the generators, which can draw
each of them and more.

`python tests/test_fuzz.py N` (or bench/fuzz.py) prints the counts for N inputs against
the `stinger` on PYTHONPATH (the issue's before/after).
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

HANG_S = 5.0   # an input taking longer than this is tried again with HANG_RETRY_S: past that too, it is a hang
HANG_RETRY_S = 30.0   # (a 1,200-variant input once took 5 s at load 8 beside other test suites, and 0.8 s alone)
GB = 10**9

# ------------------------------------------------------------------ generators
_EDGE_NUMBERS = [0, -1, 1, 0.5, 1e-320, 2**63, 2**64, 10**30, 1e308, -1e308, math.inf, -math.inf, math.nan,
                 20_000, 100_000, 1_000_000, 10_000_000, 1e8, 1e8 + 1, 1e9, 65, 64, 63, 1000]
numbers = st.one_of(st.sampled_from(_EDGE_NUMBERS), st.integers(-10**6, 10**12),
                    st.floats(allow_nan=True, allow_infinity=True))
_UNITS = ["", "", "s", "ms", "m", "h", "/s", "/m", "rps", "%", "x"]


def _num_text(x: float | int, unit: str) -> str:
    return (repr(x) if isinstance(x, float) else str(x)) + unit


number_texts = st.one_of(st.builds(_num_text, numbers, st.sampled_from(_UNITS)),
                         st.sampled_from(["nan", "NaN", "inf", "-inf", "Infinity", "1e309", ".inf", "", " ", "abc"]),
                         st.text(max_size=12))
# load shapes on the command line, composed (not listed): FROM:TO:OVER, START:STEP:COUNT:EACH, ...
shape_texts = st.lists(number_texts, min_size=1, max_size=5).map(":".join)
_TEXT = ["", " ", "x" * 300, "é" * 200, "\x00", "100/s", "5%", "error_rate>50%", "error_rate>500%", "p95<300ms",
         "$.a[", "(", "auto", "http://", "http://a:b@127.0.0.1:1/?api_key=x", "ftp://x", "http://[::1",
         "http://h:99999/", "/dev/zero", "/dev/urandom", "/nonexistent/" + "d" * 300, "a" * 256]
texts = st.one_of(st.sampled_from(_TEXT), st.text(max_size=30))
scalars = st.one_of(numbers, texts, number_texts, st.booleans(), st.none())
values = st.recursive(scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                      max_leaves=12)

_LOAD_KEYS = ["mode", "rate", "arrival", "shape", "users", "think_time", "duration", "requests", "warmup", "timeout",
              "connect_timeout", "max_in_flight", "on_limit", "drain", "workers", "seed", "confirm", "abort_on",
              "max_body"]
_SHAPES = st.one_of(
    st.fixed_dictionaries({"ramp": st.fixed_dictionaries({"to": scalars, "over": scalars},
                                                         optional={"from": scalars, "hold": scalars})}),
    st.fixed_dictionaries({"steps": st.lists(st.fixed_dictionaries({"rate": scalars, "duration": scalars}),
                                             max_size=3)}),
    st.fixed_dictionaries({"spike": st.fixed_dictionaries({"baseline": scalars, "height": scalars, "at": scalars,
                                                           "length": scalars})}),
    st.fixed_dictionaries({"profile": st.lists(st.lists(scalars, min_size=2, max_size=2), max_size=3)}),
    values,
)
_URLS = st.sampled_from(["http://127.0.0.1:1/", "http://127.0.0.1:1/p?x=1", "https://[::1]:1/", "http://h:99999/"])


def _variants(n: int, weights: list, url: str) -> list[dict]:
    return [{"name": f"v{i}", "url": url, **({"weight": weights[i % len(weights)]} if weights else {})}
            for i in range(n)]


variant_lists = st.one_of(
    values,
    st.lists(st.fixed_dictionaries({"name": scalars, "url": scalars}, optional={"weight": scalars}), max_size=3),
    # many variants with generated weights: counts past what the engine keys (64), weights past finite
    st.builds(_variants, st.integers(0, 1200), st.lists(numbers, max_size=3), _URLS),
)
specs = st.fixed_dictionaries(
    {},
    optional={
        "name": scalars,
        "target": st.one_of(values, st.fixed_dictionaries({"url": st.one_of(_URLS, scalars)}, optional={
            "type": st.sampled_from(["http", "fake", "nope", "sagemaker"]), "method": scalars,
            "headers": st.dictionaries(st.text(max_size=10), scalars, max_size=3)})),
        "variants": variant_lists,
        "split": st.one_of(st.sampled_from(["split", "paired", "sagemaker"]), scalars),
        "load": st.one_of(values, st.dictionaries(st.sampled_from(_LOAD_KEYS), st.one_of(scalars, _SHAPES),
                                                  max_size=6)),
        "payload": st.one_of(values, st.dictionaries(
            st.sampled_from(["data", "format", "body", "order", "weights", "label_field", "body_field"]),
            st.one_of(scalars, st.lists(numbers, max_size=4)), max_size=4)),
        "check": values, "slo": st.one_of(values, st.lists(scalars, max_size=3)), "output": values,
        "monitors": values, "prediction": scalars,
    },
)
# near-valid specs: a spec that runs, with a few fields replaced by generated values, so that what is
# drawn reaches the checks behind the first one (the weights of many variants, a ramp's start, ...)
_BASE = {"target": {"url": "http://127.0.0.1:1/"}, "load": {"rate": 10, "duration": "1s"}}
_LIKELY = st.one_of(numbers, st.sampled_from([1, 5, 10, "1s", "2s", 0]))
_MUTATIONS = st.one_of(
    st.tuples(st.just(("load", "shape")), st.one_of(
        st.fixed_dictionaries({"ramp": st.fixed_dictionaries({"from": st.one_of(numbers, number_texts),
                                                              "to": _LIKELY, "over": _LIKELY})}),
        st.fixed_dictionaries({"steps": st.lists(st.fixed_dictionaries({"rate": _LIKELY, "duration": _LIKELY}),
                                                 min_size=1, max_size=3)}),
        st.fixed_dictionaries({"spike": st.fixed_dictionaries({"baseline": _LIKELY, "height": _LIKELY,
                                                               "at": _LIKELY, "length": _LIKELY})}),
        st.fixed_dictionaries({"profile": st.lists(st.tuples(_LIKELY, _LIKELY).map(list), min_size=1, max_size=3)}),
        _SHAPES)),
    st.tuples(st.just(("variants",)), st.builds(_variants, st.integers(1, 1200), st.lists(numbers, max_size=3),
                                                _URLS)),
    st.tuples(st.just(("payload", "weights")), st.one_of(st.lists(numbers, max_size=4), scalars)),
    st.tuples(st.just(("payload", "order")), st.sampled_from(["sequential", "random", "weighted", "nope"])),
    st.tuples(st.sampled_from([("load", k) for k in _LOAD_KEYS]), st.one_of(_LIKELY, scalars)),
    st.tuples(st.sampled_from([("split",), ("slo",), ("check",), ("prediction",), ("monitors",), ("output",)]), values),
)


def _mutated(mutations: list) -> dict:
    spec = json.loads(json.dumps(_BASE))
    for path, value in mutations:
        if path == ("variants",):
            spec.pop("target", None)
        node = spec
        for key in path[:-1]:
            node = node.setdefault(key, {}) if isinstance(node.get(key), dict) or key not in node else node[key]
        node[path[-1]] = value
    return spec


near_valid_specs = st.lists(_MUTATIONS, min_size=1, max_size=3).map(_mutated)
_VALUE_FLAGS = ["--rate", "--users", "--duration", "--requests", "--workers", "--ramp", "--steps", "--spike",
                "--timeout", "--max-in-flight", "--data", "--body", "--slo", "--abort-on", "--think-time", "--warmup",
                "--seed", "--name", "--format", "--check-status", "--check-regex", "--prediction", "-H",
                "--server-time", "--order", "--label-field", "--body-field", "--max-body", "--speed", "--url"]
_BARE_FLAGS = ["--yes", "--replay-arrivals", "--save-requests", "--insecure", "--no-server-time"]
flag_sets = st.lists(st.one_of(
    st.tuples(st.sampled_from(_VALUE_FLAGS), st.one_of(texts, number_texts, shape_texts)),
    st.tuples(st.sampled_from(_BARE_FLAGS)),
), max_size=6)
raw_bytes = st.binary(max_size=200)

# ------------------------------------------------------------------ datasets, written per input
# strings that may hold lone surrogates ("\ud800"): JSON can escape them, UTF-8 cannot encode them
_SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
json_strings = st.text(st.one_of(st.characters(codec="utf-8"), _SURROGATES), max_size=12)
_KEYS = ["x", "label", "body", "inputs", "y"]
json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), json_strings),
                           lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(_KEYS), c, max_size=3),
                           max_leaves=8)
json_records = st.lists(st.one_of(st.dictionaries(st.one_of(st.sampled_from(_KEYS), json_strings), json_values,
                                                  max_size=4), json_values), min_size=0, max_size=5)
noise = st.binary(max_size=8)     # bytes dropped into a file: non-UTF-8, NULs, stray newlines
_ENCODINGS = st.one_of(st.sampled_from(["CSV", "JSON", "BASE64", "csv"]), st.text(max_size=5))
capture_records = st.lists(st.one_of(
    st.fixed_dictionaries({"captureData": st.one_of(
        st.fixed_dictionaries({}, optional={"endpointInput": st.one_of(
            st.fixed_dictionaries({"data": json_values, "encoding": _ENCODINGS},
                                  optional={"observedContentType": json_values, "mode": json_values}),
            json_values)}),
        json_values)},
        optional={"eventMetadata": st.one_of(
            st.fixed_dictionaries({"inferenceTime": st.one_of(
                st.sampled_from(["2026-11-24T10:42:18Z", "2026-11-24T10:42:19.5+00:00", "9999-12-31T23:59:59Z",
                                 "0001-01-01T00:00:00", "yesterday"]), json_values)}),
            json_values)}),
    json_values), max_size=4)
# file sizes of a folder dataset: small, just past a body's limit, gigabytes (sparse: nothing is written)
_SIZES = st.one_of(st.integers(0, 64), st.sampled_from([64 * 2**20 + 1, 2_500_000_000, 5 * GB]))

datasets = st.one_of(
    st.tuples(st.just("jsonl"), json_records, noise, st.booleans()),
    st.tuples(st.just("json"), json_records, noise, st.booleans()),
    st.tuples(st.just("csv"), st.lists(st.lists(st.text(max_size=6), max_size=4), max_size=5), noise, st.booleans()),
    st.tuples(st.just("capture"), capture_records, noise, st.booleans()),
    st.tuples(st.just("folder"), st.lists(_SIZES, min_size=0, max_size=3), noise, st.booleans()),
)
dataset_flags = st.lists(st.one_of(
    st.tuples(st.sampled_from(["--label-field", "--body-field"]), st.one_of(st.sampled_from(_KEYS), texts)),
    st.tuples(st.just("--format"), st.sampled_from(["jsonl", "csv", "json", "files", "capture", "nope"])),
    st.tuples(st.just("--order"), st.sampled_from(["sequential", "random", "weighted"])),
    st.tuples(st.sampled_from(["--replay-arrivals", "--yes"])),
), max_size=3)


def write_dataset(tmp: Path, dataset: tuple) -> Path:
    """Write one generated dataset under `tmp` and return its path (a file, or a folder for 'folder')."""
    kind, content, junk, add_noise = dataset
    if kind == "folder":
        folder = tmp / "bodies"
        folder.mkdir()
        for i, size in enumerate(content):
            with open(folder / f"b{i}.bin", "wb") as fh:
                fh.write(junk[:size])
                fh.truncate(size)     # sparse: gigabytes cost no disk
        return folder
    if kind in ("jsonl", "capture"):
        lines = [json.dumps(r).encode("ascii") for r in content]   # surrogates written as \udXXX escapes
        data = b"\n".join(lines)
    elif kind == "json":
        data = json.dumps(content).encode("ascii")
    else:
        data = "\n".join(",".join(row) for row in content).encode("utf-8", "surrogatepass")
    if add_noise:
        cut = len(data) // 2
        data = data[:cut] + junk + data[cut:]
    path = tmp / {"jsonl": "d.jsonl", "json": "d.json", "csv": "d.csv", "capture": "capture.jsonl"}[kind]
    path.write_bytes(data)
    return path


# ------------------------------------------------------------------ running one input
class _Hang(BaseException):
    """Raised by the alarm: a BaseException, so that no `except Exception` in stinger turns it into another error."""


def _no_load(spec, *, outputs=None, workers=None, **_options):
    """What `stinger run` does before sending load, and what a worker builds first; then stop as a
    run that sent nothing would."""
    from stinger.engine.batch import Flusher
    from stinger.engine.slots import build_slots
    from stinger.errors import RunError
    from stinger.orchestrate import preflight as run_mod
    from stinger.orchestrate.planning import build_plans

    run_mod.preflight(spec)
    plans = build_plans(spec, workers=workers)
    run_mod.ensure_fd_limit(plans)
    try:   # a worker's first steps; what fails only there is "load worker 0 could not start" (exit 3)
        slots = build_slots(plans[0])
        flusher = Flusher(plans[0], 0.0, slots)
        if flusher.carry is not None:
            flusher.carry.close()
    except Exception as exc:   # as the backend reports it (scale/local.py)
        raise RunError(f"load worker 0 could not start: {type(exc).__name__}: {exc}") from None
    raise SystemExit(0)


RIGHT_EXITS = (0, 2)


def run_one(argv: list[str]) -> tuple[str, str]:
    """('ok'|'traceback'|'hang'|'multiline'|'wrong-exit', detail) for one command line, in process; an input
    past HANG_S is tried once more with HANG_RETRY_S, so a stall of a busy machine is not taken for a hang."""
    verdict = _run_one(argv, HANG_S)
    return _run_one(argv, HANG_RETRY_S) if verdict[0] == "hang" else verdict


def _run_one(argv: list[str], limit: float) -> tuple[str, str]:
    from stinger import _api
    from stinger.cli import main

    saved = (_api.run, _api.capacity, _api.ab)
    _api.run = _api.capacity = _api.ab = _no_load
    err = io.StringIO()
    out = io.StringIO()

    def on_alarm(signum, frame):
        raise _Hang()

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    t = time.perf_counter()
    code = 0
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except _Hang:
        return "hang", f"{time.perf_counter() - t:.1f}s"
    except BaseException:  # any escape is what this test looks for
        return "traceback", traceback.format_exc()[-600:]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        _api.run, _api.capacity, _api.ab = saved
    text = err.getvalue()
    if "Traceback" in text:
        return "traceback", text[-600:]
    if code not in RIGHT_EXITS:
        return "wrong-exit", f"exit {code}: {text[:300]}"
    if len(text.splitlines()) > 1:
        return "multiline", text[:600]
    return "ok", ""


def _spec_argv(tmp: Path, spec: object, flags: list[tuple[str, ...]], command: str = "run") -> list[str]:
    path = tmp / "spec.yaml"
    try:
        path.write_text(yaml.safe_dump(spec, allow_unicode=True))
    except (UnicodeEncodeError, yaml.YAMLError):
        path.write_text("{}")
    argv = [command, str(path)]
    for f in flags:
        argv += list(f)
    return argv + ["--out", str(tmp / "runs"), "-q"]


_ROOT = Path(tempfile.mkdtemp(prefix="stinger-fuzz-"))
atexit.register(shutil.rmtree, _ROOT, True)   # the sparse gigabyte files too, whatever ran


@contextlib.contextmanager
def _scratch():
    """A fresh folder per input, removed after it (sparse gigabyte files included)."""
    tmp = Path(tempfile.mkdtemp(dir=_ROOT))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _capacity_flags(flags):
    # the flags that set a load are not offered by capacity: most would be usage errors
    return [f for f in flags if f[0] not in ("--rate", "--users", "--duration", "--requests", "--ramp", "--steps",
                                             "--spike", "--warmup", "--replay-arrivals", "--speed")]


def spec_case(spec, flags, command) -> tuple[str, str]:
    if command == "capacity":
        flags = _capacity_flags(flags)
    with _scratch() as tmp:
        return run_one(_spec_argv(tmp, spec, flags, command))


def dataset_case(dataset, flags, spec) -> tuple[str, str]:
    with _scratch() as tmp:
        path = write_dataset(tmp, dataset)
        argv = _spec_argv(tmp, spec, [("--data", str(path)), *flags])
        if not spec.get("target") and not spec.get("variants"):
            argv += ["--url", "http://127.0.0.1:1/"]
        if not spec.get("load"):
            argv += ["--rate", "5", "--duration", "1s"]
        return run_one(argv)


def bytes_case(data, flags) -> tuple[str, str]:
    with _scratch() as tmp:
        (tmp / "raw.yaml").write_bytes(data)
        argv = ["run", str(tmp / "raw.yaml")] + [x for f in flags for x in f] + ["--out", str(tmp / "runs"), "-q"]
        return run_one(argv)


small_specs = st.fixed_dictionaries({}, optional={
    "load": st.dictionaries(st.sampled_from(["rate", "duration", "requests", "confirm"]), scalars, max_size=2),
    "payload": st.dictionaries(st.sampled_from(["order", "weights", "content_type"]),
                               st.one_of(scalars, st.lists(numbers, max_size=3)), max_size=2),
    "variants": st.builds(_variants, st.integers(1, 3), st.lists(numbers, max_size=2), _URLS),
})
commands = st.sampled_from(["run", "run", "run", "capacity", "ab"])
_SETTINGS = {"deadline": None, "database": None, "suppress_health_check": list(HealthCheck)}


# ------------------------------------------------------------------ the tests (bounded for CI)
@settings(max_examples=400, **_SETTINGS)
@given(spec=specs, flags=flag_sets, command=commands)
def test_fuzzed_specs_and_flags(spec, flags, command):
    verdict, detail = spec_case(spec, flags, command)
    assert verdict == "ok", (verdict, detail, spec, flags)


@settings(max_examples=500, **_SETTINGS)
@given(spec=near_valid_specs, flags=flag_sets, command=commands)
def test_fuzzed_near_valid_specs(spec, flags, command):
    verdict, detail = spec_case(spec, flags, command)
    assert verdict == "ok", (verdict, detail, spec, flags)


@settings(max_examples=300, **_SETTINGS)
@given(dataset=datasets, flags=dataset_flags, spec=small_specs)
def test_fuzzed_datasets(dataset, flags, spec):
    verdict, detail = dataset_case(dataset, flags, spec)
    assert verdict == "ok", (verdict, detail, dataset, flags, spec)


@settings(max_examples=200, **_SETTINGS)
@given(data=raw_bytes, flags=flag_sets)
def test_fuzzed_bytes_as_a_spec(data, flags):
    verdict, detail = bytes_case(data, flags)
    assert verdict == "ok", (verdict, detail, data, flags)


# ------------------------------------------------------------------ counts (bench/fuzz.py, __main__)
def count(n: int) -> dict:
    """Counts over about n generated inputs (specs, near-valid specs, datasets, raw bytes in 3:3:3:1) and the
    named ones."""
    tally = {"inputs": 0, "ok": 0, "traceback": 0, "hang": 0, "wrong-exit": 0, "multiline": 0}
    examples: list = []

    def record(verdict: str, what: object, detail: str) -> None:
        tally["inputs"] += 1
        tally[verdict] += 1
        if verdict != "ok" and len(examples) < 8:
            examples.append((verdict, repr(what)[:160], detail[-240:]))

    @settings(max_examples=max(1, n * 3 // 10), **_SETTINGS)
    @given(spec=specs, flags=flag_sets, command=commands)
    def specs_and_flags(spec, flags, command):
        verdict, detail = spec_case(spec, flags, command)
        record(verdict, (command, spec, flags), detail)

    @settings(max_examples=max(1, n * 3 // 10), **_SETTINGS)
    @given(spec=near_valid_specs, flags=flag_sets, command=commands)
    def near_valid(spec, flags, command):
        verdict, detail = spec_case(spec, flags, command)
        record(verdict, (command, spec, flags), detail)

    @settings(max_examples=max(1, n * 3 // 10), **_SETTINGS)
    @given(dataset=datasets, flags=dataset_flags, spec=small_specs)
    def with_datasets(dataset, flags, spec):
        verdict, detail = dataset_case(dataset, flags, spec)
        record(verdict, (dataset[0], flags, spec), detail)

    @settings(max_examples=max(1, n // 10), **_SETTINGS)
    @given(data=raw_bytes, flags=flag_sets)
    def raw(data, flags):
        verdict, detail = bytes_case(data, flags)
        record(verdict, (data, flags), detail)

    specs_and_flags()
    near_valid()
    with_datasets()
    raw()
    with _scratch() as tmp:
        for argv in hostile_argvs(tmp):
            verdict, detail = run_one(argv)
            record(verdict, argv[:4], detail)
    tally["examples"] = examples
    return tally


# ------------------------------------------------------------------ the named inputs (regressions)
def hostile_argvs(tmp: Path) -> list[list[str]]:
    """The named bad inputs of issues 10 and 16, each as a command line: every one must end in exit 2."""
    tmp.mkdir(parents=True, exist_ok=True)
    fifo = tmp / "fifo.yaml"
    if not fifo.exists():
        os.mkfifo(fifo)
    (tmp / "latin1.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    (tmp / "deep.yaml").write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    bomb = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    bomb += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    (tmp / "bomb.yaml").write_text("\n".join(bomb) + "\n")
    url = "target: {url: 'http://127.0.0.1:1/'}\n"
    (tmp / "inf.yaml").write_text(url + "load:\n  duration: 1s\n  shape: {profile: [[0, .inf], [1, 5]]}\n")
    (tmp / "ramp-inf.yaml").write_text(url + "load: {shape: {ramp: {from: .inf, to: 5, over: 1s}}}\n")
    (tmp / "ramp-1e9.yaml").write_text(url + "load: {shape: {ramp: {from: 1e9, to: 5, over: 1s}}}\n")
    (tmp / "weight-inf.yaml").write_text("variants: [{name: a, url: 'http://127.0.0.1:1/', weight: .inf}, "
                                         "{name: b, url: 'http://127.0.0.1:1/'}]\nload: {rate: 1, duration: 1s}\n")
    (tmp / "variants-1000.yaml").write_text(yaml.safe_dump({"variants": _variants(1000, [], "http://127.0.0.1:1/"),
                                                            "load": {"rate": 1, "duration": "1s"}}))
    (tmp / "weights-no-data.yaml").write_text(url + "payload: {weights: [1, 2]}\nload: {rate: 1, duration: 1s}\n")
    (tmp / "surrogate.jsonl").write_text('{"x": "\\ud800", "label": 1}\n{"x": 2, "label": "\\udfff"}\n')
    (tmp / "capture-latin1.jsonl").write_bytes(b'{"captureData": {"endpointInput": {"data": "caf\xe9"}}}\n')
    folder = tmp / "bodies"
    folder.mkdir(exist_ok=True)
    (folder / "a.json").write_text("{}")
    with open(folder / "huge.bin", "wb") as fh:
        fh.truncate(2_500_000_000)   # sparse: 2.5 GB that costs no disk
    ok = ["--url", "http://127.0.0.1:1/", "--out", str(tmp / "runs"), "-q"]
    load = ["--rate", "10", "--duration", "1s"]
    return [
        ["run", str(fifo)] + ok,
        ["run", "/dev/zero"] + ok,
        ["run", "/dev/urandom"] + ok,
        ["run", str(tmp / "latin1.yaml")] + ok,
        ["run", str(tmp / "deep.yaml")] + ok,
        ["run", str(tmp / "bomb.yaml")] + ok,
        ["run", str(tmp / "inf.yaml"), "-q"],
        ["run", str(tmp / ("n" * 300 + ".yaml"))] + ok,
        ["run", *load, "--data", str(fifo)] + ok,
        ["run", *load, "--data", "/dev/zero"] + ok,
        ["run", *load, "--data", "/dev/urandom"] + ok,
        ["run", "--rate", "1e308", "--duration", "1s"] + ok,
        ["run", "--ramp", "1:1e308:1s"] + ok,
        ["run", *load, "--workers", "1000000"] + ok,
        ["run", *load, "--name", "n" * 300] + ok,
        # issue 16 item 8
        ["run", "--ramp", "nan:5:1s"] + ok,
        ["run", str(tmp / "ramp-inf.yaml"), "--yes", "-q"],
        ["run", str(tmp / "ramp-1e9.yaml"), "--yes", "-q"],
        ["run", str(tmp / "weight-inf.yaml"), "-q"],
        ["run", str(tmp / "variants-1000.yaml"), "-q"],
        ["run", str(tmp / "weights-no-data.yaml"), "-q"],
        ["run", *load, "--data", str(tmp / "capture-latin1.jsonl"), "--format", "capture"] + ok,
        ["run", *load, "--data", str(folder)] + ok,
    ]


def valid_argvs(tmp: Path) -> list[list[str]]:
    """Named inputs that used to fail and are valid: each must end in exit 0."""
    hostile_argvs(tmp)
    ok = ["--url", "http://127.0.0.1:1/", "--rate", "10", "--duration", "1s", "--out", str(tmp / "runs"), "-q"]
    data = ["--data", str(tmp / "surrogate.jsonl")]
    return [["run", *data, "--label-field", "label"] + ok, ["run", *data, "--body-field", "x"] + ok,
            ["run", "--ramp", "0:5:1s"] + ok[:2] + ok[6:]]


_HOSTILE = Path(tempfile.mkdtemp(dir=_ROOT))


@pytest.mark.parametrize("i", range(len(hostile_argvs(_HOSTILE))))
def test_named_hostile_inputs_one_line_exit_2(i):
    argv = hostile_argvs(_HOSTILE)[i]
    from stinger import _api
    from stinger.cli import main

    saved = _api.run
    _api.run = _no_load
    err = io.StringIO()
    t = time.perf_counter()
    try:
        with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as info:
            main(argv)
    finally:
        _api.run = saved
    assert time.perf_counter() - t < HANG_S
    assert info.value.code == 2, (argv, err.getvalue())
    lines = err.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stinger: error: "), err.getvalue()


@pytest.mark.parametrize("i", range(len(valid_argvs(_HOSTILE))))
def test_named_valid_inputs_pass_the_checks(i):
    assert run_one(valid_argvs(_HOSTILE)[i]) == ("ok", "")


@pytest.mark.parametrize("flags", [["--label-field", "label"], ["--body-field", "x"]])
def test_lone_surrogates_in_jsonl_are_sent_escaped(flags, tmp_path):
    """`{"x": "\\ud800"}` is valid JSON; a rewritten record keeps the escape (UTF-8 has no form for it)."""
    from stinger.datasets import open_dataset

    path = tmp_path / "d.jsonl"
    path.write_text('{"x": "\\ud800", "label": 1}\n')
    ds = open_dataset(path, label_field=flags[1] if flags[0] == "--label-field" else None,
                      body_field=flags[1] if flags[0] == "--body-field" else None)
    body = ds.body(0)
    assert json.loads(body) in ({"x": "\ud800"}, "\ud800") and b"\\ud800" in body


@pytest.fixture(scope="module", autouse=True)
def _cleanup():
    yield
    shutil.rmtree(_ROOT, ignore_errors=True)


if __name__ == "__main__":  # pragma: no cover - the before/after counts
    print(count(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
