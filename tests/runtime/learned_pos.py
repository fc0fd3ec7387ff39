"""A small decoder whose learned positions are a parameter of the model itself
(`self.pos = nn.Parameter(...)`, read as `self.pos[:T]`), which refuses sequences longer than
`max_seq`, and which may drop out (`dropout > 0`) in its blocks."""

from __future__ import annotations

import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, dim: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.drop(self.ff(self.norm(x)))


class LearnedPos(nn.Module):
    def __init__(self, vocab: int, dim: int, layers: int, max_seq: int, dropout: float) -> None:
        super().__init__()
        self.max_seq = max_seq
        self.embed = nn.Embedding(vocab, dim)
        self.pos = nn.Parameter(torch.randn(max_seq, dim) * 0.02)
        self.layers = nn.ModuleList(Block(dim, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab, bias=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1]
        torch._assert(t <= self.max_seq, "sequence longer than max_seq")
        x = self.embed(ids) + self.pos[:t]
        for layer in self.layers:
            x = layer(x)
        return self.head(self.norm(x))


def build(vocab: int = 64, dim: int = 16, layers: int = 4, max_seq: int = 8,
          dropout: float = 0.0) -> LearnedPos:
    return LearnedPos(vocab, dim, layers, max_seq, dropout)
