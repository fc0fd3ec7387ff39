"""Measure forward and backward time per segment on this machine's CPU (`pgc profile`).

Each segment's emitted stage code runs on a real model built with the spec's arguments, on
random inputs of the spec's microbatch shape; times are the minimum of `repeat` runs after
`warmup` runs (the minimum, not the median: on a shared machine the noise is one-sided). Backward is timed from the segment's outputs (summed) or its loss back to its
inputs and parameters.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from pgc.capture.codegen import SegmentCode
from pgc.capture.profile import instantiate


@dataclass(frozen=True)
class Timing:
    name: str
    fwd: float  # seconds per microbatch
    bwd: float


def symbolic_dim(text: str, batch: int, seq: int) -> int:
    """The size of a symbolic dimension (`B`, `T`, `2*B`, `B*T`): a product of whole numbers
    and the two names, never evaluated as code; ValueError for anything else."""
    size = 1
    for factor in text.split("*"):
        size *= {"B": batch, "T": seq}[factor] if factor in ("B", "T") else int(factor)
    return size


def _inputs(code: SegmentCode, batch: int, seq: int, vocab: int, gen: torch.Generator) -> list[torch.Tensor]:
    out = []
    for sig in code.inputs:
        shape = [d if isinstance(d, int) else symbolic_dim(d, batch, seq) for d in sig.shape]
        dtype = getattr(torch, sig.dtype.replace("torch.", ""))
        if dtype.is_floating_point:
            out.append(torch.randn(shape, dtype=dtype, generator=gen).requires_grad_())
        else:
            out.append(torch.randint(0, vocab, shape, generator=gen))
    return out


def _scalar(out: object) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out if out.dim() == 0 else out.float().sum()
    assert isinstance(out, tuple)
    return sum((t.float().sum() for t in out if t.requires_grad), torch.zeros(()))


def time_segments(codes: list[SegmentCode], model: torch.nn.Module, batch: int, seq: int,
                  vocab: int, warmup: int = 1, repeat: int = 10) -> list[Timing]:
    """Time every segment, round-robin (so load from other processes hits all of them alike),
    keeping each segment's fastest forward and backward."""
    stages = [instantiate(code, model) for code in codes]
    gen = torch.Generator().manual_seed(0)
    fwd: list[list[float]] = [[] for _ in codes]
    bwd: list[list[float]] = [[] for _ in codes]
    for i in range(warmup + repeat):
        for k, (code, stage) in enumerate(zip(codes, stages)):
            inputs = _inputs(code, batch, seq, vocab, gen)
            stage.zero_grad(set_to_none=True)
            t0 = time.perf_counter()
            out = stage(*inputs)
            t1 = time.perf_counter()
            _scalar(out).backward()
            t2 = time.perf_counter()
            if i >= warmup:
                fwd[k].append(t1 - t0)
                bwd[k].append(t2 - t1)
    return [Timing(c.segment, min(f), min(b)) for c, f, b in zip(codes, fwd, bwd)]


def model_vocab(model: torch.nn.Module) -> int:
    """Token range for random inputs: the first embedding table's size."""
    for mod in model.modules():
        if isinstance(mod, torch.nn.Embedding):
            return int(mod.num_embeddings)
    return 2
