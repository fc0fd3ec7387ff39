"""The optimizer and its learning-rate schedule, from the plan's train settings.

Defaults (docs/language.md): `sgd(lr, momentum = 0, weight_decay = 0)`,
`adamw(lr, betas = (0.9, 0.999), eps = 1e-8, weight_decay = 0.01)` (PyTorch's AdamW default),
lr 1e-3 when the spec gives none. On a GPU AdamW runs fused (one kernel for all parameters). The schedule is a `torch.optim.lr_scheduler.LambdaLR` over
the run's total steps: an optional linear warm-up of `warmup` steps (step i gets
lr x (i + 1) / warmup), then constant, cosine or linear decay to `min_ratio` x lr. A run that
resumes at step k builds the schedule at step k, so it continues where it stopped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch.optim.lr_scheduler import LambdaLR

from .plan import PlanError, Train

DEFAULT_LR = 1e-3


def make_optimizer(train: Train, params: Mapping[str, torch.nn.Parameter]) -> torch.optim.Optimizer:
    """The spec's optimizer over `params` (ordered by name, so every run orders them alike)."""
    args = dict(train.optimizer_args)
    ordered = [params[n] for n in sorted(params)]
    lr = float(args.pop("lr", DEFAULT_LR))
    if train.optimizer == "sgd":
        return torch.optim.SGD(ordered, lr=lr, momentum=float(args.get("momentum", 0.0)),
                               weight_decay=float(args.get("weight_decay", 0.0)), foreach=False)
    if train.optimizer == "adamw":
        betas = args.get("betas", (0.9, 0.999))
        # one fused kernel over all parameters on a GPU; the CPU keeps the per-parameter loop
        gpu = bool(ordered) and ordered[0].device.type == "cuda"
        return torch.optim.AdamW(ordered, lr=lr, betas=(float(betas[0]), float(betas[1])),
                                 eps=float(args.get("eps", 1e-8)),
                                 weight_decay=float(args.get("weight_decay", 0.01)),
                                 foreach=False, fused=gpu or None)
    raise PlanError(f"unknown optimizer `{train.optimizer}` (sgd, adamw)")


def lr_factor(train: Train, total: int, step: int) -> float:
    """The learning rate of iteration `step` (0-based) of a `total`-step run, as a multiple
    of the spec's lr (see the module docstring)."""
    args = dict(train.lr_schedule_args)
    warmup = int(args.get("warmup", 0))
    if step < warmup:
        return (step + 1) / warmup
    floor = float(args.get("min_ratio", 0.0))
    frac = min(1.0, (step - warmup) / max(1, total - warmup))
    if train.lr_schedule == "cosine":
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * frac))
    if train.lr_schedule == "linear":
        return floor + (1 - floor) * (1 - frac)
    return 1.0


def make_schedule(opt: torch.optim.Optimizer, train: Train, total: int, start: int) -> LambdaLR:
    """The schedule positioned at step `start`: the optimizer's lr is that of step `start`;
    call `.step()` after each optimizer step."""
    for group in opt.param_groups:
        group.setdefault("initial_lr", group["lr"])
    return LambdaLR(opt, lambda step: lr_factor(train, total, step), last_epoch=start - 1)
