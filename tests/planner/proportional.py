"""The speed-proportional routing baseline: a plan's stage sequences kept, each body hop's
replica chosen in proportion to a weight (GPU rate by default). The heterogeneous-world
benchmark (bench/planner/bench_hetero.py) sets pgc's routing next to it."""

from __future__ import annotations

from dataclasses import replace

from pgc.ir.types import Hop, Program


def proportional(program: Program, weight: dict[str, float] | None = None) -> Program:
    """`program`'s paths with the same stage sequences, each body hop's replica chosen by
    smooth weighted round robin on `weight` (default: GPU rate) (Nginx's SWRR: every pick adds
    each member's weight to its credit, the richest is taken and pays the group's total), so
    each replica's visits are its weight share of the stage's visits, to within one."""
    rate = weight or {w.name: w.rate for w in program.workers}
    stage_of = {seg: st.name for st in program.stages for seg in st.segments}
    groups = dict(program.placement)
    credit = dict.fromkeys(rate, 0.0)
    paths = []
    for path in program.paths:
        hops = []
        for hop in path.hops:
            stage = stage_of.get(hop.segment, program.stages[0].name)
            if stage == program.stages[0].name:  # origin segments stay at the origin
                hops.append(hop)
                continue
            group = groups[stage]
            for w in group:
                credit[w] += rate[w]
            pick = max(group, key=lambda w: credit[w])
            credit[pick] -= sum(rate[w] for w in group)
            hops.append(Hop(hop.segment, pick))
        paths.append(replace(path, hops=tuple(hops)))
    return replace(program, paths=tuple(paths))
