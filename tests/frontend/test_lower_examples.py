"""The reference examples lower to the Program the IR contract describes."""

from __future__ import annotations

from pathlib import Path

from conftest import ROOT, run_pgc

from pgc.frontend import load_program
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
