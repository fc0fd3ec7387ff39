"""What the graph pictures share: worker clusters (stage, then region), origin colours, and the
classification of each path step as next / skip / swap.

Graphviz lets a node sit in one cluster only, so a worker that holds several stages is drawn in
the cluster of the first one (in pipeline order) and its label names the others. In the ring
layout the origin workers appear twice: in the first column, where paths start (prologue), and
as dashed "loss" nodes in a last column, where paths end (epilogue). Drawing the ring unrolled
keeps every forward step left to right; closing it would send every path's last edge back
across the whole picture.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import graphviz

from pgc.ir.queries import origins, stages_held
from pgc.ir.types import Hop, Path, Program, Worker
from pgc.viz.style import origin_colour, region_fill

StepKind = Literal["next", "skip", "swap"]


def origin_colours(program: Program) -> dict[str, str]:
    return {name: origin_colour(i) for i, name in enumerate(origins(program))}


def region_fills(program: Program) -> dict[str, str]:
    regions: list[str] = []
    for w in program.workers:
        if w.region not in regions:
            regions.append(w.region)
    return {r: region_fill(i) for i, r in enumerate(regions)}


LOSS_SUFFIX = "__loss"


def hop_nodes(program: Program) -> Callable[[Hop], str]:
    """The node a hop is drawn at: its worker, or the worker's loss node for the ring's
    epilogue segment."""
    epilogues = {s.name for s in program.segments if s.role == "epilogue"}
    unroll = program.layout == "ring" and bool(epilogues)

    def node(hop: Hop) -> str:
        return hop.worker + LOSS_SUFFIX if unroll and hop.segment in epilogues else hop.worker

    return node


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


@dataclass(frozen=True)
class Column:
    """A stage's replica group (or the workers holding no stage), split by region."""

    key: str  # stage name, "_unused", or "_loss" (the ring's epilogue column)
    label: str
    regions: tuple[tuple[str, tuple[Worker, ...]], ...]
    suffix: str = ""  # node id = worker name + suffix

    def node_attrs(self, attrs: dict[str, str]) -> dict[str, str]:
        """Loss nodes: the worker's name and `loss`, dashed, so they read as the same worker."""
        if not self.suffix:
            return attrs
        name = attrs.get("label", "").split("\\n")[0]
        return {**attrs, "label": f"{name}\\nloss", "style": "rounded,filled,dashed"}


def columns(program: Program) -> list[Column]:
    """Stage groups in pipeline order, workers grouped by region in worker order; a worker
    already drawn for an earlier stage is left out; workers with no stage come last."""
    visits = StageVisits.of(program)
    drawn: set[str] = set()
    out: list[Column] = []
    for stage in program.stages:
        members = [program.worker(w) for w in program.replicas(stage.name) if w not in drawn]
        drawn.update(w.name for w in members)
        out.append(Column(stage.name, _stage_label(program, stage.name, visits),
                          _by_region(members)))
    epilogue = [s for s in program.segments if s.role == "epilogue"]
    if program.layout == "ring" and epilogue:
        owner = epilogue[0].stage
        members = [program.worker(w) for w in program.replicas(owner)]
        out.append(Column("_loss", f"{owner}: {epilogue[0].name} (loss)", _by_region(members),
                          LOSS_SUFFIX))
    rest = [w for w in program.workers if w.name not in drawn]
    if rest:
        out.append(Column("_unused", "no stage", _by_region(rest)))
    return out


def _by_region(members: list[Worker]) -> tuple[tuple[str, tuple[Worker, ...]], ...]:
    regions: dict[str, list[Worker]] = {}
    for w in members:
        regions.setdefault(w.region, []).append(w)
    return tuple((r, tuple(ws)) for r, ws in regions.items())


NodeAttrs = Callable[[Worker], dict[str, str]]


def add_workers(graph: graphviz.Digraph, program: Program, node_attrs: NodeAttrs) -> None:
    """Draw the workers as dot clusters, one per stage column (big plans are drawn grouped
    instead, `pgc.viz.aggregate`)."""
    add_clusters(graph, program, node_attrs)


def add_clusters(graph: graphviz.Digraph, program: Program, node_attrs: NodeAttrs) -> None:
    """One cluster per column, all at one rank, with a dotted sub-cluster for each region that
    holds two or more of the column's workers when the column spans several regions."""
    held = stages_held(program)
    cols = columns(program)
    for col in cols:
        name = f"cluster_{col.key}"
        with graph.subgraph(name=name) as c:
            if col.key == "_unused":
                c.attr(label=col.label, style="dashed", color="#bbbbbb", fontsize="12")
            else:
                c.attr(label=col.label, style="rounded", color="#7f7f7f", fontsize="12",
                       rank="same")
            for region, workers in col.regions:
                if len(col.regions) == 1 or len(workers) == 1:
                    for w in workers:
                        attrs = col.node_attrs(_with_stages(node_attrs(w), w, held))
                        c.node(w.name + col.suffix, **attrs)
                    continue
                with c.subgraph(name=f"{name}__{region}") as rc:
                    rc.attr(label=region or "(no region)", style="dotted", color="#999999",
                            fontsize="10")
                    for w in workers:
                        attrs = col.node_attrs(_with_stages(node_attrs(w), w, held))
                        rc.node(w.name + col.suffix, **attrs)
    # Ranks follow the edges, and when most paths skip a stage its column would drift right
    # of later ones; an invisible chain through the columns keeps pipeline order.
    heads = [c.regions[0][1][0].name + c.suffix for c in cols
             if c.key != "_unused" and c.regions]
    for a, b in zip(heads, heads[1:]):
        graph.edge(a, b, style="invis")


def _stage_label(program: Program, stage: str, visits: StageVisits) -> str:
    segs = program.stage(stage).segments
    if program.layout == "ring":  # the epilogue has its own (loss) column
        segs = tuple(s for s in segs if program.segment(s).role != "epilogue")
    head = stage if segs == (stage,) else f"{stage} ({', '.join(segs)})"
    n = visits.visits.get(stage, 0)
    if visits.total == 0 or n == visits.total:
        return head
    return f"{head}\\nvisited by {n}/{visits.total} mb, skipped by {visits.total - n}"


def _with_stages(
    attrs: dict[str, str], worker: Worker, held: dict[str, tuple[str, ...]]
) -> dict[str, str]:
    stages = held.get(worker.name, ())
    if len(stages) <= 1:
        return attrs
    out = dict(attrs)
    out["label"] = out.get("label", worker.name) + "\\n(also " + ", ".join(stages[1:]) + ")"
    return out
