"""User mistakes a new-user review found accepted, or failing late: each is one line naming what is wrong
and what was expected, exit 2, before any load and before a run directory exists."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stinger.cli import main
from stinger.orchestrate.preflight import WORKERS_PER_CORE


def refused(capsys, tmp_path: Path, *args: str) -> str:
    """`stinger ARGS --out TMP/runs`: asserts exit 2, one error line, no run directory; the line."""
    out = tmp_path / "runs"
    with pytest.raises(SystemExit) as info:
        main([*args, "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert info.value.code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("stinger: error: "), err
    assert "Traceback" not in err
    assert not out.exists() or not any(out.iterdir()), "a run directory was created"
    return lines[0]


def test_origins_past_the_worker_ceiling_need_yes(capsys, tmp_path, closed_port):
    n = (os.cpu_count() or 1) * WORKERS_PER_CORE + 1
    line = refused(capsys, tmp_path, "run", "--url", f"http://127.0.0.1:{closed_port}/", "--rate", "5",
                   "--duration", "1s", "--origin", f"east:{n}@127.0.0.2")
    assert f"{n} workers" in line and "--yes" in line and "origin" in line


def test_goodput_on_a_metric_the_target_does_not_produce(capsys, tmp_path, closed_port):
    # plain HTTP has no first token: 'ttft<50ms' held for no request, 0 % goodput and exit 0 before
    line = refused(capsys, tmp_path, "run", "--url", f"http://127.0.0.1:{closed_port}/", "--rate", "5",
                   "--duration", "1s", "--goodput", "ttft<50ms")
    assert "'ttft<50ms'" in line and "does not produce ttft" in line and "--url" in line and "openai" in line


@pytest.mark.parametrize("objective, says", [("session<700ms", "per request"), ("itl<5ms", "one per gap")])
def test_goodput_objective_errors_are_whole(capsys, tmp_path, closed_port, objective, says):
    line = refused(capsys, tmp_path, "run", "--openai", f"http://127.0.0.1:{closed_port}/v1", "--model", "m",
                   "--isl", "10", "--rate", "5", "--duration", "1s", "--goodput", objective)
    assert says in line and not line.endswith("...")
    assert line.endswith("ttfc, chunk_gap") and "ttft, ttfo, tpot" in line


@pytest.mark.parametrize("command", ["run", "ab"])
def test_goodput_slo_needs_objectives(capsys, tmp_path, closed_port, command):
    url = f"http://127.0.0.1:{closed_port}/"
    target = ["--url", url] if command == "run" else ["--a", url, "--b", url]
    line = refused(capsys, tmp_path, command, *target, "--rate", "5", "--duration", "1s", "--slo", "goodput>=95%")
    assert "'goodput>=95%'" in line and "--goodput" in line


@pytest.mark.parametrize("load, says", [
    (["--rate", "5", "--users", "3"], "--users"),               # ran open, the users ignored
    (["--rate", "5", "--think-time", "100ms"], "--think-time"),  # the open model has no think time
])
def test_a_setting_of_the_other_load_model_is_refused(capsys, tmp_path, closed_port, load, says):
    line = refused(capsys, tmp_path, "run", "--url", f"http://127.0.0.1:{closed_port}/", *load, "--duration", "1s")
    assert says in line and "expected" in line


@pytest.mark.parametrize("api", ["--openai", "--anthropic"])
def test_max_tokens_zero_is_refused(capsys, tmp_path, closed_port, api):
    # 0 compared equal to False and the flag was dropped unseen
    line = refused(capsys, tmp_path, "run", api, f"http://127.0.0.1:{closed_port}/v1", "--model", "m", "--isl", "10",
                   "--rate", "5", "--duration", "1s", "--max-tokens", "0")
    assert "max_tokens" in line and "got 0" in line


@pytest.mark.parametrize("lengths, says", [
    (["--isl", "100000000:1"], "at most 2,000,000 tokens"),   # workers took over a minute to start, or ran out of memory
    (["--isl", "512", "--osl", "5000000"], "at most 2,000,000 tokens"),
    (["--isl", "100000"], "--prompts 500"),                    # 1,000 prompts of 100k tokens in every worker
])
def test_synthetic_lengths_are_bounded(capsys, tmp_path, closed_port, lengths, says):
    line = refused(capsys, tmp_path, "run", "--openai", f"http://127.0.0.1:{closed_port}/v1", "--model", "m",
                   *lengths, "--rate", "5", "--duration", "1s")
    assert says in line


@pytest.mark.parametrize("source, url", [("::1", "http://127.0.0.1:{port}/"), ("127.0.0.2", "http://[::1]:{port}/")])
def test_an_origin_of_the_other_address_family_is_refused(capsys, tmp_path, closed_port, source, url):
    # measured before as every request a connect failure, exit 1
    line = refused(capsys, tmp_path, "run", "--url", url.format(port=closed_port), "--origin", f"east:1@{source}",
                   "--rate", "5", "--duration", "1s")
    assert f"from {source}" in line and "IPv4" in line and "IPv6" in line


def test_a_missing_file_is_named_as_given(capsys, tmp_path, closed_port):
    given = str(tmp_path / "nowhere" / "rows.jsonl")   # shown as "rows.jsonl" before: which file was meant?
    line = refused(capsys, tmp_path, "run", "--url", f"http://127.0.0.1:{closed_port}/", "--data", given,
                   "--rate", "5", "--duration", "1s")
    assert given in line


def test_sessions_with_url_name_the_flags(capsys, tmp_path, closed_port):
    conv = tmp_path / "conv.jsonl"
    conv.write_text('{"turns": ["hello", "and then?"]}\n')
    line = refused(capsys, tmp_path, "run", "--url", f"http://127.0.0.1:{closed_port}/", "--sessions", str(conv),
                   "--rate", "1", "--duration", "1s")
    assert "--sessions" in line and "--openai or --anthropic" in line and "not --url" in line
    assert "target type" not in line


def test_served_by_weights_without_the_header_name_the_flag(capsys, tmp_path, closed_port):
    line = refused(capsys, tmp_path, "run", "--url", f"http://127.0.0.1:{closed_port}/", "--served-by-weights", "a=1",
                   "--rate", "5", "--duration", "1s")
    assert "--served-by-header" in line and "required field is missing" not in line


def test_a_mooncake_trace_without_its_format_is_not_sent_as_bodies(capsys, tmp_path, closed_port):
    trace = tmp_path / "trace.jsonl"
    trace.write_text('{"timestamp": 0, "input_length": 20, "output_length": 5, "hash_ids": [1]}\n'
                     '{"timestamp": 9, "input_length": 30, "output_length": 5, "hash_ids": [1, 2]}\n')
    line = refused(capsys, tmp_path, "run", "--openai", f"http://127.0.0.1:{closed_port}/v1", "--model", "m",
                   "--data", str(trace), "--rate", "5", "--duration", "1s")
    assert "Mooncake" in line and "--format mooncake" in line


def test_a_load_flag_over_a_spec_of_the_other_model_wins(capsys, tmp_path, closed_port):
    # flags win: --rate over a spec of users (and their think time) runs open, refused only when both are flags
    spec = tmp_path / "spec.yaml"
    spec.write_text(f'target: {{url: "http://127.0.0.1:{closed_port}/"}}\nload: {{users: 3, think_time: 100ms}}\n')
    from stinger.cli.resolve import resolve_spec

    resolved, _ = resolve_spec(str(spec), {"rate": "5", "duration": "1s"})
    assert resolved.load.resolved_mode() == "open" and resolved.load.users is None and resolved.load.think_time == 0
    line = refused(capsys, tmp_path, "run", str(spec), "--rate", "5", "--users", "2", "--duration", "1s")
    assert "--users" in line


def test_goodput_on_a_streamed_metric_of_an_unstreamed_target(capsys, tmp_path, closed_port):
    spec = tmp_path / "spec.yaml"
    spec.write_text(f'target: {{type: openai, url: "http://127.0.0.1:{closed_port}/v1", model: m, stream: false}}\n'
                    'payload: {isl: "10"}\nload: {rate: 5, duration: 1s}\ngoodput: ["ttft<50ms"]\n')
    line = refused(capsys, tmp_path, "run", str(spec))
    assert "'ttft<50ms'" in line and "stream: false" in line
