"""Small routed programs built straight from IR types, so viz tests do not depend on the
frontend or the planner: a 7-worker ring (skips and one swap) and a 4-worker chain."""

from __future__ import annotations

from pgc.ir.types import (
    Hop,
    Link,
    ModelRef,
    Path,
    Program,
    Segment,
    SkipPolicy,
    Stage,
    SwapPolicy,
    Worker,
)
from pgc.viz.timeline import Bar, Timeline

GB = 1024**3
MB = 1024**2


def ring7() -> Program:
    """local7-like: origin on n0,n1 (east); s1..s5 on n2..n6; 6 microbatches, each skipping 2 of
    6 stages; mb4 swaps s1 and s2."""
    segs = [Segment("origin.pro", "origin", "prologue", layers=2, boundary_bytes=MB)]
    segs += [Segment(f"s{i}", f"s{i}", "body", layers=2, boundary_bytes=MB) for i in range(1, 6)]
    segs += [Segment("origin.epi", "origin", "epilogue", boundary_bytes=0)]
    stages = [Stage("origin", ("origin.pro", "origin.epi"), never_skip=True)]
    stages += [Stage(f"s{i}", (f"s{i}",)) for i in range(1, 6)]
    workers = [Worker(f"n{i}", 50e9, 4 * GB, region="east") for i in range(4)]
    workers += [Worker(f"n{i}", 25e9, 2 * GB, region="west") for i in range(4, 7)]
    links = (
        Link("intra", "", "", 100e-6, 2 * GB),
        Link("region", "east", "west", 20e-3, 25e6),
        Link("pair", "n0", "n6", 40e-3, 12.5e6, directed=True),
    )
    where = {"s1": "n2", "s2": "n3", "s3": "n4", "s4": "n5", "s5": "n6"}
    routes = [
        ("n0", ["s1", "s2", "s3"]),
        ("n0", ["s1", "s3", "s5"]),
        ("n0", ["s2", "s4", "s5"]),
        ("n1", ["s1", "s2", "s3"]),
        ("n1", ["s2", "s1", "s4"]),
        ("n1", ["s3", "s4", "s5"]),
    ]
    paths = tuple(
        Path(mb, origin, (Hop("origin.pro", origin),)
             + tuple(Hop(s, where[s]) for s in body) + (Hop("origin.epi", origin),))
        for mb, (origin, body) in enumerate(routes)
    )
    placement = (("origin", ("n0", "n1")),) + tuple((s, (w,)) for s, w in where.items())
    return Program(
        file="ring7.pgc", spec_hash="0" * 64, name="ring", model=ModelRef("llama", "m:build"),
        layout="ring", segments=tuple(segs), stages=tuple(stages), workers=tuple(workers),
        links=links, microbatch_size=2, seq_len=32, microbatches=6, inflight=3,
        skip=SkipPolicy((1, 3), ("origin",)), swap=SwapPolicy(1), schedule="skippipe",
        placement=placement, paths=paths,
    )


def chain4() -> Program:
    """Four stages on four workers of one region, four microbatches through every stage."""
    segs = tuple(Segment(f"s{i}", f"s{i}", "body", boundary_bytes=64 * 1024) for i in range(4))
    return Program(
        file="chain4.pgc", spec_hash="1" * 64, name="chain4", model=ModelRef("llama", "m:build"),
        layout="chain", segments=segs, stages=tuple(Stage(s.name, (s.name,)) for s in segs),
        workers=tuple(Worker(f"n{i}", 50e9, 4 * GB, region="local") for i in range(4)),
        links=(Link("default", "", "", 50e-6, GB),), microbatch_size=4, seq_len=32,
        microbatches=4, inflight=4, skip=SkipPolicy(), swap=SwapPolicy(), schedule="1f1b",
        placement=tuple((f"s{i}", (f"n{i}",)) for i in range(4)),
        paths=tuple(
            Path(m, "n0", tuple(Hop(f"s{i}", f"n{i}") for i in range(4))) for m in range(4)
        ),
    )


