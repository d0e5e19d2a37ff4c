"""spec.py: validation, one-line errors with file lines, overrides, redaction."""

from __future__ import annotations

import textwrap

import pytest
import yaml

from stinger.core.secrets import redacted
from stinger.errors import SpecError, UsageError
from stinger.spec import Spec, load_spec_file, merge_overrides, parse_spec
from stinger.targets.base import CARRIERS

URL = "http://127.0.0.1:8080/invocations"


def spec_text(text: str) -> Spec:
    text = textwrap.dedent(text).lstrip("\n")
    return parse_spec(yaml.safe_load(text), source="spec.yaml", text=text)


def error_of(text: str) -> str:
    with pytest.raises(SpecError) as info:
        spec_text(text)
    msg = str(info.value)
    assert "\n" not in msg, msg
    assert isinstance(info.value, UsageError) and info.value.exit_code == 2
    return msg


# ---------------------------------------------------------------------- valid
def test_minimal_open_spec():
    s = spec_text(f"""
        target:
          url: {URL}
        load:
          rate: 100/s
          duration: 30s
    """)
    assert s.load.rate == 100.0 and s.load.duration == 30.0
    assert s.load.resolved_mode() == "open"
    assert s.target.method == "GET"
    [v] = s.all_variants()
    assert v.name == "default" and v.all_urls() == [URL]
    assert s.server_time is not None and s.server_time.header == "server-timing"


def test_closed_spec_with_units_and_defaults():
    s = spec_text(f"""
        target:
          url: {URL}
          method: post
        load:
          users: 8
          think_time: 100ms
          requests: 500
          warmup: 2s
          timeout: 1.5s
    """)
    assert s.load.resolved_mode() == "closed"
    assert s.target.method == "POST"
    assert s.load.think_time == pytest.approx(0.1)
    assert s.load.requests == 500 and s.load.warmup == 2.0 and s.load.timeout == 1.5
    assert s.load.max_in_flight == 10_000 and s.load.on_limit == "queue" and s.load.workers == "auto"


def test_rate_per_minute():
    s = spec_text(f"""
        target: {{url: {URL}}}
        load: {{rate: 6000/m, duration: 1m}}
    """)
    assert s.load.rate == pytest.approx(100.0) and s.load.duration == 60.0


def test_variants_and_several_urls():
    s = spec_text("""
        variants:
          - name: fast
            url: http://127.0.0.1:1/a
            weight: 3
          - name: accurate
            urls: [http://127.0.0.1:2/b, http://127.0.0.1:3/b]
        split: paired
        load: {rate: 10, duration: 5s}
    """)
    assert [v.name for v in s.all_variants()] == ["fast", "accurate"]
    assert s.all_variants()[0].weight == 3
    assert s.all_variants()[1].all_urls() == ["http://127.0.0.1:2/b", "http://127.0.0.1:3/b"]
    assert s.split == "paired"


def test_shape_gives_the_bound():
    s = spec_text(f"""
        target: {{url: {URL}}}
        load:
          shape:
            ramp: {{from: 10, to: 100, over: 30s}}
    """)
    assert s.load.shape.ramp.end == 100.0 and s.load.shape.ramp.over == 30.0


def test_empty_headers_secret_defaults():
    s = parse_spec({"target": {"url": URL}, "load": {"rate": 1, "requests": 1}})
    assert s.target.headers == {} and s.slo == [] and s.check is None


# ---------------------------------------------------------------------- errors
def test_unknown_field_names_field_and_line():
    msg = error_of(f"""
        target:
          url: {URL}
        load:
          rate: 5
          duration: 1s
          bogus: 3
    """)
    assert msg.startswith("spec.yaml line 6: load.bogus: unknown field"), msg


def test_unknown_nested_field_line():
    msg = error_of(f"""
        target:
          url: {URL}
          heders: {{a: b}}
        load: {{rate: 5, duration: 1s}}
    """)
    assert msg.startswith("spec.yaml line 3: target.heders: unknown field"), msg


@pytest.mark.parametrize("rate", ["0", "-5", "0/s"])
def test_rate_must_be_positive(rate):
    msg = error_of(f"""
        target:
          url: {URL}
        load:
          rate: {rate}
          duration: 1s
    """)
    assert "spec.yaml line 4: load.rate:" in msg
    assert "rate must be > 0" in msg


def test_rate_not_a_rate():
    msg = error_of(f"""
        target: {{url: {URL}}}
        load:
          rate: fast
          duration: 1s
    """)
    assert "line 3" in msg and "load.rate" in msg and "'fast'" in msg


