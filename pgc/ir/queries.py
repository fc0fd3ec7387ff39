"""Questions several parts ask about a Program, each answered in one place.

`collective_groups`: the groups that all-reduce together (the order pass emits their ALLREDUCE
actions, the verifier and simulators execute them, the bound prices them, `plan.json` lists
them for the runtime).
"""

from __future__ import annotations

from pgc.ir.types import Program


def collective_groups(program: Program) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(ALLREDUCE name, member workers): stages with two or more replicas, in stage order, then
    shared parameters by name (members: every holder of an owning segment, in worker order)."""
    groups = [(st, ws) for st, ws in program.placement if len(ws) > 1]
    seg_stage = {s.name: s.stage for s in program.segments}
    rank = {w.name: i for i, w in enumerate(program.workers)}
    for param, segs in sorted(program.shared_groups):
        holders = {w for seg in segs for w in program.replicas(seg_stage[seg])}
        groups.append((param, tuple(sorted(holders, key=rank.__getitem__))))
    return tuple(groups)
