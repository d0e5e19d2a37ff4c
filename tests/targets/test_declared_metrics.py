"""Targets declare the catalogue metrics they read from responses: every metric the catalogue marks as a
target's is declared by an api or a carrier, and nothing is declared that the catalogue does not hold."""

from __future__ import annotations

from stinger.core.catalogue import BY_NAME, METRICS
from stinger.targets.base import declared_metrics


def test_every_target_metric_is_declared_by_a_target_and_only_those():
    declared = declared_metrics()
    named = [m for names in declared.values() for m in names]
    # the LLM apis share the token metrics (defined once, in the catalogue); each api declares what it reads
    assert set(named) == {m.name for m in METRICS if m.source == "target"}
    assert all(BY_NAME[n].source == "target" for n in named)
    assert declared["apis:openai"] == ("ttft", "ttfo", "itl", "tpot", "input_tokens", "output_tokens",
                                      "reasoning_tokens", "output_tps")
    assert declared["carriers:sagemaker"] == ("ttfc", "chunk_gap")
    assert declared["apis:plain"] == () and declared["carriers:http"] == ()
