"""Gradient groups: one process group per bucket of two or more workers, and the sum over it.

A bucket is a stage's parameters that no other stage reads (over its replica group), or one
shared parameter such as a tied embedding and head (over every worker holding an owning
segment); every parameter is thus summed exactly once over exactly its holders
(docs/CONTRACTS.md "Gradient").
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.distributed as dist

from .plan import Bucket, Plan


def held(bucket: Bucket, have: Mapping[str, torch.nn.Parameter]) -> list[torch.nn.Parameter]:
    """The bucket's tensors this worker holds (each under the one name it has here)."""
    return [have[n] for n in held_names(bucket, have)]


def make_groups(plan: Plan, me: str, rank_of: Mapping[str, int],
                timeout: float = 300.0) -> dict[str, tuple[Bucket, Any]]:
    """This worker's buckets with their process groups (None for a bucket of one worker),
    whose collectives fail after `timeout` seconds. Every rank creates every group in the
    same order (torch.distributed requires it)."""
    mine: dict[str, tuple[Bucket, Any]] = {}
    for bucket in plan.buckets:
        if len(bucket.workers) < 2:
            if me in bucket.workers:
                mine[bucket.name] = (bucket, None)
            continue
        group = dist.new_group(sorted(rank_of[w] for w in bucket.workers),
                               timeout=datetime.timedelta(seconds=timeout))
        if me in bucket.workers:
            mine[bucket.name] = (bucket, group)
    return mine


def direct_shares(groups: Mapping[str, tuple[Bucket, Any]], rank_of: Mapping[str, int]
                  ) -> dict[str, tuple[float, ...]]:
    """The buckets of `groups` (this worker's, from `make_groups`) whose sum is a direct
    weighted exchange, with their shares in group-rank order; a bucket of one worker has
    nothing to exchange."""
    out: dict[str, tuple[float, ...]] = {}
    for name, (bucket, group) in groups.items():
        shares = bucket.shares_by_rank(rank_of)
        if shares is not None and group is not None:
            out[name] = shares
    return out


def all_reduce_bucket(bucket: Bucket, group: Any, params: Mapping[str, torch.nn.Parameter],
                      total: Callable[[torch.Tensor, Any, str], torch.Tensor] | None = None
                      ) -> None:
    """Sum the gradients of `bucket` over its workers, as one flat tensor (each microbatch's
    contribution is already divided by M at the loss, so the sum is the exact gradient);
    `total` is the sync mode's sum (default: an fp32 all-reduce)."""
    if group is None:
        return
    grads = [p.grad for p in held(bucket, params) if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    if total is None:
        dist.all_reduce(flat, op=dist.ReduceOp.SUM, group=group)
    else:
        flat = total(flat, group, bucket.name)
    unflatten(flat, grads)


def unflatten(flat: torch.Tensor, into: list[torch.Tensor]) -> None:
    """Copy consecutive pieces of `flat` into the tensors of `into`."""
    offset = 0
    for t in into:
        t.copy_(flat[offset : offset + t.numel()].view_as(t))
        offset += t.numel()


def held_names(bucket: Bucket, have: Mapping[str, torch.nn.Parameter]) -> list[str]:
    """The names under which this worker holds the bucket's tensors, in bucket order."""
    return [n for names in bucket.params for n in names if n in have]


def norm_owners(plan: Plan, me: str, params: Mapping[str, torch.nn.Parameter]
                ) -> list[torch.nn.Parameter]:
    """The parameters whose gradient this worker counts in the global norm: those of the
    buckets it leads (each bucket's first worker), so each parameter counts once."""
    out: list[torch.nn.Parameter] = []
    for b in plan.buckets:
        if b.workers[0] == me:
            out.extend(params[n] for alias in b.params for n in alias if n in params)
    return out


def orphans(plan: Plan, me: str, params: Mapping[str, torch.nn.Parameter]) -> list[str]:
    """This worker's parameters in no bucket it belongs to: their gradient would never be
    summed (the runtime refuses to train them)."""
    mine = {n for b in plan.buckets if me in b.workers for alias in b.params for n in alias}
    return sorted(set(params) - mine)
