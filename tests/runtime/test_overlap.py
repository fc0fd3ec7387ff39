"""Overlap in the runtime (docs/design.md §4b): a replica group's gradient all-reduce starts as
soon as its members' last backward of the step is done (and the sends it produced have left),
while the rest of the pipeline still computes. The plan and the simulator side is
tests/plan/test_sync.py."""

from __future__ import annotations

import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from pgc.runtime.actions import Action
from pgc.runtime.plan import Plan
from pgc.runtime.worker import StepState, Worker
from tests.conftest import run_pgc
from tests.runtime.reference import load_script
from tests.runtime.test_units import run_workers

SPEC = Path(__file__).parent / "specs" / "full_replicas.pgc"


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """A chain of three stages, the first and the last on two workers each (1F1B)."""
    out = tmp_path_factory.mktemp("full_replicas")
    r = run_pgc("compile", str(SPEC), "-o", str(out), timeout=300)
    assert r.returncode == 0, r.stderr
    return load_script(out / "train.py")


def test_the_last_stage_all_reduces_while_the_first_stage_computes(
        replicas: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first stage's workers hold their last backward of the step until every member of
    the last stage's group has begun its all-reduce: a runtime that put the all-reduce after
    anything the first stage still does (the end of the pipeline, a barrier) never gets there,
    and the held backwards time out."""
    plan: Plan = replicas.PLAN
    placement = {s.name: [w for w in plan.workers if plan.stage_of(w).name == s.name]
                 for s in plan.stages}
    first, last = plan.stages[0].name, plan.stages[-1].name
    assert len(placement[first]) == len(placement[last]) == 2
    last_backward = {w: max(i for i, a in enumerate(plan.actions[w]) if a.kind == "B")
                     for w in plan.workers}
    started: set[str] = set()
    all_started = threading.Event()
    held: dict[str, bool] = {}
    lock = threading.Lock()
    reduce, backward = Worker.reduce, Worker.backward

    def reducing(self: Worker, name: str) -> None:
        if name == last:
            with lock:
                started.add(self.me)
                if started == set(placement[last]):
                    all_started.set()
        reduce(self, name)

    def holding(self: Worker, act: Action, st: StepState) -> Any:
        if self.me in placement[first] and act == plan.actions[self.me][last_backward[self.me]]:
            held[self.me] = all_started.wait(timeout=20)
        return backward(self, act, st)

    monkeypatch.setattr(Worker, "reduce", reducing)
    monkeypatch.setattr(Worker, "backward", holding)
    got = run_workers(replicas, 1)
    assert all(isinstance(r, list) for r in got.values()), got
    assert held == dict.fromkeys(placement[first], True), held
    # the last stage's all-reduce is the first action after its last backward and its sends
    for w in placement[last]:
        after = plan.actions[w][last_backward[w] + 1:]
        assert [a.kind for a in after] == ["SEND_B", "ALLREDUCE", "STEP"], after
