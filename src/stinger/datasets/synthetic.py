"""Synthetic LLM prompts with input and output length distributions (`--isl 512:128 --osl 256:64`).

`SyntheticPrompts(isl="512:128", osl="256:64", count=1000, seed=S)` is a dataset of `count`
request bodies, each `{"prompt": TEXT, "max_tokens": N}` (and `"ignore_eos": true` when asked,
for the servers that accept it: vLLM, SGLang), the shape the openai and anthropic apis take
as a request body (a `prompt` becomes one user message in chat). Lengths are drawn from normal
distributions given as `MEAN:STDDEV` (or `MEAN` alone: every record that long), rounded and
held at 1 or more; the prompt is that many words drawn from `WORDS`, common English words that
common BPE tokenizers (Llama's, GPT's) encode as one token each with their leading space, so a
prompt's token count is close to its word count without a tokenizer here.

Everything is a pure function of (isl, osl, count, seed): every worker, and a rerun with the
same seed, builds the same bodies in the same order. Each record starts with a different
word sequence, so a server's prefix cache does not serve them all from one prefix.
"""

from __future__ import annotations

import json

import numpy as np

from stinger.datasets.base import ListBacked
from stinger.errors import DatasetError

__all__ = ["MAX_LENGTH", "MAX_PROMPT_TOKENS", "WORDS", "SyntheticPrompts", "check_budget", "parse_length"]

WORDS = tuple("""the of and to in is was that for on with as by at from his her they this have are
one all were when which their said there each about how up out them then she many some so these
would other into has more two time could very first water been call who now find long down day did
get come made may part over new sound take only little work know place year live back give most
good man think say great where help through much before line right too mean old any same tell boy
follow came want show also around form three small set put end does another well large must big
even such because turn here why ask went men read need land different home us move try kind hand
picture again change off play spell air away animal house point page letter mother answer found
study still learn should world high every near add food between own below country plant last
school father keep tree never start city earth eye light thought head under story saw left few
while along might close something seem next hard open example begin life always those both paper
together got group often run important until children side feet car mile night walk white sea
began grow took river four carry state once book hear stop without second later miss idea enough
eat face watch far really almost let above girl sometimes mountain cut young talk soon list song
being leave family""".split())


# A length past the largest context windows (about 2M tokens) is a mistake: `--isl 100000000` took
# workers past a minute to start, or out of memory. Every worker builds every prompt (about 7 bytes a
# token in memory, about 0.15 s a million tokens here), so the prompts' tokens together are bounded too:
# 50M tokens is about 350 MB and a few seconds a worker.
MAX_LENGTH = 2_000_000
MAX_PROMPT_TOKENS = 50_000_000


def parse_length(text: str, what: str) -> tuple[float, float]:
    """`"512:128"` -> (512.0, 128.0); `"512"` -> (512.0, 0.0). A one-line DatasetError for anything else."""
    mean_s, _, sd_s = str(text).strip().partition(":")
    try:
        mean, sd = float(mean_s), float(sd_s) if sd_s else 0.0
    except ValueError:
        raise DatasetError(f"{what} {text!r}: expected MEAN:STDDEV in tokens, e.g. 512:128") from None
    if not (mean >= 1 and sd >= 0) or not np.isfinite(mean + sd):
        raise DatasetError(f"{what} {text!r}: expected a mean of at least 1 token and a stddev of 0 or more")
    if mean > MAX_LENGTH or sd > MAX_LENGTH:
        raise DatasetError(f"{what} {text!r}: expected a mean and stddev of at most {MAX_LENGTH:,} tokens "
                           f"(about the largest context window)")
    return mean, sd


def check_budget(isl: str, count: int) -> None:
    """Every worker holds every prompt: their tokens together at most `MAX_PROMPT_TOKENS`; one line otherwise."""
    mean, _ = parse_length(isl, "--isl")
    if mean * count > MAX_PROMPT_TOKENS:
        raise DatasetError(f"--isl {isl} x --prompts {count:,} is {mean * count:,.0f} prompt tokens, which every "
                           f"worker builds and holds; expected at most {MAX_PROMPT_TOKENS:,} "
                           f"(fewer prompts: --prompts {max(1, int(MAX_PROMPT_TOKENS // mean)):,})")


def _lengths(rng: np.random.Generator, mean: float, sd: float, count: int) -> np.ndarray:
    drawn = rng.normal(mean, sd, count) if sd > 0 else np.full(count, mean)
    return np.clip(np.rint(drawn), 1, MAX_LENGTH).astype(np.int64)   # a normal's tail held within the cap


class SyntheticPrompts(ListBacked):
    """`count` prompts of drawn input lengths, each asking for a drawn output length (see the module)."""

    content_type = "application/json"
    has_labels = False

    def __init__(self, isl: str, osl: str | None = None, *, count: int = 1000, seed: int = 0,
                 ignore_eos: bool = False) -> None:
        if not 1 <= count <= 10_000_000:
            raise DatasetError(f"synthetic prompts: count {count}; expected 1 to 10,000,000")
        isl_mean, isl_sd = parse_length(isl, "--isl")
        check_budget(isl, count)
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x15C])   # its own stream: not the schedule's
        self.input_lengths = _lengths(rng, isl_mean, isl_sd, count)
        self.output_lengths = None
        if osl is not None:
            osl_mean, osl_sd = parse_length(osl, "--osl")
            self.output_lengths = _lengths(rng, osl_mean, osl_sd, count)
        vocab = np.asarray(WORDS)
        bodies = []
        for i, n in enumerate(self.input_lengths.tolist()):
            req: dict[str, object] = {"prompt": " ".join(vocab[rng.integers(0, len(vocab), n)].tolist())}
            if self.output_lengths is not None:
                req["max_tokens"] = int(self.output_lengths[i])
                if ignore_eos:
                    req["ignore_eos"] = True
            bodies.append(json.dumps(req, separators=(",", ":")).encode())
        self.description = (f"synthetic prompts: {count:,}, input {isl} tokens"
                            + (f", output {osl} tokens" if osl is not None else ""))
        self._freeze(bodies, [None] * count)

    def __len__(self) -> int:
        return len(self._bodies)
