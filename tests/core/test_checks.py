"""Response checks: status forms, the JSON path mini-language, regex, needs_body."""

from __future__ import annotations

import json
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stinger.core.checks import MISSING, ResponseCheck, compile_json_path, extract, parse_status
from stinger.errors import UsageError

# ---------------------------------------------------------------------------
# Status
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "accepted", "rejected"),
    [
        (None, [200, 204, 299], [199, 300, 404, 500]),
        ("2xx", [200, 250, 299], [300, 199]),
        ("4XX", [400, 404], [200]),
        ("200-204", [200, 202, 204], [205, 199]),
        ("200,204", [200, 204], [201]),
        (" 200 , 3xx , 404-405 ", [200, 301, 404, 405], [201, 406]),
        ([200, 201], [200, 201], [202]),
        ((201,), [201], [200]),
        (503, [503], [200]),
        (["2xx", 404], [204, 404], [403]),
    ],
)
def test_status_forms(spec: object, accepted: list[int], rejected: list[int]) -> None:
    check = ResponseCheck(status=spec)  # type: ignore[arg-type]
    assert all(check.status_ok(s) for s in accepted)
    assert not any(check.status_ok(s) for s in rejected)


@pytest.mark.parametrize("spec", ["", "6xx", "abc", "300-200", "20", [99], [600], "200;201", [True], [200.5], ",", object()])
def test_invalid_status_is_a_one_line_usage_error(spec: object) -> None:
    with pytest.raises(UsageError) as info:
        parse_status(spec)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message and "invalid status" in message


def test_status_only_does_not_need_the_body() -> None:
    check = ResponseCheck(status="2xx")
    assert not check.needs_body
    assert check.body_ok(b"anything")
    assert check.ok(200) and not check.ok(500)
    assert ResponseCheck(json_path="a").needs_body
    assert ResponseCheck(regex="ok").needs_body
    assert ResponseCheck(equals=1).needs_body


# ---------------------------------------------------------------------------
# JSON paths
# ---------------------------------------------------------------------------

DOC = {"predictions": [{"label": "cat", "score": 0.9}, {"label": "dog"}], "a b": {"c'd": [1, 2, 3]}, "0": "zero"}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$", DOC),
        ("$.predictions[0].label", "cat"),
        ("predictions[0].label", "cat"),
        ("$predictions", MISSING),  # '$' followed by a name is a key, not the root
        ("predictions[-1].label", "dog"),
        ("predictions.1.label", "dog"),
        ("$['a b']['c\\'d'][2]", 3),
        ('["a b"]["c\'d"][-3]', 1),
        ("$[\"0\"]", "zero"),
        ("0", "zero"),
        ("predictions[2]", MISSING),
        ("predictions[-3]", MISSING),
        ("predictions[0].label.x", MISSING),
        ("predictions.label", MISSING),
        ("nope", MISSING),
        ("$[0]", MISSING),
    ],
)
def test_json_paths(path: str, expected: object) -> None:
    got = compile_json_path(path)(DOC)
    if expected is MISSING:
        assert got is MISSING
    else:
        assert got == expected


@pytest.mark.parametrize(
    ("path", "position"),
    [("a..b", 2), ("a b", 1), ("$.", 2), (".a", 0), ("a[", 1), ("a[x]", 2), ("a['x", 2), ("a['x'", 5), ("a]", 1), ("[0]b", 3)],
)
def test_invalid_paths_name_the_position(path: str, position: int) -> None:
    with pytest.raises(UsageError) as info:
        compile_json_path(path)
    message = str(info.value)
    assert "\n" not in message
    assert repr(path) in message and f"position {position}" in message


def test_empty_path_is_invalid() -> None:
    with pytest.raises(UsageError, match="empty"):
        compile_json_path("  ")


def _render(steps: list[str | int]) -> str:
    """A path string for steps, quoting every key (escaping quotes and backslashes)."""
    out = "$"
    for step in steps:
        if isinstance(step, int):
            out += f"[{step}]"
        else:
            out += "['" + step.replace("\\", "\\\\").replace("'", "\\'") + "']"
    return out


@st.composite
def document_and_steps(draw: st.DrawFn) -> tuple[object, list[str | int], object]:
    """A nested document, a path of steps into it, and the value at its end."""
    leaf = draw(st.none() | st.booleans() | st.integers() | st.text(max_size=5))
    value: object = leaf
    steps: list[str | int] = []
    for _ in range(draw(st.integers(min_value=0, max_value=5))):
        if draw(st.booleans()):
            siblings = draw(st.lists(st.integers(), max_size=3))
            at = draw(st.integers(min_value=0, max_value=len(siblings)))
            container = siblings[:at] + [value] + siblings[at:]
            index = at if draw(st.booleans()) else at - len(container)
            steps.insert(0, index)
            value = container
        else:
            key = draw(st.text(max_size=6))
            others = draw(st.dictionaries(st.text(max_size=3), st.integers(), max_size=3))
            others[key] = value
            steps.insert(0, key)
            value = others
    return value, steps, leaf


