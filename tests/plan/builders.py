"""Build small Programs directly (no spec, no torch) for the plan-core tests and benchmarks."""

from __future__ import annotations

from pgc.ir.types import (
    CostModel,
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


def _links(latency: float, bandwidth: float) -> tuple[Link, ...]:
    return (Link("default", "", "", latency, bandwidth),)


def chain(
    p: int,
    m: int,
    *,
    replicas: int = 1,
    f: float = 1.0,
    backward: float = 2.0,
    latency: float = 0.0,
    bandwidth: float = 1e12,
    nbytes: int = 0,
    overhead: float = 0.0,
    inflight: int | None = None,
    schedule: str = "1f1b",
    rates: tuple[float, ...] = (),
) -> Program:
    """A chain of p one-layer stages, each on `replicas` workers; forward f s per microbatch."""
    segments = tuple(
        Segment(f"s{i}", f"s{i}", "whole" if p == 1 else "first" if i == 0 else "last" if i == p - 1 else "body",
                layers=1, boundary_bytes=nbytes, skippable=True)
        for i in range(p)
    )
    stages = tuple(Stage(f"s{i}", (f"s{i}",)) for i in range(p))
    n = p * replicas
    workers = tuple(
        Worker(f"n{k}", rates[k] if rates else 1e12, 8 * 2**30, region="r") for k in range(n)
    )
    placement = tuple(
        (f"s{i}", tuple(f"n{i * replicas + r}" for r in range(replicas))) for i in range(p)
    )
    return Program(
        file="<test>", spec_hash="0" * 64, name="chain", model=ModelRef("m", "x:y"),
        layout="chain", segments=segments, stages=stages, workers=workers,
        links=_links(latency, bandwidth), microbatch_size=1, seq_len=8, microbatches=m,
        inflight=inflight if inflight is not None else m, skip=SkipPolicy(), swap=SwapPolicy(),
        schedule=schedule,  # type: ignore[arg-type]
        cost=CostModel(backward_ratio=backward, message_overhead=overhead,
                       sec_per_sample_per_layer=f),
        placement=placement,
    )


def ring(
    body: int,
    origins: int,
    per_origin: int,
    *,
    f: float = 1.0,
    latency: float = 0.0,
    bandwidth: float = 1e12,
    nbytes: int = 0,
    inflight: int = 3,
    schedule: str = "1f1b",
    skip: tuple[int, int] = (0, 1),
    max_swaps: int = 0,
    paths: tuple[Path, ...] = (),
) -> Program:
    """A ring: origin (prologue + epilogue, `origins` replicas) and `body` one-worker stages."""
    segments = (
        (Segment("origin.pro", "origin", "prologue", layers=1, boundary_bytes=nbytes),)
        + tuple(Segment(f"s{i}", f"s{i}", "body", layers=1, boundary_bytes=nbytes,
                        skippable=True) for i in range(1, body + 1))
        + (Segment("origin.epi", "origin", "epilogue", layers=1, boundary_bytes=nbytes),)
    )
    stages = (Stage("origin", ("origin.pro", "origin.epi"), never_skip=True),) + tuple(
        Stage(f"s{i}", (f"s{i}",)) for i in range(1, body + 1)
    )
    workers = tuple(Worker(f"n{k}", 1e12, 8 * 2**30, region="r") for k in range(origins + body))
    placement = (("origin", tuple(f"n{k}" for k in range(origins))),) + tuple(
        (f"s{i}", (f"n{origins + i - 1}",)) for i in range(1, body + 1)
    )
    return Program(
        file="<test>", spec_hash="1" * 64, name="ring", model=ModelRef("m", "x:y"),
        layout="ring", segments=segments, stages=stages, workers=workers,
        links=_links(latency, bandwidth), microbatch_size=1, seq_len=8,
        microbatches=origins * per_origin, inflight=inflight,
        skip=SkipPolicy(skip, ("origin",)), swap=SwapPolicy(max_swaps),
        schedule=schedule,  # type: ignore[arg-type]
        cost=CostModel(sec_per_sample_per_layer=f), placement=placement, explicit_paths=paths,
    )


def worker_path(mb: int, *workers: str) -> Path:
    """An explicit path written as bare workers, as the spec does (`n0 -> n3 -> n0`)."""
    return Path(mb, workers[0], tuple(Hop("", w) for w in workers))


def planned(program: Program, until: str = "simulated") -> Program:
    """Run the plan-core passes placed .. `until` on a Program built here."""
    from pgc.pipeline import run_passes

    return run_passes(program, start="placed", until=until)
