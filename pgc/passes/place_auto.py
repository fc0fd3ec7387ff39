"""Placement `on auto`: fill Program.placement for the stages listed in Program.auto_place.

Requires: stages with their profiles (segment costs), workers and links; explicit placements
already in Program.placement. Ensures: every stage of Program.auto_place has a replica group
(disjoint from all others) of its requested size, written in all-reduce ring order;
Program.notes says what was tried and why it stopped. Under the iteration objective with
SkipPipe routing, several placements are routed in full and the simulator keeps the fastest;
with every-step (synchronous) sync each is routed with its origin group in several orders
(`route_skippipe.origin_orders`), as many as the budget and the instance's size allow
(`origin_order_count`). The search (pgc.planner.placement) is
deterministic for `train.seed`: `budget_s` counts predicted seconds of work (pgc.planner.search),
about the wall-clock time on an unloaded reference machine.
"""

from __future__ import annotations

from dataclasses import replace

from pgc.ir.policy import stages_visited
from pgc.ir.types import Program
from pgc.planner.placement import Assignment, plan_placements
from pgc.planner.search import Search

PLACE_BUDGET_S = 4.5


ORDER_WITHIN = 0.05  # candidates this close to the best are tried in other origin orders
ORDER_SPAN = 800  # microbatch-hops (M x (stages visited + 1)) of all the orders of one candidate


def origin_order_count(program: Program, budget_s: float, most: int) -> int:
    """Orders of the origin group each routed candidate is tried in: with synchronous sync
    and the first stage placed on auto, up to `most` at the default budget, in proportion
    below it, and no more than ORDER_SPAN microbatch-hops in all (each order is one more
    routing, whose simulations grow with microbatches x stages visited: large worlds get
    one); at least one; otherwise one."""
    if not (program.sync.synchronous and program.stages[0].name in program.auto_place):
        return 1
    span = program.microbatches * (stages_visited(program) + 1)
    return max(1, min(most, round(most * budget_s / PLACE_BUDGET_S), ORDER_SPAN // span))


def place_auto(program: Program, budget_s: float = PLACE_BUDGET_S,
               objective: str | None = None) -> Program:
    """Place the `on auto` stages of `program`; explicit placements are kept as written.
    `objective`: "iteration" (pipeline phase + all-reduce) or "pipeline"; default: the spec's
    `objective` setting (Program.objective)."""
    if not program.auto_place:
        return program
    objective = objective or program.objective
    search = Search("place", budget_s)
    found = plan_placements(program, search, seed=program.train.seed, objective=objective,
                            routed=program.schedule == "skippipe")
    workers = [w.name for w in program.workers]

    def placed(assign: Assignment) -> Program:
        table = tuple((s.name, tuple(workers[i] for i in assign[s.name]))
                      for s in program.stages if s.name in assign)
        return replace(program, placement=table)

    if len(found) == 1:
        return replace(placed(found[0]), notes=program.notes + search.finish())
    # the iteration hangs on how the routes load each group's members, which only routing
    # shows: route every candidate as the routing pass first does (same budgets:
    # deterministic, so the pass reuses these paths) and keep the fastest by the simulator
    from pgc.passes.route_skippipe import ORIGIN_ORDERS, route, route_orders
    from pgc.planner.judge import judge

    def iteration(routed: Program) -> float:
        return judge(routed, bound=False).amortised

    timed = []
    for k, assign in enumerate(found):
        candidate = placed(assign)
        routed = route(replace(candidate, auto_place=()), objective=objective, longer=False)
        timed.append((iteration(routed), k, candidate, ""))
    # with every-step sync the iteration also hangs on which origin member admits which
    # microbatch: candidates within ORDER_WITHIN of the best are routed with the first
    # stage's group in several orders (`origin_orders`; the first is the one routed above)
    orders = origin_order_count(program, budget_s, ORIGIN_ORDERS)
    first = min(t for t, _, _, _ in timed)
    if orders > 1:
        for i, (value, k, candidate, _) in enumerate(timed):
            if value <= first * (1 + ORDER_WITHIN):
                routed, how = route_orders(replace(candidate, auto_place=()), orders, objective)
                timed[i] = (iteration(routed), k,
                            replace(candidate, placement=routed.placement), f" ({how})")
    value, pick, best, how = min(timed, key=lambda x: (x[0], x[1]))
    search.note(f"routed {len(found)} candidates (the search's pick, then placements from "
                "fast all-reduce groups), simulated iteration "
                + ", ".join(f"{t:.2f}" for t, _, _, _ in timed) + f" s: kept #{pick + 1}" + how)
    return replace(best, notes=program.notes + search.finish())
