"""Peak memory of a worker holding segments, under its inflight cap (no torch needed).

weights + gradients + optimizer state + inflight x activations kept for backward + one input
and one output boundary buffer per inflight microbatch. Optimizer state per parameter byte:
Adam/AdamW keep two moments (2x), SGD with momentum one (1x), plain SGD none.
"""

from __future__ import annotations

from collections.abc import Iterable

from pgc.ir.types import Segment

OPTIMIZER_STATE = {"adamw": 2.0, "adam": 2.0, "sgd_momentum": 1.0, "sgd": 0.0}


def optimizer_factor(optimizer: str, args: dict[str, object] | None = None) -> float:
    if optimizer == "sgd" and args and float(str(args.get("momentum", 0) or 0)) > 0:
        return OPTIMIZER_STATE["sgd_momentum"]
    return OPTIMIZER_STATE.get(optimizer, 2.0)


def peak_memory(segments: Iterable[Segment], inflight: int, optimizer: str = "adamw") -> float:
    """Bytes a worker needs for `segments` with `inflight` microbatches in flight."""
    segs = list(segments)
    weights = sum(s.param_bytes or 0 for s in segs)
    state = weights * (2.0 + optimizer_factor(optimizer))  # weights, grads, optimizer
    acts = sum(s.activation_bytes or 0 for s in segs)
    buffers = sum(2 * (s.boundary_bytes or 0) for s in segs)
    return state + inflight * (acts + buffers)
