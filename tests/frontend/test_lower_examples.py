"""The reference examples lower to the Program the IR contract describes."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT, run_pgc

from pgc.frontend import check_file, load_program
from pgc.ir.types import Hop
from pgc.ir.verify import verify_program

EXAMPLES = ROOT / "examples"


def test_chain4_lowers_to_four_single_segment_stages() -> None:
    p = load_program(EXAMPLES / "chain4.pgc")
    verify_program(p)
    assert p.layout == "chain" and p.schedule == "1f1b"
    assert [s.name for s in p.segments] == ["s0", "s1", "s2", "s3"]
    assert [s.role for s in p.segments] == ["first", "body", "body", "last"]
    assert p.segments[0].selectors == ("embed", "layers[0:2]")
    assert p.segments[3].selectors == ("layers[6:8]", "norm", "head")
    assert [s.layers for s in p.segments] == [2, 2, 2, 2]
    assert p.placement == (("s0", ("n0",)), ("s1", ("n1",)), ("s2", ("n2",)), ("s3", ("n3",)))
    assert [w.name for w in p.workers] == ["n0", "n1", "n2", "n3"]
    assert p.workers[0].rate == 50e9 and p.workers[0].memory == 4 * 2**30
    assert p.links[0].scope == "default" and p.links[0].latency == 50e-6 and p.links[0].bandwidth == 2**30
    assert (p.microbatch_size, p.seq_len, p.microbatches, p.inflight) == (4, 32, 8, 4)
    assert p.train.optimizer == "adamw" and dict(p.train.optimizer_args) == {"lr": 3e-3, "weight_decay": 0.0}
    assert p.train.steps == 30 and p.train.clip == 1.0 and p.train.data_args == (("seed", 0),)


def test_ring_lowers_with_origin_segments_auto_partition_and_placement() -> None:
    p = load_program(EXAMPLES / "skippipe_ring.pgc")
    verify_program(p)
    assert p.layout == "ring" and p.schedule == "skippipe"
    assert [s.name for s in p.segments] == ["origin.pro", "s1", "s2", "s3", "s4", "s5", "origin.epi"]
    assert p.stages[0].name == "origin" and p.stages[0].segments == ("origin.pro", "origin.epi")
    assert p.stages[0].never_skip and p.skip.never == ("origin",)
    assert p.skip.ratio == (1, 3) and p.swap.max_swaps == 1
    assert p.placement == (("origin", ("n0", "n1")),)
    assert p.auto_place == ("s1", "s2", "s3", "s4", "s5")
    (part,) = p.partitions
    assert part.stages == ("s1", "s2", "s3", "s4", "s5") and part.selectors == ("layers[2:12]",)
    assert part.criterion == "flops"
    assert p.microbatches == 6  # per_origin 3 x 2 origin workers
    assert p.cost.backward_ratio == 2.0 and p.cost.message_overhead == 1e-3
    # imported topology: 7 workers, region link in bytes/s, a directed pair
    assert len(p.workers) == 7 and p.workers[4].region == "west"
    region = next(link for link in p.links if link.scope == "region")
    assert region.bandwidth == 200e6 / 8 and region.latency == 0.02
    pair = next(link for link in p.links if link.scope == "pair")
    assert (pair.src, pair.dst, pair.directed) == ("n0", "n6", True)
    assert p.eval.skip_ratios == ((0, 1), (1, 3), (1, 2))
    assert p.train.lr_schedule == "cosine" and p.train.checkpoint_every == 10


def test_explicit_paths_and_even_layer_split(tmp_path: Path) -> None:
    spec = tmp_path / "paths.pgc"
    spec.write_text(
        'import "' + str(EXAMPLES / "topologies" / "local7.pgc") + '"\n'
        'model m = "examples.models.llama:build" { layers = 6 }\n'
        "pipeline p {\n"
        "  origin { prologue = [embed]; epilogue = [norm, head] }\n"
        "  stages s[1..3] = layers[0:6]\n"
        "  place origin on n0\n  place s[1..3] on n[1..3]\n"
        "  microbatch { size = 1; seq = 8; count = 2 }\n"
        "  skip { ratio = 1/4 }\n  swap { max = 1 }\n  schedule explicit\n"
        "  path mb0 = n0 -> n1 -> n2 -> n0\n"
        "  path mb1 = n0 -> n3 -> s2@n2 -> n0\n"
        "}\n"
    )
    p = load_program(spec)
    verify_program(p)
    assert [s.selectors for s in p.segments[1:4]] == [("layers[0:2]",), ("layers[2:4]",), ("layers[4:6]",)]
    assert p.partitions == ()
    assert p.explicit_paths[1].hops == (Hop("origin.pro", "n0"), Hop("s3", "n3"), Hop("s2", "n2"), Hop("origin.epi", "n0"))


def test_check_command_reports_every_example() -> None:
    files = sorted(str(f) for f in EXAMPLES.rglob("*.pgc"))
    r = run_pgc("check", *files)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count(": ok:") == len(files)
    whole = run_pgc("check", "examples")  # a directory: every .pgc under it
    assert whole.returncode == 0 and whole.stdout.count(": ok:") == len(files)


def test_topology_files_carry_the_published_figures() -> None:
    from pgc.frontend.load import load_sources
    from pgc.frontend.lower import lower_declarations
    from pgc.ir.topology import find_link

    def topo(name: str):  # type: ignore[no-untyped-def]
        topology, _, _ = lower_declarations(load_sources(EXAMPLES / "topologies" / name))
        return {w.name: w for w in topology.workers}, topology.links

    workers, links = topo("skippipe_geo20.pgc")
    assert len(workers) == 20 and workers["n13"].region == "BE" and workers["n11"].region == "UK"
    au_be = find_link(links, workers["n0"], workers["n1"])
    assert au_be is not None and (au_be.latency, au_be.bandwidth) == (0.129, 84e6 / 8)
    same = find_link(links, workers["n0"], workers["n12"])  # both AU
    assert same is not None and (same.scope, same.latency, same.bandwidth) == ("intra", 1e-3, 2 * 2**30)
    assert sum(link.scope == "region" for link in links) == 66
    workers, links = topo("skippipe_5cl20.pgc")
    assert {w.region for w in workers.values()} == {"LA", "NL", "DE", "SG", "OR"}
    assert sum(link.scope == "region" for link in links) == 10
    workers, links = topo("skippipe_1cl20.pgc")
    assert {w.region for w in workers.values()} == {"DE"}
    for scenario, regions, region_links in ((1, 8, 0), (2, 40, 0), (3, 2, 1), (4, 4, 6), (5, 8, 28)):
        workers, links = topo(f"dtfm_c{scenario}.pgc")
        assert len(workers) == 64 and len({w.region for w in workers.values()}) == regions
        assert all(w.rate == 125e12 and w.memory == 16 * 2**30 for w in workers.values())
        assert sum(link.scope == "region" for link in links) == region_links
    workers, links = topo("dtfm_c5.pgc")
    tk_se = find_link(links, workers["g24"], workers["g32"])
    assert tk_se is not None and (tk_se.latency, tk_se.bandwidth) == (0.034, 1.10e9 / 8)
    workers, links = topo("dtfm_c2.pgc")
    between = find_link(links, workers["g0"], workers["g40"])
    inside = find_link(links, workers["g0"], workers["g3"])
    assert between is not None and between.bandwidth == 1.25e9 / 8
    assert inside is not None and inside.bandwidth == 100e9 / 8


def test_reproduction_pipelines_lower() -> None:
    p = load_program(EXAMPLES / "skippipe_geo20.pgc")
    verify_program(p)
    assert [s.replicas for s in p.stages] == [5, 3, 3, 3, 3, 3]
    assert p.microbatches == 30 and p.inflight == 3 and p.skip.ratio == (1, 3)
    assert [s.selectors for s in p.segments[1:6]] == [(f"layers[{i}:{i + 4}]",) for i in range(4, 24, 4)]
    assert p.cost.sec_per_sample_per_layer == 0.055 and p.cost.backward_ratio == 1.5
    assert p.cost.message_overhead == 0.35 and p.auto_place == ("origin", "s1", "s2", "s3", "s4", "s5")
    q = load_program(EXAMPLES / "dtfm_gpt3xl.pgc")
    verify_program(q)
    assert len(q.workers) == 64 and [s.replicas for s in q.stages] == [8] * 8
    assert q.cost.efficiency == 0.5 and q.schedule == "gpipe"


def test_placement_by_group_and_even_distribution(tmp_path: Path) -> None:
    spec = tmp_path / "groups.pgc"
    spec.write_text(
        'model m = "pkg.mod:build" { layers = 4 }\n'
        'node a[0..1] { rate = 1 TFLOPS; memory = 8 GiB; groups = [fast] }\n'
        "node b[0..3] { rate = 100 GFLOPS; memory = 2 GiB; groups = [slow, cheap] }\n"
        "link default { latency = 1 ms; bandwidth = 1 Gbps }\n"
        "pipeline p {\n"
        "  stages s[0..2] = [[embed, layers[0:2]], layers[2:3], [layers[3:4], head]]\n"
        "  place s0 on fast\n  place s[1..2] on slow\n"
        "  microbatch { size = 1; seq = 8; per_origin = 4 }\n"
        "}\n"
    )
    p = load_program(spec)
    assert p.placement == (("s0", ("a0", "a1")), ("s1", ("b0", "b1")), ("s2", ("b2", "b3")))
    assert p.microbatches == 8 and p.workers[2].groups == ("slow", "cheap")


def test_units_are_normalised(tmp_path: Path) -> None:
    from pgc.frontend.load import load_sources
    from pgc.frontend.lower import lower_declarations

    spec = tmp_path / "units.pgc"
    rows = [
        ("125 TFLOPS", "1 GiB", "5 ms", "1 Gbps", 125e12, 2**30, 5e-3, 1e9 / 8),
        ("125 TFLOP/s", "16 GB", "250 us", "3.125 Gbit/s", 125e12, 16e9, 250e-6, 3.125e9 / 8),
        ("50 GFLOPS", "512 MiB", "1.5 s", "200 MB/s", 50e9, 512 * 2**20, 1.5, 200e6),
        ("1 PFLOPS", "2 TiB", "0 ms", "2 GiB/s", 1e15, 2 * 2**40, 0.0, 2 * 2**30),
        ("7 KFLOPS", "3 KB", "12 us", "64 Kbps", 7e3, 3e3, 12e-6, 8e3),
    ]
    text = ""
    for i, (rate, mem, lat, bw, *_) in enumerate(rows):
        text += f"node n{i} {{ rate = {rate}; memory = {mem} }}\n"
        if i:
            text += f"link n0 -> n{i} {{ latency = {lat}; bandwidth = {bw} }}\n"
    text += f"link default {{ latency = {rows[0][2]}; bandwidth = {rows[0][3]} }}\n"
    spec.write_text(text)
    topology, _, _ = lower_declarations(load_sources(spec))
    for w, row in zip(topology.workers, rows):
        assert (w.rate, w.memory) == (row[4], row[5])
    pairs = {link.dst: link for link in topology.links if link.scope == "pair"}
    for i, row in enumerate(rows[1:], 1):
        assert (pairs[f"n{i}"].latency, pairs[f"n{i}"].bandwidth) == (row[6], row[7])


def test_imports_diamond_loads_once_and_cross_file_duplicates_are_located(tmp_path: Path) -> None:
    from pgc.diagnostics import UserError
    from pgc.frontend.load import load_sources

    (tmp_path / "nodes.pgc").write_text('node n[0..1] { rate = 1 TFLOPS; memory = 1 GiB }\n')
    (tmp_path / "a.pgc").write_text('import "nodes.pgc"\nlink default { latency = 1 ms; bandwidth = 1 Gbps }\n')
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.pgc").write_text('import "../nodes.pgc"\n')
    main = tmp_path / "main.pgc"
    main.write_text('import "a.pgc"\nimport "sub/b.pgc"\n')
    sources = load_sources(main)
    assert [Path(m.file).name for m in sources.modules] == ["nodes.pgc", "a.pgc", "b.pgc", "main.pgc"]
    (tmp_path / "sub" / "b.pgc").write_text('import "../nodes.pgc"\nnode n1 { rate = 1 TFLOPS; memory = 1 GiB }\n')
    with pytest.raises(UserError) as info:
        check_file(main)
    (d,) = info.value.diagnostics
    assert d.span.file.endswith("sub/b.pgc") and d.message == "node `n1` is declared twice"
    assert d.notes[0][0].file.endswith("nodes.pgc")
