"""Specs that pass `pgc check` but once made the planner hang or blow up: a huge swap bound,
tens of thousands of declared (unused) workers, more candidates than automatic placement can
compare. Each plans, or is a located error."""

from __future__ import annotations

from pathlib import Path

import pytest
from scale_specs import ring_spec

from pgc.diagnostics import UserError
from pgc.frontend import load_program
from pgc.ir.topology import link_table
from pgc.pipeline import run_passes
from pgc.planner.costs import MAX_DENSE_WORKERS, Costs
from pgc.planner.routing import _with_swaps
from tests.conftest import run_pgc


def test_huge_swap_bound_costs_what_the_path_allows() -> None:
    """A path with 4 adjacent swappable pairs holds at most 2 non-overlapping swaps: a bound of
    a million gives exactly the variants a bound of 2 does, without counting to a million."""
    base = (0, 1, 2, 3, 4, 5)
    assert _with_swaps(base, {1, 2, 3, 4, 5}, 10**6) == _with_swaps(base, {1, 2, 3, 4, 5}, 2)
    assert len(_with_swaps(base, {1, 2, 3, 4, 5}, 10**6)) == 1 + 4 + 3
    assert len(_with_swaps(tuple(range(40)), set(range(40)), 10**6, limit=50)) == 50


def test_swap_bound_of_a_million_plans(tmp_path: Path) -> None:
    spec = tmp_path / "swap.pgc"
    spec.write_text(ring_spec(swap=10**6))
    r = run_pgc("plan", str(spec), timeout=120)
    assert r.returncode == 0, r.stderr
    assert "skippipe (spec)" in r.stdout


def test_unused_workers_cost_no_pairwise_tables(tmp_path: Path) -> None:
    """20,000 declared workers no stage uses: links resolve per pair on demand and the
    planner's dense tables cover the 12 placed workers only."""
    spec = tmp_path / "spare.pgc"
    spec.write_text(ring_spec(unused=20000))
    placed = run_passes(load_program(spec), until="placed")
    assert len(placed.workers) == 20012
    costs = Costs.of(placed)
    assert len(costs.workers) == 12 and costs.latency.shape == (12, 12)
    assert link_table(placed)[("n0", "spare19999")] == (0.04, 25e6)


def test_too_many_candidates_for_automatic_placement(tmp_path: Path) -> None:
    spec = tmp_path / "auto.pgc"
    spec.write_text(ring_spec(auto=True, unused=MAX_DENSE_WORKERS))
    with pytest.raises(UserError) as info:
        run_passes(load_program(spec), until="placed")
    out = info.value.render()
    assert out.startswith(f"{spec}:"), out
    assert (f"automatic placement compares every pair of its {MAX_DENSE_WORKERS + 12} "
            f"candidate workers and handles at most {MAX_DENSE_WORKERS}") in out


@pytest.mark.parametrize("change, message", [
    (("rate = 100 TFLOPS", "rate = 1e308 TFLOPS"),
     "`rate` = 1e308 TFLOPS is out of range for a rate"),
    (("latency = 40 ms", "latency = 1e-320 ms"),
     "`latency` = 1e-320 ms is out of range for a time"),
    (("per_origin = 3", "per_origin = 4096"),
     "8192 microbatches per iteration are more than pgc plans (4096)"),
    (("dim = 2048", "dim = 1000000000000"),
     "model argument `dim` = 1000000000000 is out of range for the cost model"),
])
def test_magnitudes_no_plan_can_hold_are_located(tmp_path: Path, change: tuple[str, str],
                                                 message: str) -> None:
    """Values whose sums over a plan overflow to infinity (a simulator crash), or a
    microbatch count far past what planning can afford, are errors where they are written."""
    spec = tmp_path / "big.pgc"
    spec.write_text(ring_spec().replace(*change, 1))
    with pytest.raises(UserError) as info:
        run_passes(load_program(spec), until="simulated")
    out = info.value.render()
    assert out.startswith(f"{spec}:") and message in out, out


def test_a_non_integer_width_is_not_sized(tmp_path: Path) -> None:
    """`dim = 1e308` is not a whole width: the cost model leaves boundary sizes unknown rather
    than overflowing (it once crashed the lower bound)."""
    spec = tmp_path / "wide.pgc"
    spec.write_text(ring_spec().replace("dim = 2048", "dim = 1e308", 1))
    assert run_passes(load_program(spec), until="simulated").prediction is not None
