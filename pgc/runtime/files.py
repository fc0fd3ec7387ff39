"""Files the runtime reads and writes safely: hashes, and loads that never run code."""

from __future__ import annotations

import hashlib
import json
import pickle
from collections.abc import Collection
from pathlib import Path
from typing import Any

import torch

from .plan import PlanError


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def safe_load(path: Path, mmap: bool = False) -> Any:
    """torch.load restricted to tensors and plain containers: a file holding pickled code is
    refused instead of executed. `mmap`: tensors stay in the file until read (a file in torch's
    legacy format, which cannot be mapped, is read whole instead)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except RuntimeError as exc:
        if mmap and "mmap can only be used" in str(exc):
            return safe_load(path)
        raise _refused(path, exc) from exc
    except (pickle.UnpicklingError, AttributeError) as exc:
        raise _refused(path, exc) from exc
    except (OSError, EOFError) as exc:
        raise PlanError(f"{path}: cannot read: {exc}") from exc


def _refused(path: Path, exc: Exception) -> PlanError:
    return PlanError(
        f"{path}: refused: not a plain tensor file (weights_only loading failed: "
        f"{str(exc).splitlines()[0]})"
    )




def load_weights(path: Path, names: Collection[str]) -> Any:
    """`--init-from`: a torch state_dict file, a `.safetensors` file, or a transformers
    `save_pretrained` folder (its `model.safetensors`, or the shards its index names). The keys
    of a transformers model that `names` (the model's state_dict keys) wrap under a prefix get
    that prefix. safetensors is imported only here, so a run without it needs torch alone."""
    if path.is_dir():
        index = path / "model.safetensors.index.json"
        if index.exists():
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            files = [path / f for f in shards]
        else:
            files = [path / "model.safetensors"]
    elif path.suffix == ".safetensors":
        files = [path]
    else:
        return safe_load(path, mmap=True)
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise PlanError(f"{path}: reading safetensors needs the `safetensors` package "
                        "(pip install safetensors)") from None
    state: dict[str, torch.Tensor] = {}
    for f in files:
        if not f.exists():
            raise PlanError(f"{f}: not found (a save_pretrained folder holds model.safetensors)")
        try:
            state.update(load_file(str(f)))
        except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
            raise PlanError(f"{f}: not a safetensors file ({str(exc).splitlines()[0]})") from exc
    return with_prefix(state, names)


def with_prefix(state: dict[str, torch.Tensor], names: Collection[str]) -> dict[str, torch.Tensor]:
    """`state` keyed as the model's own names: unchanged when a key is one of `names`, else
    each key prefixed with the one prefix that makes its first key a name (a wrapper's
    attribute holding the transformers model), when there is exactly one."""
    if not state or any(k in names for k in state):
        return state
    first = next(iter(state))
    prefixes = {n[: -len(first)] for n in names if n.endswith("." + first)}
    if len(prefixes) != 1:
        return state
    prefix = prefixes.pop()
    return {prefix + k: v for k, v in state.items()}
