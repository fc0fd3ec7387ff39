"""torch.distributed.pipelining's Schedule1F1B on a LLaMA-style model cut into chain stages, one
stage per process (run under torchrun). Used by bench/runtime_vs_pipelining.py (its defaults:
bench/specs/pipe4.pgc's model, stages, workers and microbatches, SGD, random tokens, gloo) and
by the GPU check, bench/gpu/run.py part (e) (a plan's model and cuts, AdamW, the plan's own
synthetic data order so that the losses can be compared, nccl on GPUs).

    torchrun --nproc-per-node 4 bench/pipelining_1f1b.py STEPS [--model-args JSON]
        [--cuts 0:2,2:4,...] [--batch B] [--seq T] [--microbatches M]
        [--optimizer sgd|adamw] [--lr LR] [--data random|synthetic] [--seed S] [--device cpu|cuda]

Stage k holds the blocks `cuts[k]`, the first stage also the embedding, the last the final norm
and the head. Every rank builds the whole model under `torch.manual_seed(seed)` (the model's own
initialisation, as a pgc plan's full build does) and keeps its stage. Each step's batch is made
inside the timed step, on the first rank (inputs) and the last (labels), as a pgc worker makes
its own; `synthetic` draws microbatch m of step s exactly as pgc's runtime does
(pgc/runtime/data.py). On a GPU each rank uses cuda:LOCAL_RANK and nccl; a step ends with a
device synchronisation and a barrier. The last rank prints one JSON line: the step times and
the step losses (mean over microbatches).
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
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
from pgc.runtime.data import generator, sample_seed, synthetic  # noqa: E402

PIPE4_ARGS = {"vocab": 256, "dim": 256, "layers": 8, "heads": 8, "kv_heads": 4, "max_seq": 128}
PIPE4_CUTS = "0:2,2:4,4:6,6:8"  # layers per stage, as in pipe4.pgc


class Part(nn.Module):
    def __init__(self, model: nn.Module, cut: tuple[int, int], first: bool, last: bool) -> None:
        super().__init__()
        lo, hi = cut
        self.embed = model.embed if first else None
        self.layers = nn.ModuleList(model.layers[lo:hi])
        self.norm = model.norm if last else None
        self.head = model.head if last else None

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


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("steps", type=int)
    p.add_argument("--model-args", type=json.loads, default=PIPE4_ARGS,
                   help="keyword arguments of examples.models.llama:build, as JSON")
    p.add_argument("--cuts", default=PIPE4_CUTS, help="blocks per stage: lo:hi,lo:hi,...")
    p.add_argument("--batch", type=int, default=4, help="rows per microbatch")
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--microbatches", type=int, default=8)
    p.add_argument("--optimizer", choices=("sgd", "adamw"), default="sgd")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--data", choices=("random", "synthetic"), default="random",
                   help="random: uniform tokens; synthetic: pgc's synthetic data order")
    p.add_argument("--seed", type=int, default=0, help="initialisation and data seed")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    return p.parse_args(argv)


def batches(args: argparse.Namespace, g: torch.Generator, step: int) -> torch.Tensor:
    """The step's M microbatches stacked along rows: [M * B, T + 1] tokens."""
    vocab, rows, length = args.model_args["vocab"], args.batch, args.seq + 1
    if args.data == "random":
        return torch.randint(vocab, (rows * args.microbatches, length), generator=g)
    return torch.cat([synthetic(generator(sample_seed(args.seed, step, m)), rows, length, vocab,
                                args.seed) for m in range(args.microbatches)])


def main() -> None:
    args = parse()
    cuts = [(int(c.split(":")[0]), int(c.split(":")[1])) for c in args.cuts.split(",")]
    torch.set_num_threads(1)
    gpu = args.device == "cuda"
    if gpu:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    device = torch.device("cuda", torch.cuda.current_device()) if gpu else torch.device("cpu")
    dist.init_process_group("nccl" if gpu else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    if len(cuts) != world:
        raise SystemExit(f"--cuts names {len(cuts)} stages for {world} processes")
    first, last = rank == 0, rank == world - 1
    torch.manual_seed(args.seed)
    part = Part(build(**args.model_args), cuts[rank], first, last).to(device)
    stage = PipelineStage(part, rank, world, device)
    schedule = Schedule1F1B(stage, n_microbatches=args.microbatches, loss_fn=loss_fn)
    # the logits of every microbatch need not come back merged (pgc keeps none either)
    extra = {"return_outputs": False} if "return_outputs" in inspect.signature(
        schedule.step).parameters else {}
    if args.optimizer == "sgd":
        opt: torch.optim.Optimizer = torch.optim.SGD(part.parameters(), lr=args.lr)
    else:  # as pgc's runtime builds it: fused on a GPU, the per-parameter loop on the CPU
        opt = torch.optim.AdamW(part.parameters(), lr=args.lr, weight_decay=0.0, foreach=False,
                                fused=gpu or None)
    g = torch.Generator().manual_seed(args.seed)
    times: list[float] = []
    losses: list[float] = []
    for step in range(args.steps):
        t0 = time.perf_counter()
        mb_losses: list[torch.Tensor] = []
        data = batches(args, g, step) if first or last else None
        if first:
            assert data is not None
            schedule.step(data[:, :-1].contiguous().to(device), **extra)
        elif last:
            assert data is not None
            schedule.step(target=data[:, 1:].contiguous().to(device), losses=mb_losses, **extra)
        else:
            schedule.step(**extra)
        if not times:
            # The comparison is void unless every stage really ran its backward (in torch 2.13 a
            # rank built without loss_fn silently skips it).
            missing = [n for n, q in part.named_parameters() if q.grad is None or not q.grad.any()]
            assert not missing, f"rank {rank}: no gradient for {missing[:3]}"
        opt.step()
        opt.zero_grad()
        if gpu:
            torch.cuda.synchronize()
        dist.barrier()
        times.append(time.perf_counter() - t0)
        if last:
            losses.append(sum(float(x.detach()) for x in mb_losses) / len(mb_losses))
    if last:
        print(json.dumps({"times": times, "losses": losses}), flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
