"""Automatic partition: the chain DP is optimal (brute force), bisection agrees, memory binds,
and the pass turns `stages s[1..5] = layers[2:12] balanced by flops` into concrete segments."""

from __future__ import annotations

from dataclasses import replace

import pytest
from conftest import ROOT
from hypothesis import given, settings
from hypothesis import strategies as st

from pgc.capture.pass_capture import PASS as TRACED
from pgc.diagnostics import UserError
from pgc.frontend import load_program
from pgc.ir.types import CostModel
from pgc.passes.partition import (
    INF,
    PASS,
    ChainProblem,
    bisect_partition,
    bottleneck,
    brute_force,
    chain_partition,
    selector_text,
)


@st.composite
def problems(draw: st.DrawFn) -> ChainProblem:
    n = draw(st.integers(1, 10))
    s = draw(st.integers(1, n))
    weights = draw(st.lists(st.integers(1, 20), min_size=n, max_size=n))
    memory = draw(st.lists(st.integers(1, 5), min_size=n, max_size=n))
    speeds = draw(st.lists(st.sampled_from([1, 2, 4]), min_size=s, max_size=s))
    caps = draw(st.lists(st.integers(2, 20), min_size=s, max_size=s))
    return ChainProblem(tuple(map(float, weights)), tuple(map(float, memory)),
                        tuple(map(float, speeds)), tuple(map(float, caps)))


@settings(max_examples=300, deadline=None)
@given(problems())
def test_chain_dp_is_optimal_against_brute_force(p: ChainProblem) -> None:
    cost, cuts = chain_partition(p)
    want, _ = brute_force(p)
    assert cost == want
    if cost != INF:
        assert bottleneck(p, cuts) == cost and len(cuts) == len(p.speeds)


@settings(max_examples=200, deadline=None)
@given(problems())
def test_bisection_agrees_with_the_dp(p: ChainProblem) -> None:
    cost, _ = chain_partition(p)
    got, cuts = bisect_partition(p)
    if cost == INF:
        assert got == INF
    else:
        assert got == pytest.approx(cost, rel=1e-9) and bottleneck(p, cuts) == got


def test_memory_limit_binds() -> None:
    """Unconstrained, the fast stage takes 6 of 8 blocks; its memory holds only 4."""
    free = ChainProblem((1.0,) * 8, (1.0,) * 8, (3.0, 1.0), (100.0, 100.0))
    tight = replace(free, capacity=(4.0, 100.0))
    assert chain_partition(free) == (2.0, (0, 6))
    assert chain_partition(tight) == (4.0, (0, 4))
    assert chain_partition(replace(free, capacity=(4.0, 3.0)))[0] == INF


def test_communication_term_moves_the_cut() -> None:
    """Cutting after block 1 would be balanced but its boundary is expensive to send."""
    p = ChainProblem((1.0, 1.0, 1.0, 1.0), (0.0,) * 4, (1.0, 1.0), (INF, INF),
                     comm=((0.0, 9.0, 0.0, 0.0),))
    cost, cuts = chain_partition(p)
    assert cost == brute_force(p)[0] == 3.0 and cuts != (0, 2)
    assert chain_partition(replace(p, comm=()))[1] == (0, 2)


def test_selector_text() -> None:
    assert selector_text(["layers.2", "layers.3"]) == ("layers[2:4]",)
    assert selector_text(["model.layers.7"]) == ("model.layers[7:8]",)
    assert selector_text(["a.1", "a.3"]) == ("a.1", "a.3")


def _ring() -> object:
    return load_program(ROOT / "examples/skippipe_ring.pgc")


def test_pass_splits_ring_by_flops_and_keeps_profiles() -> None:
    traced = TRACED(_ring())  # type: ignore[arg-type]
    done = PASS(traced)
    assert done.partitions == ()
    body = [done.segment(f"s{i}") for i in range(1, 6)]
    assert [s.selectors for s in body] == [(f"layers[{i}:{i + 2}]",) for i in range(2, 12, 2)]
    block = traced.partitions[0].blocks[0]
    assert all(s.flops == 2 * block.flops and s.params == 2 * block.params for s in body)
    assert all(s.skippable and s.layers == 2 for s in body)
    assert body[0].param_names[0].startswith("layers.2.")
    assert done.notes[-1].startswith("partitioned")


def test_pass_balances_time_over_heterogeneous_placement() -> None:
    """Placing s1 on two 50-GFLOPS workers and the rest on one 25-GFLOPS worker each moves
    blocks to s1 (twice the speed... four times the single worker's)."""
    ring = _ring()
    placement = (*ring.placement, ("s1", ("n2", "n3")), ("s2", ("n4",)), ("s3", ("n5",)),  # type: ignore[attr-defined]
                 ("s4", ("n6",)), ("s5", ("n6",)))
    prog = replace(ring, placement=placement, auto_place=(),  # type: ignore[type-var]
                   cost=CostModel(sec_per_sample_per_layer=0.01))
    done = PASS(TRACED(prog))
    sizes = [done.segment(f"s{i}").layers for i in range(1, 6)]
    assert sum(sizes) == 10 and sizes[0] == max(sizes) and sizes[0] >= 3


def test_pass_reports_when_nothing_fits_memory() -> None:
    ring = _ring()
    tiny = tuple(replace(w, memory=1024.0) for w in ring.workers)  # type: ignore[attr-defined]
    with pytest.raises(UserError) as info:
        PASS(TRACED(replace(ring, workers=tiny)))  # type: ignore[type-var]
    assert "fits the workers' memory" in info.value.render()

