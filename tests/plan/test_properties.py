"""Property tests over random small plans: verified plans simulate to completion, the lower
bound never exceeds the simulated time nor, on instances small enough to enumerate every
action order, the optimum."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pgc.diagnostics import UserError
from pgc.ir.types import Hop, Path, Program
from pgc.passes.verify import PlanError, verify_plan
from pgc.sched.order import Task, insert_messages
from pgc.sim import cost_table, lower_bound, simulate
from pgc.sim.bound import slot_rounds
from tests.plan.builders import chain, planned, ring

EPS = 1e-9
FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

costs = st.fixed_dictionaries({
    "f": st.floats(0.1, 3.0),
    "latency": st.sampled_from([0.0, 0.01, 0.5, 2.0]),
    "nbytes": st.sampled_from([0, 10**5, 10**7]),
    "bandwidth": st.sampled_from([10**6, 10**9]),
})


@st.composite
def chains(draw: st.DrawFn) -> Program:
    p, replicas = draw(st.integers(1, 4)), draw(st.integers(1, 2))
    m = draw(st.integers(1, 7))
    schedule = draw(st.sampled_from(["gpipe", "1f1b"]))
    inflight = m if schedule == "gpipe" else draw(st.integers(1, m))
    rates = tuple(draw(st.sampled_from([1e12, 5e11])) for _ in range(p * replicas))
    return chain(p, m, replicas=replicas, schedule=schedule, inflight=inflight, rates=rates,
                 backward=draw(st.sampled_from([1.0, 2.0, 3.0])), **draw(costs))


@st.composite
def rings(draw: st.DrawFn) -> Program:
    body, origins = draw(st.integers(1, 4)), draw(st.integers(1, 2))
    per_origin = draw(st.integers(1, 3))
    schedule = draw(st.sampled_from(["gpipe", "1f1b", "explicit"]))
    m = origins * per_origin
    inflight = m if schedule == "gpipe" else draw(st.integers(1, 4))
    base = ring(body, origins, per_origin, schedule=schedule, inflight=inflight, **draw(costs))
    if schedule != "explicit":
        return base
    # explicit: every path keeps `keep` of the body stages, possibly with one adjacent swap
    keep = draw(st.integers(1, body))
    paths = []
    for mb in range(m):
        chosen = sorted(draw(st.sets(st.integers(1, body), min_size=keep, max_size=keep)))
        if keep > 1 and draw(st.booleans()):
            i = draw(st.integers(0, keep - 2))
            if chosen[i + 1] == chosen[i] + 1:
                chosen[i], chosen[i + 1] = chosen[i + 1], chosen[i]
        origin = f"n{mb % origins}"
        hops = (Hop("origin.pro", origin),) + tuple(
            Hop(f"s{k}", f"n{origins + k - 1}") for k in chosen) + (Hop("origin.epi", origin),)
        paths.append(Path(mb, origin, hops))
    skip = (body - keep, body + 1)
    return replace(base, explicit_paths=tuple(paths), skip=replace(base.skip, ratio=skip),
                   swap=replace(base.swap, max_swaps=1))


def _check(program: Program) -> None:
    try:
        done = planned(program)
    except UserError as exc:
        # paths that cross each other (swaps) can exhaust every slot under a tight inflight;
        # the order pass must then say so, not deadlock
        assert "cannot order the paths within inflight" in exc.diagnostics[0].message
        assert program.schedule == "explicit"
        return
    verify_plan(done)
    result = simulate(done)
    assert all(e >= s - EPS for r in [result] for w in result.workers
               for s, e in zip(result.start[w], result.end[w]))
    assert max(result.peak_inflight.values()) <= done.inflight
    bound = lower_bound(done)
    assert bound.pipeline <= result.pipeline_time + EPS
    assert bound.total <= result.iteration_time + EPS
    assert done.prediction is not None and done.prediction.gap >= -EPS


@FAST
@given(chains())
def test_random_chains_verify_simulate_and_respect_the_bound(program: Program) -> None:
    _check(program)


@FAST
@given(rings())
def test_random_rings_verify_simulate_and_respect_the_bound(program: Program) -> None:
    _check(program)


# -- brute force over action orders ----------------------------------------------------------
def _orders(tasks: list[Task]) -> list[list[Task]]:
    """Every order of one worker's tasks that keeps each hop's forward before its backward
    and a microbatch's visits in path order (all linear extensions, by recursion)."""

    def before(x: Task, y: Task) -> bool:  # x must run before y
        (bx, mx, jx), (by, my, jy) = x, y
        if mx != my:
            return False
        if bx == by:
            return jx < jy if bx == 0 else jx > jy
        return bx == 0 and (jx == jy or jx < jy)

    out: list[list[Task]] = []

    def extend(prefix: list[Task], rest: list[Task]) -> None:
        if not rest:
            out.append(prefix)
        for t in rest:
            if not any(before(u, t) for u in rest if u != t):
                extend(prefix + [t], [u for u in rest if u != t])

    extend([], tasks)
    return out