@given(document_and_steps())
def test_rendered_paths_round_trip(case: tuple[object, list[str | int], object]) -> None:
    document, steps, leaf = case
    path = compile_json_path(_render(steps))
    assert path(document) == leaf
    assert extract(json.dumps(document).encode(), path) == leaf


@given(st.lists(st.text(alphabet="abcXYZ_-019", min_size=1, max_size=5), min_size=1, max_size=4))
def test_dotted_keys_equal_quoted_keys(keys: list[str]) -> None:
    document: object = "leaf"
    for key in reversed(keys):
        document = {key: document}
    assert compile_json_path(".".join(keys))(document) == "leaf"
    assert compile_json_path("$." + ".".join(keys))(document) == "leaf"


def test_extract_is_missing_on_any_failure() -> None:
    path = compile_json_path("a")
    assert extract(b'{"a": null}', path) is None
    assert extract(b'{"a": 1}', "a") == 1
    for body in (b"", None, b"not json", b"\xff\xfe", b'["a"]', b'{"b": 1}'):
        assert extract(body, path) is MISSING


def test_missing_is_a_falsy_singleton_that_survives_pickling() -> None:
    assert not MISSING
    assert repr(MISSING) == "MISSING"
    assert pickle.loads(pickle.dumps(MISSING)) is MISSING


# ---------------------------------------------------------------------------
# Body checks
# ---------------------------------------------------------------------------


def test_json_path_must_exist() -> None:
    check = ResponseCheck(json_path="$.predictions[0]")
    assert check.body_ok(b'{"predictions": [0]}')
    assert check.body_ok(b'{"predictions": [null]}')
    assert not check.body_ok(b'{"predictions": []}')
    assert not check.body_ok(b"<html>oops</html>")
    assert not check.body_ok(None)


def test_equals_compares_as_json() -> None:
    check = ResponseCheck(json_path="label", equals=1)
    assert check.body_ok(b'{"label": 1}')
    assert check.body_ok(b'{"label": 1.0}')
    assert not check.body_ok(b'{"label": true}')
    assert not check.body_ok(b'{"label": "1"}')
    nested = ResponseCheck(json_path="p", equals={"a": [1, False]})
    assert nested.body_ok(b'{"p": {"a": [1, false]}}')
    assert not nested.body_ok(b'{"p": {"a": [1, 0]}}')
    whole = ResponseCheck(equals=[1, 2])
    assert whole.body_ok(b"[1, 2]") and not whole.body_ok(b"[2, 1]")


def test_regex_searches_the_body() -> None:
    check = ResponseCheck(regex=r'"label":\s*"(cat|dog)"')
    assert check.body_ok(b'{"score": 1, "label": "dog"}')
    assert not check.body_ok(b'{"label": "cow"}')
    assert not check.body_ok(None)
    both = ResponseCheck(status="200", json_path="label", regex="ca")
    assert both.ok(200, b'{"label": "cat"}')
    assert not both.ok(200, b'{"label": "dog"}')
    assert not both.ok(201, b'{"label": "cat"}')


def test_a_regex_that_backtracks_forever_runs_out_of_time_and_is_given_up() -> None:
    """Before: `re` searched `([^}]|[^}][^}])+$` on a 2 KB body for ever, holding the flush thread."""
    import time

    from stinger.core.checks import REGEX_GIVE_UP, REGEX_TIMEOUT
    from stinger.testing.servers import big_body

    check = ResponseCheck(regex=r"([^}]|[^}][^}])+$")
    body = big_body(2000)
    assert check.problem is None
    t = time.perf_counter()
    assert not check.body_ok(body)
    assert time.perf_counter() - t < REGEX_TIMEOUT * 20
    assert "ran out of time" in check.problem and "no longer run" not in check.problem
    for _ in range(REGEX_GIVE_UP - 1):
        assert not check.body_ok(body)
    assert "no longer run" in check.problem
    t = time.perf_counter()
    assert not check.body_ok(body) and not check.body_ok(b'{"ok":true}')   # not run any more: fails at once
    assert time.perf_counter() - t < REGEX_TIMEOUT / 2
    assert "\n" not in check.problem


def test_invalid_regex_is_a_one_line_usage_error() -> None:
    with pytest.raises(UsageError) as info:
        ResponseCheck(regex="(unclosed")
    message = str(info.value)
    assert "\n" not in message and "(unclosed" in message and "position" in message
