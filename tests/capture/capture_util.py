"""Helpers for the capture tests: build Programs directly and run emitted stage code."""

from __future__ import annotations

from typing import Any

import torch

from pgc.capture import SegmentCode
from pgc.ir.types import ModelRef, Program, Segment, SkipPolicy, Span, Stage, SwapPolicy


def program(
    target: str,
    args: dict[str, Any],
    segments: list[tuple[str, tuple[str, ...]]],
    *,
    batch: int = 2,
    seq: int = 8,
    file: str = "examples/test.pgc",
) -> Program:
    """A chain Program with one stage per segment, as the frontend would lower it."""
    segs = tuple(
        Segment(n, n, "body", sel, span=Span(file, i + 1, 3, i + 1, 9))
        for i, (n, sel) in enumerate(segments)
    )
    return Program(
        file=file,
        spec_hash="",
        name="t",
        model=ModelRef("m", target, tuple(args.items())),
        layout="chain",
        segments=segs,
        stages=tuple(Stage(n, (n,)) for n, _ in segments),
        workers=(),
        links=(),
        microbatch_size=batch,
        seq_len=seq,
        microbatches=1,
        inflight=1,
        skip=SkipPolicy(),
        swap=SwapPolicy(),
        schedule="gpipe",
    )


def instantiate(codes: dict[str, SegmentCode], model: torch.nn.Module) -> list[torch.nn.Module]:
    """Execute each segment's emitted source (as train.py would) and build it from `model`."""
    mods = []
    for code in codes.values():
        namespace: dict[str, Any] = {}
        exec(compile(code.module_text(), f"<stage {code.segment}>", "exec"), namespace)
        mods.append(namespace[code.class_name](model))
    return mods


def chain_logits(mods: list[torch.nn.Module], ids: torch.Tensor) -> torch.Tensor:
    """Run the stages in path order; the last one's `logits` method gives the logits."""
    x: tuple[torch.Tensor, ...] = (ids,)
    for mod in mods[:-1]:
        x = mod(*x)
        assert isinstance(x, tuple)
    return mods[-1].logits(*x)  # type: ignore[operator]
