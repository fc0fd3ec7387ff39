"""Placement `on auto`: fill Program.placement for the stages listed in Program.auto_place.

Requires: stages with their profiles (segment costs), workers and links; explicit placements
already in Program.placement. Ensures: every stage of Program.auto_place has a replica group
(disjoint from all others) of its requested size, written in all-reduce ring order;
Program.notes says what was tried and why it stopped. The search (pgc.planner.placement) is
deterministic for `train.seed`: `budget_s` counts predicted seconds of work (pgc.planner.search),
about the wall-clock time on an unloaded reference machine.
"""

from __future__ import annotations

from dataclasses import replace

from pgc.ir.types import Program
from pgc.planner.placement import plan_placement
from pgc.planner.search import Search

PLACE_BUDGET_S = 4.5


def place_auto(program: Program, budget_s: float = PLACE_BUDGET_S,
               objective: str | None = None) -> Program:
    """Place the `on auto` stages of `program`; explicit placements are kept as written.
    `objective`: "iteration" (pipeline phase + all-reduce) or "pipeline"; default: the spec's
    `objective` setting (Program.objective)."""
    if not program.auto_place:
        return program
    objective = objective or program.objective
    search = Search("place", budget_s)
    assign = plan_placement(program, search, seed=program.train.seed, objective=objective)
    workers = [w.name for w in program.workers]
    table = tuple((s.name, tuple(workers[i] for i in assign[s.name]))
                  for s in program.stages if s.name in assign)
    return replace(program, placement=table, notes=program.notes + search.finish())
