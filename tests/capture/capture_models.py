"""Small models that exercise the cut analysis's corner cases (symbolically traceable)."""

from __future__ import annotations

import torch
import torch.fx
from torch import nn


class Block(nn.Module):
    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.proj = nn.Linear(d_in, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.proj(x))


class Residual(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.proj = nn.Linear(d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.tanh(self.proj(x))


class UNet(nn.Module):
    """The embedding output is added back after the last block: a long skip connection that
    crosses every boundary on the way."""

    def __init__(self, vocab: int = 32, dim: int = 16, layers: int = 4) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.layers = nn.ModuleList(Residual(dim) for _ in range(layers))
        self.head = nn.Linear(dim, vocab)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        x0 = self.embed(input_ids)
        x = x0
        for layer in self.layers:
            x = layer(x)
        return self.head(x + x0)


class Widen(nn.Module):
    """Block 2 widens the residual: stages holding it change the boundary signature."""

    def __init__(self, vocab: int = 32, dim: int = 16, layers: int = 4) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        widths = [dim] * 3 + [dim * 2] * (layers - 2)
        self.layers = nn.ModuleList(Block(widths[i], widths[i + 1]) for i in range(layers))
        self.head = nn.Linear(widths[-1], vocab)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(input_ids)
        for layer in self.layers:
            x = layer(x)
        return self.head(x)


@torch.fx.wrap
def stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x.mean(-1, keepdim=True), x.std(-1, keepdim=True)


class Norm(nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        return x, stats(x)


class Rescale(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.proj = nn.Linear(d, d)

    def forward(self, x: torch.Tensor, moments: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return self.proj((x - moments[0]) / moments[1])


class Pairs(nn.Module):
    """`stem` returns a Python tuple that a later block unpacks: not a tensor, cannot cross."""

    def __init__(self, vocab: int = 32, dim: int = 16) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.stem = Norm()
        self.layers = nn.ModuleList([Residual(dim), Rescale(dim)])
        self.head = nn.Linear(dim, vocab)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        x, moments = self.stem(self.embed(input_ids))
        x = self.layers[0](x)
        return self.head(self.layers[1](x, moments))


def unet(**kw: int) -> UNet:
    return UNet(**kw)


def widen(**kw: int) -> Widen:
    return Widen(**kw)


def pairs(**kw: int) -> Pairs:
    return Pairs(**kw)


class Scaled(nn.Module):
    """The head divides by sqrt of the embedding width, read from the embedding's weight (a
    parameter of another stage): only its shape is needed, never the tensor."""

    def __init__(self, vocab: int = 32, dim: int = 16) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.layers = nn.ModuleList(Residual(dim) for _ in range(2))
        self.head = nn.Linear(dim, vocab)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(input_ids)
        for layer in self.layers:
            x = layer(x)
        return self.head(x) / self.embed.weight.shape[1] ** 0.5


def scaled(**kw: int) -> Scaled:
    return Scaled(**kw)


class SkipOver(nn.Module):
    """Block 0's output is added back after block 2: the stage holding block 1 carries it
    (changing its signature) and the stage holding block 2 consumes it."""

    def __init__(self, vocab: int = 32, dim: int = 16) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.layers = nn.ModuleList(Residual(dim) for _ in range(4))
        self.head = nn.Linear(dim, vocab)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        x1 = self.layers[0](self.embed(input_ids))
        x3 = self.layers[2](self.layers[1](x1)) + x1
        return self.head(self.layers[3](x3))


def skip_over(**kw: int) -> SkipOver:
    return SkipOver(**kw)


class FunctionalDropout(nn.Module):
    """Dropout written as `F.dropout(..., training=self.training)`: tracing sees a flag, not a
    module, so capture must keep it following the running module's mode."""

    def __init__(self, vocab: int = 32, dim: int = 16) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.layers = nn.ModuleList(nn.Linear(dim, dim) for _ in range(2))
        self.head = nn.Linear(dim, vocab)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        x = torch.nn.functional.dropout(self.embed(input_ids), 0.25, self.training)
        for layer in self.layers:
            x = x + torch.nn.functional.dropout(layer(x), p=0.5, training=self.training)
        return self.head(x)


def functional_dropout(**kw: int) -> FunctionalDropout:
    return FunctionalDropout(**kw)
