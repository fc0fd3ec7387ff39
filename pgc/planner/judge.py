"""The final judge of candidate plans: the order pass and pgc.sim's simulator (the same
prediction `pgc plan` prints), as opposed to the planner's fast simulator used inside searches."""

from __future__ import annotations

from dataclasses import dataclass

from pgc.diagnostics import UserError
from pgc.ir.types import Program


@dataclass(frozen=True)
class Verdict:
    pipeline: float  # inf when the paths cannot be ordered within the inflight caps
    iteration: float
    bound: float  # pgc.sim.lower_bound's pipeline bound for this placement and these paths


def judge(program: Program, bound: bool = True) -> Verdict:
    """Order the program's paths and simulate one iteration (and bound it). O(actions)."""
    from pgc.passes.order import run as order
    from pgc.sim import cost_table, lower_bound, simulate

    cost_table(program)  # a program that cannot be priced is the user's error: let it raise
    try:
        ordered = order(program)
    except UserError:  # the paths cannot be ordered within the inflight caps: infeasible
        return Verdict(float("inf"), float("inf"), 0.0)
    res = simulate(ordered)
    return Verdict(res.pipeline_time, res.iteration_time,
                   lower_bound(ordered).pipeline if bound else 0.0)
