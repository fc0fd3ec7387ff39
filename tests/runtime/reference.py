"""Single-process reference training for the runtime equivalence tests (docs/design.md §4).

It imports a generated `train.py` only for its plan and its stage classes, and uses the
runtime's data-order function; the training loop, gradient scaling, clipping and optimizer are written here again,
plainly, in one process: each microbatch runs through its path's segments (each forward under the documented
`forward_rng` of pgc/runtime/randomness.py, so dropout draws the same masks), the loss is divided
by M, gradients accumulate, the norm is clipped globally, the optimizer steps.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from pgc.runtime.data import Source, batch
from pgc.runtime.main import parse_args, with_overrides
from pgc.runtime.model import ModelBuilder, import_factory
from pgc.runtime.optim import lr_factor
from pgc.runtime.precision import Precision
from pgc.runtime.randomness import forward_rng


def load_script(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"pgc_train_{abs(hash(str(path)))}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def initial_model(script: ModuleType) -> torch.nn.Module:
    """The plan's whole initial model: `torch.manual_seed(seed); factory(**args)`, the model's
    own initialisation; then the global RNG is seeded again, as the runtime does after its
    build (so dropout and other random ops start from the same state)."""
    seed = script.PLAN.train.seed
    torch.manual_seed(seed)
    model: torch.nn.Module = import_factory(script.PLAN)(**script.PLAN.model.args)
    torch.manual_seed(seed)
    return model


@dataclass
class Reference:
    losses: list[float]
    first_grads: dict[str, torch.Tensor]
    params: dict[str, torch.Tensor]


def builder(script: ModuleType) -> ModelBuilder:
    """The runtime's model builder for the script's plan and stage classes."""
    return ModelBuilder(script.PLAN, script.STAGES)


def _optimizer(plan: Any, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    args = dict(plan.train.optimizer_args)
    if plan.train.optimizer == "sgd":
        return torch.optim.SGD(params, lr=float(args["lr"]),
                               momentum=float(args.get("momentum", 0.0)),
                               weight_decay=float(args.get("weight_decay", 0.0)))
    return torch.optim.AdamW(params, lr=float(args["lr"]),
                             weight_decay=float(args.get("weight_decay", 0.01)))


def forward_backward(plan: Any, source: Source | None, step: int,
                     module: Callable[[str, str], torch.nn.Module]) -> float:
    """Every microbatch of `step` through `module(segment, worker)` along its path (each
    forward under the runtime's per-(step, microbatch, segment) generator and, with mixed
    precision, under autocast with its outputs cast to the compute dtype), the loss divided
    by M, backward; returns the step's mean loss."""
    loss_seg = next(s.name for s in plan.segments if s.loss)
    precision = Precision(plan.train.precision)
    total = 0.0
    for path in plan.paths:
        ids, labels = batch(plan, source, step, 0, path.mb)
        x: tuple[torch.Tensor, ...] = (ids,)
        for seg, worker in path.hops:
            with forward_rng(plan.train.seed, step, path.mb, seg), precision.autocast():
                if seg == loss_seg:
                    loss = module(seg, worker)(*x, labels)
                else:
                    out = module(seg, worker)(*x)
                    x = precision.boundary(out if isinstance(out, tuple) else (out,))
        (loss.float() / plan.microbatches).backward()
        total += float(loss.detach())
    return total / plan.microbatches


def reference(script: ModuleType, steps: int, *overrides: str, train_mode: bool = True) -> Reference:
    """Train the plan's model for `steps` iterations in this process; `overrides` are the
    script's own optimizer flags (`--optimizer adamw --lr 0.01 --clip 0.5`); `train_mode=False`
    runs the segments in eval mode (no dropout)."""
    plan = with_overrides(script.PLAN, parse_args(script.PLAN, list(overrides)))
    model = initial_model(script)
    segments = {s.name: script.STAGES[s.name](model).train(train_mode) for s in plan.segments}
    unique = list({id(p): p for p in model.parameters()}.values())
    opt = _optimizer(plan, unique)
    clip = plan.train.clip
    source = None if plan.train.data == "synthetic" else Source(plan)
    base_lr = float(plan.train.optimizer_args["lr"])
    losses: list[float] = []
    first: dict[str, torch.Tensor] = {}
    for step in range(steps):
        for p in unique:
            p.grad = torch.zeros_like(p)
        losses.append(forward_backward(plan, source, step, lambda seg, _w: segments[seg]))
        if step == 0:
            first = {n: p.grad.clone() for n, p in model.named_parameters(remove_duplicate=False)}
        if clip:
            torch.nn.utils.clip_grad_norm_(unique, float(clip))
        for g in opt.param_groups:
            g["lr"] = base_lr * lr_factor(plan.train, steps, step)
        opt.step()
    params = {n: p.detach().clone() for n, p in model.named_parameters(remove_duplicate=False)}
    return Reference(losses, first, params)


