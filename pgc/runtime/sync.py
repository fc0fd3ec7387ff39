"""Sync modes of the gradient groups (docs/CONTRACTS.md "Sync modes"): compressed sums with error
feedback, and outer steps on averaged pseudo-gradients (DiLoCo, Douillard et al. 2023).

A compressed sum moves 2 (n-1)/n of the compressed tensor per member, what the cost model
charges: the flat tensor is cut into n shards (one per member, in group-rank order); each
member sends its compressed part of shard j to member j (all-to-all), member j sums the
decoded parts in member order in fp32, compresses that sum and sends it to every member
(all-gather). int8 keeps two residuals per bucket, both local and in fp32: the member's own
(what its compressed contribution lost) and, for the shard it owns, the sum's. Every member
decodes the same bytes, so replicas stay identical; over K syncs the applied sum equals the
uncompressed one minus the final residuals.

A direct weighted sum (a bucket with planned `shares`, uncompressed) is the same two-phase
exchange with shards of planned, uneven sizes and no compression: member j owns
`rules.slice_bounds(N, shares)[j]` of the N-value flat tensor (possibly empty), sums the n members' slices
of it in group-rank order in fp32, and sends the sum to every member; so slow links carry
small shards and every member ends with the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F

from .rules import slice_bounds

Parts = list[torch.Tensor]


def quantize(x: torch.Tensor, chunk: int) -> Parts:
    """int8 values and one fp32 scale per `chunk` values (max |x| / 127; 1 for a zero chunk);
    `x` is padded with zeros to whole chunks."""
    rows = F.pad(x, (0, (-x.numel()) % chunk)).view(-1, chunk)
    scale = rows.abs().amax(dim=1) / 127.0
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    q = torch.round(rows / scale[:, None]).clamp_(-127, 127).to(torch.int8)
    return [q.reshape(-1), scale]


def dequantize(parts: Parts, n: int, chunk: int) -> torch.Tensor:
    q, scale = parts
    return (q.view(-1, chunk).float() * scale[:, None]).reshape(-1)[:n]


class Codec:
    """How values travel: `encode` a 1-D fp32 tensor into parts of fixed shapes for its
    length, `decode` them back; `feedback`: whether residuals are kept."""

    def __init__(self, compress: str, chunk: int) -> None:
        self.compress, self.chunk = compress, chunk
        self.feedback = compress == "int8"

    def encode(self, x: torch.Tensor) -> Parts:
        if self.compress == "int8":
            return quantize(x, self.chunk)
        return [x.to(torch.bfloat16)]

    def decode(self, parts: Parts, n: int) -> torch.Tensor:
        if self.compress == "int8":
            return dequantize(parts, n, self.chunk)
        return parts[0].float()[:n]


def compressed_sum(x: torch.Tensor, group: Any, codec: Codec, state: dict[str, torch.Tensor],
                   key: str) -> torch.Tensor:
    """The group sum of the 1-D fp32 tensor `x`, exchanged compressed (module docstring).
    `state[key + "/member"]` and `state[key + "/owner"]` are this worker's residuals."""
    n = dist.get_world_size(group)
    size = x.numel()
    shard = -(-size // n)
    mine, owned = f"{key}/member", f"{key}/owner"
    if codec.feedback:
        x = x + state.setdefault(mine, torch.zeros_like(x))
    shards = F.pad(x, (0, n * shard - size)).view(n, shard)
    parts = [codec.encode(shards[j]) for j in range(n)]
    if codec.feedback:
        sent = torch.cat([codec.decode(p, shard) for p in parts])[:size]
        state[mine] = x - sent
    got = []
    for k in range(len(parts[0])):
        out = torch.cat([p[k] for p in parts])
        recv = torch.empty_like(out)
        dist.all_to_all_single(recv, out, group=group)
        got.append(recv.view(n, -1))
    total = torch.zeros(shard, dtype=torch.float32, device=x.device)
    for i in range(n):  # member order, so every owner adds alike
        total += codec.decode([g[i] for g in got], shard)
    if codec.feedback:
        total = total + state.setdefault(owned, torch.zeros_like(total))
    reply = codec.encode(total)
    if codec.feedback:
        state[owned] = total - codec.decode(reply, shard)
    gathered = [[torch.empty_like(c) for _ in range(n)] for c in reply]
    for k, c in enumerate(reply):
        dist.all_gather(gathered[k], c, group=group)
    return torch.cat([codec.decode([g[j] for g in gathered], shard) for j in range(n)])[:size]


def direct_sum(x: torch.Tensor, group: Any, shares: Sequence[float]) -> torch.Tensor:
    """The group sum of the 1-D tensor `x` by a direct exchange in shards weighted by `shares`
    (one per member, group-rank order; module docstring). Both phases are one
    `all_to_all_single` with split sizes: in torch 2.13 gloo (CPU tensors, and CUDA ones
    through host staging: gloo::alltoallv) and nccl both take uneven and empty splits
    (measured on gloo), while gloo's all_gather refuses tensors of unequal sizes. Returns a new tensor in `x`'s dtype, the same bytes on every member."""
    n, me = dist.get_world_size(group), dist.get_rank(group)
    sizes = [b - a for a, b in slice_bounds(x.numel(), shares)]
    mine = sizes[me]
    got = x.new_empty(n * mine)
    dist.all_to_all_single(got, x.contiguous(), output_split_sizes=[mine] * n,
                           input_split_sizes=sizes, group=group)
    total = torch.zeros(mine, dtype=torch.float32, device=x.device)
    for part in got.view(n, mine):  # group-rank order, so every owner adds alike
        total += part.float()
    out = x.new_empty(x.numel())
    dist.all_to_all_single(out, total.to(x.dtype).repeat(n), output_split_sizes=sizes,
                           input_split_sizes=[mine] * n, group=group)
    return out


def plain_sum(x: torch.Tensor, group: Any) -> torch.Tensor:
    dist.all_reduce(x, op=dist.ReduceOp.SUM, group=group)
    return x


def summer(compress: str, chunk: int, state: dict[str, torch.Tensor],
           shares: Mapping[str, Sequence[float]] | None = None
           ) -> Callable[[torch.Tensor, Any, str], torch.Tensor]:
    """The group sum a sync mode uses: `(flat tensor, process group, bucket name) -> sum`.
    Uncompressed, a bucket named in `shares` (its members' shares in group-rank order) is
    summed by `direct_sum`, any other by an all-reduce."""
    if compress == "none":
        weighted = dict(shares or {})
        return lambda x, group, key: (direct_sum(x, group, weighted[key]) if key in weighted
                                      else plain_sum(x, group))
    codec = Codec(compress, chunk)
    return lambda x, group, key: compressed_sum(x, group, codec, state, key)


def latest(when: float, group: Any, device: torch.device) -> float:
    """The latest of the group members' `when` (a max all-reduce): in a rehearsal, when a
    group's emulated exchange begins."""
    t = torch.tensor([when], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX, group=group)
    return float(t.item())


def outer_update(theta: torch.Tensor, momentum: torch.Tensor, delta: torch.Tensor, outer: str,
                 lr: float, mu: float) -> None:
    """The outer step on the averaged pseudo-gradient `delta`, in place: sgd
    theta -= lr delta; nesterov m = mu m + delta, theta -= lr (delta + mu m)."""
    if outer == "nesterov":
        momentum.mul_(mu).add_(delta)
        theta.sub_(lr * (delta + mu * momentum))
    else:
        theta.sub_(lr * delta)
