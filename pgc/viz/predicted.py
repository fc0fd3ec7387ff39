"""The predicted timeline: the simulator's per-action records as Gantt bars (pgc.sim)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pgc.ir.queries import origins, stages_held
from pgc.ir.types import Program
from pgc.runtime.actions import format_action
from pgc.viz.timeline import Bar, Timeline

if TYPE_CHECKING:  # pgc.sim is imported only when a timeline is simulated
    from pgc.sim import Bound


def timeline_of(program: Program, sim: object, lower_bound: float | None) -> Timeline:
    """Bars of a `pgc.sim.SimResult` (typed loosely so pgc.viz imports without pgc.sim):
    one per action, critical-path actions marked, microbatches coloured by origin."""
    from pgc.sim import SimResult

    assert isinstance(sim, SimResult)
    origin_of = {p.mb: p.origin for p in program.paths}
    critical = {(sim.workers[w], i) for w, i in sim.critical_path}
    bars = tuple(
        Bar(worker=r.worker, kind=r.action.kind, label=format_action(r.action), start=r.start,
            end=r.end, mb=r.action.mb, origin=origin_of.get(r.action.mb, ""),
            critical=(r.worker, r.index) in critical)
        for r in sim.records()
    )
    acting = set(sim.workers)
    held = stages_held(program)
    title = (f"{program.name}: {program.schedule} schedule, {program.microbatches} microbatches "
             f"on {len(acting)} workers")
    return Timeline(
        title=title,
        workers=tuple(w.name for w in program.workers if w.name in acting),
        bars=bars,
        iteration_time=sim.iteration_time,
        pipeline_time=sim.pipeline_time,
        lower_bound=lower_bound,
        origins=origins(program),
        worker_notes=tuple((w, ",".join(s)) for w, s in held.items() if w in acting),
    )


def predicted_timeline(program: Program, bound: Bound | None = None) -> Timeline:
    """Simulate `program` (action lists ordered and verified) and bound it; `bound`: its
    lower bound when the caller has it already."""
    from pgc.sim import cost_table, lower_bound, simulate

    costs = cost_table(program)
    return timeline_of(program, simulate(program, costs), (bound or lower_bound(program, costs)).total)
