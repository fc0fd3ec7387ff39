"""Pass `simulated`: predict one iteration and bound it (fills `Program.prediction`).

Requires: `verified`.
Ensures: `prediction` holds simulated pipeline and iteration time (a step that syncs, one that
does not, and their mean over `sync { every = H }`), per-worker compute time, peak inflight and
memory, next to lower bounds for the same placement and paths.
"""

from __future__ import annotations

from dataclasses import replace

from pgc.ir.passes import Pass
from pgc.ir.queries import collective_groups
from pgc.ir.types import Prediction, Program
from pgc.sim.bound import lower_bound
from pgc.sim.cost import cost_table
from pgc.sim.engine import sync_steps


def predict(program: Program) -> Prediction:
    """A step that syncs and one that does not, their mean over `sync { every = H }` steps,
    and the bytes each group member sends per sync."""
    costs = cost_table(program)
    sim, step, synced = sync_steps(program, costs)
    bound = lower_bound(program, costs)
    names = [w.name for w in program.workers]
    return Prediction(
        pipeline_time=sim.pipeline_time,
        iteration_time=synced,
        lower_bound=bound.total,
        pipeline_lower_bound=bound.pipeline,
        busy=tuple((w, sim.busy.get(w, 0.0)) for w in names),
        peak_inflight=tuple((w, sim.peak_inflight.get(w, 0)) for w in names),
        memory=tuple((w, sim.memory[w]) for w in names if w in sim.memory),
        step_time=step,
        amortised_time=program.sync.amortised(step, synced),
        amortised_lower_bound=bound.amortised,
        sync_bytes=tuple((g, costs.sync_bytes.get(g, 0.0)) for g, _ in collective_groups(program)),
    )


def run(program: Program) -> Program:
    return replace(program, prediction=predict(program))


PASS = Pass(
    name="simulated",
    run=run,
    requires="verified",
    ensures="prediction: simulated times, busy, peak inflight, memory, lower bounds",
)
