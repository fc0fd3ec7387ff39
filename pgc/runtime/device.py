"""Which device and process-group backend a worker uses (`--device`, `--backend`).

Automatic choice: CUDA when torch sees a GPU, else the CPU; nccl when this host has a GPU for
each of its workers, else gloo. Workers of one host then take GPU `local rank mod GPU count`,
so several workers may share one GPU through gloo: gloo's point-to-point calls take host
tensors, so the transport stages each message through pinned host memory (a one-GPU machine
rehearses any plan). nccl needs one GPU per worker: asking for it with fewer GPUs than local
workers is refused, naming both counts and the way out. The choice is printed at start-up.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from .plan import PlanError


@dataclass(frozen=True)
class Placement:
    """One worker's device and backend."""

    device: torch.device
    backend: str  # gloo | nccl
    staged: bool  # a GPU worker on gloo: messages go through pinned host memory

    @property
    def stream_ordered(self) -> bool:
        """nccl on a GPU: a wait for a transfer orders the current CUDA stream after it and
        returns; the host goes on queueing work (see `transport.Transport.stream_ordered`)."""
        return self.device.type == "cuda" and self.backend == "nccl"

    def describe(self) -> str:
        how = " (messages staged through pinned host memory)" if self.staged else ""
        return f"device {self.device}, backend {self.backend}{how}"


def choose(device: str | None, backend: str | None, local_rank: int, local_workers: int,
           cuda: bool, gpus: int) -> Placement:
    """The device and backend of local worker `local_rank` of `local_workers` on a host where
    CUDA is (`cuda`) or is not available with `gpus` GPUs; `device` and `backend` are the
    flags (None: automatic)."""
    kind = device or ("cuda" if cuda and gpus > 0 else "cpu")
    if kind == "cuda" and not (cuda and gpus > 0):
        raise PlanError("--device cuda: this host has no GPU that torch can use "
                        f"(torch {torch.__version__}); run with --device cpu")
    if backend == "nccl" and kind == "cpu":
        raise PlanError("--backend nccl runs on GPUs only; with --device cpu use --backend gloo")
    if kind == "cuda" and backend == "nccl" and gpus < local_workers:
        raise PlanError(
            f"--backend nccl needs one GPU per worker, but this host runs {local_workers} "
            f"workers and has {gpus} GPU{'s' if gpus != 1 else ''}; use --backend gloo to "
            "share the GPUs (messages go through pinned host memory), or start at most "
            f"{gpus} worker{'s' if gpus != 1 else ''} per host")
    chosen = backend or ("nccl" if kind == "cuda" and gpus >= local_workers else "gloo")
    if kind == "cpu":
        return Placement(torch.device("cpu"), chosen, False)
    return Placement(torch.device("cuda", local_rank % gpus), chosen, chosen == "gloo")


def placement(device: str | None, backend: str | None) -> Placement:
    """`choose` for this process, from torchrun's environment and what torch sees."""
    cuda = torch.cuda.is_available()
    return choose(device, backend, int(os.environ.get("LOCAL_RANK", 0)),
                  int(os.environ.get("LOCAL_WORLD_SIZE", 1)), cuda,
                  torch.cuda.device_count() if cuda else 0)