def _optimum(program: Program) -> tuple[float, float]:
    """Least simulated (pipeline, iteration) time over all deadlock-free action orders."""
    tasks: dict[str, list[Task]] = {}
    for p in program.paths:
        for j, h in enumerate(p.hops):
            tasks.setdefault(h.worker, []).extend([(0, p.mb, j), (1, p.mb, j)])
    names = sorted(tasks)
    costs = cost_table(program)
    best = (float("inf"), float("inf"))
    for combo in itertools.product(*(_orders(tasks[w]) for w in names)):
        try:
            lists = insert_messages(program.paths, dict(zip(names, combo)), costs)
        except UserError:
            continue  # the orders wait on each other in a cycle
        acts = dict(program.actions)
        for w in names:  # keep each worker's collectives and step after its new list
            tail = tuple(a for a in acts[w] if a.kind in ("ALLREDUCE", "STEP"))
            acts[w] = tuple(lists[w]) + tail
        candidate = replace(program, actions=tuple(acts.items()))
        try:
            verify_plan(candidate)
        except PlanError:
            continue  # over the inflight cap
        r = simulate(candidate)
        best = (min(best[0], r.pipeline_time), min(best[1], r.iteration_time))
    return best


tiny = st.one_of(
    st.builds(lambda c: chain(2, 2, schedule="gpipe", inflight=2, **c), costs),
    st.builds(lambda c, i: chain(2, 2, inflight=i, **c), costs, st.integers(1, 2)),
    st.builds(lambda c, i: chain(3, 2, inflight=i, **c), costs, st.integers(1, 2)),
    st.builds(lambda c, i: ring(1, 1, 2, inflight=i, **c), costs, st.integers(1, 2)),
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tiny)
def test_bound_never_exceeds_the_brute_force_optimum(program: Program) -> None:
    done = planned(program, until="verified")
    pipeline, iteration = _optimum(done)
    bound = lower_bound(done)
    assert bound.pipeline <= pipeline + EPS
    assert bound.total <= iteration + EPS
    ours = simulate(done)
    assert pipeline <= ours.pipeline_time + EPS  # the enumeration includes our own order


@pytest.mark.parametrize("inflight", [1, 2])
def test_brute_force_finds_the_textbook_optimum(inflight: int) -> None:
    # 2 stages, 2 microbatches, f=1, b=2, no messages: (m + p - 1)(f + b) = 9 is optimal
    done = planned(chain(2, 2, inflight=inflight), until="verified")
    assert _optimum(done)[0] == pytest.approx(9.0 if inflight == 2 else 12.0)


def test_slot_rounds_counts_whole_rounds_and_slot_openings() -> None:
    # three holds of 1 s on two slots: one slot carries two in a row (the fluid 1.5 s is loose)
    assert slot_rounds([1.0, 1.0, 1.0], 2, 0.0) == pytest.approx(2.0)
    # four holds of 4 s on two slots: 8 s a slot, and the second slot opens one forward later
    # and closes one backward earlier than the first (open_close = f + b = 1 s): 8 + 1/2
    assert slot_rounds([4.0] * 4, 2, 1.0) == pytest.approx(8.5)
    # one slot in use: everything in sequence
    assert slot_rounds([1.0, 2.0], 1, 5.0) == pytest.approx(3.0)


