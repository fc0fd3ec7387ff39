"""Randomness in training (dropout and any other random op in a stage's forward).

Every forward of segment `segment` for microbatch `mb` in iteration `step` draws from the global
generator seeded with

    forward_seed(seed, step, mb, segment) = first 8 bytes (little-endian) of
        sha256(f"{seed}/{step}/{mb}/{segment}") with the top bit cleared

where `seed` is the plan's training seed. The seed does not depend on which worker or replica
runs the forward, so replicas stay consistent and a single-process reference reproduces every
dropout mask by wrapping each segment call in `forward_rng` with the same arguments. The state of
the global generator outside the forward is left as it was. Evaluation runs the segments in eval
mode, where dropout draws nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator

import torch


def forward_seed(seed: int, step: int, mb: int, segment: str) -> int:
    """The seed of one forward (see the module docstring)."""
    digest = hashlib.sha256(f"{seed}/{step}/{mb}/{segment}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


@contextlib.contextmanager
def forward_rng(seed: int, step: int, mb: int, segment: str,
                device: torch.device | None = None) -> Iterator[None]:
    """Run the body with the global generators (CPU, and `device` when it is a GPU) seeded by
    `forward_seed`; their previous states come back afterwards."""
    devices = [device] if device is not None and device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(forward_seed(seed, step, mb, segment))
        yield
