"""Checkpoints: every worker writes its own file, then one manifest is written last, atomically.

Layout: `DIR/step_00000040/{<worker>.pt, manifest.json}`. A worker file holds the worker's
tensors under the model's names, its optimizer state, the parameter order and the RNG state,
and is loaded with `torch.load(weights_only=True)` (never runs code). The manifest names the
step, the spec hash, the model and every worker file's sha256; a checkpoint is complete when
its manifest is there and lists every worker of the plan with a file present. Each host also
writes a manifest of its own workers' files (`hostfiles`): hosts without a shared filesystem
each keep their part, and a resume agrees on the newest step every host holds.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from .files import safe_load, sha256
from .hostfiles import write_host_manifest
from .model import named_params, named_tensors
from .plan import Plan, PlanError


def step_dir(root: Path, step: int) -> Path:
    return root / f"step_{step:08d}"


def checkpoint_dirs(root: Path) -> list[Path]:
    return sorted(root.glob("step_*"), key=lambda p: p.name)


def read_manifest(plan: Plan, d: Path) -> dict[str, Any] | None:
    """The manifest of a complete checkpoint of this plan, or None (missing, partial, another
    spec's, or a file listed but absent)."""
    try:
        man = json.loads((d / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(man, dict) or man.get("spec_hash") != plan.spec_hash:
        return None
    files = man.get("files")
    if not isinstance(files, dict) or sorted(files) != sorted(f"{w}.pt" for w in plan.workers):
        return None
    if not all((d / f).exists() for f in files):
        return None
    return man


def newest_checkpoint(plan: Plan, root: Path) -> tuple[Path, dict[str, Any]] | None:
    for d in reversed(checkpoint_dirs(root)):
        man = read_manifest(plan, d)
        if man is not None:
            return d, man
        print(f"pgc: skipping incomplete checkpoint {d}", file=sys.stderr)
    return None


def write_worker_file(d: Path, me: str, step: int, segments: Mapping[str, torch.nn.Module],
                      opt: torch.optim.Optimizer,
                      sync: Mapping[str, torch.Tensor] | None = None) -> Path:
    """This worker's file of the checkpoint in `d` (written aside, then renamed)."""
    d.mkdir(parents=True, exist_ok=True)
    params = named_params(segments)
    index = {id(p): n for n, p in params.items()}
    opt_state = {index[id(p)]: dict(opt.state[p]) for g in opt.param_groups
                 for p in g["params"] if p in opt.state}
    blob = {
        "step": step,
        "worker": me,
        "tensors": {n: t.detach().cpu().clone() for n, t in named_tensors(segments).items()},
        "opt": opt_state,
        "param_order": sorted(params),
        "rng": torch.get_rng_state(),
        # sync modes: outer weights and momentum, error-feedback residuals (by name)
        "sync": {k: t.detach().cpu().clone() for k, t in (sync or {}).items()},
    }
    tmp, path = d / f".{me}.pt.tmp", d / f"{me}.pt"
    torch.save(blob, tmp)
    os.replace(tmp, path)
    return path


def write_manifest(d: Path, step: int, plan: Plan, model: Mapping[str, Any],
                   digests: Mapping[str, str]) -> None:
    """The manifest, written last and atomically: the checkpoint is complete from here on."""
    man = {"step": step, "spec_hash": plan.spec_hash, "model": dict(model),
           "files": dict(sorted(digests.items()))}
    tmp = d / ".manifest.json.tmp"
    tmp.write_text(json.dumps(man, indent=1, sort_keys=True))
    os.replace(tmp, d / "manifest.json")


def save_checkpoint(plan: Plan, root: Path, step: int, me: str,
                    segments: Mapping[str, torch.nn.Module], opt: torch.optim.Optimizer,
                    model: Mapping[str, Any],
                    sync: Mapping[str, torch.Tensor] | None = None, host: str = "") -> bool:
    """All workers write, their digests are gathered, the first worker of each host writes
    its host's manifest (hostfiles), rank 0 the manifest of all, a barrier. Returns whether
    this worker wrote its host's manifest."""
    d = step_dir(root, step)
    path = write_worker_file(d, me, step, segments, opt, sync)
    digests: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(digests, (host, path.name, sha256(path)))
    leader = next(r for r, (h, _, _) in enumerate(digests) if h == host) == dist.get_rank()
    if leader:
        write_host_manifest(d, step, plan, model, host,
                            {name: digest for h, name, digest in digests if h == host})
    if dist.get_rank() == 0:
        write_manifest(d, step, plan, model, {name: digest for _, name, digest in digests})
    dist.barrier()
    return leader


def prune_checkpoints(plan: Plan, root: Path, keep: int) -> None:
    """Keep the newest `keep` complete checkpoints (0: keep all)."""
    complete = [d for d in checkpoint_dirs(root) if read_manifest(plan, d) is not None]
    for d in complete[:-keep] if keep > 0 else []:
        shutil.rmtree(d, ignore_errors=True)


def load_checkpoint(d: Path, man: Mapping[str, Any], me: str,
                    segments: Mapping[str, torch.nn.Module], opt: torch.optim.Optimizer,
                    device: torch.device, sync: dict[str, torch.Tensor] | None = None) -> int:
    """Restore this worker's tensors, optimizer state, sync state (into `sync`) and RNG from
    `d`; returns the step."""
    path = d / f"{me}.pt"
    if sha256(path) != man["files"][f"{me}.pt"]:
        raise PlanError(f"{path}: sha256 differs from the manifest (corrupt checkpoint)")
    blob = safe_load(path)
    if not isinstance(blob, dict) or blob.get("worker") != me:
        raise PlanError(f"{path}: not a checkpoint of worker {me}")
    missing = [k for k in ("step", "tensors", "opt", "rng") if k not in blob]
    if missing:
        raise PlanError(f"{path}: not a complete checkpoint (no {', '.join(missing)})")
    tensors = named_tensors(segments)
    if not isinstance(blob["tensors"], dict) or sorted(blob["tensors"]) != sorted(tensors):
        raise PlanError(f"{path}: holds other tensors than worker {me}'s stage")
    with torch.no_grad():
        for n, t in tensors.items():
            t.copy_(blob["tensors"][n])
    params = named_params(segments)
    for n, state in blob["opt"].items():
        # optimizer moments live with their parameter; AdamW keeps its step count on the CPU
        opt.state[params[n]] = {k: v if k == "step" else v.to(device) for k, v in state.items()}
    if sync is not None:
        sync.update({k: t.to(device) for k, t in dict(blob.get("sync", {})).items()})
    torch.set_rng_state(blob["rng"])
    return int(blob["step"])