def gpipe_timeline() -> Timeline:
    """A hand-made GPipe iteration of chain4 (forward 1 s, backward 2 s, messages 0.1 s),
    with all-reduce and step, the first worker's work marked critical."""
    f, b, c = 1.0, 2.0, 0.1
    bars: list[Bar] = []
    fend: dict[tuple[int, int], float] = {}
    for m in range(4):
        for s in range(4):
            st = max(fend.get((m, s - 1), 0.0) + (c if s else 0.0), fend.get((m - 1, s), 0.0))
            fend[(m, s)] = st + f
            bars.append(Bar(f"n{s}", "F", f"F s{s} m{m}", st, st + f, m, "n0", critical=s == 0))
            if s < 3:
                bars.append(Bar(f"n{s}", "SEND_F", f"SEND_F m{m} ->n{s + 1}", st + f,
                                st + f + c, m, "n0"))
                bars.append(Bar(f"n{s + 1}", "RECV_F", f"RECV_F m{m} <-n{s}", st + f,
                                st + f + c, m, "n0"))
    t = max(fend.values())
    bend: dict[tuple[int, int], float] = {}
    for m in range(4):
        for s in reversed(range(4)):
            st = max(bend.get((m, s + 1), t) + (c if s < 3 else 0.0), bend.get((m - 1, s), 0.0))
            bend[(m, s)] = st + b
            bars.append(Bar(f"n{s}", "B", f"B s{s} m{m}", st, st + b, m, "n0", critical=s == 0))
    end = max(bend.values())
    for s in range(4):
        bars.append(Bar(f"n{s}", "ALLREDUCE", f"ALLREDUCE s{s}", end, end + 0.3))
        bars.append(Bar(f"n{s}", "STEP", "STEP", end + 0.3, end + 0.5, critical=s == 0))
    return Timeline("chain4: gpipe", tuple(f"n{i}" for i in range(4)), tuple(bars),
                    iteration_time=end + 0.5, pipeline_time=end, lower_bound=18.0,
                    origins=("n0",))


def wide_ring(workers: int = 128, microbatches: int = 256, seed: int = 0) -> Program:
    """A ring over `workers` workers in 8 regions: an origin group and 7 stage groups of equal
    size, each microbatch skipping 2 of 8 stages through seeded random replicas."""
    import random

    rng = random.Random(seed)
    per = workers // 8
    segs = [Segment("origin.pro", "origin", "prologue", boundary_bytes=MB)]
    segs += [Segment(f"s{i}", f"s{i}", "body", boundary_bytes=MB) for i in range(1, 8)]
    segs += [Segment("origin.epi", "origin", "epilogue")]
    stages = [Stage("origin", ("origin.pro", "origin.epi"), never_skip=True)]
    stages += [Stage(f"s{i}", (f"s{i}",)) for i in range(1, 8)]
    placement = tuple((st.name, tuple(f"n{k * per + j}" for j in range(per)))
                      for k, st in enumerate(stages))
    group = dict(placement)
    paths = []
    for m in range(microbatches):
        origin = group["origin"][m % per]
        body = sorted(rng.sample(range(1, 8), 5))
        paths.append(Path(m, origin, (Hop("origin.pro", origin),)
                          + tuple(Hop(f"s{i}", rng.choice(group[f"s{i}"])) for i in body)
                          + (Hop("origin.epi", origin),)))
    return Program(
        file="wide.pgc", spec_hash="2" * 64, name="wide", model=ModelRef("m", "m:build"),
        layout="ring", segments=tuple(segs), stages=tuple(stages),
        workers=tuple(Worker(f"n{i}", 1e14, 80 * GB, region=f"r{i % 8}") for i in range(workers)),
        links=(Link("default", "", "", 0.05, 1.25e8),), microbatch_size=1, seq_len=1024,
        microbatches=microbatches, inflight=3, skip=SkipPolicy((2, 8), ("origin",)),
        swap=SwapPolicy(), schedule="skippipe", placement=placement, paths=tuple(paths),
    )
