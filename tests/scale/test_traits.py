"""scale/base.py BackendTraits: what a backend is, asked of its declared traits, never of its name.

A backend registered under a name no code knows ("elsewhere") gets exactly what its traits say:
its start delay, --save-requests refused when its workers' files are not the coordinator's, this
machine's per-core worker ceiling when it declares it. Before the traits these were the names
"ray" and "local" (and a getattr of `start_delay`), so such a backend was treated as neither.
"""

from __future__ import annotations

import os
import sys
import time
import types

import pytest

from stinger.errors import UsageError
from stinger.orchestrate.planning import build_plans
from stinger.scale import base
from stinger.scale.base import DEFAULT_BACKEND, REGISTRY, BackendTraits, ClusterConnect, backend_traits
from stinger.scale.coordinator import execute
from stinger.scale.inprocess import InProcessBackend
from stinger.spec import parse_spec

ELSEWHERE = BackendTraits(start_delay=0.3, shared_filesystem=False, local_cpu_ceiling=True, local_pids=True)


class Elsewhere(InProcessBackend):
    """Threads of this process that declare themselves as another machine's workers, recording when
    `start` returned and which instant `begin` was told."""

    traits = ELSEWHERE

    def start(self, plans):
        pids = super().start(plans)
        self.started = time.time()
        return pids

    def begin(self, start_wall: float) -> None:
        self.begun_for = start_wall
        super().begin(start_wall)


@pytest.fixture
def elsewhere(monkeypatch):
    module = types.ModuleType("stinger_test_backends")
    module.Elsewhere = Elsewhere
    monkeypatch.setitem(sys.modules, "stinger_test_backends", module)
    monkeypatch.setitem(base.REGISTRY, "elsewhere", "stinger_test_backends:Elsewhere")
    return "elsewhere"


def fake_spec(**load):
    return parse_spec({"target": {"type": "fake", "delay": "1ms"},
                       "load": {"rate": 40, "requests": 4, "workers": 1, **load}})


def test_every_registered_backend_declares_its_traits_readable_by_name_alone():
    assert DEFAULT_BACKEND in REGISTRY
    for name in REGISTRY:
        assert isinstance(backend_traits(name), BackendTraits), name
    assert backend_traits("local") == BackendTraits()
    ray = backend_traits("ray")
    assert ray.start_delay == 1.0 and not (ray.shared_filesystem or ray.local_cpu_ceiling or ray.local_pids)
    assert not backend_traits("inprocess").local_cpu_ceiling and backend_traits("inprocess").shared_filesystem


def test_the_coordinator_waits_the_start_delay_its_backend_declares(elsewhere):
    backend = Elsewhere()
    outcome = execute(build_plans(fake_spec()), backend=backend)
    assert outcome.metrics.variants["default"].ok == 4
    # the clock's zero is named at least `start_delay` after the workers were ready (0.1 s before the traits)
    assert backend.begun_for >= backend.started + ELSEWHERE.start_delay


def test_save_requests_is_refused_when_the_workers_files_are_not_the_coordinators(elsewhere, tmp_path):
    from stinger.orchestrate.run import run_spec

    spec = fake_spec(backend=elsewhere)
    spec.output.save_requests = True
    spec.output.dir = str(tmp_path / "runs")
    with pytest.raises(UsageError, match="--save-requests works with the local backend: elsewhere workers"):
        run_spec(spec, quiet=True, write=True)
    assert not (tmp_path / "runs").exists()   # refused before any run directory


def test_the_per_core_ceiling_applies_to_the_backends_that_declare_it(elsewhere):
    from stinger.orchestrate.preflight import check_ceilings

    too_many = (os.cpu_count() or 1) * 4 + 1
    with pytest.raises(UsageError, match="past the safety ceiling"):
        check_ceilings(fake_spec(backend=elsewhere, workers=too_many))
    check_ceilings(fake_spec(backend="inprocess", workers=too_many))   # threads: no per-core ceiling
    check_ceilings(fake_spec(backend=elsewhere, workers=too_many, confirm=True))


@pytest.mark.parametrize("name", ["local", "inprocess"])
def test_a_backend_with_local_pids_returns_this_machines_processes(name):
    outcome = execute(build_plans(fake_spec(workers=2)), backend=name)
    assert backend_traits(name).local_pids
    assert len(outcome.worker_pids) == 2 and all(pid > 0 for pid in outcome.worker_pids)


def test_the_connect_ability_is_a_declared_protocol():
    from stinger.scale.ray import RayBackend

    assert isinstance(RayBackend(), ClusterConnect)
    assert not isinstance(InProcessBackend(), ClusterConnect)
