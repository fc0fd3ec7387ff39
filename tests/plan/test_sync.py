"""Sync modes in the plan core (docs/design.md §4b): bytes on the wire, all-reduces that start when a
group's members are done (overlap), steps that do not sync, the amortised iteration, its bound,
and the planner's fast simulator agreeing with the order pass and pgc.sim on all of it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgc.diagnostics import UserError
from pgc.ir.queries import collective_groups
from pgc.ir.types import INT8_CHUNK, Program, SyncConfig
from pgc.planner.costs import Costs
from pgc.planner.fastsim import simulate_routes
from pgc.planner.routing import sync_steps
from pgc.sim import cost_table, lower_bound, simulate
from pgc.sim.cost import outer_groups, outer_sync_seconds, sync_wire_bytes
from tests.plan.builders import chain, planned, ring
from tests.plan.test_properties import FAST, chains, rings

EPS = 1e-9


def with_params(program: Program, params: int, sync: SyncConfig | None = None) -> Program:
    """`program` with `params` fp32 parameters in every segment and the given sync mode."""
    segs = tuple(replace(s, params=params, param_bytes=4 * params) for s in program.segments)
    return replace(program, segments=segs, sync=sync or SyncConfig())


def test_wire_bytes_per_compression() -> None:
    n = 10 * INT8_CHUNK + 1
    assert sync_wire_bytes(SyncConfig(), n) == 4 * n
    assert sync_wire_bytes(SyncConfig(compress="bf16"), n) == 2 * n
    assert sync_wire_bytes(SyncConfig(compress="int8"), n) == n + 4 * 11  # one fp32 scale a chunk


def test_cost_table_charges_the_compressed_bytes() -> None:
    base = with_params(chain(2, 2, replicas=3), 10**6)
    for compress, per_param in (("none", 4), ("bf16", 2), ("int8", 1)):
        c = cost_table(with_params(base, 10**6, SyncConfig(compress=compress)))  # type: ignore[arg-type]
        scales = 4 * -(-10**6 // INT8_CHUNK) if compress == "int8" else 0
        assert c.sync_bytes["s0"] == per_param * 10**6 + scales
        assert c.grad_bytes["s0"] == 4 * 10**6  # memory and the rest keep the real size


def _slow_links(program: Program) -> Program:
    return replace(program, links=tuple(replace(link, bandwidth=1e8, latency=0.01)
                                        for link in program.links))


def test_a_group_all_reduces_as_soon_as_its_members_are_done() -> None:
    """In a chain the last stage finishes its backwards first: its group's all-reduce starts
    then, while the first stage is still computing, not after the pipeline."""
    done = planned(_slow_links(with_params(chain(3, 4, replicas=2, nbytes=10**6), 10**7)))
    res = simulate(done)
    acts = dict(done.actions)
    for w in dict(done.placement)["s2"]:
        kinds = [a.kind for a in acts[w]]
        last_b = max(i for i, k in enumerate(kinds) if k == "B")
        # the ALLREDUCE follows the last backward and the sends it produced, nothing else
        assert set(kinds[last_b + 1:kinds.index("ALLREDUCE")]) <= {"SEND_B"}
    members = dict(done.placement)["s2"]
    computed = max(max(e for a, e in zip(acts[w], res.end[w]) if a.kind in ("F", "B"))
                   for w in members)
    arrived = max(max(e for a, e in zip(acts[w], res.end[w]) if a.kind == "SEND_B")
                  for w in members)
    i = [a.kind for a in acts[members[0]]].index("ALLREDUCE")
    # after the members' last backward and its send left the NIC (the latency is in flight)
    assert computed < res.start[members[0]][i] < arrived
    assert res.start[members[0]][i] < res.pipeline_time - 1.0


def test_a_step_without_sync_and_the_amortised_iteration() -> None:
    base = _slow_links(with_params(chain(3, 4, replicas=2), 10**7))
    every = planned(base).prediction
    assert every is not None and every.amortised_time == every.iteration_time
    local = planned(with_params(base, 10**7, SyncConfig(every=10, outer="nesterov",
                                                        outer_lr=0.7, outer_momentum=0.9)))
    p = local.prediction
    assert p is not None
    assert p.step_time < p.iteration_time
    assert p.step_time == pytest.approx(simulate(local, sync=False).iteration_time)
    assert p.amortised_time == pytest.approx((9 * p.step_time + p.iteration_time) / 10)
    # outer steps sync after every worker's step, groups in name order
    costs = cost_table(local)
    outer = outer_sync_seconds(outer_groups(local, costs))
    assert outer == pytest.approx(max(costs.allreduce(ws, 4 * 10**7) for _, ws in local.placement))
    assert p.iteration_time == pytest.approx(p.step_time + outer)
    assert 0 < p.amortised_lower_bound <= p.amortised_time + EPS
    assert dict(p.sync_bytes)["s1"] == 4 * 10**7


def test_outer_sync_takes_each_worker_s_groups_in_order() -> None:
    groups = [(("a", "b"), 1.0), (("b", "c"), 2.0), (("d",), 0.5)]
    assert outer_sync_seconds(groups) == 3.0  # b's second group waits for its first
    assert outer_sync_seconds([]) == 0.0


def test_compression_shortens_the_sync_step() -> None:
    times = []
    for compress in ("none", "bf16", "int8"):
        done = planned(_slow_links(with_params(chain(3, 4, replicas=2), 10**7,
                                               SyncConfig(compress=compress))))  # type: ignore[arg-type]
        assert done.prediction is not None
        times.append(done.prediction.iteration_time)
    assert times[0] > times[1] > times[2]


def _fast(done: Program) -> tuple[float, float]:
    """(a step without sync, a step that syncs) by the planner's fast simulator."""
    costs = Costs.of(done)
    routes = [tuple((h.segment, costs.index[h.worker]) for h in p.hops)
              for p in sorted(done.paths, key=lambda p: p.mb)]
    return sync_steps(done, costs)(simulate_routes(costs, routes, done.inflight))