@pytest.mark.parametrize("duration, words", [("forever", "invalid duration"), ("0", "must be > 0"),
                                             ("-1s", "duration"), ("1 parsec", "invalid duration")])
def test_bad_duration(duration, words):
    msg = error_of(f"""
        target: {{url: {URL}}}
        load:
          rate: 5
          duration: {duration}
    """)
    assert "spec.yaml line 4: load.duration:" in msg and words in msg, msg


@pytest.mark.parametrize("field, value", [("timeout", "0"), ("connect_timeout", "-2"), ("users", "0"),
                                          ("requests", "0"), ("max_in_flight", "0"), ("workers", "0"),
                                          ("on_limit", "explode"), ("arrival", "gaussian")])
def test_bad_load_fields_name_field_and_line(field, value):
    msg = error_of(f"""
        target: {{url: {URL}}}
        load:
          rate: 5
          duration: 1s
          {field}: {value}
    """)
    assert msg.startswith(f"spec.yaml line 5: load.{field}:"), msg


def test_missing_target():
    msg = error_of("""
        load: {rate: 5, duration: 1s}
    """)
    assert "no target" in msg


def test_both_target_and_variants():
    msg = error_of(f"""
        target: {{url: {URL}}}
        variants:
          - {{name: a, url: {URL}}}
        load: {{rate: 5, duration: 1s}}
    """)
    assert "either target or variants" in msg


def test_paired_with_closed_model_rejected():
    msg = error_of(f"""
        variants:
          - {{name: a, url: {URL}}}
          - {{name: b, url: {URL}}}
        split: paired
        load: {{users: 2, duration: 1s}}
    """)
    assert "paired" in msg and "open model" in msg


def test_duplicate_variant_names():
    msg = error_of(f"""
        variants:
          - {{name: a, url: {URL}}}
          - {{name: a, url: {URL}}}
        load: {{rate: 5, duration: 1s}}
    """)
    assert "unique" in msg and "'a'" in msg


def test_variant_name_pattern_and_missing_url():
    assert "variants.0.name" in error_of(f"""
        variants:
          - {{name: "a b", url: {URL}}}
        load: {{rate: 5, duration: 1s}}
    """)
    assert "has no url" in error_of("""
        variants:
          - {name: a}
        load: {rate: 5, duration: 1s}
    """)


def test_run_needs_a_bound_and_a_load():
    assert "bound" in error_of(f"""
        target: {{url: {URL}}}
        load: {{rate: 5}}
    """)
    assert "needs a rate" in error_of(f"""
        target: {{url: {URL}}}
        load: {{duration: 5s}}
    """)


def test_bad_method():
    msg = error_of(f"""
        target:
          url: {URL}
          method: "GE T"
        load: {{rate: 5, duration: 1s}}
    """)
    assert msg.startswith("spec.yaml line 3: target.method:"), msg


def test_shape_needs_exactly_one_kind():
    msg = error_of(f"""
        target: {{url: {URL}}}
        load:
          shape:
            ramp: {{from: 1, to: 5, over: 2s}}
            spike: {{baseline: 1, height: 5, at: 1s, length: 1s}}
    """)
    assert "exactly one" in msg and "load.shape" in msg


def test_parse_spec_without_source_has_no_file_prefix():
    with pytest.raises(SpecError) as info:
        parse_spec({"target": {"url": URL}, "load": {"rate": -1, "duration": 1}})
    assert str(info.value).startswith("load.rate:")


# --------------------------------------------------------------- spec files
def test_load_spec_file_and_line_numbers(tmp_path):
    p = tmp_path / "mine.yaml"
    p.write_text(f"# a comment\nname: t\ntarget:\n  url: {URL}\nload:\n  rate: 5\n  duration: 1s\n  wat: 1\n")
    data, text, source = load_spec_file(p)
    assert source == "mine.yaml" and data["name"] == "t" and text == p.read_text()
    with pytest.raises(SpecError) as info:
        parse_spec(data, source=source, text=text)
    assert str(info.value).startswith("mine.yaml line 8: load.wat: unknown field")


def test_load_spec_file_malformed_yaml_names_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("target:\n  url: [unclosed\nload:\n  rate: 5\n")
    with pytest.raises(SpecError) as info:
        load_spec_file(p)
    msg = str(info.value)
    assert msg.startswith("bad.yaml line ") and "invalid YAML" in msg and "\n" not in msg


