"""Initial state by replaying the model's own constructor (docs/CONTRACTS.md "Initial state").

Every worker's own parameters are exactly
those of `torch.manual_seed(seed); factory(**args)`, the model's own initialisation whatever
it is, while only they are ever materialised. The mechanism replays the constructor: a first
build puts every parameter on the meta device as it is registered and records the distinct
parameters in registration order; a second build under the same seed keeps the wanted ones
real. Random numbers are drawn in both exactly as in a full build, because every seeded op
aimed at a meta tensor runs once on a scratch CPU tensor of the same shape (`_ReplayMode`, and
`torch.nn.init`'s functions, which return early on meta tensors). Only the building thread
is affected. `init_mode` checks at compile time that a model replays exactly; if not, the
script builds the whole model and keeps its own part (the same values, more memory).
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Callable
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map

from .plan import PlanError

_BUILD = threading.local()  # .stack: this thread's active `_Recorder`s (innermost last)
_PATCH_LOCK = threading.Lock()
_PATCH: dict[str, Any] = {"count": 0, "originals": {}}
# torch.nn.init functions that draw random numbers; some return early on a meta tensor
_RANDOM_INITS = ("uniform_", "normal_", "trunc_normal_", "xavier_uniform_", "xavier_normal_",
                 "kaiming_uniform_", "kaiming_normal_", "orthogonal_", "sparse_")
VERIFY_LIMIT = 2 << 30  # bytes of parameters above which `init_mode` does not build 3 models


def _recorder() -> _Recorder | None:
    stack = getattr(_BUILD, "stack", None)
    return stack[-1] if stack else None


def _scratch(t: torch.Tensor) -> torch.Tensor:
    """A CPU tensor shaped like the meta `t` (zeros: an op reading it gets sane values)."""
    return torch.zeros(t.shape, dtype=t.dtype)


class _ReplayMode(TorchDispatchMode):
    """Runs each random op whose tensors (or `device=`) are on meta once more on scratch CPU
    tensors, so it consumes the global generator as it would on real tensors."""

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if torch.Tag.nondeterministic_seeded in func.tags:
            found: list[object] = []

            def real(x: Any) -> Any:
                if isinstance(x, torch.Tensor) and x.is_meta:
                    found.append(x)
                    return _scratch(x)
                if isinstance(x, torch.device) and x.type == "meta":
                    found.append(x)
                    return torch.device("cpu")
                return x

            scratch_args, scratch_kwargs = tree_map(real, (args, kwargs))
            if found:
                func(*scratch_args, **scratch_kwargs)
        return func(*args, **kwargs)


def _register(original: Callable[..., None]) -> Callable[..., None]:
    def register_parameter(module: torch.nn.Module, name: str, param: Any) -> None:
        rec = _recorder()
        if rec is not None and isinstance(param, torch.nn.Parameter):
            param = rec.place(param)
        original(module, name, param)

    return register_parameter


def _random_init(original: Callable[..., Any]) -> Callable[..., Any]:
    def init(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        if _recorder() is None or not (isinstance(tensor, torch.Tensor) and tensor.is_meta):
            return original(tensor, *args, **kwargs)
        with torch.no_grad():
            original(_scratch(tensor), *args, **kwargs)  # the draws a real tensor would take
        return tensor

    init.__wrapped__ = original  # type: ignore[attr-defined]
    return init


def _install() -> None:
    """Wrap `Module.register_parameter` and torch.nn.init's random functions (once, however
    many threads build); the wrappers act only in a thread with an active build."""
    with _PATCH_LOCK:
        if _PATCH["count"] == 0:
            originals = {("module", "register_parameter"): torch.nn.Module.register_parameter}
            originals.update({("init", n): getattr(torch.nn.init, n) for n in _RANDOM_INITS})
            _PATCH["originals"] = originals
            setattr(torch.nn.Module, "register_parameter",  # noqa: B010
                    _register(originals[("module", "register_parameter")]))
            for n in _RANDOM_INITS:
                setattr(torch.nn.init, n, _random_init(originals[("init", n)]))
        _PATCH["count"] += 1


def _uninstall() -> None:
    with _PATCH_LOCK:
        _PATCH["count"] -= 1
        if _PATCH["count"] == 0:
            for (where, n), f in _PATCH["originals"].items():
                setattr(torch.nn.Module if where == "module" else torch.nn.init, n, f)
            _PATCH["originals"] = {}


class _Recorder:
    """One build's parameter registrations: the i-th distinct parameter registered stays real
    iff i is in `keep`, else it goes to meta; a parameter registered again (a tie) is the same
    object every time."""

    def __init__(self, keep: frozenset[int]) -> None:
        self.keep = keep
        self.params: list[torch.nn.Parameter] = []  # as placed, by registration index
        self.specs: list[tuple[tuple[int, ...], torch.dtype]] = []
        self.seen: dict[int, tuple[Any, torch.nn.Parameter]] = {}  # id -> (weakref, placed)

    def place(self, param: torch.nn.Parameter) -> torch.nn.Parameter:
        hit = self.seen.get(id(param))
        if hit is not None and hit[0]() is param:
            return hit[1]
        i = len(self.params)
        placed = param if i in self.keep or param.is_meta else torch.nn.Parameter(
            param.detach().to("meta"), requires_grad=param.requires_grad)
        self.params.append(placed)
        self.specs.append((tuple(param.shape), param.dtype))
        for p in (param, placed):  # a weak reference: an id may be reused once freed
            self.seen[id(p)] = (weakref.ref(p), placed)
        return placed


def replay_build(factory: Callable[..., torch.nn.Module], args: dict[str, Any], seed: int,
                 keep: frozenset[int] = frozenset()) -> tuple[torch.nn.Module, _Recorder]:
    """The model built under `seed` by its own code with only the parameters of registration
    indices `keep` real (CPU), the others on meta; buffers as in a full build. The global RNG
    state is left as it was; no other thread is affected."""
    rec = _Recorder(keep)
    _install()
    stack = _BUILD.__dict__.setdefault("stack", [])
    stack.append(rec)
    try:
        with torch.random.fork_rng(devices=[]), _ReplayMode():
            torch.manual_seed(seed)
            model = factory(**args)
    finally:
        stack.pop()
        _uninstall()
    return model, rec


def build_full(factory: Callable[..., torch.nn.Module], args: dict[str, Any],
               seed: int) -> torch.nn.Module:
    """`torch.manual_seed(seed); factory(**args)`: the whole initial model, by its own code
    (the global RNG state is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return factory(**args)


def _param_names(model: torch.nn.Module) -> dict[int, list[str]]:
    """id(parameter) -> its names in `named_parameters(remove_duplicate=False)` order."""
    out: dict[int, list[str]] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        out.setdefault(id(p), []).append(name)
    return out


def _meta_buffer(model: torch.nn.Module) -> str | None:
    return next((n for n, b in model.named_buffers() if b.is_meta), None)


def first_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def init_mode(factory: Callable[..., torch.nn.Module], args: dict[str, Any],
              seed: int) -> dict[str, Any]:
    """The plan's fields on the initial state (PLAN["model"]). `init`: "replay" when the model
    builds with its parameters on meta, no buffer is left on meta, and (models up to
    VERIFY_LIMIT bytes) two replays owning the even- and the odd-indexed parameters each give
    them equal to a full build; else "full-build", `init_reason` naming the first parameter or
    buffer that failed and why. `skeleton`: the all-meta build has the full build's buffers
    (then `--init-from` never needs the full model). `verified`: the comparison was made."""
    def full_build(why: str, skeleton: bool) -> dict[str, Any]:
        return {"init": "full-build", "init_reason": why, "skeleton": skeleton, "verified": True}

    try:
        skeleton, rec = replay_build(factory, args, seed)
    except Exception as exc:  # the model's own code needs real parameter values while building
        return full_build(f"the model does not build with its parameters on meta "
                          f"({first_line(exc)})", False)
    meta = _meta_buffer(skeleton)
    if meta is not None:
        return full_build(f"buffer `{meta}` is computed from a parameter: it stays on meta "
                          "when the parameters are", False)
    size = sum(math.prod(shape) * torch.empty((), dtype=dt).element_size()
               for shape, dt in rec.specs)
    if size > VERIFY_LIMIT:
        return {"init": "replay", "init_reason": f"not verified: {size / 2**30:.1f} GiB of "
                "parameters, too big to build three times at compile time",
                "skeleton": True, "verified": False}
    full = build_full(factory, args, seed)
    buffers = dict(full.named_buffers())
    for name, b in skeleton.named_buffers():  # non-persistent ones too
        if not _same(b, buffers.get(name)):
            return full_build(f"buffer `{name}` differs when the parameters are on meta: the "
                              "model's init reads parameters' values, or calls an init "
                              "function pgc does not see?", False)
    count = len(rec.params)
    for part in (range(0, count, 2), range(1, count, 2)):
        why = _replay_differs(factory, args, seed, frozenset(part), rec, full)
        if why:
            return full_build(why, True)
    return {"init": "replay", "init_reason": "", "skeleton": True, "verified": True}


def _same(a: torch.Tensor, b: torch.Tensor | None) -> bool:
    return (b is not None and not a.is_meta and a.shape == b.shape and a.dtype == b.dtype
            and torch.equal(a, b))


def _replay_differs(factory: Callable[..., torch.nn.Module], args: dict[str, Any], seed: int,
                    keep: frozenset[int], first: _Recorder, full: torch.nn.Module) -> str:
    """Why the replay owning `keep` is not exactly `full` on those parameters ("" if it is)."""
    try:
        model, rec = replay_build(factory, args, seed, keep)
    except Exception as exc:
        return (f"the replay build raised ({first_line(exc)}): the model's init reads other "
                "parameters' values?")
    if rec.specs != first.specs:
        return "the model registers different parameters when built again"
    want = dict(full.named_parameters(remove_duplicate=False))
    got = dict(model.named_parameters(remove_duplicate=False))
    index = {id(p): i for i, p in enumerate(rec.params)}
    for pid, names in _param_names(model).items():
        p = got[names[0]]
        if index.get(pid) not in keep:
            if not p.is_meta:
                return f"{names[0]} is real though not owned"
            continue
        if p.is_meta:
            return f"{names[0]} stays on meta when replayed"
        if any(not _same(p, want.get(n)) for n in names):
            return (f"{names[0]} differs when replayed: the model's init reads other "
                    "parameters' values, or calls an init function pgc does not see?")
    return ""


def registration_indices(rec: _Recorder, params: Any) -> frozenset[int]:
    """The registration indices (in the build `rec` recorded) of the parameters `params`."""
    wanted = {id(p) for p in params}
    return frozenset(i for i, p in enumerate(rec.params) if id(p) in wanted)


def load_parameters(model: torch.nn.Module, wanted: set[int], buffers: set[str],
                    state: dict[str, torch.Tensor], where: str) -> None:
    """Materialise the wanted parameters of `model` (and copy the named buffers) from `state`,
    a state_dict keyed by the model's names, reading no other tensor of it. A tied weight may
    appear under any one of its names; the first one present (model order) is used."""
    checkpoint = isinstance(state, dict) and {"step", "tensors"} <= set(state)
    if not isinstance(state, dict) or checkpoint:
        hint = "; `pgc export-model CKPT -o model.pt` turns a checkpoint into one"
        raise PlanError(f"--init-from {where}: not a state_dict of the model"
                        f"{hint if checkpoint else ''}")
    names = _param_names(model)
    param_keys = {n for group in names.values() for n in group}
    persistent = [k for k in model.state_dict(keep_vars=True) if k not in param_keys]
    unknown = sorted(set(state) - param_keys - set(persistent))
    missing = [group[0] for group in names.values() if not any(n in state for n in group)]
    missing += [k for k in persistent if k not in state]
    if unknown:
        raise PlanError(f"--init-from {where}: unknown keys {unknown[:5]} (not in the model)")
    if missing:
        raise PlanError(f"--init-from {where}: missing keys {missing[:5]}")
    holders = _holders(model)
    with torch.no_grad():
        for key in [k for k in names if k in wanted]:  # model order, for stable errors
            name = next(n for n in names[key] if n in state)
            module, attr = holders[key][0]
            like = module._parameters[attr]
            assert like is not None
            param = torch.nn.Parameter(_read(state, name, like, where), requires_grad=like.requires_grad)
            _put(holders[key], param)
        for name, buf in model.state_dict(keep_vars=True).items():
            if name in buffers:
                buf.copy_(_read(state, name, buf, where))


def _read(state: dict[str, torch.Tensor], name: str, like: torch.Tensor, where: str) -> torch.Tensor:
    """A CPU copy of `state[name]` (only this tensor's bytes are read from a mapped file), in
    the dtype of the model's tensor `like`, whose shape it must have."""
    src = state[name]
    if not isinstance(src, torch.Tensor) or tuple(src.shape) != tuple(like.shape):
        got = tuple(src.shape) if isinstance(src, torch.Tensor) else type(src).__name__
        raise PlanError(f"--init-from {where}: `{name}` is {got}, the model's is {tuple(like.shape)}")
    out = torch.empty(like.shape, dtype=like.dtype)
    out.copy_(src)
    return out


def _holders(model: torch.nn.Module) -> dict[int, list[tuple[torch.nn.Module, str]]]:
    """id(parameter) -> every (module, attribute) holding it (a tied weight has several)."""
    out: dict[int, list[tuple[torch.nn.Module, str]]] = {}
    for m in model.modules():
        for key, p in m._parameters.items():
            if p is not None:
                out.setdefault(id(p), []).append((m, key))
    return out


def _put(places: list[tuple[torch.nn.Module, str]], param: torch.nn.Parameter) -> None:
    for m, key in places:
        m._parameters[key] = param


def initial_model(factory: Callable[..., torch.nn.Module], args: dict[str, Any],
                  seed: int) -> torch.nn.Module:
    """The whole initial model in one process (`pgc init-model`): the full build, which every
    worker's own parameters equal in either init mode."""
    return build_full(factory, args, seed)
