"""The paths picture: every microbatch's forward path coloured by its origin, steps merged per
(from, to, origin) with a count, and a legend of origins. Backward retraces each path, so it is
not drawn twice."""

from __future__ import annotations

from dataclasses import dataclass

import graphviz

from pgc.ir.types import Program, Worker
from pgc.viz.layout import (
    add_workers,
    classify_steps,
    hop_nodes,
    origin_colours,
    segment_positions,
)
from pgc.viz.style import fmt_bytes, fmt_rate


@dataclass(frozen=True)
class MergedEdge:
    src: str
    dst: str
    origin: str
    count: int  # microbatches of this origin that step from src to dst
    microbatches: tuple[int, ...]
    swaps: int  # how many of those steps are out of order


def merge_path_edges(program: Program) -> list[MergedEdge]:
    """One edge per (from node, to node, origin), in first-use order; nodes are workers, or
    loss nodes for steps into the ring's epilogue (`layout.hop_nodes`). Steps that stay on one
    worker are not edges. O(total hops)."""
    positions = segment_positions(program)
    node = hop_nodes(program)
    order: list[tuple[str, str, str]] = []
    mbs: dict[tuple[str, str, str], list[int]] = {}
    swaps: dict[tuple[str, str, str], int] = {}
    for path in program.paths:
        steps = zip(zip(path.hops, path.hops[1:]), classify_steps(path, positions))
        for (a, b), kind in steps:
            if a.worker == b.worker:
                continue
            key = (node(a), node(b), path.origin)
            if key not in mbs:
                order.append(key)
                mbs[key], swaps[key] = [], 0
            mbs[key].append(path.mb)
            swaps[key] += kind == "swap"
    return [
        MergedEdge(s, d, o, len(mbs[(s, d, o)]), tuple(mbs[(s, d, o)]), swaps[(s, d, o)])
        for s, d, o in order
    ]


def paths_graph(program: Program) -> graphviz.Digraph:
    """The DOT graph of the routed paths of `program`; for big plans a microbatch x stage grid
    (`pgc.viz.aggregate`)."""
    from pgc.viz.aggregate import aggregated, path_grid

    colours = origin_colours(program)
    if aggregated(program):
        legend = _legend(program, colours).replace(_COUNTS, "")
        return path_grid(program, f"{program.name}: {len(program.paths)} microbatch paths",
                         legend)
    g = graphviz.Digraph(f"{program.name or 'pipeline'}_paths")
    g.attr(rankdir="LR", fontname="Helvetica", newrank="true", nodesep="0.25", ranksep="0.9")
    g.attr(label=f"{program.name}: {len(program.paths)} microbatch paths by origin",
           labelloc="t", fontsize="16")
    g.attr("node", shape="box", style="rounded,filled", fontname="Helvetica", fontsize="10")
    g.attr("edge", fontname="Helvetica", fontsize="9", arrowsize="0.6")

    def node(w: Worker) -> dict[str, str]:
        fill = colours.get(w.name, "#f4f4f4")
        tip = f"{w.name}: {fmt_rate(w.rate)}, {fmt_bytes(w.memory)}, region {w.region or '-'}"
        return {"label": w.name, "fillcolor": fill, "tooltip": tip,
                "fontcolor": "white" if w.name in colours else "black"}

    add_workers(g, program, node)
    for e in merge_path_edges(program):
        tip = f"{e.src} -> {e.dst}, origin {e.origin}: mb " + ", ".join(map(str, e.microbatches))
        attrs = {
            "color": colours[e.origin],
            "fontcolor": colours[e.origin],
            "label": f"×{e.count}",
            "penwidth": f"{1 + min(e.count, 64) ** 0.5 / 2:.2f}",
            "tooltip": tip,
        }
        if e.swaps:
            attrs["style"] = "bold"
            attrs["label"] += " swap"
        g.edge(e.src, e.dst, **attrs)
    g.node("_legend", label=_legend(program, colours), shape="plaintext", style="",
           fontsize="10")
    return g


def _legend(program: Program, colours: dict[str, str]) -> str:
    per_origin: dict[str, int] = {}
    for p in program.paths:
        per_origin[p.origin] = per_origin.get(p.origin, 0) + 1
    rows = "".join(
        f'<TR><TD BGCOLOR="{colour}" WIDTH="18"> </TD>'
        f'<TD ALIGN="LEFT">{origin}: {per_origin[origin]} mb</TD></TR>'
        for origin, colour in colours.items()
    )
    return (
        '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="2">'
        '<TR><TD COLSPAN="2" ALIGN="LEFT"><B>origin</B></TD></TR>'
        f"{rows}"
        f"{_COUNTS}</TABLE>>"
    )


_COUNTS = '<TR><TD COLSPAN="2" ALIGN="LEFT">×n = microbatches on that step</TD></TR>'
