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
    from pgc.sim import lower_bound, simulate

    try:
        ordered = order(program)
    except UserError:
        return Verdict(float("inf"), float("inf"), 0.0)
    res = simulate(ordered)
    return Verdict(res.pipeline_time, res.iteration_time,
                   lower_bound(ordered).pipeline if bound else 0.0)
