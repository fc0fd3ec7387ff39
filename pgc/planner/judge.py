"""The final judge of candidate plans: the order pass and pgc.sim's simulator (the same
prediction `pgc plan` prints), as opposed to the planner's fast simulator used inside searches."""

from __future__ import annotations

from dataclasses import dataclass

from pgc.diagnostics import UserError
from pgc.ir.types import Program


@dataclass(frozen=True)
class Verdict:
    pipeline: float  # inf when the paths cannot be ordered within the inflight caps
    iteration: float  # a step that syncs
    bound: float  # pgc.sim.lower_bound's pipeline bound for this placement and these paths
    amortised: float = float("inf")  # the mean over `sync { every = H }` steps
    amortised_bound: float = 0.0  # pgc.sim.lower_bound's bound on it


def judge(program: Program, bound: bool = True) -> Verdict:
    """Order the program's paths and simulate one iteration (and bound it). O(actions)."""
    from pgc.sched.order import run as order
    from pgc.sim import cost_table, lower_bound
    from pgc.sim.engine import sync_steps

    cost_table(program)  # a program that cannot be priced is the user's error: let it raise
    try:
        ordered = order(program)
    except UserError:  # the paths cannot be ordered within the inflight caps: infeasible
        return Verdict(float("inf"), float("inf"), 0.0)
    costs = cost_table(ordered)
    res, step, synced = sync_steps(ordered, costs)
    b = lower_bound(ordered, costs) if bound else None
    return Verdict(res.pipeline_time, synced, b.pipeline if b else 0.0,
                   ordered.sync.amortised(step, synced), b.amortised if b else 0.0)
