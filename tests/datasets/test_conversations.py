"""Conversations for multi-turn sessions: ShareGPT's JSON array as published, JSON Lines of any shape, think
times, and the one-line errors (the runs themselves: tests/engine/test_sessions.py)."""

from __future__ import annotations

import json

import pytest

from stinger.datasets.conversations import Conversations, messages_body
from stinger.errors import DatasetError


def test_a_sharegpt_json_array_keeps_the_user_turns_and_the_system_prompt(tmp_path):
    path = tmp_path / "sharegpt.json"
    path.write_text(json.dumps([
        {"id": "x1", "conversations": [{"from": "system", "value": "sys"}, {"from": "human", "value": "q1"},
                                        {"from": "gpt", "value": "a1"}, {"from": "human", "value": "q2"},
                                        {"from": "gpt", "value": "a2"}]},
        {"id": "x2", "think_time": 1.5, "conversations": [{"from": "human", "value": "only"}]},
    ]))
    ds = Conversations(path)
    assert len(ds) == 2 and "3 user turns" in ds.description
    c0, c1 = ds.conversations
    assert [t.text for t in c0.turns] == ["q1", "q2"] and c0.system == "sys"
    assert c1.turns[0].think == 1.5
    body = json.loads(messages_body(c0, ["live answer"], 1))
    assert body == {"messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "q1"},
                                 {"role": "assistant", "content": "live answer"}, {"role": "user", "content": "q2"}]}
    assert json.loads(ds.body(1)) == {"messages": [{"role": "user", "content": "only"}]}


def test_turns_carry_their_own_think_time_and_max_tokens(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"turns": ["a", {"content": "b", "think_time": 0.5, "max_tokens": 9}],
                                "think_time": 2}) + "\n")
    (c,) = Conversations(path).conversations
    assert [(t.text, t.think, t.max_tokens) for t in c.turns] == [("a", 2.0, None), ("b", 0.5, 9)]
    assert json.loads(messages_body(c, ["x"], 1))["max_tokens"] == 9


@pytest.mark.parametrize(("text", "expected"), [
    ("[1, 2]", "conversation 1: a JSON int"),
    ('{"turns": ["a"]}\n{"turns": "a"}\n', "line 2: turns is a str"),
    ('{"turns": [{"content": "a", "max_tokens": 0}]}\n', "max_tokens"),
    ('{"hello": 1}\n', "no conversation"),
    ("\n\n", "no conversations"),
])
def test_mistakes_are_one_line_naming_where(tmp_path, text, expected):
    path = tmp_path / "c.jsonl"
    path.write_text(text)
    with pytest.raises(DatasetError) as e:
        Conversations(path)
    assert expected in str(e.value) and "\n" not in str(e.value)
