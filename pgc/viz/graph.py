"""The pipeline graph: workers clustered by stage and region, edges = the links the plan's paths
use (latency, bandwidth, traffic per iteration), skip and swap steps styled apart, and the
all-reduce ring of each replica group dashed."""

from __future__ import annotations

from dataclasses import dataclass

import graphviz

from pgc.ir.types import Program, Worker
from pgc.sim.cost import Network
from pgc.viz.layout import (
    StepKind,
    add_workers,
    classify_steps,
    hop_nodes,
    region_fills,
    segment_positions,
)
from pgc.viz.style import (
    DP_EDGE,
    SKIP_EDGE,
    SWAP_EDGE,
    fmt_bandwidth,
    fmt_bytes,
    fmt_rate,
    fmt_seconds,
)

# Above this many edges, labels move into tooltips: dot places every edge label as a virtual
# node, which makes big layouts several times slower and unreadable anyway.
LABEL_LIMIT = 150

_RANK = {"next": 0, "skip": 1, "swap": 2}


@dataclass(frozen=True)
class UsedLink:
    """A directed worker pair that forward activations cross (gradients cross it backward).
    `src`/`dst` are workers; `dst_node` is where the edge is drawn to (a loss node when the
    step enters the ring's epilogue)."""

    src: str
    dst: str
    dst_node: str
    microbatches: int
    forward_bytes: float  # activation bytes per iteration; gradients add the same backward
    kind: StepKind  # the most unusual step that uses it: swap > skip > next


def used_links(program: Program) -> list[UsedLink]:
    """Every worker pair some path steps across, in first-use order. O(total hops)."""
    positions = segment_positions(program)
    node = hop_nodes(program)
    order: list[tuple[str, str, str]] = []
    count: dict[tuple[str, str, str], int] = {}
    nbytes: dict[tuple[str, str, str], float] = {}
    kind: dict[tuple[str, str, str], StepKind] = {}
    for path in program.paths:
        for (a, b), step in zip(zip(path.hops, path.hops[1:]), classify_steps(path, positions)):
            if a.worker == b.worker:
                continue
            key = (a.worker, b.worker, node(b))
            if key not in count:
                order.append(key)
                count[key], nbytes[key], kind[key] = 0, 0.0, step
            count[key] += 1
            nbytes[key] += program.segment(a.segment).boundary_bytes or 0
            if _RANK[step] > _RANK[kind[key]]:
                kind[key] = step
    return [UsedLink(*k, count[k], nbytes[k], kind[k]) for k in order]


def _worker_node(program: Program, fills: dict[str, str]) -> dict[str, dict[str, str]]:
    def attrs(w: Worker) -> dict[str, str]:
        tip = f"{w.name}: {fmt_rate(w.rate)}, {fmt_bytes(w.memory)}, region {w.region or '-'}"
        where = f" · {w.region}" if w.region else ""
        label = f"{w.name}{where}\\n{fmt_rate(w.rate)} · {fmt_bytes(w.memory)}"
        return {"label": label, "fillcolor": fills[w.region], "tooltip": tip}

    return {w.name: attrs(w) for w in program.workers}


def _link_text(net: Network, link: UsedLink) -> str:
    latency, bandwidth = net.table.get((link.src, link.dst), (0.0, 0.0))
    traffic = f"{link.microbatches} mb"
    if link.forward_bytes:
        traffic += f" · {fmt_bytes(2 * link.forward_bytes)}/iter"
    speed = f"{fmt_seconds(latency)} · {fmt_bandwidth(bandwidth)}" if bandwidth else "no link"
    return f"{speed}\\n{traffic}"


