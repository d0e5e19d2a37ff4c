"""Token counts from a tokenizer the user names (`--tokenizer DIR`, targets/tokens.py) when the server sends
no usage, and `token_source` per variant (usage / tokenizer / chunks).

The tokenizer is built here with the `tokenizers` library (a word-level one trained on a few sentences,
saved to a tmp folder): nothing is downloaded. Its count of a text is the text's count of words and
punctuation marks, which the tests state by hand."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from stinger.core.records import Kind
from stinger.errors import TargetError
from stinger.targets.base import ResponseBatch
from stinger.testing.llm_server import LlmServer

tokenizers = pytest.importorskip("tokenizers")


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory):
    """A word-level tokenizer (whitespace and punctuation split), trained on a few sentences."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(["the quick brown fox jumps over the lazy dog", "hello world, how are you?"],
                            trainers.WordLevelTrainer(special_tokens=["[UNK]"]))
    folder = tmp_path_factory.mktemp("tok")
    tok.save(str(folder / "tokenizer.json"))
    return str(folder)


def openai(**kw):
    from stinger.targets.openai import Config, OpenAIApi

    return OpenAIApi(Config(url="http://127.0.0.1:9/v1", model="m", **kw))


def sse(*events) -> bytes:
    return b"".join(b"data: " + (e if isinstance(e, bytes) else json.dumps(e).encode()) + b"\n\n" for e in events)


def piece(text: str, field: str = "content") -> dict:
    return {"choices": [{"index": 0, "delta": {field: text}}]}


def batch(bodies: list[bytes], payloads: list[bytes]) -> ResponseBatch:
    n = len(bodies)
    return ResponseBatch(intended=np.full(n, 10.0), sent=np.full(n, 10.0), first=np.full(n, 10.01),
                         done=np.full(n, 11.0), kind=np.zeros(n, np.int64), status=np.full(n, 200),
                         variant=np.zeros(n, np.int64), nbytes=np.full(n, 100), payload=np.arange(n),
                         bodies=bodies, chunk_times=[[(10.0 + 0.01 * (k + 1), len(b))] for k, b in enumerate(bodies)],
                         payload_bytes=lambda p: payloads[p])


def test_without_usage_the_tokenizer_counts_the_streamed_text_and_the_prompt(tok_dir):
    # four events carrying text; as a tokenizer reads them, 10 tokens (the pieces joined as streamed)
    no_usage = sse(piece("hm, ", "reasoning_content"), piece("fox", "reasoning_content"), piece("hello world, how"),
                   piece(" are you?"), b"[DONE]")
    with_usage = sse(piece("a b c"), {"choices": [], "usage": {"completion_tokens": 7, "prompt_tokens": 11}})
    payloads = [b'"the lazy dog jumps"', json.dumps({"messages": [{"role": "system", "content": "be brief"},
                                                                  {"role": "user", "content": "hi there!"}]}).encode()]
    got = openai(tokenizer=tok_dir).interpret(batch([no_usage, with_usage], payloads))
    # the reasoning counts as output: 3 (hm , fox) + 7 (hello world , how are you ?); its text and the
    # content's are two texts (a reasoning piece and a content piece are never joined into one word)
    assert got.columns["output_tokens"].tolist() == [3 + 7, 7]
    assert got.columns["input_tokens"].tolist() == [4, 11]   # the prompt's 4 words; the usage's 11
    assert got.token_source.tolist() == [2, 1]               # tokenizer, usage
    # tpot and tokens/s follow the tokenizer's count: (done - first token) / (tokens - 1)
    assert got.columns["tpot"][0] == pytest.approx((11.0 - 10.01) / 9 * 1e6)
    assert got.columns["output_tps"][0] == pytest.approx(10 / 1.0 * 1e3)
    # without a tokenizer: one token per event carrying text, the prompt unknown
    plain = openai().interpret(batch([no_usage], payloads[:1]))
    assert plain.columns["output_tokens"].tolist() == [4] and np.isnan(plain.columns["input_tokens"][0])
    assert plain.token_source.tolist() == [3]   # chunks


def test_a_chat_prompt_is_the_text_of_its_messages_and_a_whole_answer_is_counted_too(tok_dir):
    from stinger.targets.openai import Config, OpenAIApi

    api = OpenAIApi(Config(url="http://127.0.0.1:9/v1", model="m", tokenizer=tok_dir, stream=False))
    body = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": "the quick fox."}}]})
    payload = json.dumps({"messages": [{"role": "system", "content": "be brief"},
                                       {"role": "user", "content": "hi there!"}]}).encode()
    got = api.interpret(batch([body.encode()], [payload]))
    assert got.columns["output_tokens"].tolist() == [4]        # the quick fox .
    assert got.columns["input_tokens"].tolist() == [5]         # be brief / hi there !
    assert got.token_source.tolist() == [2] and got.kind.tolist() == [Kind.OK]