@pytest.mark.parametrize("content, words", [("- a\n- b\n", "mapping"), ("just a string\n", "mapping")])
def test_load_spec_file_not_a_mapping(tmp_path, content, words):
    p = tmp_path / "odd.yaml"
    p.write_text(content)
    with pytest.raises(SpecError) as info:
        load_spec_file(p)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_load_spec_file_missing_and_empty(tmp_path):
    with pytest.raises(SpecError) as info:
        load_spec_file(tmp_path / "nope.yaml")
    assert "cannot read spec" in str(info.value)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_spec_file(empty)[0] == {}


# ------------------------------------------------------------------ overrides
def test_merge_overrides_deep_and_does_not_mutate():
    data = {"target": {"url": "http://a/", "headers": {"X": "1"}}, "load": {"rate": 5, "duration": "1s"}}
    out = merge_overrides(data, {"load.rate": 50, "target.method": "POST", "output.dir": "/tmp/x",
                                 "name": "n", "load.warmup": None})
    assert out["load"] == {"rate": 50, "duration": "1s"}
    assert out["target"] == {"url": "http://a/", "headers": {"X": "1"}, "method": "POST"}
    assert out["output"] == {"dir": "/tmp/x"} and out["name"] == "n"
    assert data == {"target": {"url": "http://a/", "headers": {"X": "1"}}, "load": {"rate": 5, "duration": "1s"}}


def test_merge_overrides_replaces_a_non_mapping():
    out = merge_overrides({"load": "oops"}, {"load.rate": 3})
    assert out == {"load": {"rate": 3}}


def test_override_then_parse_wins_over_file():
    data = {"target": {"url": URL}, "load": {"rate": 5, "duration": "10s"}}
    s = parse_spec(merge_overrides(data, {"load.rate": "20", "load.duration": "2s"}))
    assert s.load.rate == 20.0 and s.load.duration == 2.0


# ------------------------------------------------------------------ redaction
def test_redacted_hides_secret_header_values():
    data = {"target": {"url": URL, "headers": {"Authorization": "Bearer SECRET123", "x-api-key": "K3Y",
                                                "X-Auth-Token": "T", "Cookie": "c=1", "Accept": "application/json"}},
            "variants": [{"name": "a", "url": URL, "headers": {"X-API-KEY": "other", "X-Trace": "on"}}]}
    out = redacted(data)
    h = out["target"]["headers"]
    assert h["Authorization"] == "<redacted>" and h["x-api-key"] == "<redacted>"
    assert h["X-Auth-Token"] == "<redacted>" and h["Cookie"] == "<redacted>"
    assert h["Accept"] == "application/json"
    assert out["variants"][0]["headers"] == {"X-API-KEY": "<redacted>", "X-Trace": "on"}
    dumped = yaml.safe_dump(out)
    for secret in ("SECRET123", "K3Y", "other"):
        assert secret not in dumped
    # the original is untouched
    assert data["target"]["headers"]["Authorization"] == "Bearer SECRET123"


# -------------------------------------------------------- targets in the spec
def test_target_type_defaults_to_plain_over_http():
    s = spec_text(f"""
        target: {{url: {URL}, method: post}}
        load: {{rate: 5, duration: 1s}}
    """)
    assert (s.target.type, s.target.via) == ("plain", "http") and s.target.method == "POST"


def test_variant_holds_a_nested_target_of_any_type():
    s = spec_text(f"""
        variants:
          - name: A
            weight: 90
            monitors: [{{type: process, port: 1}}]
            target: {{type: http, url: {URL}, headers: {{X-Model: a}}}}
          - name: B
            weight: 10
            target: {{type: fake, delay: 2ms, error_rate: 0.1}}
        load: {{rate: 5, duration: 1s}}
    """)
    a, b = s.all_variants()
    assert a.target.tag == "plain@http" and a.target.headers == {"X-Model": "a"} and a.monitors
    assert b.target.tag == "plain@fake" and b.target.delay == pytest.approx(0.002) and b.target.error_rate == 0.1
    assert (a.weight, b.weight) == (90, 10)


def test_flat_variant_is_normalised_into_its_target():
    s = spec_text(f"""
        variants:
          - {{name: A, url: {URL}, method: POST, headers: {{X-Model: a}}, insecure: true}}
          - {{name: B, type: fake, delay: 1ms}}
        load: {{rate: 5, duration: 1s}}
    """)
    a, b = s.all_variants()
    assert a.target.url == URL and a.target.method == "POST" and a.target.insecure
    assert a.target.headers == {"X-Model": "a"}
    assert b.target.tag == "plain@fake" and b.target.delay == pytest.approx(0.001)