def test_inflight_bound_counts_rounds_on_a_ring() -> None:
    # one origin, three microbatches of a 9 s round trip, two slots: two rounds, 18 s
    done = planned(ring(1, 1, 3, inflight=2))
    assert lower_bound(done).component("inflight") == pytest.approx(18.0)
    assert simulate(done).pipeline_time >= 18.0


# -- mutations: the verifier and the simulator agree ------------------------------------------
@FAST
@given(st.one_of(chains(), rings()), st.data())
def test_mutated_lists_are_rejected_with_a_location_or_run(program: Program,
                                                           data: st.DataObject) -> None:
    """Swap two neighbouring actions of one worker: the verifier either accepts the result,
    and then the simulator runs it to the end, or rejects it naming a worker and an action of
    that worker's list (or -1 for a check at the end)."""
    try:
        done = planned(program, until="verified")
    except UserError:
        return  # unorderable under the inflight cap; covered above
    acts = dict(done.actions)
    worker = data.draw(st.sampled_from(sorted(w for w, a in acts.items() if len(a) > 1)))
    i = data.draw(st.integers(0, len(acts[worker]) - 2))
    lst = list(acts[worker])
    lst[i], lst[i + 1] = lst[i + 1], lst[i]
    mutated = replace(done, actions=tuple({**acts, worker: tuple(lst)}.items()))
    try:
        verify_plan(mutated)
    except PlanError as err:
        assert err.worker in acts or err.worker == ""
        if err.index >= 0:
            assert err.action == dict(mutated.actions)[err.worker][err.index]
        return
    result = simulate(mutated)
    assert result.pipeline_time > 0


# -- the order pass's list schedule survives the replay ------------------------------------------
def _list_schedule_time(program: Program) -> float:
    """The planner's fast simulator on the same paths: a dynamic list schedule with the order
    pass's rules (backward first, then the lowest microbatch; admission caps; NIC queueing),
    written independently of pgc.sched.order."""
    from pgc.planner.costs import Costs
    from pgc.planner.fastsim import simulate_routes

    costs = Costs.of(program)
    routes = [tuple((h.segment, costs.index[h.worker]) for h in p.hops)
              for p in sorted(program.paths, key=lambda p: p.mb)]
    return simulate_routes(costs, routes, program.inflight).makespan


def test_a_gradient_arriving_as_the_worker_frees_is_a_tie_both_schedulers_break_alike() -> None:
    """Found by the property below in CI: s1's second gradient reaches n2 exactly when n2
    finishes the first backward (equal in exact arithmetic, 1e-15 apart in floats). The order
    pass took the backward, the fast simulator the next forward, 2.34 s apart. Both now count
    an arrival within TIE of the free moment as there."""
    program = ring(2, 2, 2, f=2.3436634126065945, latency=0.0, bandwidth=1e9, nbytes=10**5,
                   inflight=2, schedule="1f1b")
    done = planned(program)
    assert simulate(done).pipeline_time == pytest.approx(_list_schedule_time(done), abs=1e-9)


@FAST
@given(rings())
def test_simulator_replays_the_list_schedule(program: Program) -> None:
    """Messages wait at the sender's NIC alike in the order pass and pgc.sim, and receives are
    posted before any send needs them, so the emitted lists lose nothing under the simulator:
    its pipeline time is the list schedule's, to the rounding of float sums."""
    if program.schedule == "gpipe":
        return  # closed form, not a list schedule
    try:
        done = planned(program)
    except UserError:
        return  # unorderable under the inflight cap; covered above
    assert simulate(done).pipeline_time == pytest.approx(_list_schedule_time(done), abs=1e-9)
