"""Token counts from a tokenizer the user names (`--tokenizer DIR`, target field `tokenizer`), for the LLM
apis when the server sends no `usage`.

Where a request's token count comes from (`token_source` per variant in the summary; the labels are
`core.records.TOKEN_SOURCES`): the server's `usage` when it sends it, else this tokenizer over the
streamed text (output) or the prompt (input), else one token per event carrying text ("chunks").

DIR is a local Hugging Face tokenizer folder holding `tokenizer.json`, read with the `tokenizers`
package (`pip install 'stinger[llm]'`); nothing is ever downloaded. Counts have no special tokens
(`add_special_tokens=False`) and the prompt is the text of its messages joined by newlines, without a
chat template: what the model generated and what the user wrote, not the server's framing of it.

Cost: counting runs where `interpret` runs, on the flush thread once an interval, one `encode_batch`
for the interval's rows (the Rust encoder), never on the event loop; a prompt's count is kept per
payload (a run sends few distinct prompts many times). `bench/tokenizer_cost.py` measures it: +146 us
per 128-token answer without usage (x1.23 of `interpret`), nothing when the server sends usage.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from stinger.errors import TargetError

USAGE, TOKENIZER, CHUNKS = 1, 2, 3   # a row's source: its index + 1 in core.records.TOKEN_SOURCES
_PROMPT_MEMO = 200_000               # payloads whose input count is kept (a dataset may have millions)


def check_dir(value: str) -> str:
    """The folder as given when it holds a loadable tokenizer.json; else a one-line TargetError."""
    load(value)
    return value


def load(folder: str) -> Any:
    """The `tokenizers.Tokenizer` of a folder's tokenizer.json (a one-line TargetError when absent/invalid)."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise TargetError(f"--tokenizer {folder}: not a folder; expected a local Hugging Face tokenizer folder "
                          "holding tokenizer.json")
    file = path / "tokenizer.json"
    if not file.is_file():
        raise TargetError(f"--tokenizer {folder}: no tokenizer.json in it; expected a local Hugging Face "
                          "tokenizer folder (a model's, with tokenizer.json)")
    try:
        return _from_file(str(file.resolve()), file.stat().st_mtime_ns)
    except ImportError:
        raise TargetError("--tokenizer needs the tokenizers package: pip install 'stinger[llm]'") from None
    except Exception as e:   # the library raises a bare Exception for a malformed file
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise TargetError(f"--tokenizer {folder}: tokenizer.json is not a tokenizer ({first[:160]})") from None


@lru_cache(maxsize=4)
def _from_file(path: str, mtime_ns: int) -> Any:
    """One load per file and version in a process: a spec is validated more than once (a model's
    tokenizer.json is megabytes)."""
    from tokenizers import Tokenizer

    return Tokenizer.from_file(path)


class TokenCounter:
    """Counts tokens of texts with one tokenizer; the prompt counts kept per payload index."""

    def __init__(self, folder: str) -> None:
        self._tok = load(folder)
        self._prompts: dict[int, int] = {}

    def count(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        return [len(e.ids) for e in self._tok.encode_batch(list(texts), add_special_tokens=False)]

    def prompt_counts(self, payloads: Sequence[int], text_of: Callable[[int], str]) -> list[int]:
        """The input token count of each payload index (`text_of(p)`: its prompt text), counted once each."""
        memo = self._prompts
        todo = sorted({p for p in payloads if p not in memo})
        if todo:
            counts = self.count([text_of(p) for p in todo])
            if len(memo) + len(todo) > _PROMPT_MEMO:   # bounded: start again rather than grow
                memo.clear()
            memo.update(zip(todo, counts, strict=True))
        return [memo[p] for p in payloads]


def prompt_text(obj: object) -> str:
    """The text a request's prompt is made of: a plain prompt, or its messages' contents joined by
    newlines (a content given as parts: their `text`s)."""
    if isinstance(obj, str):
        return obj
    if isinstance(obj, dict):
        # an Anthropic request's `system` beside its messages; a message part's `text`
        parts = [prompt_text(obj[k]) for k in ("system", "messages", "prompt", "text") if k in obj]
        return "\n".join(t for t in parts if t)
    if isinstance(obj, list):
        out = []
        for m in obj:
            content = m.get("content") if isinstance(m, dict) and "content" in m else m
            out.append(prompt_text(content))
        return "\n".join(t for t in out if t)
    return ""
