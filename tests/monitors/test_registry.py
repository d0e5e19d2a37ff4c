"""The monitor registry: each type's typed config, checked when the spec is loaded, errors with the YAML line."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from stinger.errors import SpecError
from stinger.monitors import registry
from stinger.monitors.gpu import GpuConfig, GpuMonitor
from stinger.monitors.process import ProcessConfig, ProcessMonitor
from stinger.monitors.prometheus import PrometheusConfig, PrometheusMonitor
from stinger.spec import parse_spec

BASE = """\
target:
  url: http://127.0.0.1:9/
load:
  rate: 10
  duration: 1s
"""


def load(text: str):
    return parse_spec(yaml.safe_load(text), source="spec.yaml", text=text)


def spec_error(text: str) -> str:
    with pytest.raises(SpecError) as info:
        load(text)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_every_registered_type_has_a_config_of_its_own_type():
    for name in registry.REGISTRY:
        cls = registry.monitor_class(name)
        assert cls.Config.model_fields["type"].default == name


@pytest.mark.parametrize("entry, cls, kwargs", [
    ({"type": "process", "port": 8080}, ProcessMonitor,
     {"name": "endpoint", "pid": None, "port": 8080, "cmdline": None, "include_children": True}),
    ({"type": "process", "cmdline": "uvicorn .*app", "name": "api", "include_children": False}, ProcessMonitor,
     {"name": "api", "pid": None, "port": None, "cmdline": "uvicorn .*app", "include_children": False}),
    ({"type": "prometheus", "url": "http://127.0.0.1:8000", "preset": "demo", "include": ["x_*"], "timeout": 5},
     PrometheusMonitor,
     {"name": "prom", "url": "http://127.0.0.1:8000", "preset": "demo", "include": ["x_*"], "timeout": 5.0}),
    ({"type": "gpu"}, GpuMonitor, {"name": "gpu", "index": None}),
    ({"type": "gpu", "index": 1, "name": "card"}, GpuMonitor, {"name": "card", "index": 1}),
])
def test_good_configs_build_their_monitor(entry, cls, kwargs):
    config = registry.monitor_config(entry)
    assert config.kwargs() == kwargs
    monitor = registry.build(entry)
    assert type(monitor) is cls
    assert monitor.name == kwargs["name"]


def test_configs_are_the_monitor_classes_own():
    assert ProcessMonitor.Config is ProcessConfig
    assert PrometheusMonitor.Config is PrometheusConfig
    assert GpuMonitor.Config is GpuConfig


def test_unknown_type_lists_the_known_ones_with_its_line():
    message = spec_error(BASE + "monitors:\n  - type: process\n    port: 80\n  - type: datadog\n")
    assert message == ("spec.yaml line 9: monitors.1.type: unknown monitor type 'datadog'; "
                       "expected one of process, prometheus, gpu, cloudwatch, sagemaker-endpoint")


def test_missing_type_and_an_entry_that_is_not_a_mapping():
    assert "monitors.0.type: no type given; expected one of process" in spec_error(BASE + "monitors:\n  - port: 80\n")
    assert "line 7: monitors.0: Input should be a valid dictionary" in spec_error(BASE + "monitors:\n  - process\n")
    with pytest.raises(ValidationError, match="a monitor is a mapping"):
        registry.monitor_config("process")


@pytest.mark.parametrize("entry, line, expected", [
    ("  - type: process\n    port: 70000\n", 8, "monitors.0.port: Input should be less than 65536 (got 70000)"),
    ("  - type: process\n    pid: 0\n", 8, "monitors.0.pid: Input should be greater than 0"),
    ("  - type: process\n    port: 80\n    pid: 12\n", 7,
     "monitors.0: a process monitor needs exactly one of pid, port or cmdline (got pid, port)"),
    ("  - type: process\n    cmdline: '(unclosed'\n", 8, "monitors.0.cmdline: invalid regular expression"),
    ("  - type: process\n    prot: 80\n", 8, "monitors.0.prot: unknown field"),
    ("  - type: prometheus\n    url: ftp://host/metrics\n", 8, "must be http(s)://HOST[:PORT][/PATH]"),
    ("  - type: prometheus\n    url: http://h:1/\n    preset: nope\n", 9, "monitors.0.preset: unknown preset 'nope'"),
    ("  - type: prometheus\n    url: http://h:1/\n    timeout: 0\n", 9, "monitors.0.timeout: Input should be greater than 0"),
    ("  - type: prometheus\n", 7, "monitors.0.url: required field is missing"),
    ("  - type: gpu\n    index: -1\n", 8, "monitors.0.index: Input should be greater than or equal to 0"),
    ("  - type: gpu\n    index: first\n", 8, "monitors.0.index: Input should be a valid integer"),
])
def test_bad_fields_are_one_line_with_the_yaml_line(entry, line, expected):
    message = spec_error(BASE + "monitors:\n" + entry)
    assert message.startswith(f"spec.yaml line {line}: ")
    assert expected in message


def test_a_variants_own_monitors_are_checked_too():
    text = """\
variants:
  - name: A
    url: http://127.0.0.1:9/
    monitors:
      - type: process
        port: 0
load:
  rate: 10
  duration: 1s
"""
    message = spec_error(text)
    assert message.startswith("spec.yaml line 6: variants.0.monitors.0.port: Input should be greater than 0")


def test_a_good_spec_loads_and_keeps_its_monitors_as_written():
    spec = load(BASE + "monitors:\n  - type: process\n    port: 8080\n  - type: gpu\n")
    assert spec.monitors == [{"type": "process", "port": 8080}, {"type": "gpu"}]


def test_build_checks_an_entry_made_in_code():
    with pytest.raises(ValidationError) as info:
        registry.build({"type": "gpu", "index": -2}, at=("monitors", 3))
    assert info.value.errors()[0]["loc"] == ("monitors", 3, "index")


def test_each_kind_names_its_default_once_and_a_second_monitor_is_numbered_after_it():
    from stinger.cli.resolve import monitor_entries as _monitor_entries
    from stinger.monitors.registry import REGISTRY, default_name, monitor_class

    for kind in REGISTRY:
        assert default_name(kind) == monitor_class(kind).Config.model_fields["name"].default
    assert default_name("prometheus") == "prom" and default_name("process") == "endpoint"
    entries = _monitor_entries(("prometheus=http://127.0.0.1:9/metrics", "prometheus=http://127.0.0.1:8/metrics",
                                "process=123", "process=456"))
    assert [e.get("name") for e in entries] == [None, "prom2", None, "endpoint2"]
