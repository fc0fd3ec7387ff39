"""Models with the initialisation habits real models have, for the runtime's init modes
(docs/CONTRACTS.md "Initial state"): each one either replays exactly per worker or is reported
as full-build at compile time with the reason."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.init import orthogonal_ as bound_orthogonal_  # bound at import: pgc cannot see it


class Gated(nn.Module):
    """A residual block: a bare random parameter (`scale`) next to its Linear, and a
    non-persistent random buffer (not in the state_dict, so never in an --init-from file)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.rand(dim))
        self.proj = nn.Linear(dim, dim)
        self.register_buffer("noise", torch.randn(dim) * 0.01, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.tanh(self.proj(x)) * self.scale + self.noise


class WithReference(Gated):
    """Keeps a buffer computed from its parameter (it stays on meta when the parameter is)."""

    def __init__(self, dim: int) -> None:
        super().__init__(dim)
        self.register_buffer("ref", self.proj.weight.detach().mean(0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.tanh(self.proj(x) - self.ref) * self.scale


class BoundInit(Gated):
    """Initialises through a torch.nn.init function bound at import time: on a meta tensor it
    draws nothing, so a replay would shift every later parameter."""

    def __init__(self, dim: int) -> None:
        super().__init__(dim)
        bound_orthogonal_(self.proj.weight)


class CopiesEmbedding(nn.Module):
    """The head starts as a copy of the embedding's values (reads another parameter)."""

    def __init__(self, vocab: int, dim: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.head = nn.Linear(dim, vocab, bias=False)
        with torch.no_grad():
            self.head.weight.copy_(self.embed.weight)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(input_ids))


BLOCKS: dict[str, type[Gated]] = {"plain": Gated, "buffer": WithReference, "bound": BoundInit}


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


def build(vocab: int = 32, dim: int = 16, layers: int = 2, kind: str = "plain") -> Toy:
    """`kind`: "plain" (replays), "buffer" (a buffer computed from a parameter) or "bound" (an
    init function pgc does not see): the last two compile to full-build."""
    return Toy(vocab, dim, layers, BLOCKS[kind])


# ---------------------------------------------------------------- the reviewer's habits
class Base(nn.Module):
    """embed -> layers -> head, the shape every model below shares."""

    def __init__(self, vocab: int = 48, dim: int = 16, layers: int = 3, tied: bool = False) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.layers = nn.ModuleList(Mlp(dim) for _ in range(layers))
        self.head = nn.Linear(dim, vocab, bias=False)
        if tied:
            self.head.weight = self.embed.weight

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(input_ids)
        for layer in self.layers:
            x = x + layer(x)
        return self.head(x)


class Mlp(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.c_fc = nn.Linear(dim, 4 * dim)
        self.c_proj = nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(torch.relu(self.c_fc(x)))


class NanoGPT(Base):
    """nanoGPT: apply(_init_weights), then the residual projections scaled by depth."""

    def __init__(self) -> None:
        super().__init__(tied=True)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * len(self.layers)))

    def _init_weights(self, m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)


class MulData(Base):
    """An in-place rescale through `.data` in __init__."""

    def __init__(self) -> None:
        super().__init__()
        self.head.weight.data.mul_(0.1)
        self.layers[1].c_fc.bias.data.zero_()


class InitLoop(Base):
    """A model-level loop over named_parameters (the tied weight is visited once)."""

    def __init__(self) -> None:
        super().__init__(tied=True)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02 if "embed" in name else 1.0 / math.sqrt(16))


class PlainTied(Base):
    """A tied LM with no initialisation of its own (the embedding's N(0, 1) wins in torch)."""

    def __init__(self) -> None:
        super().__init__(tied=True)


class Inits(Base):
    """orthogonal_, trunc_normal_, and a parameter made by torch.randn."""

    def __init__(self) -> None:
        super().__init__()
        nn.init.orthogonal_(self.layers[0].c_fc.weight)
        nn.init.trunc_normal_(self.layers[2].c_proj.weight, std=0.02, a=-0.04, b=0.04)
        self.gain = nn.Parameter(torch.randn(16))

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return super().forward(input_ids) * self.gain.mean()


class ReadsValue(Base):
    """Reads a parameter's value while building (`.item()`)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = float(self.head.weight.abs().max().item())


class WeightNormed(Base):
    """A weight-norm parametrization: its parameters are computed from the Linear's weight."""

    def __init__(self) -> None:
        super().__init__()
        self.layers[0].c_fc = nn.utils.parametrizations.weight_norm(nn.Linear(16, 64))


class BoundOnly(Base):
    """An init function bound at import time, no buffers: the replay's own check finds it."""

    def __init__(self) -> None:
        super().__init__()
        bound_orthogonal_(self.layers[0].c_fc.weight)
        self.embed.reset_parameters()  # drawn after it: shifted on a worker without c_fc


def copies_embedding() -> CopiesEmbedding:
    return CopiesEmbedding(32, 16)