def _agree(program: Program, params: int, compress: str) -> None:
    sync = SyncConfig(compress=compress, every=4)  # type: ignore[arg-type]
    try:
        done = planned(with_params(program, params, sync))
    except UserError:
        return  # unorderable under the inflight cap; covered elsewhere
    if program.schedule == "gpipe":
        return  # a closed form, not the fast simulator's list schedule
    p = done.prediction
    assert p is not None
    no_sync, synced = _fast(done)
    assert no_sync == pytest.approx(p.step_time, abs=1e-9)
    assert synced == pytest.approx(p.iteration_time, abs=1e-9)
    bound = lower_bound(done)
    assert bound.step <= p.step_time + EPS
    assert bound.total <= p.iteration_time + EPS
    assert bound.amortised <= p.amortised_time + EPS


params = st.sampled_from([0, 10**5, 10**7])
compressions = st.sampled_from(["none", "bf16", "int8"])


@FAST
@given(rings(), params, compressions)
def test_fast_simulator_agrees_on_sync_steps_of_rings(program: Program, n: int, c: str) -> None:
    """The planner's fast simulator (the placement objective) and the order pass + pgc.sim
    give the same step with and without sync, and the bounds hold under both. (Rings: on
    aligned chains the order pass uses textbook 1F1B, not the fast simulator's list schedule.)"""
    _agree(program, n, c)


def test_step_times_follow_the_order_pass_group_order() -> None:
    """Two origins share the origin group: their all-reduce waits for the later one."""
    done = planned(_slow_links(with_params(ring(2, 2, 2), 10**6)))
    groups = dict(collective_groups(done))
    assert groups["origin"] == ("n0", "n1")
    no_sync, synced = _fast(done)
    assert done.prediction is not None
    assert synced == pytest.approx(done.prediction.iteration_time)
    assert synced > no_sync
    assert np.isfinite(synced)


@FAST
@given(chains(), params, compressions, st.integers(1, 60))
def test_sync_bounds_hold_on_chains(program: Program, n: int, c: str, every: int) -> None:
    """Steps with and without sync and their mean stay above their lower bounds."""
    try:
        done = planned(with_params(program, n, SyncConfig(compress=c, every=every)))  # type: ignore[arg-type]
    except UserError:
        return
    p, bound = done.prediction, lower_bound(done)
    assert p is not None
    assert bound.step <= p.step_time + EPS <= p.iteration_time + 2 * EPS
    assert bound.total <= p.iteration_time + EPS
    assert bound.amortised <= p.amortised_time + EPS


def test_the_sync_bound_waits_for_each_members_nic() -> None:
    """Collectives and the step start once a worker's NIC has sent everything: with messages
    far slower than compute, each group's bound is at least its busiest member's send time
    plus its all-reduce, and still below the simulated iteration."""
    done = planned(with_params(chain(3, 4, replicas=2, nbytes=10**6, bandwidth=2e5), 10**5))
    res, c, bound = simulate(done), cost_table(done), lower_bound(done)
    assert max(res.nic_busy.values()) > 2 * max(res.busy.values())  # the NIC dominates
    for name, members in collective_groups(done):
        sending = max(res.nic_busy[w] for w in members)
        assert bound.component("allreduce") >= sending + c.sync_seconds(name, members) - EPS
    assert bound.total <= res.iteration_time + EPS
