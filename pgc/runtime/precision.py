"""Mixed precision: autocast around each forward, fp16's dynamic loss scaling.

`train { precision = bf16 | fp16 }` (docs/CONTRACTS.md "Precision"): each segment's forward
runs under `torch.autocast` in the compute dtype; parameters, their gradients (accumulated over
the step's microbatches) and the optimizer state stay fp32 ("master weights"). A segment's
boundary outputs are cast to the compute dtype before they leave it, so activations and their
gradients travel (and wait in receive buffers) at 2 bytes a value. `fp32` changes nothing.

fp16 scales each microbatch's loss by the current scale S before its backward (gradients that
would underflow fp16 survive) and divides the gradients by S before clipping and the optimizer
step. When any gradient of any worker is not finite the step is skipped on every worker alike
(the end-of-step all-reduce carries the flag), S halves and the step is logged as skipped; after
`GROWTH_INTERVAL` steps in a row without overflow S doubles. This is the rule of
`torch.amp.GradScaler`, agreed across the workers. S and the count of good steps are part of a
checkpoint (the worker's sync state).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
INIT_SCALE = 2.0 ** 16  # torch.amp.GradScaler's defaults
GROWTH_INTERVAL = 2000
BACKOFF = 0.5
GROWTH = 2.0
SCALE_KEY, GOOD_KEY = "amp/scale", "amp/good"  # in the worker's checkpointed sync state


@dataclass(frozen=True)
class Precision:
    """The compute dtype of a run on one device type."""

    name: str = "fp32"
    device_type: str = "cpu"

    @property
    def dtype(self) -> torch.dtype:
        return DTYPES[self.name]

    @property
    def mixed(self) -> bool:
        return self.name != "fp32"

    def autocast(self) -> contextlib.AbstractContextManager[None]:
        """The context of one segment's forward."""
        if not self.mixed:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def boundary(self, tensors: Iterable[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """A segment's outputs as they leave it: floating tensors in the compute dtype (the
        cast is part of the autograd graph, so the gradient coming back is cast to fp32 on
        its way into the segment)."""
        return tuple(t.to(self.dtype) if self.mixed and t.is_floating_point() else t
                     for t in tensors)

    def wire(self, dtype: str) -> str:
        """The dtype a boundary value of plan dtype `dtype` travels in."""
        if self.mixed and dtype.startswith("float"):
            return str(self.dtype).removeprefix("torch.")
        return dtype


FP32 = Precision()


@dataclass
class LossScaler:
    """fp16's dynamic loss scale (see the module docstring); with other precisions the scale
    is 1 and nothing is ever skipped. The state lives in `state` (the worker's sync state)."""

    enabled: bool
    state: dict[str, torch.Tensor] = field(default_factory=dict)
    init: float = INIT_SCALE

    def __post_init__(self) -> None:
        if self.enabled:
            self.state.setdefault(SCALE_KEY, torch.tensor(self.init, dtype=torch.float64))
            self.state.setdefault(GOOD_KEY, torch.tensor(0, dtype=torch.int64))
        self.scale = float(self.state[SCALE_KEY]) if self.enabled else 1.0

    def unscale(self, grads: Iterable[torch.Tensor], device: torch.device) -> torch.Tensor:
        """Divide the gradients by the scale in place; returns 1.0 (a tensor, no host read)
        when one of them is not finite, else 0.0."""
        grads = list(grads)
        bad = torch.zeros((), dtype=torch.float64, device=device)
        if not self.enabled or not grads:
            return bad
        for g in grads:
            bad = bad + torch.logical_not(torch.isfinite(g).all()).to(torch.float64)
            g.mul_(1.0 / self.scale)
        return (bad > 0).to(torch.float64)

    def update(self, overflow: bool) -> None:
        """After the step, alike on every worker (`overflow` is the all-reduced flag)."""
        if not self.enabled:
            return
        good = 0 if overflow else int(self.state[GOOD_KEY]) + 1
        if overflow:
            self.scale *= BACKOFF
        elif good >= GROWTH_INTERVAL:
            self.scale, good = self.scale * GROWTH, 0
        self.state[SCALE_KEY] = torch.tensor(self.scale, dtype=torch.float64)
        self.state[GOOD_KEY] = torch.tensor(good, dtype=torch.int64)
