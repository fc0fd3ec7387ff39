"""Models whose modules cannot all initialise themselves (the runtime's init modes)."""

from __future__ import annotations

import torch
from torch import nn


class Gated(nn.Module):
    """A residual block holding a bare parameter (`scale`) next to its Linear."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.rand(dim))
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.tanh(self.proj(x)) * self.scale


class Forgetful(Gated):
    """Has reset_parameters(), but it leaves `scale` unset."""

    def reset_parameters(self) -> None:
        pass


class Toy(nn.Module):
    def __init__(self, vocab: int, dim: int, layers: int, block: type[Gated]) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.layers = nn.ModuleList(block(dim) for _ in range(layers))
        self.head = nn.Linear(dim, vocab)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(input_ids)
        for layer in self.layers:
            x = layer(x)
        return self.head(x)


def build(vocab: int = 32, dim: int = 16, layers: int = 2, forgetful: bool = False) -> Toy:
    """Without reset_parameters() (pgc falls back to a full build), or with one that forgets a
    parameter (pgc refuses to start from the NaN it would leave)."""
    return Toy(vocab, dim, layers, Forgetful if forgetful else Gated)
