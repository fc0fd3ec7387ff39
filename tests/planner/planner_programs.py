"""Random small pipelines for the planner's tests (deterministic for a seed)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from pgc.ir.types import CostModel, Link, Program, Worker
from tests.planner.scenarios import GBPS, pipeline_program


def random_program(seed: int, ring: bool = True) -> Program:
    """A small random heterogeneous pipeline, placed at random (deterministic for `seed`)."""
    rng = np.random.default_rng(seed)
    n_stages = int(rng.integers(3, 7))
    reps = [int(rng.integers(1, 4)) for _ in range(n_stages)]
    regions = [f"r{i}" for i in range(int(rng.integers(1, 4)))]
    n_workers = sum(reps)
    workers = tuple(Worker(f"w{i}", float(rng.choice([50e12, 100e12, 200e12])), 1e10,
                           region=str(rng.choice(regions))) for i in range(n_workers))
    links = [Link("default", "", "", float(rng.uniform(0.001, 0.1)),
                  float(rng.uniform(0.1, 2.0)) * GBPS),
             Link("intra", "", "", 1e-4, 10 * GBPS)]
    skip_num = int(rng.integers(0, n_stages - 1)) if n_stages > 2 else 0
    prog = pipeline_program(
        f"rand{seed}", workers, tuple(links), layout="ring" if ring else "chain",
        replicas=tuple(reps), layers=(2,) * n_stages, boundary=float(rng.uniform(1e6, 5e7)),
        grad_bytes=1e8, cost=CostModel(backward_ratio=2.0, message_overhead=0.01),
        microbatch_size=1, seq_len=128, microbatches=int(rng.integers(2, 10)) * reps[0],
        inflight=int(rng.integers(1, 4)), skip=(skip_num, n_stages) if ring else (0, 1),
        swaps=int(rng.integers(0, 2)), flops_per_layer=float(rng.uniform(1e11, 1e12)),
        head_flops=1e11)
    names = [w.name for w in workers]
    order = [str(n) for n in rng.permutation(names)]
    placement, at = [], 0
    for stage, r in zip(prog.stages, reps):
        placement.append((stage.name, tuple(order[at:at + r])))
        at += r
    return replace(prog, placement=tuple(placement), auto_place=())
