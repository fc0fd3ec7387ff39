"""Pipeline graph and paths pictures: DOT goldens, edge merging, skip/swap classification,
and real graphviz output (SVG parses as XML, PNG equals `dot -Tpng` of the written DOT)."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
from viz_golden import check_golden
from viz_programs import chain4, ring7

from pgc.ir.types import Hop
from pgc.viz import render
from pgc.viz.graph import pipeline_graph, used_links
from pgc.viz.layout import classify_steps, segment_positions, skipped_stages
from pgc.viz.paths import merge_path_edges, paths_graph

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz `dot` not installed")


def test_graph_dot_golden() -> None:
    check_golden("ring7_graph.dot", pipeline_graph(ring7()).source)
    check_golden("chain4_graph.dot", pipeline_graph(chain4()).source)


def test_paths_dot_golden() -> None:
    check_golden("ring7_paths.dot", paths_graph(ring7()).source)


def test_merged_edges_are_counted_per_from_to_origin() -> None:
    edges = merge_path_edges(ring7())
    # 6 paths x 4 worker-to-worker steps = 24 steps; two pairs repeat within one origin:
    # n0 -> n2 (mb0, mb1) and n6 -> n0's loss node (mb1, mb2). n2 -> n3 is taken by mb0
    # (origin n0) and mb3 (origin n1): different colours, so it stays two edges.
    assert sum(e.count for e in edges) == 24
    assert len(edges) == 22
    by_key = {(e.src, e.dst, e.origin): e for e in edges}
    assert by_key[("n0", "n2", "n0")].microbatches == (0, 1)
    assert by_key[("n6", "n0__loss", "n0")].microbatches == (1, 2)
    assert by_key[("n2", "n3", "n0")].count == 1 and by_key[("n2", "n3", "n1")].count == 1
    # the DOT draws exactly one edge per merged edge, plus an invisible chain through the 7
    # columns (origin, s1..s5, loss) that keeps them in pipeline order
    lines = [line for line in paths_graph(ring7()).source.splitlines() if " -> " in line]
    assert sum("style=invis" not in line for line in lines) == 22
    assert [line.split(" [")[0].strip() for line in lines if "style=invis" in line] == [
        "n0 -> n2", "n2 -> n3", "n3 -> n4", "n4 -> n5", "n5 -> n6", "n6 -> n0__loss"]


def test_chain_merges_every_microbatch_onto_one_edge_per_link() -> None:
    edges = merge_path_edges(chain4())
    assert [(e.src, e.dst, e.count) for e in edges] == [
        ("n0", "n1", 4), ("n1", "n2", 4), ("n2", "n3", 4)
    ]


def test_steps_are_classified_next_skip_swap() -> None:
    program = ring7()
    pos = segment_positions(program)
    kinds = {p.mb: classify_steps(p, pos) for p in program.paths}
    assert kinds[0] == ["next", "next", "next", "skip"]  # s3 -> epilogue skips s4, s5
    assert kinds[1] == ["next", "skip", "skip", "next"]
    # mb4: pro -> s2 jumps over s1 which it visits next: a swap, as is the step back
    assert kinds[4] == ["swap", "swap", "skip", "skip"]
    assert skipped_stages(program, program.paths[4]) == ("s3", "s5")


def test_used_links_carry_traffic_and_kind() -> None:
    links = {(u.src, u.dst): u for u in used_links(ring7())}
    assert links[("n6", "n0")].dst_node == "n0__loss"
    assert links[("n0", "n2")].microbatches == 2
    assert links[("n0", "n2")].forward_bytes == 2 * 1024**2
    assert links[("n3", "n2")].kind == "swap"
    assert links[("n2", "n4")].kind == "skip"
    assert links[("n2", "n3")].kind == "next"
    graph = pipeline_graph(ring7()).source
    assert 'n3 -> n2 [label="100 us · 17.2 Gbps\\n1 mb · 2 MiB/iter" color="#c51b7d"' in graph
    assert "visited by 3/6 mb, skipped by 3" in graph


def test_worker_in_two_stages_is_drawn_once() -> None:
    program = ring7()
    placement = tuple((s, ("n2",) if s == "s2" else g) for s, g in program.placement)
    paths = tuple(
        replace(p, hops=tuple(Hop(h.segment, "n2" if h.worker == "n3" else h.worker)
                              for h in p.hops))
        for p in program.paths
    )
    dot = pipeline_graph(replace(program, placement=placement, paths=paths)).source
    assert sum(line.strip().startswith("n2 [") for line in dot.splitlines()) == 1
    assert "(also s2)" in dot
    assert "n3 [" in dot and "no stage" in dot  # n3 now holds nothing


@needs_dot
@pytest.mark.parametrize("what", ["graph", "paths"])
def test_svg_parses_and_png_equals_dot_of_written_dot(tmp_path: Path, what: str) -> None:
    program = ring7()
    svg = render(program, what, tmp_path / f"{what}.svg")[0]
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    titles = {t.text for t in root.iter("{http://www.w3.org/2000/svg}title")}
    assert {"n0", "n6"} <= titles
    dot = render(program, what, tmp_path / f"{what}.dot")[0]
    png = render(program, what, tmp_path / f"{what}.png")[0]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    by_hand = subprocess.run(["dot", "-Tpng", str(dot)], capture_output=True, check=True).stdout
    assert png.read_bytes() == by_hand


@needs_dot
def test_pdf_and_html(tmp_path: Path) -> None:
    pdf = render(ring7(), "graph", tmp_path / "g.pdf")[0]
    assert pdf.read_bytes()[:5] == b"%PDF-"
    html = render(ring7(), "paths", tmp_path / "p.html")[0].read_text()
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "<?xml" not in html


def test_without_dot_writes_dot_and_explains(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pgc.viz.output import DotMissing

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(DotMissing) as info:
        render(ring7(), "graph", tmp_path / "g.png")
    assert (tmp_path / "g.dot").read_text() == pipeline_graph(ring7()).source
    text = info.value.render()
    assert "apt-get install graphviz" in text and f"dot -Tpng {tmp_path / 'g.dot'}" in text


def test_unknown_suffix_is_a_user_error(tmp_path: Path) -> None:
    from pgc.diagnostics import UserError

    with pytest.raises(UserError, match="cannot write the graph as `.gif`"):
        render(ring7(), "graph", tmp_path / "g.gif")


@needs_dot
def test_big_plans_draw_groups_not_workers() -> None:
    """128 workers in 8 regions, 8 stages of 16 spread over every region: (stage, region)
    groups would be 72 boxes, so each stage is one box; edges join stages and their counts
    add up to every step of every path."""
    from viz_programs import wide_ring

    program = wide_ring()
    dot = pipeline_graph(program).source
    boxes = re.findall(r"^\s*(g_\w+) \[", dot, re.M)
    assert sorted(boxes) == sorted(["g_origin", *(f"g_s{i}" for i in range(1, 8)), "g__loss"])
    for w in program.workers:  # every worker is named in its group's tooltip
        assert re.search(rf"tooltip=\"[^\"]*\b{w.name}\b", dot), w.name
    counts = [int(n) for n in re.findall(r'label="(\d+) mb', dot)]
    assert sum(counts) == sum(len(p.hops) - 1 for p in program.paths)
    assert len(counts) <= 9 * 9
    svg = subprocess.run(["dot", "-Tsvg"], input=dot.encode(), capture_output=True, check=True)
    root = ET.fromstring(svg.stdout)
    # stages run down the page, so a page's width holds the picture at its own size
    width, height = (float(root.attrib[k].removesuffix("pt")) for k in ("width", "height"))
    assert width < 800 < height, (width, height)


@needs_dot
def test_big_plans_draw_paths_as_a_grid() -> None:
    from viz_programs import wide_ring

    program = wide_ring(microbatches=64)
    dot = paths_graph(program).source
    rows = re.findall(r'<TR><TD ALIGN="RIGHT">mb(\d+) · (n\d+)</TD>(.*?)</TR>', dot)
    assert [int(m) for m, _, _ in rows] == list(range(64))
    for (_, origin, cells), path in zip(rows, program.paths):
        visited = re.findall(r">(\d+): (n\d+)</TD>", cells)
        assert [w for _, w in visited] == [origin] + [h.worker for h in path.hops[1:-1]]
        assert cells.count('BGCOLOR="#f3f3f3"') == 2  # each path skips 2 of 8 stages
    svg = subprocess.run(["dot", "-Tsvg"], input=dot.encode(), capture_output=True, check=True)
    ET.fromstring(svg.stdout)


def test_small_plans_draw_every_worker() -> None:
    dot = pipeline_graph(ring7()).source
    assert "g_" not in dot and all(f"\t{w.name} [" in dot for w in ring7().workers)
