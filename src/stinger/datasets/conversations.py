"""Conversations for multi-turn sessions (`--sessions FILE`, spec `payload.sessions`).

One conversation a line (JSON Lines), or one JSON array of them (how ShareGPT's files come).
A conversation is an object in one of these shapes:

- ShareGPT: `{"conversations": [{"from": "human", "value": "..."}, {"from": "gpt", "value": "..."}, ...]}`;
- OpenAI messages: `{"messages": [{"role": "user", "content": "..."}, {"role": "assistant", ...}, ...]}`;
- turns: `{"turns": ["first question", {"content": "second", "think_time": 2.5, "max_tokens": 64}]}`.

The user's turns (`human`/`user`) are what is sent; the recorded answers (`gpt`, `assistant`, ...)
are dropped, because each turn's history carries the answer the target streamed this run; a
`system` entry is the conversation's system prompt. A turn's `think_time` (seconds, the pause
between the previous answer's end and this turn's send) or the conversation's `think_time` (one
number for every turn) override the run's (`load.think_time`, `--think-time`); `max_tokens` caps
one turn's answer. A conversation with no user turn, or an entry that is not one of these, is a
one-line DatasetError naming the file and line (exit 2).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stinger.core.sessions import MAX_TURNS
from stinger.datasets.base import MAX_JSON_ARRAY, dataset_error
from stinger.errors import DatasetError

__all__ = ["Conversation", "Conversations", "Turn"]

_USER = {"human", "user"}
_ANSWER = {"gpt", "assistant", "chatgpt", "bard", "bing", "model"}
_MAX_CONVERSATIONS = 1_000_000


@dataclass(frozen=True, slots=True)
class Turn:
    text: str
    think: float | None = None      # None: the conversation's or the run's
    max_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class Conversation:
    turns: tuple[Turn, ...]
    system: str | None = None


def _think(v: Any, where: str) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0 <= v <= 3600:
        raise DatasetError(f"{where}: think_time is {v!r}; expected seconds from 0 to 3600")
    return float(v)


def _turn(entry: Any, where: str) -> Turn:
    if isinstance(entry, str):
        return Turn(entry)
    text = entry.get("content", entry.get("prompt")) if isinstance(entry, dict) else None
    if not isinstance(entry, dict) or not isinstance(text, str):
        raise DatasetError(f"{where}: a turn is {str(entry)[:60]!r}; expected a string or "
                           '{"content": TEXT, "think_time": S, "max_tokens": N}')
    mt = entry.get("max_tokens")
    if mt is not None and (isinstance(mt, bool) or not isinstance(mt, int) or mt < 1):
        raise DatasetError(f"{where}: max_tokens is {mt!r}; expected a whole number of 1 or more")
    return Turn(text, _think(entry.get("think_time"), where), mt)


def parse_conversation(obj: Any, where: str) -> Conversation:
    """One conversation from its JSON (see the module); a one-line DatasetError naming `where` otherwise."""
    if not isinstance(obj, dict):
        raise DatasetError(f"{where}: a JSON {type(obj).__name__}; expected a conversation object with "
                           "conversations (ShareGPT), messages or turns")
    system = None
    turns: list[Turn] = []
    if "turns" in obj:
        raw = obj["turns"]
        if not isinstance(raw, list):
            raise DatasetError(f"{where}: turns is a {type(raw).__name__}; expected a list of turns")
        turns = [_turn(t, where) for t in raw]
    else:
        key, role_key, text_key = (("conversations", "from", "value") if "conversations" in obj
                                   else ("messages", "role", "content"))
        raw = obj.get(key)
        if not isinstance(raw, list):
            raise DatasetError(f"{where}: no conversation; expected conversations: [{{from, value}}, ...] "
                               "(ShareGPT), messages: [{role, content}, ...] or turns: [...]")
        for m in raw:
            role = m.get(role_key) if isinstance(m, dict) else None
            text = m.get(text_key) if isinstance(m, dict) else None
            if not isinstance(role, str) or not isinstance(text, str):
                raise DatasetError(f"{where}: an entry of {key} is {str(m)[:60]!r}; expected "
                                   f"{{{role_key!r}: ROLE, {text_key!r}: TEXT}}")
            role = role.lower()
            if role in _USER:
                turns.append(Turn(text, _think(m.get("think_time"), where)))
            elif role == "system":
                system = system if system is not None else text
            elif role not in _ANSWER:
                raise DatasetError(f"{where}: an entry of {key} has {role_key} {role!r}; expected "
                                   f"human/user, gpt/assistant or system")
    if not turns:
        raise DatasetError(f"{where}: an empty conversation (no user turn); expected at least one")
    if len(turns) > MAX_TURNS:
        raise DatasetError(f"{where}: {len(turns):,} turns; expected at most {MAX_TURNS:,}")
    default = _think(obj.get("think_time"), where)
    if default is not None:
        turns = [t if t.think is not None else Turn(t.text, default, t.max_tokens) for t in turns]
    return Conversation(tuple(turns), system)


class Conversations:
    """The conversations of a file, in its order (see the module). A `Dataset` whose body is a
    conversation's first turn alone: what a request would carry without the session machinery."""

    content_type = "application/json"
    has_labels = False

    def __init__(self, path: str | os.PathLike[str], shown: str | None = None) -> None:
        shown = shown or os.fspath(path)
        p = Path(path)
        if not p.is_file():
            raise dataset_error(shown, "no such file; expected conversations (JSON Lines, or a JSON array)")
        with p.open("rb") as f:
            head = f.read(4096).lstrip()
        items: list[tuple[Any, str]] = []
        if head.startswith(b"["):
            if p.stat().st_size > MAX_JSON_ARRAY:
                raise dataset_error(shown, "a JSON array past 256 MiB; expected JSON Lines for a file this big")
            try:
                arr = json.loads(p.read_bytes())
            except ValueError as exc:
                raise dataset_error(shown, f"not JSON ({exc}); expected a JSON array of conversations") from None
            items = [(obj, f"{shown}: conversation {i + 1}") for i, obj in enumerate(arr)]
        else:
            with p.open("rb") as f:
                for no, raw in enumerate(f, 1):
                    if not raw.strip():
                        continue
                    try:
                        items.append((json.loads(raw), f"{shown}: line {no}"))
                    except ValueError:
                        raise DatasetError(f"{shown}: line {no}: not JSON; expected one conversation a line") from None
        if not items:
            raise dataset_error(shown, "no conversations; expected one a line (or a JSON array of them)")
        if len(items) > _MAX_CONVERSATIONS:
            raise dataset_error(shown, f"more than {_MAX_CONVERSATIONS:,} conversations; expected fewer")
        self.conversations = [parse_conversation(obj, where) for obj, where in items]
        turns = sum(len(c.turns) for c in self.conversations)
        self.description = (f"conversations: {len(self.conversations):,}, {turns:,} user turns "
                            f"({turns / len(self.conversations):.1f} a conversation)")

    def __len__(self) -> int:
        return len(self.conversations)

    def body(self, i: int) -> bytes:
        return messages_body(self.conversations[i], [], 0)

    def label(self, i: int) -> None:
        return None


def messages_body(conv: Conversation, answers: list[str], turn: int) -> bytes:
    """Turn `turn`'s request: the system prompt (a system message first), turns 0..turn-1 each followed by
    its answer, then turn `turn`; `max_tokens` when the turn sets one. What the openai and anthropic
    apis take as a payload (`{"messages": [...]}`; anthropic moves a system message to `system`)."""
    msgs: list[dict[str, str]] = [{"role": "system", "content": conv.system}] if conv.system is not None else []
    for k in range(turn):
        msgs.append({"role": "user", "content": conv.turns[k].text})
        msgs.append({"role": "assistant", "content": answers[k]})
    t = conv.turns[turn]
    msgs.append({"role": "user", "content": t.text})
    req: dict[str, Any] = {"messages": msgs}
    if t.max_tokens is not None:
        req["max_tokens"] = t.max_tokens
    return json.dumps(req, separators=(",", ":")).encode()
