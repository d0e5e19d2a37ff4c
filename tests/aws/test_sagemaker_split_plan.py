"""`split: sagemaker` in a spec and in the plan: which variants may share it, and how requests are planned.

(The runs themselves, against the SigV4-checking front on loopback: tests/aws/test_sagemaker_split.py.)
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
import yaml

from stinger.engine.plan import ATTRIBUTED
from stinger.engine.slots import build_slots
from stinger.errors import SpecError
from stinger.orchestrate.abilities import run_targets
from stinger.orchestrate.planning import build_plans
from stinger.spec import parse_spec
from stinger.vendors.sagemaker.split import production_variants

SM = "{type: sagemaker, endpoint: ep, region: us-east-1, endpoint_url: 'http://127.0.0.1:9'}"


def spec_text(text: str):
    text = textwrap.dedent(text).lstrip("\n")
    return parse_spec(yaml.safe_load(text), source="spec.yaml", text=text)


def error_of(text: str) -> str:
    with pytest.raises(SpecError) as info:
        spec_text(text)
    msg = str(info.value)
    assert "\n" not in msg and info.value.exit_code == 2
    return msg


def two(a: str = SM, b: str = SM, names=("A", "B"), extra: str = "") -> str:
    return f"""
        split: sagemaker
        variants:
          - {{name: {names[0]}, target: {a}}}
          - {{name: {names[1]}, target: {b}}}
        load: {{rate: 10, duration: 1s}}
        {extra}
    """


def test_variants_sharing_one_unpinned_target_plan_one_stream_and_an_unattributed_row():
    spec = spec_text(two())
    (plan,) = build_plans(spec, workers=1)
    assert plan.split == ATTRIBUTED
    assert [v.name for v in plan.variants] == ["A", "B", "unattributed"]
    # one shared target that knows the production variants in plan order (the spec's names here)
    assert len({v.target for v in plan.variants}) == 1
    assert plan.variants[0].target.variant_names == ("A", "B")
    assert production_variants(run_targets(spec)) == {"A": "A", "B": "B"}
    # every request leaves on the last variant: SageMaker, not stinger, picks
    _, variants, _ = next(build_slots(plan).open_chunks())
    assert len(variants) == 10 and np.all(variants == 2)


def test_listed_production_variants_map_to_the_spec_names_in_order():
    t = "{type: sagemaker, endpoint: ep, region: us-east-1, variant_names: [blue, green]}"
    spec = spec_text(two(t, t, names=("old", "new")))
    assert production_variants(run_targets(spec)) == {"old": "blue", "new": "green"}


@pytest.mark.parametrize("text, words", [
    (two("{url: 'http://127.0.0.1:9/'}", "{url: 'http://127.0.0.1:9/'}"), "type: sagemaker"),
    (two(SM.replace("}", ", target_variant: A}"), SM), "remove target_variant"),
    (two(SM, SM.replace("endpoint: ep", "endpoint: other")), "share one target"),
    (two(names=("A", "unattributed")), "rename that variant"),
    ("""
        split: sagemaker
        target: {type: sagemaker, endpoint: ep, region: us-east-1}
        load: {rate: 10, duration: 1s}
    """, "stinger ab --sagemaker ENDPOINT --split sagemaker"),
])
def test_a_spec_that_cannot_be_split_by_sagemaker_is_one_line(text, words):
    msg = error_of(text)
    assert "split: sagemaker" in msg and words in msg
