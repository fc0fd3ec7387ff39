"""Why a plan takes the time it takes: the bound that binds and what the critical path spends.

`bottlenecks(program)` reads the lower bound's components (pgc.sim.bound) and the simulated
critical path (pgc.sim.engine) of a routed, ordered program and returns JSON-ready facts that
`pgc plan --explain` prints: which resource the placement and routing could not get under
(compute, a NIC, inflight slots, one microbatch's chain, an origin, the all-reduce), and how
the critical path splits into compute, messages and waiting. O(actions).
"""

from __future__ import annotations

from typing import Any

from pgc.ir.types import Program
from pgc.sim.bound import lower_bound
from pgc.sim.cost import cost_table
from pgc.sim.engine import simulate

# what each lower-bound component measures, as a user reads it
MEANING = {
    "critical_path": "one microbatch's own chain of computes and messages",
    "compute": "one worker's compute (forwards and backwards)",
    "nic": "one worker's outgoing messages, sent one at a time",
    "inflight": "activation slots: microbatches wait for one of a worker's inflight slots",
    "origin": "an origin starting its microbatches one after another",
    "allreduce": "gradient all-reduce and optimizer step after the last backward",
}


def bottlenecks(program: Program) -> dict[str, Any]:
    """The binding bound of the pipeline phase and of the iteration, and the critical path's
    compute / message / waiting seconds with its slowest message."""
    costs = cost_table(program)
    bound = lower_bound(program, costs)
    sim = simulate(program, costs)
    pipe = max((c for c in bound.components if c[0] != "allreduce"), key=lambda c: c[1])
    whole = max(bound.components, key=lambda c: c[1])
    return {
        "pipeline": _component(pipe),
        "iteration": _component(whole),
        "critical_path": _critical_path(sim),
        "busiest_compute": _busiest(sim.busy, sim.pipeline_time),
        "busiest_nic": _busiest(sim.nic_busy, sim.pipeline_time),
    }


def _component(c: tuple[str, float, str]) -> dict[str, Any]:
    name, seconds, at = c
    return {"bound": name, "seconds": seconds, "at": at, "meaning": MEANING.get(name, name)}


def _busiest(seconds: dict[str, float], span: float) -> dict[str, Any]:
    if not seconds:
        return {"worker": "", "seconds": 0.0, "share": 0.0}
    w = max(seconds, key=lambda k: seconds[k])
    return {"worker": w, "seconds": seconds[w], "share": seconds[w] / span if span else 0.0}


def _critical_path(sim: Any) -> dict[str, Any]:
    """Seconds of the critical path by what advances it: each action adds the part of its span
    past the time reached so far (a send overlaps the compute after it), gaps are waiting."""
    spent = {"compute": 0.0, "messages": 0.0, "allreduce": 0.0, "waiting": 0.0}
    slowest = ("", 0.0)
    reached: float | None = None
    for wi, i in sim.critical_path:
        w = sim.workers[wi]
        a = sim.actions[w][i]
        start, end = sim.start[w][i], sim.end[w][i]
        reached = start if reached is None else reached
        if start > reached:
            spent["waiting"] += start - reached
            reached = start
        kind = ("allreduce" if a.kind == "ALLREDUCE" else
                "messages" if a.kind[:4] in ("SEND", "RECV") else "compute")
        if kind == "messages" and end - start > slowest[1]:
            src, dst = (w, a.peer) if a.kind.startswith("SEND") else (a.peer, w)
            slowest = (f"{src} -> {dst} ({a.kind[5:]} m{a.mb})", end - start)
        if end > reached:
            spent[kind] += end - reached
            reached = end
    return {**spent, "slowest_message": slowest[0], "slowest_message_s": slowest[1]}
