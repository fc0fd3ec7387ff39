"""SkipPipe routing: fill Program.paths for `schedule skippipe` (and full pipelines with
free replica choice, skip ratio 0).

Requires: every stage placed. Ensures: one Path per microbatch 0..M-1, starting at its origin
(origins take microbatches round robin) and ending at the loss segment; each visits exactly
S - k*S stages, never skips a never-skip or unskippable stage, swaps at most `swap.max_swaps`
adjacent skippable stages; Program.notes says what was tried and why the search stopped.
The search is pgc.planner.routing (budgets in predicted seconds, deterministic); the order
pass + pgc.sim judge its best candidates and polish the winner, so the paths returned are
never worse, by that simulator, than the search's own start (its best construction). Under the
iteration objective with synchronous sync of replica groups, a second routing with a larger
search budget runs too and the simulator keeps the faster of the two.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from pgc.ir.types import Path, Program
from pgc.planner.costs import Costs
from pgc.planner.judge import Verdict, judge
from pgc.planner.routing import (
    JUDGED,
    Chosen,
    Problem,
    judge_cost,
    problem_of,
    solve,
    stage_counts,
    to_program,
    trials,
)
from pgc.planner.search import Search
from pgc.sim.cost import group_sync_bytes

ROUTE_BUDGET_S = 2.0  # fast-simulator search
POLISH_BUDGET_S = 1.5  # simulator-judged search afterwards


# the last few routings: placement routes its candidates as this pass will, and the search
# is deterministic, so the pass reuses the paths of an equal program with equal budgets
_RECENT: list[tuple[tuple[Program, float, float, str], tuple[Path, ...], tuple[str, ...]]] = []
RECENT = 32


SYNC_SEARCH_X = 4  # the search budget of a second routing when the all-reduces matter


def route(program: Program, budget_s: float = ROUTE_BUDGET_S,
          polish_s: float = POLISH_BUDGET_S, objective: str | None = None,
          longer: bool = True) -> Program:
    """Route every microbatch of a placed program. The searches minimise the pipeline phase,
    or under the iteration objective (default: the spec's `objective`) the iteration time
    amortised over `sync { every = H }` steps (each group's all-reduce starts when its members
    are done). With synchronous sync of replica groups under the iteration objective (and
    `longer`), a second routing with SYNC_SEARCH_X times the search budget runs too, and the
    simulator keeps the faster: how the routes load each group's members decides when its
    all-reduce starts, and the search keeps finding such gains well past its default budget."""
    objective = objective or program.objective
    routed = _recent(program, budget_s, polish_s, objective)
    groups = max((len(g) for _, g in program.placement), default=1)
    if not (longer and objective == "iteration" and program.sync.synchronous and groups > 1):
        return routed
    more = _recent(program, SYNC_SEARCH_X * budget_s, polish_s, objective)
    measure = _measure(objective)
    base, extra = (measure(judge(p, bound=False)) for p in (routed, more))
    kept = more if extra < base - 1e-9 else routed
    note = (f"route: a second routing with {SYNC_SEARCH_X}x the search budget: {extra:.4g} s "
            f"against {base:.4g} s; kept the {'second' if kept is more else 'first'}")
    return replace(kept, notes=kept.notes + (note,))


ORIGIN_ORDERS = 5  # admission orders over the origin group that placement routes and judges


def origin_orders(program: Program, limit: int = ORIGIN_ORDERS) -> list[Program]:
    """`program` with its origin group (the first stage's replicas) in up to `limit` orders:
    as placed, then the ring's other rotations, then its mirror's. Microbatch m starts at
    origin member m mod r, so the order decides which member admits which microbatch and
    when, and routing's search, which starts from a greedy construction in microbatch order,
    ends in different local optima for different orders (on geo-20 with every-step sync,
    +-3 s of a 69 s iteration). A rotation or mirror of a ring is the same ring; an order
    is kept only when the group's exchange is priced no slower than as placed (the direct
    exchange's shares are searched per order)."""
    first = program.stages[0].name
    group = list(program.replicas(first))
    if limit <= 1 or len(group) < 3:
        return [program]
    costs = Costs.of(program)
    nbytes = group_sync_bytes(program, first)

    def seconds(order: list[str]) -> float:
        return costs.ring_allreduce([costs.index[w] for w in order], nbytes)

    base = seconds(group)
    out, seen = [program], [group]
    mirror = group[:1] + group[:0:-1]
    for ring in (group, mirror):
        for k in range(len(ring)):
            order = ring[k:] + ring[:k]
            if len(out) == limit:
                return out
            if order in seen or seconds(order) > base * (1 + 1e-9):
                continue
            seen.append(order)
            table = tuple((s, tuple(order) if s == first else ws) for s, ws in program.placement)
            out.append(replace(program, placement=table))
    return out


def route_orders(program: Program, limit: int, objective: str | None = None) -> tuple[Program, str]:
    """Route `program` (default budgets, no longer search) with each of `origin_orders`
    and keep the fastest by the simulator (the first on ties); with a note of what each
    order gave."""
    objective = objective or program.objective
    measure = _measure(objective)
    timed = []
    for k, candidate in enumerate(origin_orders(program, limit)):
        routed = route(candidate, objective=objective, longer=False)
        timed.append((measure(judge(routed, bound=False)), k, routed))
    value, pick, best = min(timed, key=lambda x: (x[0], x[1]))
    note = (f"{len(timed)} origin orders " + ", ".join(f"{t:.2f}" for t, _, _ in timed)
            + f" s: kept #{pick + 1}")
    return best, note


def _recent(program: Program, budget_s: float, polish_s: float, objective: str) -> Program:
    """`_route`, reusing the paths of an equal program routed with equal budgets."""
    key = (replace(program, notes=(), paths=()), budget_s, polish_s, objective)
    for seen, paths, notes in _RECENT:
        if seen == key:
            return replace(program, paths=paths, notes=program.notes + notes)
    routed = _route(program, budget_s, polish_s, objective)
    _RECENT.insert(0, (key, routed.paths, routed.notes[len(program.notes):]))
    del _RECENT[RECENT:]
    return routed


def _route(program: Program, budget_s: float, polish_s: float, objective: str) -> Program:
    measure = _measure(objective)
    search = Search("route", budget_s)
    prob = problem_of(program, objective=objective)
    solution = solve(prob, search)
    # the simulator (order pass + pgc.sim) has the last word: it judges the best
    # constructions and the searched paths (the rest too while none can be ordered within the
    # inflight caps), then polishes the best by single-microbatch moves
    ranked = [(how, c) for _, how, c in solution.starts]
    candidates = ranked[:JUDGED] + [("fast-simulator search", solution.final)] + ranked[JUDGED:]
    judged: list[tuple[float, str, Chosen]] = []
    affordable = int(budget_s / 4 / judge_cost(prob))  # a quarter of the budget for judging
    for k, (how, c) in enumerate(candidates):
        if k > max(JUDGED, affordable) and any(t < float("inf") for t, _, _ in judged):
            break
        judged.append((measure(judge(to_program(program, prob, c), bound=False)), how, c))
        search.charge(judge_cost(prob))
    start_time, name, chosen = min(judged, key=lambda x: x[0])
    if start_time == float("inf"):
        search.note("no candidate can be ordered within the inflight caps; kept the fast "
                    "simulator's best (the order pass will say where it blocks)")
        chosen = solution.final
    else:
        search.note(f"simulator on {len(judged)} candidates: best {name} at {start_time:.2f} s")
    search.extend(polish_s)
    chosen, value, moves = polish(program, prob, chosen, start_time, search, measure)
    best = to_program(program, prob, chosen)
    verdict = judge(best)
    gap = f"gap {verdict.pipeline / verdict.bound - 1:.1%}" if verdict.bound > 0 else "no order"
    search.note(f"simulator-judged polish: {moves} moves, {start_time:.2f} -> {value:.2f} s; "
                f"pipeline bound of these paths {verdict.bound:.2f} s ({gap})")
    search.note(_visits_note(program, prob, chosen))
    return replace(best, notes=program.notes + search.finish())


def _measure(objective: str) -> Callable[[Verdict], float]:
    if objective == "iteration":
        return lambda v: v.amortised
    return lambda v: v.pipeline


def polish(program: Program, prob: Problem, chosen: Chosen, value: float,
           search: Search, measure: Callable[[Verdict], float]) -> tuple[Chosen, float, int]:
    """First-improvement moves of one microbatch at a time, judged by the simulator, latest
    microbatch first, until the budget ends or a pass finds nothing."""
    moves = 0
    improved = True
    while improved and not search.out_of_time():
        improved = False
        for mb in reversed(range(len(chosen))):
            for trial in trials(prob, chosen, mb, 0.2, singles=3)[:5]:
                if search.out_of_time():
                    return chosen, value, moves
                got = measure(judge(to_program(program, prob, trial), bound=False))
                search.charge(judge_cost(prob))
                if got < value - 1e-9:
                    chosen, value, improved = trial, got, True
                    moves += 1
                    break
                search.tick(f"polish: {value:.2f} s ({moves} moves)")
    return chosen, value, moves


def _visits_note(program: Program, prob: Problem, chosen: Chosen) -> str:
    """Microbatches per iteration through each stage, against the balance cap."""
    counts = stage_counts(prob, chosen)
    visits = ", ".join(f"{name} {int(c)}" for name, c in zip(prob.stages, counts))
    balance = program.skip.balance
    rule = "balance off" if balance is None else f"cap {int(prob.caps[1:].min(initial=prob.caps[0]))} (balance {balance:.0%})"
    note = f"stage visits per iteration: {visits}; {rule}"
    if (counts > prob.caps).any():
        note += "; CAPS NOT MET (too many legal stage sequences to search them all)"
    return note
