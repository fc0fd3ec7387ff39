"""The data order: a documented function (seed, step, origin, microbatch) -> samples.

    batch(plan, source, step, origin, mb, split) -> (input_ids, labels), both [B, T] int64.

Microbatch `mb` (global number in 0..M-1) of iteration `step` draws B windows of T + 1 tokens.
Window i starts at an offset drawn from a `torch.Generator` seeded with
`sample_seed(seed, step, mb) = (seed * 1_000_003 + step * 10_007 + mb) mod (2^63 - 1)`, where
`seed` is the plan's data seed, plus 7919 for the validation split. Synthetic data generates the
window's tokens from that generator instead (`synthetic`). `origin` (index of the microbatch's
origin worker in the plan's `data.origins`) is part of the signature for sources sharded per
origin; the built-in sources do not depend on it, so a plan with other placements sees the same
batches. Any reference can reproduce the batches from this docstring alone. `source` holds the
file tokens (`Source`: the train part, and the `val` file or the held-out tail as the validation
split); synthetic data needs none.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .plan import Plan, PlanError

VAL_SEED_OFFSET = 7919


def generator(seed: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def sample_seed(seed: int, step: int, mb: int) -> int:
    return (seed * 1_000_003 + step * 10_007 + mb) % (2**63 - 1)


def synthetic(g: torch.Generator, rows: int, length: int, vocab: int, seed: int) -> torch.Tensor:
    """Learnable synthetic tokens: each sequence follows one of four fixed successor tables
    (table k is `randperm(vocab)` under seed `seed * 31 + k`), chosen by its first token (drawn
    from `g`) modulo 4, so the next token is predictable."""
    tables = torch.stack([torch.randperm(vocab, generator=generator(seed * 31 + k))
                          for k in range(4)])
    out = torch.empty(rows, length, dtype=torch.int64)
    out[:, 0] = torch.randint(vocab, (rows,), generator=g)
    which = out[:, 0] % 4
    for t in range(1, length):
        out[:, t] = tables[which, out[:, t - 1]]
    return out


WIDTHS = {"uint16": 2, "uint32": 4}  # bytes per token of a token file


class Source:
    """The token stream of a plan's data source, split into train and validation parts: text
    files as bytes (vocabulary 256), or a nanoGPT-style token file memory-mapped.

    The data's paths are the plan's (`pgc compile` writes them relative to the compiled folder,
    from paths relative to the spec's folder) or the run's `--data` / `--val-data` (relative to
    the current folder). With a `val` source the validation part is that file; without one it
    is the last `val_fraction` (default 0.1) of the data. `check()` refuses data the model
    cannot train on, before any training."""

    def __init__(self, plan: Plan, data: str | None = None, val: str | None = None) -> None:
        self.plan = plan
        args = plan.train.data_args
        given = data or args.get("files") or args.get("path")
        self.train_paths = [self._where(p, data is not None) for p in _listed(given)]
        val_given = val or args.get("val")
        self.val_paths = [self._where(p, val is not None) for p in _listed(val_given)]
        self._parts: dict[str, torch.Tensor] = {}

    def _where(self, path: object, from_command_line: bool) -> Path:
        p = Path(str(path))
        return p if p.is_absolute() or from_command_line else self.plan.folder / p

    def part(self, split: str) -> torch.Tensor:
        """The train or val tokens; PlanError when a part holds less than one window."""
        if not self._parts:
            data = self._read(self.train_paths)
            if self.val_paths:
                self._parts = {"train": data, "val": self._read(self.val_paths)}
            else:
                frac = float(self.plan.train.data_args.get("val_fraction", 0.1))
                cut = int(len(data) * (1.0 - frac))
                self._parts = {"train": data[:cut], "val": data[cut:]}
            for name, part in self._parts.items():
                if len(part) < self.plan.seq_len + 2:
                    raise PlanError(
                        f"the {name} part of the data has {len(part)} tokens, fewer than one "
                        f"window of seq + 1 = {self.plan.seq_len + 1} (and a start to draw); "
                        "give more data or a smaller `val_fraction`")
        return self._parts[split]

    def _read(self, paths: list[Path]) -> torch.Tensor:
        kind, args = self.plan.train.data, self.plan.train.data_args
        try:
            if kind == "text":
                raw = b"".join(_read_text(p) for p in paths)
                return torch.frombuffer(bytearray(raw), dtype=torch.uint8) if raw else \
                    torch.zeros(0, dtype=torch.uint8)
            if kind == "tokens":
                return _read_tokens(paths[0], str(args.get("dtype", "uint16")))
        except OSError as exc:
            raise PlanError(f"cannot read the data `{exc.filename}`: {exc.strerror}") from None
        raise PlanError(f"unknown data source `{kind}` (synthetic, text, tokens)")

    def check(self) -> None:
        """Refuse, naming the file, data that is missing, of a size its dtype does not divide,
        too short for a window, or holding a token id the model's vocabulary lacks."""
        dtype = str(self.plan.train.data_args.get("dtype", "uint16"))
        if self.plan.train.data == "tokens" and dtype not in WIDTHS:
            raise PlanError(f"tokens: dtype `{dtype}` is not one of {sorted(WIDTHS)}")
        for paths in (self.train_paths, self.val_paths):
            for p in paths:
                if not p.exists():
                    raise PlanError(f"data file {p} does not exist (paths in the spec are "
                                    "relative to the spec's folder; --data overrides it)")
            if paths:
                name = paths[0] if len(paths) == 1 else f"{paths[0]} (and {len(paths) - 1} more)"
                width = WIDTHS[dtype] if self.plan.train.data == "tokens" else 1
                check_tokens(self._read(paths), self.plan.vocab, name, width)
        self.part("train")


def check_tokens(tokens: torch.Tensor, vocab: int, name: object, width: int) -> None:
    """Every token id < `vocab`; else a PlanError naming the file, the first bad id's byte
    offset and its value."""
    chunk = 1 << 24
    for lo in range(0, len(tokens), chunk):
        bad = (tokens[lo : lo + chunk].to(torch.int64) >= vocab).nonzero()
        if len(bad):
            i = lo + int(bad[0])
            raise PlanError(f"{name}: token id {int(tokens[i])} at byte offset {i * width} "
                            f"(token {i}) is not below the model's vocabulary size {vocab}")


def _listed(given: object) -> list[object]:
    if given is None:
        return []
    return [given] if isinstance(given, str) else list(given)  # type: ignore[call-overload]


def _read_text(path: Path) -> bytes:
    if path.is_dir():
        return b"".join(p.read_bytes() for p in sorted(path.rglob("*.py")))
    return path.read_bytes()


def _read_tokens(path: Path, dtype: str) -> torch.Tensor:
    """A nanoGPT-style token file, memory-mapped; its size must be whole tokens."""
    width = 4 if dtype == "uint32" else 2
    size = os.path.getsize(path)
    if size % width:
        raise PlanError(f"the token file `{path}` has {size} bytes, not a whole number of "
                        f"{dtype} tokens ({width} bytes each): is `dtype` right?")
    return torch.from_file(str(path), shared=False, size=size // width,
                           dtype=torch.uint32 if width == 4 else torch.uint16)


def batch(plan: Plan, source: Source | None, step: int, origin: int, mb: int,
          split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """Microbatch `mb` of iteration `step` (see the module docstring): (input_ids, labels)."""
    del origin  # the built-in sources are not sharded per origin
    rows, length = plan.microbatch_size, plan.seq_len
    seed = plan.train.data_seed
    g = generator(sample_seed(seed + (VAL_SEED_OFFSET if split == "val" else 0), step, mb))
    if plan.train.data == "synthetic":
        vocab = int(plan.train.data_args.get("vocab", plan.vocab))
        windows = synthetic(g, rows, length + 1, vocab, seed)
    else:
        if source is None:
            raise PlanError("a file data source needs its `Source`")
        data = source.part(split)
        starts = torch.randint(len(data) - length - 1, (rows,), generator=g).tolist()
        windows = torch.stack([data[s : s + length + 1].to(torch.int64) for s in starts])
    return windows[:, :-1].contiguous(), windows[:, 1:].contiguous()