@pytest.mark.parametrize(("make", "says"), [
    (lambda tmp: str(tmp / "nope"), "not a folder"),
    (lambda tmp: str(tmp), "no tokenizer.json"),
    (lambda tmp: (tmp / "tokenizer.json").write_text("{not json") and str(tmp), "is not a tokenizer"),
])
def test_a_missing_or_invalid_tokenizer_folder_is_a_one_line_error(tmp_path, make, says):
    from stinger.targets.tokens import load

    folder = make(tmp_path)
    with pytest.raises(TargetError, match=says):
        load(folder)
    p = subprocess.run([sys.executable, "-m", "stinger.cli", "run", "--openai", "http://127.0.0.1:9/v1", "--model",
                        "m", "--tokenizer", folder, "--rate", "1", "--duration", "1s", "-q"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2, p.stderr
    assert says in p.stderr and "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1


def run(tmp_path, name: str, url: str, *extra: str) -> dict:
    out = tmp_path / name
    p = subprocess.run([sys.executable, "-m", "stinger.cli", "run", "--openai", url, "--model", "m", "--body",
                        '"the lazy dog, jumps"', "--rate", "10", "--requests", "10", "-q", "--out", str(out), *extra],
                       capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert p.returncode == 0, p.stderr
    return json.loads(next(out.glob("*/summary.json")).read_text())["variants"]["default"]


def test_a_real_run_says_where_its_token_counts_came_from(tmp_path, tok_dir):
    """Against the self-timing server: with usage, `usage`; without, the tokenizer's counts (each of the
    server's tokens is one word: 6) and the prompt's (5: the lazy dog , jumps), else the chunks."""
    with LlmServer(ttft_ms=5, itl_ms=1, tokens=6) as s:
        v = run(tmp_path, "usage", s.url, "--tokenizer", tok_dir)
    assert v["token_source"] == "usage" and v["token_sources"] == {"usage": 10}
    assert v["output_tokens"]["mean"] == 6 and v["input_tokens"]["mean"] == 4   # the server counts words
    with LlmServer(ttft_ms=5, itl_ms=1, tokens=6, usage=False) as s:
        tok = run(tmp_path, "tok", s.url, "--tokenizer", tok_dir)
        chunks = run(tmp_path, "chunks", s.url)
    assert tok["token_source"] == "tokenizer" and tok["token_sources"] == {"tokenizer": 10}
    assert tok["output_tokens"]["mean"] == 6 and tok["input_tokens"]["mean"] == 5
    assert chunks["token_source"] == "chunks" and chunks["output_tokens"]["mean"] == 6
    assert "input_tokens" not in chunks   # no usage, no tokenizer: unknown, not guessed


def test_the_anthropic_api_counts_the_same_way_through_the_shared_reading(tok_dir):
    """anthropic reads its events into the same `sse.Answer` as openai (`sse.interpret_llm`): without usage,
    the tokenizer counts its thinking and text; with usage, the usage; without a tokenizer, the chunks."""
    from stinger.targets.anthropic import AnthropicApi, Config

    def ev(obj: dict) -> bytes:
        return json.dumps(obj).encode()

    def delta(kind: str, field: str, text: str) -> dict:
        return {"type": "content_block_delta", "index": 0, "delta": {"type": kind, field: text}}

    no_usage = sse(ev(delta("thinking_delta", "thinking", "hm, ")), ev(delta("thinking_delta", "thinking", "fox")),
                   ev(delta("text_delta", "text", "hello world, how")), ev(delta("text_delta", "text", " are you?")),
                   ev({"type": "message_stop"}))
    with_usage = sse(ev({"type": "message_start", "message": {"usage": {"input_tokens": 11, "output_tokens": 1}}}),
                     ev(delta("text_delta", "text", "a b c")),
                     ev({"type": "message_delta", "delta": {}, "usage": {"output_tokens": 7}}))
    payloads = [json.dumps({"system": "be brief", "messages": [{"role": "user", "content": "hi there!"}]}).encode(),
                b'"x"']
    api = AnthropicApi(Config(url="http://127.0.0.1:9/v1", model="m", tokenizer=tok_dir))
    got = api.interpret(batch([no_usage, with_usage], payloads))
    assert got.columns["output_tokens"].tolist() == [10, 7] and got.columns["input_tokens"].tolist() == [5, 11]
    assert got.token_source.tolist() == [2, 1]
    plain = AnthropicApi(Config(url="http://127.0.0.1:9/v1", model="m")).interpret(batch([no_usage], payloads[:1]))
    assert plain.columns["output_tokens"].tolist() == [4] and plain.token_source.tolist() == [3]