def test_flat_and_nested_fields_together_are_refused():
    msg = error_of(f"""
        variants:
          - {{name: A, url: {URL}, target: {{url: {URL}}}}}
        load: {{rate: 5, duration: 1s}}
    """)
    assert msg.startswith("spec.yaml line 2: variants.0:") and "inside target" in msg, msg


def test_unknown_target_type_is_one_line_with_its_line():
    msg = error_of(f"""
        load: {{rate: 5, duration: 1s}}
        target:
          type: carrier-pigeon
          url: {URL}
    """)
    assert msg.startswith("spec.yaml line 3: target.type: unknown target type 'carrier-pigeon'"), msg
    assert "fake" in msg and "http" in msg
    flat = error_of("""
        variants:
          - name: A
            type: pigeon
        load: {rate: 5, duration: 1s}
    """)
    assert flat.startswith("spec.yaml line 3: variants.0.type: unknown target type 'pigeon'"), flat


def test_a_target_field_error_is_named_as_written_with_its_line():
    nested = error_of(f"""
        variants:
          - name: A
            target:
              url: {URL}
              method: "GE T"
        load: {{rate: 5, duration: 1s}}
    """)
    assert nested.startswith("spec.yaml line 5: variants.0.target.method:"), nested
    flat = error_of(f"""
        variants:
          - name: A
            url: {URL}
            methd: GET
        load: {{rate: 5, duration: 1s}}
    """)
    assert flat.startswith("spec.yaml line 4: variants.0.methd: unknown field"), flat
    fake = error_of("""
        target:
          type: fake
          status: 42
        load: {rate: 5, duration: 1s}
    """)
    assert fake.startswith("spec.yaml line 3: target.status:"), fake


def test_no_target_field_is_dropped_by_all_variants_or_a_round_trip():
    data = {"target": {"type": "fake", "delay": "3ms", "status": 201, "body": "{}", "headers": {"X": "1"},
                       "error_rate": 0.25, "reset_rate": 0.1, "error_status": 503, "ttl": "1s", "seed": 9},
            "load": {"rate": 5, "duration": 1}}
    s = parse_spec(data)
    [v] = s.all_variants()
    assert v.target == s.target
    again = parse_spec(s.model_dump(mode="json", by_alias=True, exclude_none=True))
    assert again.target == s.target
    http = parse_spec({"variants": [{"name": "a", "url": URL, "urls": [URL + "2"], "method": "PUT",
                                     "headers": {"K": "v"}, "insecure": True}],
                       "load": {"rate": 5, "duration": 1}})
    [a] = http.all_variants()
    dumped = a.target.model_dump(mode="json", exclude_none=True)
    assert dumped == {"type": "plain", "via": "http", "url": URL, "urls": [URL + "2"], "method": "PUT",
                      "headers": {"K": "v"}, "insecure": True}


def test_redaction_covers_headers_inside_a_variant_s_target():
    data = {"variants": [{"name": "a", "target": {"url": URL, "headers": {"Authorization": "Bearer S3CRET",
                                                                          "X-Trace": "on"}}}]}
    out = redacted(data)
    assert out["variants"][0]["target"]["headers"] == {"Authorization": "<redacted>", "X-Trace": "on"}
    assert "S3CRET" not in yaml.safe_dump(out)


# ---------------------------------------------------------------- bad input (issue 10 item 11)
# runs `stinger` and reports its own peak RSS: an intermediate process whose only child it is
# (this test process's RUSAGE_CHILDREN is the peak of every child it ever had: a Ray cluster,
# MLServer, ... from earlier tests)
_PEAK = ("import resource, subprocess, sys; p = subprocess.run([sys.executable, '-m', 'stinger.cli', *sys.argv[1:]]); "
         "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(p.returncode)")


def _child_run(args, timeout=60):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", _PEAK, *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    lines = proc.stderr.splitlines()
    peak_kib = int(lines[-1]) if lines and lines[-1].strip().isdigit() else 0
    proc.stderr = "\n".join(lines[:-1]) + ("\n" if len(lines) > 1 else "")
    return proc, peak_kib / 1024  # MiB


def test_a_2gb_spec_is_refused_in_bounded_time_and_memory(tmp_path):
    big = tmp_path / "big.yaml"
    with open(big, "wb") as fh:
        fh.truncate(2 * 1024**3)   # sparse: no disk used
    proc, _ = _child_run(["run", str(big), "--url", "http://127.0.0.1:1/", "-q"])
    assert proc.returncode == 2 and "at most 16 MB" in proc.stderr and len(proc.stderr.splitlines()) == 1


