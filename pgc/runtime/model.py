"""The user's model on one worker: import its factory, build only this worker's stage.

The model's module is imported from the import root: `--import-root DIR`, else the
environment's `PGC_IMPORT_ROOT`, else the plan's `model.import_root` (relative to the plan's
folder), else `sys.path` as it is (an installed package). No path of the compiling machine is
ever used, so a compiled folder can be copied to other hosts.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from .files import load_weights
from .init_replay import (
    _Recorder,
    build_full,
    first_line,
    load_parameters,
    registration_indices,
    replay_build,
)
from .memory import GLIBC_MMAP_THRESHOLD_MAX, set_mmap_threshold
from .plan import Plan, PlanError

StageClass = Callable[[torch.nn.Module], torch.nn.Module]
IMPORT_ROOT_ENV = "PGC_IMPORT_ROOT"


def import_root(plan: Plan, given: str | None) -> Path | None:
    """Where the model's module imports from (see the module docstring); None: sys.path."""
    if given:
        return Path(given).resolve()
    if os.environ.get(IMPORT_ROOT_ENV):
        return Path(os.environ[IMPORT_ROOT_ENV]).resolve()
    if plan.model.import_root is not None:
        return (plan.folder / plan.model.import_root).resolve()
    return None


def import_factory(plan: Plan, given_root: str | None = None) -> Callable[..., torch.nn.Module]:
    """The model factory `module:function` named by the plan."""
    root = import_root(plan, given_root)
    if root is not None and str(root) not in sys.path:
        sys.path.insert(0, str(root))
    module_name, _, func = plan.model.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        where = f"under {root}" if root is not None else "on sys.path"
        raise PlanError(
            f"cannot import the model module `{module_name}` {where} ({exc}); give the folder "
            f"it imports from with --import-root DIR or {IMPORT_ROOT_ENV}=DIR"
        ) from None
    factory = getattr(module, func, None)
    if not callable(factory):
        raise PlanError(f"the model module `{module_name}` has no function `{func}`")
    return factory  # type: ignore[no-any-return]


@contextlib.contextmanager
def _freed_memory_returns() -> Any:
    """While building, large blocks are mapped (so a freed transient parameter or scratch
    tensor goes back to the system at once): with glibc's dynamic threshold, they land on the
    heap once a large block has been freed, and the replay's alternation of freed transients
    and kept parameters then fragments it (measured: peak RSS 5x higher). Afterwards the
    threshold is fixed at glibc's dynamic maximum, the value training reaches anyway
    (`--return-freed` then lowers it: `pgc.runtime.memory`)."""
    if not set_mmap_threshold(1 << 20):  # not glibc: nothing to tune
        yield
        return
    try:
        yield
    finally:
        set_mmap_threshold(GLIBC_MMAP_THRESHOLD_MAX)


class ModelBuilder:
    """Builds this worker's part of the model from the plan and the generated stage classes."""

    def __init__(self, plan: Plan, classes: Mapping[str, StageClass],
                 root: str | None = None) -> None:
        self.plan, self.classes, self.root = plan, classes, root

    def factory(self) -> Callable[..., torch.nn.Module]:
        return import_factory(self.plan, self.root)

    def worker_model(self, names: list[str], init_from: str | None) -> torch.nn.Module:
        """The model as this worker holds it: the parameters the segments `names` read are
        real (on the CPU), every other one stays on meta; equal to the full build's. In the
        full-build mode, or when the replay fails here, the whole model is built (the same
        values)."""
        with _freed_memory_returns():
            return self._worker_model(names, init_from)

    def _worker_model(self, names: list[str], init_from: str | None) -> torch.nn.Module:
        factory, args = self.factory(), self.plan.model.args
        seed, mode = self.plan.train.seed, self.plan.model.init
        # a file to start from needs only the all-meta build, whenever its buffers are the full's
        skeleton = init_from and self.plan.model.skeleton
        model: torch.nn.Module | None = None
        if mode == "replay" or skeleton:
            try:
                model, first = replay_build(factory, args, seed)
                if mode == "replay" and not init_from:
                    own = [p for n in names for p in self.classes[n](model).parameters()]
                    keep = registration_indices(first, own)
                    del own
                    model = None  # the all-meta build is not needed past its record
                    model = self._replay_own(factory, first, keep, names)
            except Exception as exc:  # noqa: BLE001 - the full build gives the same values
                print(f"pgc: init: the replay failed on this worker ({first_line(exc)}); "
                      "building the whole model instead (the same values)", flush=True)
                model = None
        if model is None:
            model = build_full(factory, args, seed)
        if init_from:
            probe = [self.classes[n](model) for n in names]  # adopts the parameters it reads
            wanted = {id(p) for seg in probe for p in seg.parameters()}
            buffers = {k for seg in probe for k, b in seg.state_dict(keep_vars=True).items()
                       if not isinstance(b, torch.nn.Parameter)}
            del probe
            state = load_weights(Path(init_from), model.state_dict(keep_vars=True).keys())
            load_parameters(model, wanted, buffers, state, init_from)
        return model

    def _replay_own(self, factory: Callable[..., torch.nn.Module], first: _Recorder,
                    keep: frozenset[int], names: list[str]) -> torch.nn.Module:
        """The replay build holding the parameters of registration indices `keep` (those of
        the segments `names` on the all-meta build `first`) real; raises if the model does not
        replay the same way on this worker."""
        model, rec = replay_build(factory, self.plan.model.args, self.plan.train.seed, keep)
        if rec.specs != first.specs:
            raise RuntimeError("the model registers different parameters when built again")
        for n in names:
            for pname, p in self.classes[n](model).named_parameters():
                if p.is_meta:
                    raise RuntimeError(f"{pname} stays on meta when replayed")
        return model

    def segments(self, names: list[str], init_from: str | None,
                 device: torch.device) -> dict[str, torch.nn.Module]:
        """This worker's segment modules on `device`, holding its own parameters, in train mode
        (whatever mode the factory left them in); afterwards the global RNG is seeded with the
        plan's seed on every worker."""
        model = self.worker_model(names, init_from)
        segments = {n: self.classes[n](model).to(device).train() for n in names}
        torch.manual_seed(self.plan.train.seed)
        return segments


def init_description(plan: Plan, init_from: str | None) -> str:
    """How this run's initial state is made (printed at start-up)."""
    seed = plan.train.seed
    if init_from:
        return f"init: from {init_from} (each worker reads its own tensors)"
    if plan.model.init == "full-build":
        return f"init: full build under seed {seed} ({plan.model.init_reason})"
    return (f"init: replay under seed {seed} (each worker materialises only its own "
            "parameters, equal to the full build's)")


def named_tensors(segments: Mapping[str, torch.nn.Module]) -> dict[str, torch.Tensor]:
    """Parameters and buffers of this worker under the model's names, each object once (a
    tensor two segments know by different names, a tied weight, keeps its first name)."""
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for seg in segments.values():
        for name, t in seg.state_dict(keep_vars=True).items():
            if id(t) not in seen:
                seen.add(id(t))
                out[name] = t
    return out


def named_params(segments: Mapping[str, torch.nn.Module]) -> dict[str, torch.nn.Parameter]:
    return {n: t for n, t in named_tensors(segments).items()
            if isinstance(t, torch.nn.Parameter)}
