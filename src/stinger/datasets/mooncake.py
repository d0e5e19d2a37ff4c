"""Mooncake-style LLM traces as request bodies with their arrival times (`--data T.jsonl --format mooncake`).

This module owns reading the trace format Moonshot AI published with Mooncake (and that
vLLM's, SGLang's and AIPerf's trace replays read): JSON Lines, one request a line,

    {"timestamp": 27482, "input_length": 6955, "output_length": 52, "hash_ids": [46, 47, 48, ...]}

`timestamp` is the arrival in milliseconds, `input_length` and `output_length` are tokens,
and `hash_ids` lists the prompt's blocks of `BLOCK` (512) tokens: two requests whose lists
start with the same ids share that many blocks of prefix, which a server's prefix (KV) cache
can reuse. No text travels in the trace, so the prompt is built here, deterministically:

- block id `h` is `BLOCK` words drawn from `synthetic.WORDS` (one token each for common BPE
  tokenizers, as for `--isl`) by a generator seeded with `h` alone, so equal ids are equal
  text in every request, worker and run, and different ids differ;
- a prompt is its blocks' text in order, cut at `input_length` words; a prompt longer than its
  blocks (a trace line whose ids do not cover it) is filled with words seeded by its line, its own;
- the body is `{"prompt": TEXT, "max_tokens": output_length}`, what the openai and anthropic
  apis take (chat: one user message; shared prefix text is a shared message prefix).

The lines are sorted by timestamp (stably); the k-th body is the k-th arrival, and
`arrival_offsets` (the `TimedFormat` ability, datasets/base.py) gives the offsets in seconds
from the first one, which `--replay-arrivals` (`load.shape.trace: capture`,
orchestrate/replay.py) fires each request at, divided by `--speed`. A trace line that is not
what this expects is a one-line DatasetError naming the file, the line and the field.

Bodies are built when sent, never held all at once (a day of Mooncake's trace is tens of
thousands of prompts of ~8,000 tokens: gigabytes of text); `uncached` tells the engine not to
keep their bytes (a replay sends each once). Blocks are memoised (`_block`, the last 4,096).
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from stinger.datasets.base import MAX_RECORD, dataset_error, mib
from stinger.datasets.synthetic import WORDS
from stinger.errors import DatasetError

__all__ = ["BLOCK", "MooncakeTrace", "block_text", "prompt_text"]

BLOCK = 512                      # tokens per hash id, as in Mooncake's traces
_MAX_LINES = 10_000_000
_MAX_TOKENS = 10_000_000         # one prompt's input length past this is a mistake, not a trace
_VOCAB = np.asarray(WORDS)


@lru_cache(maxsize=4096)
def block_text(h: int) -> str:
    """The text of block id `h`: `BLOCK` words, a pure function of `h`."""
    rng = np.random.default_rng([h & 0xFFFFFFFFFFFFFFFF, 0x300C])
    return " ".join(_VOCAB[rng.integers(0, len(_VOCAB), BLOCK)].tolist())


def prompt_text(input_length: int, hash_ids: list[int], line: int) -> str:
    """A prompt of `input_length` words: the blocks of `hash_ids` in order, cut to length, and filled
    past them with words of its own (seeded by `line`)."""
    words: list[str] = []
    for h in hash_ids:
        if len(words) >= input_length:
            break
        words += block_text(h).split(" ")
    if len(words) < input_length:
        rng = np.random.default_rng([line, 0x300D])
        words += _VOCAB[rng.integers(0, len(_VOCAB), input_length - len(words))].tolist()
    return " ".join(words[:input_length])


def _int_field(rec: dict, key: str, where: str, low: int) -> int:
    v = rec.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v) or not low <= v <= _MAX_TOKENS:
        raise DatasetError(f"{where}: {key} is {v!r}; expected a whole number from {low} to {_MAX_TOKENS:,}")
    return int(v)


@lru_cache(maxsize=4)
def _read(path: str, mtime: float, size: int) -> tuple[np.ndarray, tuple[tuple[int, int, tuple[int, ...], int], ...]]:
    """(timestamps in ms, (input_length, output_length, hash_ids, line) per request), sorted by timestamp."""
    stamps: list[float] = []
    recs: list[tuple[int, int, tuple[int, ...], int]] = []
    with open(path, "rb") as f:
        for no, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            if len(recs) >= _MAX_LINES:
                raise DatasetError(f"{path}: more than {_MAX_LINES:,} trace lines; expected fewer (cut the trace)")
            where = f"{path}: line {no}"
            try:
                rec = json.loads(raw)
            except ValueError:
                raise DatasetError(f"{where}: not JSON; expected a Mooncake trace line "
                                   '{"timestamp": MS, "input_length": N, "output_length": N, "hash_ids": [...]}') from None
            if not isinstance(rec, dict):
                raise DatasetError(f"{where}: a JSON {type(rec).__name__}; expected an object with timestamp, "
                                   "input_length, output_length, hash_ids")
            t = rec.get("timestamp")
            if isinstance(t, bool) or not isinstance(t, (int, float)) or not np.isfinite(t) or t < 0:
                raise DatasetError(f"{where}: timestamp is {t!r}; expected milliseconds, a number of 0 or more")
            n_in = _int_field(rec, "input_length", where, 1)
            n_out = _int_field(rec, "output_length", where, 1)
            ids = rec.get("hash_ids", [])
            if not isinstance(ids, list) or any(isinstance(h, bool) or not isinstance(h, int) or h < 0 for h in ids):
                raise DatasetError(f"{where}: hash_ids is {str(ids)[:60]}; expected a list of block ids "
                                   "(whole numbers of 0 or more)")
            stamps.append(float(t))
            recs.append((n_in, n_out, tuple(ids), no))
    if not recs:
        raise DatasetError(f"{path}: no trace lines; expected JSON Lines with timestamp, input_length, "
                           "output_length, hash_ids")
    order = np.argsort(np.asarray(stamps), kind="stable")
    times = np.asarray(stamps)[order]
    times.setflags(write=False)
    return times, tuple(recs[i] for i in order.tolist())


def _load(path: str | os.PathLike[str]):
    p = Path(path)
    if not p.is_file():
        raise dataset_error(os.fspath(path), "no such file; expected a Mooncake trace (JSON Lines)")
    st = p.stat()
    return _read(os.fspath(p), st.st_mtime, st.st_size)


class MooncakeTrace:
    """The format `mooncake`: each trace line a prompt body, in arrival order (see the module)."""

    content_type = "application/json"
    has_labels = False
    uncached = True   # each body built when sent: the engine keeps no copy (engine/slots.py)

    def __init__(self, path: str | os.PathLike[str], shown: str | None = None, *, label_field: Any = None,
                 body_field: Any = None, content_type: str | None = None) -> None:
        shown = shown or os.fspath(path)
        if label_field is not None or body_field is not None:
            raise dataset_error(shown, "a Mooncake trace builds its prompts; expected no label_field or body_field")
        times, self._recs = _load(path)
        longest = max(r[0] for r in self._recs)
        if longest * 8 > MAX_RECORD:   # a word is at most ~8 bytes with its space
            raise dataset_error(shown, f"an input_length of {longest:,} tokens makes a body past "
                                       f"{mib(MAX_RECORD)}; expected shorter prompts")
        if content_type is not None:
            self.content_type = content_type
        blocks = len({h for r in self._recs for h in r[2]})
        self.description = (f"Mooncake trace: {len(self._recs):,} requests over {(times[-1] - times[0]) / 1e3:,.1f} s, "
                            f"{blocks:,} distinct prefix blocks of {BLOCK} tokens")

    def __len__(self) -> int:
        return len(self._recs)

    def body(self, i: int) -> bytes:
        n_in, n_out, ids, line = self._recs[i]
        return json.dumps({"prompt": prompt_text(n_in, list(ids), line), "max_tokens": n_out},
                          separators=(",", ":")).encode()

    def label(self, i: int) -> None:
        return None

    @classmethod
    def arrival_offsets(cls, path: str) -> np.ndarray:
        """Seconds from the first request, in the order `body` sends them (`TimedFormat`)."""
        times, _ = _load(path)
        out: np.ndarray = (times - times[0]) / 1e3
        return out
