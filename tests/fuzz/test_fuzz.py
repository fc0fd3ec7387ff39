"""The spec fuzzer in the suite: a fixed-seed sample of mutants through `pgc check` (2,000) and
through `pgc plan` (100 check-clean ones). A crash (any exception but the project's located
diagnostics) or a hang (past the per-call limit) fails, naming the mutant and what was done
to its seed; `bench/fuzz_bench.py` runs 20,000."""

from __future__ import annotations

import collections
from pathlib import Path

import torch  # noqa: F401  (loaded before any time limit can interrupt its import)

from pgc.commands.plan import plan
from pgc.frontend import check_file
from tests.fuzz.corpus import check_seeds, plan_seeds
from tests.fuzz.mutator import mutants, run_one

CHECK_LIMIT_S = 10.0
PLAN_LIMIT_S = 30.0


def _failures(outcomes: list[tuple[str, str, str]]) -> list[str]:
    return [f"{what}: {outcome}\n{detail[-2000:]}" for what, outcome, detail in outcomes
            if outcome in ("crash", "hang")]


def test_mutator_is_deterministic(tmp_path: Path) -> None:
    seeds = check_seeds(tmp_path)
    first = [m.text for m in mutants(seeds, 50, seed=7)]
    assert first == [m.text for m in mutants(seeds, 50, seed=7)]
    assert first != [m.text for m in mutants(seeds, 50, seed=8)]
    assert len(set(first)) > 40


def test_check_survives_2000_mutants(tmp_path: Path) -> None:
    outcomes = []
    for m in mutants(check_seeds(tmp_path), 2000, seed=0):
        outcome, detail = run_one(check_file, m, CHECK_LIMIT_S)
        outcomes.append((m.describe(), outcome, detail))
    assert not _failures(outcomes), "\n".join(_failures(outcomes)[:5])
    seen = collections.Counter(o for _, o, _ in outcomes)
    assert seen["ok"] >= 100 and seen["error"] >= 1000, seen  # the sample tests both sides


def test_plan_survives_100_check_clean_mutants(tmp_path: Path) -> None:
    outcomes = []
    for m in mutants(plan_seeds(tmp_path), 5000, seed=0):
        if run_one(check_file, m, CHECK_LIMIT_S)[0] != "ok":
            continue
        outcome, detail = run_one(plan, m, PLAN_LIMIT_S)
        outcomes.append((m.describe(), outcome, detail))
        if len(outcomes) == 100:
            break
    assert len(outcomes) == 100
    assert not _failures(outcomes), "\n".join(_failures(outcomes)[:5])
    assert sum(o == "ok" for _, o, _ in outcomes) >= 50

