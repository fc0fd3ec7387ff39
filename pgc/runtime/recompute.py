"""Activation recomputation: `train { recompute = blocks | stage }` (docs/CONTRACTS.md).

`stage`: a segment's forward runs under non-reentrant `torch.utils.checkpoint`, which keeps only
the segment's inputs and runs the forward again inside the backward. `blocks`: each block module
the stage calls (an element of a module list, e.g. `layers.3`) runs under it instead, so the
stage keeps each block's input and recomputes one block at a time; a stage that calls no block
module (its ops inlined) is recomputed as a whole. The recomputation replays the forward's
random state (dropout draws the same masks) and its autocast state, so values never change: in
fp32 a run with recomputation is bit-identical to one without.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
from torch.utils.checkpoint import checkpoint

MARK = "_pgc_recompute"


def _checkpointed(forward: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    if not torch.is_grad_enabled():  # evaluation: nothing to keep, nothing to recompute
        return forward(*args, **kwargs)
    return checkpoint(forward, *args, use_reentrant=False, **kwargs)


def block_names(stage: torch.nn.Module) -> list[str]:
    """The block modules a stage adopts: modules whose last name part is an index."""
    return [name for name, kind in getattr(stage, "ADOPT", ())
            if kind == "module" and name.rsplit(".", 1)[-1].isdigit()]


def checkpoint_blocks(stage: torch.nn.Module) -> int:
    """Make each block module of `stage` recompute its activations in the backward; returns
    how many there are (a block two segments share is wrapped once)."""
    names = block_names(stage)
    for name in names:
        mod = stage.get_submodule(name)
        if not getattr(mod, MARK, False):
            mod.forward = functools.partial(_checkpointed, mod.forward)  # type: ignore[method-assign]
            setattr(mod, MARK, True)
    return len(names)


def run_segment(mod: torch.nn.Module, args: tuple[Any, ...], whole: bool) -> Any:
    """One segment's forward; `whole`: recomputed as a whole in the backward."""
    return _checkpointed(mod, *args) if whole else mod(*args)
