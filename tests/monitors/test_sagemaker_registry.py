"""The SageMaker monitors by name: `cloudwatch` and `sagemaker-endpoint` registry lines, flags and spec entries."""

from __future__ import annotations

import pytest
import yaml

from stinger.errors import SpecError
from stinger.monitors import registry
from stinger.spec import parse_spec
from stinger.vendors.sagemaker.cloudwatch import CloudWatchMonitor, CloudWatchReading
from stinger.vendors.sagemaker.endpoint_monitor import EndpointMonitor

SAGEMAKER = """\
target: {type: sagemaker, endpoint: ep-main, region: us-east-1}
load: {rate: 10, duration: 1s}
"""


def load(text: str):
    return parse_spec(yaml.safe_load(text), source="spec.yaml", text=text)


@pytest.mark.parametrize("flag, entry", [
    ("cloudwatch=ep-1", {"type": "cloudwatch", "endpoint": "ep-1"}),
    ("cloudwatch=ep-1@eu-west-1", {"type": "cloudwatch", "endpoint": "ep-1", "region": "eu-west-1"}),
    ("cloudwatch=off", {"type": "cloudwatch", "enabled": False}),
    ("sagemaker-endpoint=ep-2@us-west-2", {"type": "sagemaker-endpoint", "endpoint": "ep-2", "region": "us-west-2"}),
])
def test_flags_name_them(flag, entry):
    assert registry.parse_monitor_flag(flag) == entry


@pytest.mark.parametrize("flag, words", [
    ("cloudwatch=bad_name!", "endpoint"),
    ("cloudwatch=ep@nowhere", "region"),
    ("sagemaker-endpoint", "sagemaker-endpoint=ENDPOINT"),
])
def test_bad_flags_say_what_was_expected(flag, words):
    with pytest.raises(ValueError, match=words):
        registry.parse_monitor_flag(flag)


def test_spec_entries_are_typed_and_errors_carry_the_line():
    with pytest.raises(SpecError) as info:
        load(SAGEMAKER + "monitors:\n  - {type: cloudwatch, wait_s: -1}\n")
    assert "monitors.0.wait_s" in str(info.value) and "line 4" in str(info.value)
    with pytest.raises(SpecError, match=r"monitors\.0\.endpoint"):
        load(SAGEMAKER + "monitors:\n  - {type: sagemaker-endpoint}\n")
    with pytest.raises(SpecError, match=r"monitors\.0\.poll_s"):
        load(SAGEMAKER + "monitors:\n  - {type: sagemaker-endpoint, endpoint: ep, poll_s: 0.1}\n")


def test_built_from_the_registry_with_their_settings():
    reading = registry.build({"type": "cloudwatch", "endpoint": "ep-x", "region": "eu-west-1", "wait_s": 30,
                              "extended": ["p50", "p99"]})
    assert isinstance(reading, CloudWatchReading) and reading.sample(1.0) == []
    monitor = reading.monitor("ep-x", ["A"], vcpus={"A": 2})
    assert isinstance(monitor, CloudWatchMonitor)
    assert (monitor.endpoint, monitor.wait_s, monitor.extended, monitor._region) == ("ep-x", 30, ("p50", "p99"),
                                                                                      "eu-west-1")
    poller = registry.build({"type": "sagemaker-endpoint", "endpoint": "ep-y", "poll_s": 30, "name": "other"})
    assert isinstance(poller, EndpointMonitor)
    assert (poller.endpoint, poller.poll_s, poller.name) == ("ep-y", 30, "other")


def test_a_named_poller_replaces_the_automatic_one():
    from stinger.orchestrate.monitor_set import MonitorSet
    from stinger.vendors.sagemaker.side import asks_cloudwatch, endpoint_monitors

    plain = load(SAGEMAKER)
    (auto,) = endpoint_monitors(plain)
    assert auto.endpoint == "ep-main"
    named = load(SAGEMAKER + "monitors:\n  - {type: sagemaker-endpoint, endpoint: ep-main, region: us-east-1}\n")
    assert endpoint_monitors(named) == []
    assert [type(m).__name__ for m in MonitorSet.from_spec(named).monitors] == ["EndpointMonitor"]
    other = load(SAGEMAKER + "monitors:\n  - {type: sagemaker-endpoint, endpoint: ep-other}\n")
    assert [m.endpoint for m in endpoint_monitors(other)] == ["ep-main"]
    assert not asks_cloudwatch(plain)
    assert not asks_cloudwatch(load(SAGEMAKER + "monitors:\n  - {type: cloudwatch, enabled: false}\n"))
    assert asks_cloudwatch(load(SAGEMAKER + "monitors:\n  - {type: cloudwatch, endpoint: ep-other}\n"))


def test_a_named_endpoint_without_a_region_is_a_warning_after_the_load(monkeypatch, tmp_path):
    """Read after the load: a missing region must not turn a finished run into an error."""
    pytest.importorskip("boto3")
    from stinger.vendors.sagemaker.summary import collect

    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    spec = load("target: {url: 'http://127.0.0.1:9/'}\nload: {rate: 1, duration: 1s}\n"
                "monitors:\n  - {type: cloudwatch, endpoint: ep-far, variants: [A], wait_s: 0}\n")
    summary: dict = {"variants": {}}
    block = collect(spec, summary, [], 1_800_000_000.0, 1_800_000_010.0)
    assert block["other_endpoints"]["ep-far"] == {}          # not read: no figures, rather than zeros
    assert any("ep-far" in w and "region" in w for w in summary["warnings"])
