"""Questions several parts ask about a Program, each answered in one place.

`collective_groups`: the groups that all-reduce together (the order pass emits their ALLREDUCE
actions, the verifier and simulators execute them, the bound prices them, `plan.json` lists
them for the runtime). `holders`: the workers holding some segments (a shared parameter's
group: the gradient buckets, `plan.json`). `stages_held`, `stage_of_worker`: the stages each
worker holds (the order pass, the simulator's memory, path resolution, the pictures).
`origins`: the origin workers in the order `plan.json` numbers them (its data-order table) and
the pictures colour them.
"""

from __future__ import annotations

from collections.abc import Iterable

from pgc.ir.types import Program


def collective_groups(program: Program) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(ALLREDUCE name, member workers): stages with two or more replicas, in stage order, then
    shared parameters by name (members: `holders` of the owning segments)."""
    groups = [(st, ws) for st, ws in program.placement if len(ws) > 1]
    groups += [(param, holders(program, segs)) for param, segs in sorted(program.shared_groups)]
    return tuple(groups)


def holders(program: Program, segments: Iterable[str]) -> tuple[str, ...]:
    """The workers holding any of `segments` (through the replica groups of their stages), in
    worker order. O(W + segments)."""
    seg_stage = {s.name: s.stage for s in program.segments}
    placed = dict(program.placement)
    held = {w for seg in segments for w in placed.get(seg_stage[seg], ())}
    return tuple(w.name for w in program.workers if w.name in held)


def stages_held(program: Program) -> dict[str, tuple[str, ...]]:
    """Worker -> the stages whose replica groups hold it, in pipeline order, keyed in pipeline
    order and each group in its own order. A verified Program has one stage a worker; the
    pictures also draw hand-made ones with more. O(W + S)."""
    placed = dict(program.placement)
    held: dict[str, tuple[str, ...]] = {}
    for st in program.stages:
        for w in placed.get(st.name, ()):
            held[w] = (*held.get(w, ()), st.name)
    return held


def stage_of_worker(program: Program) -> dict[str, str]:
    """Worker -> the stage it holds (`stages_held`, the first where a hand-made Program has
    more)."""
    return {w: stages[0] for w, stages in stages_held(program).items()}


def origins(program: Program) -> tuple[str, ...]:
    """Origin workers in the order their first microbatch comes (by microbatch index): origin k
    of `plan.json`'s data-order table (`origin_index`) and the k-th origin colour of the
    pictures. O(M log M)."""
    seen: dict[str, None] = {}
    for p in sorted(program.paths, key=lambda p: p.mb):
        seen.setdefault(p.origin, None)
    return tuple(seen)
