"""The planner's dense cost arrays (`pgc.planner.costs.Costs`) and the simulator's cost table
(`pgc.sim.cost.CostTable`) are two views of one cost model: for every example, with every stage
placed on every worker so that both price every (segment, worker) pair and every link, each
compute time, boundary size, message time and all-reduce time must be equal, entry by entry.
Each example is checked as written and again under bf16 compute with int8-compressed sync, the
widths the formulas scale by."""

from __future__ import annotations

from dataclasses import replace
from functools import cache

import numpy as np
import pytest

from pgc.frontend import load_program
from pgc.ir.queries import collective_groups
from pgc.ir.types import Program, SyncConfig
from pgc.pipeline import run_passes
from pgc.planner.costs import Costs
from pgc.sim.cost import CostTable, Network, cost_table, group_sync_bytes
from tests.conftest import ROOT

EXAMPLES = sorted(p.stem for p in (ROOT / "examples").glob("*.pgc"))


@cache
def _partitioned(example: str) -> Program:
    return run_passes(load_program(str(ROOT / "examples" / f"{example}.pgc")), until="partitioned")


def _everywhere(program: Program, narrow: bool) -> Program:
    """Every stage on every worker (no automatic placement left); with `narrow`, bf16 compute
    and int8-compressed sync."""
    everyone = tuple(w.name for w in program.workers)
    out = replace(program, placement=tuple((st.name, everyone) for st in program.stages),
                  auto_place=())
    if narrow:
        out = replace(out, train=replace(out.train, precision="bf16"),
                      sync=SyncConfig(compress="int8"))
    return out


@pytest.fixture(params=[(e, n) for e in EXAMPLES for n in (False, True)],
                ids=[f"{e}-{'bf16-int8' if n else 'as-written'}" for e in EXAMPLES
                     for n in (False, True)])
def priced(request: pytest.FixtureRequest) -> tuple[Program, Costs, CostTable]:
    example, narrow = request.param
    program = _everywhere(_partitioned(example), narrow)
    return program, Costs.of(program), cost_table(program)


def test_compute_times_agree(priced: tuple[Program, Costs, CostTable]) -> None:
    program, dense, table = priced
    assert dense.workers == tuple(w.name for w in program.workers)
    for seg in program.segments:
        assert list(dense.fwd[seg.name]) == [table.fwd[(seg.name, w)] for w in dense.workers]
        assert list(dense.bwd[seg.name]) == [table.bwd[(seg.name, w)] for w in dense.workers]
        assert dense.boundary[seg.name] == table.seg_bytes[seg.name]


def test_link_times_agree(priced: tuple[Program, Costs, CostTable]) -> None:
    """The simulator's (NIC seconds, latency) of each boundary message over each link, and
    the arrival times the planner's searches and the pictures use."""
    program, dense, table = priced
    net = Network.of(program)
    names = dense.workers
    for seg, nbytes in table.seg_bytes.items():
        arrival = np.zeros((len(names), len(names)))
        for i, a in enumerate(names):
            for j, b in enumerate(names):
                if a != b and (a, b) not in table.links:
                    arrival[i, j] = np.inf
                    assert dense.latency[i, j] == np.inf
                    continue
                assert dense.nic(seg, i, j) == table.message(a, b, nbytes)
                arrival[i, j] = net.message_time(a, b, nbytes)
                assert arrival[i, j] == pytest.approx(sum(table.message(a, b, nbytes)), rel=1e-12)
        assert np.array_equal(dense.msg_matrix(nbytes), arrival)


def test_all_reduce_times_agree(priced: tuple[Program, Costs, CostTable]) -> None:
    program, dense, table = priced
    groups = collective_groups(program)
    assert groups  # every stage has every worker: each stage's group syncs
    for name, members in groups:
        assert table.sync_bytes[name] == group_sync_bytes(program, name)
        ring = [dense.index[w] for w in members]
        assert dense.ring_allreduce(ring, table.sync_bytes[name]) == table.sync_seconds(name, members)
        assert table.sync_seconds(name, members) > 0


@pytest.mark.parametrize("example", EXAMPLES)
def test_boundary_bytes_follow_the_precision(example: str) -> None:
    """A boundary message weighs 2 bytes a value under bf16 and fp16, 4 under fp32 (measured
    boundaries; a spec without a model sizes them at `activation_dtype` in fp32)."""
    program = _everywhere(_partitioned(example), False)
    sizes = {p: cost_table(replace(program, train=replace(program.train, precision=p))).seg_bytes
             for p in ("fp32", "bf16", "fp16")}
    measured = [s.name for s in program.segments if s.boundary_bytes]
    for seg in measured:
        assert sizes["bf16"][seg] == sizes["fp16"][seg] == sizes["fp32"][seg] / 2 > 0, seg
    assert measured and all(sizes["bf16"][s] == sizes["fp16"][s] for s in sizes["fp32"])
