"""Pictures of big plans: workers grouped where drawing each one would overlap.

Above `AGGREGATE_WORKERS` workers the pipeline graph draws one box per (stage, region) group,
or, when that still leaves more than `MAX_GROUPS` boxes or does not at least halve the count,
one box per stage listing its regions, stages top to bottom; edges join groups and carry the
number of microbatches that step between them (the range of the links' latency and bandwidth in
their tooltips), so their number grows with stages and regions, not with workers or paths. The
paths picture becomes a microbatch x stage grid (each cell the visit's order on the path and its
worker, coloured by origin), which holds at any number of workers and stays one row per
microbatch. Tooltips keep the worker-level details. O(total hops + workers).
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import graphviz

from pgc.ir.types import Program
from pgc.sim.cost import Network
from pgc.viz.layout import (
    Column,
    StepKind,
    classify_steps,
    columns,
    origin_colours,
    region_fills,
    segment_positions,
)
from pgc.viz.style import SKIP_EDGE, SWAP_EDGE, fmt_bandwidth, fmt_seconds, forward_colour

AGGREGATE_WORKERS = 16
MAX_GROUPS = 24


def aggregated(program: Program) -> bool:
    return len(program.workers) > AGGREGATE_WORKERS


@dataclass(frozen=True)
class Group:
    id: str
    label: str
    region: str  # "" when the group is a whole stage
    workers: tuple[str, ...]


def groups(program: Program) -> list[tuple[Column, list[Group]]]:
    """Each stage column (the ring's loss column last) with its groups (module docstring)."""
    cols = [c for c in columns(program) if c.key != "_unused"]
    n = sum(len(c.regions) for c in cols)
    by_region = n <= MAX_GROUPS and 2 * n <= len(program.workers)
    out = []
    for col in cols:
        if by_region:
            gs = [Group(f"{col.key}:{r}", f"{r or '-'} · {len(ws)} worker{'s' * (len(ws) > 1)}",
                        r, tuple(w.name for w in ws)) for r, ws in col.regions]
        else:
            members = tuple(w.name for _, ws in col.regions for w in ws)
            counts = [f"{r or '-'} {len(ws)}" for r, ws in col.regions]
            lines = [" · ".join(counts[i:i + 4]) for i in range(0, len(counts), 4)]
            gs = [Group(col.key, "\\n".join([f"{len(members)} workers", *lines]), "", members)]
        out.append((col, gs))
    return out


def _hop_groups(program: Program, cols: list[tuple[Column, list[Group]]]) -> dict[tuple[str, str], str]:
    """(segment, worker) -> group id, the ring's epilogue in the loss column."""
    epilogue = {s.name for s in program.segments if s.role == "epilogue"}
    out: dict[tuple[str, str], str] = {}
    for col, gs in cols:
        segs = [s.name for s in program.segments
                if (col.key == "_loss" and s.name in epilogue)
                or (col.key != "_loss" and s.stage == col.key
                    and not (program.layout == "ring" and s.name in epilogue))]
        for g in gs:
            for w in g.workers:
                for s in segs:
                    out[(s, w)] = g.id
    return out


def aggregate_graph(program: Program, title: str) -> graphviz.Digraph:
    """The pipeline graph of a big plan: groups and the microbatch steps between them."""
    g = graphviz.Digraph(program.name or "pipeline")
    # stages top to bottom: a page's width then holds the picture at a readable size (left to
    # right, 20 workers in 6 stages drew 2768 px wide, a third of its size in a README)
    g.attr(rankdir="TB", fontname="Helvetica", newrank="true", nodesep="0.3", ranksep="0.6")
    g.attr(label=title + "\\n(workers grouped; hover for details)", labelloc="t", fontsize="16")
    g.attr("node", shape="box", style="rounded,filled", fontname="Helvetica", fontsize="11")
    g.attr("edge", fontname="Helvetica", fontsize="9", color="#555555")
    cols = groups(program)
    fills = region_fills(program)
    _add_groups(g, program, cols, lambda grp: fills.get(grp.region, "#eeeeee"))
    of = _hop_groups(program, cols)
    net = Network.of(program)
    positions = segment_positions(program)
    count: Counter[tuple[str, str, StepKind]] = Counter()
    links: dict[tuple[str, str, StepKind], list[tuple[float, float]]] = {}
    for path in program.paths:
        for (a, b), step in zip(zip(path.hops, path.hops[1:]), classify_steps(path, positions)):
            key = (of[(a.segment, a.worker)], of[(b.segment, b.worker)], step)
            count[key] += 1
            if a.worker != b.worker:
                links.setdefault(key, []).append(net.table.get((a.worker, b.worker), (0.0, 0.0)))
    for (src, dst, step), n in count.items():
        text = f"{n} mb" + (f" {step}" if step != "next" else "")
        tip = text + _link_range(links.get((src, dst, step), []))
        # the label stays short so the picture reads at screen size; the links' latency and
        # bandwidth ranges are in the tooltip (svg) and in the interactive view
        attrs = {"label": text, "tooltip": f"{src} -> {dst}: " + tip.replace("\\n", ", "),
                 "penwidth": f"{1 + min(n, 256) ** 0.5 / 3:.2f}"}
        if step == "skip":
            attrs.update(color=SKIP_EDGE, fontcolor=SKIP_EDGE, style="dashed")
        elif step == "swap":
            attrs.update(color=SWAP_EDGE, fontcolor=SWAP_EDGE, style="bold")
        g.edge(_node_id(src), _node_id(dst), **attrs)
    return g


def _node_id(group: str) -> str:
    return "g_" + "".join(ch if ch.isalnum() else "_" for ch in group)


def _link_range(pairs: list[tuple[float, float]]) -> str:
    if not pairs:
        return ""
    lat = sorted(p[0] for p in pairs)
    bw = sorted(p[1] for p in pairs)

    def span(lo: str, hi: str) -> str:
        return lo if lo == hi else f"{lo}-{hi}"

    return (f"\\n{span(fmt_seconds(lat[0]), fmt_seconds(lat[-1]))} · "
            f"{span(fmt_bandwidth(bw[0]), fmt_bandwidth(bw[-1]))}")


def _add_groups(g: graphviz.Digraph, program: Program, cols: list[tuple[Column, list[Group]]],
                fill: Callable[[Group], str]) -> None:
    heads = []
    for col, gs in cols:
        with g.subgraph(name=f"cluster_{col.key}") as c:
            c.attr(label=col.label, style="rounded", color="#7f7f7f", fontsize="12", rank="same")
            for grp in gs:
                names = ", ".join(grp.workers)
                label = grp.label + ("\\nloss" if col.suffix else "")
                c.node(_node_id(grp.id), label=label, fillcolor=fill(grp),
                       tooltip=f"{col.key} {grp.region}: {names}".replace("_loss", "loss"),
                       style="rounded,filled,dashed" if col.suffix else "rounded,filled")
        heads.append(_node_id(gs[0].id))
    for a, b in zip(heads, heads[1:]):  # keep the columns in pipeline order
        g.edge(a, b, style="invis")


def path_grid(program: Program, title: str, legend: str) -> graphviz.Digraph:
    """The paths picture of a big plan: one row per microbatch, one column per stage."""
    colours = origin_colours(program)
    index = {o: i for i, o in enumerate(colours)}
    stages = [s.name for s in program.stages]
    head = "".join(f'<TD><B>{s}</B></TD>' for s in stages)
    rows = [f'<TR><TD></TD>{head}</TR>']
    for path in sorted(program.paths, key=lambda p: p.mb):
        seen: dict[str, tuple[int, str]] = {}
        for k, h in enumerate(path.hops):
            seen.setdefault(program.segment(h.segment).stage, (k + 1, h.worker))
        route = html.escape(" -> ".join(f"{program.segment(h.segment).stage}@{h.worker}"
                                        for h in path.hops))
        fill = forward_colour(index.get(path.origin, 0))
        cells = "".join(
            f'<TD BGCOLOR="{fill}" TOOLTIP="mb{path.mb}: {route}">{seen[s][0]}: {seen[s][1]}</TD>'
            if s in seen else '<TD BGCOLOR="#f3f3f3"> </TD>' for s in stages)
        rows.append(f'<TR><TD ALIGN="RIGHT">mb{path.mb} · {path.origin}</TD>{cells}</TR>')
    table = ('<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="1" CELLPADDING="2">'
             + "".join(rows) + "</TABLE>>")
    g = graphviz.Digraph(f"{program.name or 'pipeline'}_paths")
    g.attr(label=title + "\\n(visit order and worker per stage; skipped stages blank)",
           labelloc="t", fontsize="16", fontname="Helvetica", rankdir="LR")
    g.node("_legend", label=legend, shape="plaintext", fontname="Helvetica", fontsize="10")
    g.node("_grid", label=table, shape="plaintext", fontname="Helvetica", fontsize="9")
    return g
