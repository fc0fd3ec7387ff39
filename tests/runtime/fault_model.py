"""A small LM whose block `fault_layer` calls `tripwire`, a function the trace keeps as a call
(torch.fx.wrap), so the generated stage code calls this module at run time: with
PGC_TEST_FAULT_AT=N in the environment, its N-th call in a process raises, like a bug in a
user's model would (and, with PGC_TEST_FAULT_STAMP=FILE, writes the time it raised there)."""

from __future__ import annotations

import os
import time

import torch
import torch.fx
from torch import nn

CALLS = [0]


def tripwire(x: torch.Tensor) -> torch.Tensor:
    CALLS[0] += 1
    if os.environ.get("PGC_TEST_FAULT_AT") == str(CALLS[0]):
        stamp = os.environ.get("PGC_TEST_FAULT_STAMP")
        if stamp:
            with open(stamp, "w") as f:
                f.write(repr(time.time()))
        raise RuntimeError(f"injected fault at call {CALLS[0]}")
    return x


torch.fx.wrap("tripwire")


class Block(nn.Module):
    def __init__(self, dim: int, fault: bool) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.fault = fault

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x + self.ff(self.norm(x))
        return tripwire(h) if self.fault else h


class Model(nn.Module):
    def __init__(self, vocab: int, dim: int, layers: int, fault_layer: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.layers = nn.ModuleList(Block(dim, i == fault_layer) for i in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab, bias=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(ids)
        for layer in self.layers:
            x = layer(x)
        return self.head(self.norm(x))


def build(vocab: int = 64, dim: int = 16, layers: int = 4, fault_layer: int = 2) -> Model:
    return Model(vocab, dim, layers, fault_layer)
