"""torch.distributed.pipelining's Schedule1F1B on bench/specs/pipe4.pgc's model, stages,
workers and microbatches (run under torchrun by bench/runtime_vs_pipelining.py)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.distributed.pipelining import PipelineStage, Schedule1F1B

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from examples.models.llama import build  # noqa: E402

ARGS = {"vocab": 256, "dim": 256, "layers": 8, "heads": 8, "kv_heads": 4, "max_seq": 128}
CUTS = [(0, 2), (2, 4), (4, 6), (6, 8)]  # layers per stage, as in pipe4.pgc
B, T, M = 4, 128, 8


class Part(nn.Module):
    def __init__(self, model: nn.Module, rank: int, world: int) -> None:
        super().__init__()
        lo, hi = CUTS[rank]
        self.embed = model.embed if rank == 0 else None
        self.layers = nn.ModuleList(model.layers[lo:hi])
        self.norm = model.norm if rank == world - 1 else None
        self.head = model.head if rank == world - 1 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.embed is not None:
            x = self.embed(x)
        for layer in self.layers:
            x = layer(x)
        if self.head is not None and self.norm is not None:
            x = self.head(self.norm(x))
        return x


def loss_fn(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))


def main() -> None:
    steps = int(sys.argv[1])
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    part = Part(build(**ARGS), rank, world)
    stage = PipelineStage(part, rank, world, torch.device("cpu"))
    schedule = Schedule1F1B(stage, n_microbatches=M, loss_fn=loss_fn)
    opt = torch.optim.SGD(part.parameters(), lr=0.01)
    g = torch.Generator().manual_seed(0)
    times = []
    for _ in range(steps):
        data = torch.randint(256, (B * M, T + 1), generator=g)
        ids, labels = data[:, :-1].contiguous(), data[:, 1:].contiguous()
        t0 = time.perf_counter()
        if rank == 0:
            schedule.step(ids)
        elif rank == world - 1:
            schedule.step(target=labels, losses=[])
        else:
            schedule.step()
        if not times:
            # The comparison is void unless every stage really ran its backward (in torch 2.13 a
            # rank built without loss_fn silently skips it).
            missing = [n for n, q in part.named_parameters() if q.grad is None or not q.grad.any()]
            assert not missing, f"rank {rank}: no gradient for {missing[:3]}"
        opt.step()
        opt.zero_grad()
        dist.barrier()
        times.append(time.perf_counter() - t0)
    if rank == 0:
        print(json.dumps({"times": times}))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