def launch(out: Path, nproc: int, *args: str, timeout: float = 240,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the generated script under real torchrun on this machine."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc),
           "--standalone", str(out / "train.py"), "--quiet", *args]
    return subprocess.run(cmd, cwd=out, capture_output=True, text=True, timeout=timeout, env=env)


def read_log(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def gather(prefix: Path) -> dict[str, torch.Tensor]:
    """Merge the per-worker dumps `prefix.<worker>.pt` by parameter name (replicas must agree)."""
    out: dict[str, torch.Tensor] = {}
    for f in sorted(prefix.parent.glob(prefix.name + ".*.pt")):
        for name, t in torch.load(f, weights_only=True).items():
            if name in out:
                torch.testing.assert_close(t, out[name], rtol=0, atol=0, msg=f"replicas differ: {name}")
            out[name] = t
    return out


def assert_close_all(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor],
                     rtol: float, atol: float) -> None:
    assert got, "no tensors were dumped"
    for name, t in got.items():
        torch.testing.assert_close(t, want[name], rtol=rtol, atol=atol, msg=lambda m, n=name: f"{n}: {m}")


def outer_reference(script: ModuleType, steps: int, lr: float) -> list[float]:
    """Outer steps (docs/CONTRACTS.md "Sync modes") in one process: one copy of its stage per
    worker, each microbatch through the copies its path names; per worker the mean gradient
    over the microbatches it processed and an SGD step (none if it saw none); every H steps
    each bucket averages its holders' pseudo-gradients weighted by those counts and takes the
    outer step on one set of outer weights, which every holder then takes. Returns the losses."""
    plan = script.PLAN
    sync, m_total = plan.sync, plan.microbatches
    source = None if plan.train.data == "synthetic" else Source(plan)
    copies: dict[str, dict[str, torch.nn.Module]] = {}
    params: dict[str, dict[str, torch.nn.Parameter]] = {}
    for w in plan.workers:
        model = initial_model(script)
        copies[w] = {seg: script.STAGES[seg](model) for seg in plan.stage_of(w).segments}
        named: dict[str, torch.nn.Parameter] = {}
        for mod in copies[w].values():
            for n, p in mod.named_parameters():
                named.setdefault(n, p)
        params[w] = named
    visits = {w: sum(any(h[1] == w for h in p.hops) for p in plan.paths) for w in plan.workers}
    opts = {w: torch.optim.SGD([params[w][n] for n in sorted(params[w])], lr=lr)
            for w in plan.workers}
    # one set of outer weights per bucket tensor: (bucket, alias index) -> (theta, momentum)
    outer: dict[tuple[str, int], tuple[torch.Tensor, torch.Tensor]] = {}
    for b in plan.buckets:
        for k, alias in enumerate(b.params):
            w = b.workers[0]
            t = next(params[w][n] for n in alias if n in params[w]).detach().clone()
            outer[(b.name, k)] = (t, torch.zeros_like(t))
    losses: list[float] = []
    for step in range(steps):
        for named in params.values():
            for p in named.values():
                p.grad = torch.zeros_like(p)
        losses.append(forward_backward(plan, source, step, lambda seg, w: copies[w][seg]))
        for w in plan.workers:
            if visits[w]:
                for p in params[w].values():
                    p.grad.mul_(m_total / visits[w])  # type: ignore[union-attr]
                opts[w].step()
        if (step + 1) % sync.every:
            continue
        for b in sorted(plan.buckets, key=lambda b: b.name):
            count = sum(visits[w] for w in b.workers)
            weight = {w: float(visits[w]) if count else 1.0 for w in b.workers}
            for k, alias in enumerate(b.params):
                theta, mom = outer[(b.name, k)]
                held = {w: next(params[w][n] for n in alias if n in params[w]) for w in b.workers}
                delta = sum(weight[w] * (theta - held[w].detach()) for w in b.workers)
                delta = delta / sum(weight.values())  # type: ignore[operator]
                if sync.outer == "nesterov":
                    mom.mul_(sync.outer_momentum).add_(delta)
                    theta.sub_(sync.outer_lr * (delta + sync.outer_momentum * mom))
                else:
                    theta.sub_(sync.outer_lr * delta)
                with torch.no_grad():
                    for p in held.values():
                        p.copy_(theta)
    return losses