def pipeline_graph(program: Program) -> graphviz.Digraph:
    """The DOT graph of `program` after routing (placement and paths filled); big plans are
    drawn with workers grouped (`pgc.viz.aggregate`)."""
    from pgc.viz.aggregate import aggregate_graph, aggregated

    if aggregated(program):
        return aggregate_graph(program, _title(program))
    g = graphviz.Digraph(program.name or "pipeline")
    g.attr(rankdir="LR", fontname="Helvetica", newrank="true", nodesep="0.25", ranksep="0.9")
    g.attr(label=_title(program), labelloc="t", fontsize="16")
    g.attr("node", shape="box", style="rounded,filled", fontname="Helvetica", fontsize="10")
    g.attr("edge", fontname="Helvetica", fontsize="9", color="#555555")
    fills = region_fills(program)
    nodes = _worker_node(program, fills)
    links = used_links(program)
    add_workers(g, program, lambda w: nodes[w.name])
    net = Network.of(program)
    labelled = len(links) <= LABEL_LIMIT
    for link in links:
        text = _link_text(net, link)
        attrs = {"tooltip": f"{link.src} -> {link.dst}: " + text.replace("\\n", ", ")}
        if labelled:
            attrs["label"] = text
        attrs.update(_step_style(link.kind))
        attrs["penwidth"] = f"{1 + min(link.microbatches, 64) ** 0.5 / 2:.2f}"
        g.edge(link.src, link.dst_node, **attrs)
    _add_allreduce_rings(g, program, net)
    _add_legend(g, fills)
    return g


def _title(program: Program) -> str:
    parts = [
        f"{program.name}: {program.layout} layout, schedule {program.schedule}",
        f"{len(program.workers)} workers, {len(program.stages)} stages, "
        f"{program.microbatches} microbatches",
    ]
    if program.skip.ratio[0]:
        parts[-1] += f", skip {program.skip.ratio[0]}/{program.skip.ratio[1]}"
    if program.swap.max_swaps:
        parts[-1] += f", swaps <= {program.swap.max_swaps}"
    return "\\n".join(parts)


def _step_style(kind: StepKind) -> dict[str, str]:
    if kind == "skip":
        return {"color": SKIP_EDGE, "fontcolor": SKIP_EDGE, "style": "dashed"}
    if kind == "swap":
        return {"color": SWAP_EDGE, "fontcolor": SWAP_EDGE, "style": "bold"}
    return {}


def _add_allreduce_rings(g: graphviz.Digraph, program: Program, net: Network) -> None:
    """The ring each replica group all-reduces over, dashed and without arrows; it does not
    constrain the layout, so stage columns stay in pipeline order."""
    for stage in program.stages:
        group = program.replicas(stage.name)
        if len(group) < 2:
            continue
        pairs = list(zip(group, group[1:] + group[:1])) if len(group) > 2 else [tuple(group)]
        for a, b in pairs:
            latency, bandwidth = net.table.get((a, b), (0.0, 0.0))
            tip = f"all-reduce {stage.name}: {a} - {b}, {fmt_seconds(latency)}, "
            tip += fmt_bandwidth(bandwidth)
            g.edge(a, b, style="dashed", color=DP_EDGE, arrowhead="none", constraint="false",
                   tooltip=tip)


def _add_legend(g: graphviz.Digraph, fills: dict[str, str]) -> None:
    rows = "".join(
        f'<TR><TD BGCOLOR="{fill}"> </TD><TD ALIGN="LEFT">{_html(region or "(no region)")}</TD></TR>'
        for region, fill in fills.items()
    )
    edges = (
        '<TR><TD COLSPAN="2" ALIGN="LEFT"><B>edges</B></TD></TR>'
        '<TR><TD>&#8594;</TD><TD ALIGN="LEFT">next stage</TD></TR>'
        f'<TR><TD><FONT COLOR="{SKIP_EDGE}">- -&#8594;</FONT></TD><TD ALIGN="LEFT">skips stages</TD></TR>'
        f'<TR><TD><FONT COLOR="{SWAP_EDGE}"><B>&#8594;</B></FONT></TD><TD ALIGN="LEFT">swap (out of order)</TD></TR>'
        f'<TR><TD><FONT COLOR="{DP_EDGE}">- - -</FONT></TD><TD ALIGN="LEFT">all-reduce ring</TD></TR>'
    )
    table = (
        '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="2">'
        '<TR><TD COLSPAN="2" ALIGN="LEFT"><B>regions</B></TD></TR>'
        f"{rows}{edges}</TABLE>>"
    )
    g.node("_legend", label=table, shape="plaintext", style="", fontsize="10")


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