def test_a_2gb_dataset_does_not_blow_memory(tmp_path):
    """Before: 4.7 GB RSS (the whole file mapped in, then one 2 GB record read and decoded)."""
    big = tmp_path / "big.jsonl"
    with open(big, "wb") as fh:
        fh.truncate(2 * 1024**3)
    proc, rss = _child_run(["run", "--url", "http://127.0.0.1:1/", "--rate", "1", "--requests", "1",
                            "--data", str(big), "--out", str(tmp_path / "runs"), "-q"])
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert 0 < rss < 500


@pytest.mark.parametrize("text, words", [
    ("target: {url: 'http://127.0.0.1:1/'}\nload: {duration: 1s, shape: {profile: [[0, .inf], [1, 5]]}}\n",
     "profile knot"),
    ("target: {url: 'http://127.0.0.1:1/'}\nload: {rate: 1e308, duration: 1s}\n", "rate must be at most"),
    ("target: {url: 'http://127.0.0.1:1/'}\nname: " + "n" * 300 + "\nload: {rate: 1, duration: 1s}\n", "name"),
    ("a: &a [1, 2]\nb: [*a, *a]\n" + "".join(f"c{i}: &c{i} [" + ", ".join([f"*{'a' if i == 0 else f'c{i - 1}'}"] * 10)
                                              + "]\n" for i in range(8)), "alias bomb"),
    ("a: " + "[" * 3000 + "]" * 3000 + "\n", "nests deeper"),
    ("- " * 3000 + "x\n", "nests deeper"),
], ids=["inf-in-profile", "rate-1e308", "name-300", "alias-bomb", "flow-depth-3000", "block-depth-3000"])
def test_hostile_spec_text_is_one_line_error(tmp_path, text, words):
    p = tmp_path / "s.yaml"
    p.write_text(text)
    def load():
        data, t, src = load_spec_file(p)
        parse_spec(data, source=src, text=t)

    with pytest.raises(SpecError) as info:
        load()
    assert words in str(info.value) and "\n" not in str(info.value)


def test_non_utf8_and_special_files_as_a_spec(tmp_path):
    import os

    p = tmp_path / "latin1.yaml"
    p.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(SpecError, match="not UTF-8"):
        load_spec_file(p)
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    with pytest.raises(SpecError, match="FIFO"):
        load_spec_file(fifo)
    for dev in ("/dev/zero", "/dev/urandom"):
        with pytest.raises(SpecError, match="device"):
            load_spec_file(dev)


# -------------------------------------------------- type (api) x via (carrier)
def test_older_types_are_read_as_their_pairs_and_the_pair_form_loads_the_same():
    for legacy, pair in (({"type": "http", "url": URL}, {"type": "plain", "via": "http", "url": URL}),
                         ({"type": "fake", "delay": "1ms"}, {"via": "fake", "delay": "1ms"}),
                         ({"type": "openai", "url": URL, "model": "m", "prompt": "p"},
                          {"type": "openai", "via": "http", "url": URL, "model": "m", "prompt": "p"})):
        a = parse_spec({"target": legacy, "load": {"rate": 5, "duration": 1}}).target
        b = parse_spec({"target": pair, "load": {"rate": 5, "duration": 1}}).target
        assert a == b and type(a) is type(b)
    sm = parse_spec({"target": {"type": "sagemaker", "endpoint": "ep"}, "load": {"rate": 5, "duration": 1}}).target
    assert sm.tag == "plain@sagemaker"
    # a spec.yaml written before the pairs (type: http) loads; one written now round-trips
    again = parse_spec({"target": sm.model_dump(mode="json", exclude_none=True), "load": {"rate": 5, "duration": 1}})
    assert again.target == sm


@pytest.mark.parametrize("target, says", [
    ("{type: plain, via: pigeon, url: URL}", "spec.yaml line 2: target.via: unknown carrier 'pigeon'; expected one of "
     + ", ".join(sorted(CARRIERS))),   # every registered carrier (a new one adds its line, not this test)
    ("{type: openai, via: fake, model: m}", "spec.yaml line 2: target.via: type openai cannot go via fake; expected via: http"),
    ("{type: sagemaker, via: http, url: URL}", "spec.yaml line 2: target.via: type: sagemaker is type: plain via sagemaker; it cannot go via http"),
    ("{type: kserve, via: http, url: URL, model: m, protocol: v9}", "spec.yaml line 2: target.protocol:"),
])
def test_a_pair_that_does_not_exist_is_one_line_naming_the_field(target, says):
    msg = error_of(f"""
        load: {{rate: 5, duration: 1s}}
        target: {target.replace("URL", URL)}
    """)
    assert msg.startswith(says), msg
