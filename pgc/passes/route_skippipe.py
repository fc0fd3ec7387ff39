"""SkipPipe routing: fill Program.paths for `schedule skippipe` (and full pipelines with
free replica choice, skip ratio 0).

Requires: every stage placed. Ensures: one Path per microbatch 0..M-1, starting at its origin
(origins take microbatches round robin) and ending at the loss segment; each visits exactly
S - k*S stages, never skips a never-skip or unskippable stage, swaps at most `swap.max_swaps`
adjacent skippable stages; Program.notes says what was tried and why the search stopped.
The search is pgc.planner.routing; it never returns paths worse than its own start.
"""

from __future__ import annotations

from dataclasses import replace

from pgc.ir.types import Hop, Path, Program
from pgc.planner.judge import judge
from pgc.planner.routing import Chosen, Problem, problem_of, route_of, solve
from pgc.planner.search import Search

ROUTE_BUDGET_S = 3.0


def route(program: Program, budget_s: float = ROUTE_BUDGET_S) -> Program:
    """Route every microbatch of a placed program."""
    search = Search("route", budget_s)
    prob = problem_of(program)
    solution = solve(prob, search)
    start = _with_paths(program, prob, solution.start)
    final = _with_paths(program, prob, solution.final)
    first, last = judge(start), judge(final)  # the simulator has the last word
    best = final if last.pipeline <= first.pipeline else start
    kept = last if best is final else first
    search.note(f"simulator: start {first.pipeline:.2f} s, after search {last.pipeline:.2f} s; "
                f"kept the {'searched' if best is final else 'start'} paths (their pipeline "
                f"bound {kept.bound:.2f} s, gap {kept.pipeline / kept.bound - 1:.1%})")
    return replace(best, notes=program.notes + search.finish())


def _with_paths(program: Program, prob: Problem, chosen: Chosen) -> Program:
    names = prob.costs.workers
    paths = []
    for mb, (template, workers) in enumerate(chosen):
        hops = tuple(Hop(seg, names[w]) for seg, w in route_of(prob, template, workers))
        paths.append(Path(mb, origin=names[workers[0]], hops=hops))
    return replace(program, paths=tuple(paths))
