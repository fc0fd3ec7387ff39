"""Files the runtime reads and writes safely: hashes, and loads that never run code."""

from __future__ import annotations

import hashlib
import pickle
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


