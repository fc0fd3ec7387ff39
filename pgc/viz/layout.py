"""What the graph pictures share: worker clusters (stage, then region), origin colours, and the
classification of each path step as next / skip / swap.

Graphviz lets a node sit in one cluster only, so a worker that holds several stages is drawn in
the cluster of the first one (in pipeline order) and its label names the others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import graphviz

from pgc.ir.types import Path, Program, Worker
from pgc.viz.style import origin_colour, region_fill

StepKind = Literal["next", "skip", "swap"]


def origins(program: Program) -> tuple[str, ...]:
    """Origin workers in worker order: the order colours are handed out in."""
    used = {p.origin for p in program.paths}
    return tuple(w.name for w in program.workers if w.name in used)


def origin_colours(program: Program) -> dict[str, str]:
    return {name: origin_colour(i) for i, name in enumerate(origins(program))}


def region_fills(program: Program) -> dict[str, str]:
    regions: list[str] = []
    for w in program.workers:
        if w.region not in regions:
            regions.append(w.region)
    return {r: region_fill(i) for i, r in enumerate(regions)}


def stages_of_worker(program: Program) -> dict[str, tuple[str, ...]]:
    """Worker -> the stages whose replica group holds it, in pipeline order."""
    held: dict[str, list[str]] = {}
    for stage in program.stages:
        for worker in program.replicas(stage.name):
            held.setdefault(worker, []).append(stage.name)
    return {w: tuple(s) for w, s in held.items()}


def segment_positions(program: Program) -> dict[str, int]:
    """Segment -> its index in model execution order (the order a full path visits them)."""
    return {seg.name: i for i, seg in enumerate(program.segments)}


def classify_steps(path: Path, positions: dict[str, int]) -> list[StepKind]:
    """For each consecutive pair of hops: `next` (adjacent segments), `skip` (jumps over a
    segment the path never visits) or `swap` (goes back, or jumps over a segment the path
    visits out of order). O(len(hops)^2), paths are short."""
    visited = {positions[h.segment] for h in path.hops}
    kinds: list[StepKind] = []
    for a, b in zip(path.hops, path.hops[1:]):
        pa, pb = positions[a.segment], positions[b.segment]
        between = range(pa + 1, pb)
        if pb < pa:
            kinds.append("swap")
        elif any(p not in visited for p in between):
            kinds.append("skip")
        elif len(between) > 0:
            kinds.append("swap")
        else:
            kinds.append("next")
    return kinds


def skipped_stages(program: Program, path: Path) -> tuple[str, ...]:
    """Stages (pipeline order) that `path` never visits."""
    seen = {program.segment(h.segment).stage for h in path.hops}
    return tuple(s.name for s in program.stages if s.name not in seen)


@dataclass(frozen=True)
class StageVisits:
    """How many microbatches visit each stage (the rest skip it)."""

    visits: dict[str, int]
    total: int

    @staticmethod
    def of(program: Program) -> StageVisits:
        visits = {s.name: 0 for s in program.stages}
        for path in program.paths:
            for stage in {program.segment(h.segment).stage for h in path.hops}:
                visits[stage] += 1
        return StageVisits(visits, len(program.paths))


def add_worker_clusters(
    graph: graphviz.Digraph,
    program: Program,
    node_attrs: Callable[[Worker], dict[str, str]],
) -> None:
    """One cluster per stage in pipeline order, with a sub-cluster per region when the replica
    group spans several regions; workers that hold no stage go to a dashed `unused` cluster."""
    held = stages_of_worker(program)
    visits = StageVisits.of(program)
    drawn: set[str] = set()
    for stage in program.stages:
        members = [
            program.worker(w) for w in program.replicas(stage.name) if w not in drawn
        ]
        drawn.update(w.name for w in members)
        label = _stage_label(program, stage.name, visits)
        with graph.subgraph(name=f"cluster_{stage.name}") as c:
            c.attr(label=label, style="rounded", color="#7f7f7f", fontsize="12", rank="same")
            _add_region_groups(c, f"cluster_{stage.name}", members, held, node_attrs)
    rest = [w for w in program.workers if w.name not in drawn]
    if rest:
        with graph.subgraph(name="cluster__unused") as c:
            c.attr(label="no stage", style="dashed", color="#bbbbbb", fontsize="12")
            _add_region_groups(c, "cluster__unused", rest, held, node_attrs)


def _stage_label(program: Program, stage: str, visits: StageVisits) -> str:
    segs = program.stage(stage).segments
    head = stage if segs == (stage,) else f"{stage} ({', '.join(segs)})"
    n = visits.visits.get(stage, 0)
    if visits.total == 0 or n == visits.total:
        return head
    return f"{head}\\nvisited by {n}/{visits.total} mb, skipped by {visits.total - n}"


def _add_region_groups(
    cluster: graphviz.Digraph,
    prefix: str,
    members: list[Worker],
    held: dict[str, tuple[str, ...]],
    node_attrs: Callable[[Worker], dict[str, str]],
) -> None:
    regions: list[str] = []
    for w in members:
        if w.region not in regions:
            regions.append(w.region)
    if len(regions) <= 1:
        for w in members:
            cluster.node(w.name, **_with_stages(node_attrs(w), w, held))
        return
    for region in regions:
        with cluster.subgraph(name=f"{prefix}__{region}") as rc:
            rc.attr(label=region or "(no region)", style="dotted", color="#999999", fontsize="10")
            for w in members:
                if w.region == region:
                    rc.node(w.name, **_with_stages(node_attrs(w), w, held))


def _with_stages(
    attrs: dict[str, str], worker: Worker, held: dict[str, tuple[str, ...]]
) -> dict[str, str]:
    stages = held.get(worker.name, ())
    if len(stages) <= 1:
        return attrs
    out = dict(attrs)
    out["label"] = out.get("label", worker.name) + "\\n(also " + ", ".join(stages[1:]) + ")"
    return out
