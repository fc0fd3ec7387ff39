"""Peak memory of a worker holding segments, under its inflight cap (no torch needed).

weights + gradients + optimizer state + inflight x activations kept for backward + one input
and one output boundary buffer per inflight microbatch. Optimizer state per parameter byte:
Adam/AdamW keep two moments (2x), SGD with momentum one (1x), plain SGD none.

Precision (`train { precision }`): weights, gradients and optimizer state stay fp32; activations
kept for backward and boundary buffers scale with the compute dtype's width (capture measures
them in fp32; under autocast most saved tensors are in the compute dtype, so this is an
estimate). Recomputation (`train { recompute }`) keeps per inflight microbatch, instead of the
segment's activations: `blocks` one boundary tensor per block (each block's input), `stage`
the segment's input; the backward then holds one block's (`blocks`) or the segment's (`stage`)
activations on top, once (`recompute_bytes`). Time: a recomputed segment's backward costs one
more forward (`pgc.sim.cost.compute_seconds`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pgc.ir.types import DTYPE_BYTES, Program, Segment

OPTIMIZER_STATE = {"adamw": 2.0, "adam": 2.0, "sgd_momentum": 1.0, "sgd": 0.0}


def optimizer_factor(optimizer: str, args: Mapping[str, object] | None = None) -> float:
    if optimizer == "sgd" and args and float(str(args.get("momentum", 0) or 0)) > 0:
        return OPTIMIZER_STATE["sgd_momentum"]
    return OPTIMIZER_STATE.get(optimizer, 2.0)


def state_bytes(param_bytes: float, optimizer: str = "adamw",
                args: Mapping[str, object] | None = None) -> tuple[float, float, float]:
    """(weights, gradients, optimizer state) bytes of `param_bytes` of parameters under
    `optimizer`: all fp32 whatever the compute precision."""
    return param_bytes, param_bytes, param_bytes * optimizer_factor(optimizer, args)


def width(precision: str) -> float:
    """Bytes of a value in the compute dtype over fp32's 4."""
    return DTYPE_BYTES[precision] / 4.0


def recompute_bytes(seg: Segment, mode: str, precision: str = "fp32",
                    activations: float | None = None, boundary: float | None = None
                    ) -> tuple[float, float]:
    """(bytes kept per microbatch from its forward to its backward, bytes live on top during
    one backward) of `seg` under recomputation `mode`; `activations` and `boundary` default to
    the segment's measured fp32 bytes (see the module docstring)."""
    k = width(precision)
    acts = k * float(seg.activation_bytes or 0 if activations is None else activations)
    edge = k * float(seg.boundary_bytes or 0 if boundary is None else boundary)
    if mode == "stage":
        return edge, acts
    if mode == "blocks":
        blocks = max(1, seg.layers)
        return edge * blocks, acts / blocks
    return acts, 0.0


def recomputed(program: Program, seg: Segment) -> bool:
    """Whether `seg`'s backward runs its forward again."""
    return program.train.recompute_of(seg.stage) != "none"


def peak_memory(segments: Iterable[Segment], inflight: int, optimizer: str = "adamw",
                precision: str = "fp32", recompute: dict[str, str] | None = None,
                optimizer_args: Mapping[str, object] | None = None) -> float:
    """Bytes a worker needs for `segments` with `inflight` microbatches in flight
    (`recompute`: stage -> mode; absent: none)."""
    segs = list(segments)
    state = sum(state_bytes(sum(s.param_bytes or 0 for s in segs), optimizer, optimizer_args))
    kept = [recompute_bytes(s, (recompute or {}).get(s.stage, "none"), precision) for s in segs]
    buffers = width(precision) * sum(2 * (s.boundary_bytes or 0) for s in segs)
    return state + inflight * (sum(k for k, _ in kept) + buffers) + max(
        (t for _, t in kept), default=0.0)
