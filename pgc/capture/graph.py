"""Capture a model as an fx graph and record what every node computes on example shapes.

`torch.fx.symbolic_trace` first; `torch.export` (dynamic batch and sequence dims, then
`ep.module()`, so parameters keep their state_dict names) when symbolic tracing fails, as
docs/design.md §8 "Capture and splitting" records for transformers 5 models. The model is
built on the meta device and analysed by running the graph twice on meta inputs of two shapes
(B0, T0) and (B0 + 1, T0 + 2), or (B0 + 1, T0 - 1) for a model whose maximum length is T0
(`probe_shapes`): a dimension that follows B or T is symbolic, anything else is a
constant. Nothing is materialised.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.fx as fx

# Node results as seen by the analysis: tensors become TensorInfo, everything else stays.
Summary = Any


@dataclass(frozen=True)
class TensorInfo:
    shape: tuple[int, ...]
    dtype: torch.dtype

    @property
    def nbytes(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n * self.dtype.itemsize


@dataclass
class Captured:
    """A captured model: its graph, the data input, the logits node, and two example runs."""

    model: torch.nn.Module
    gm: fx.GraphModule
    method: Literal["fx", "export"]
    data: fx.Node  # the token-ids placeholder
    logits: fx.Node
    shapes: tuple[tuple[int, int], tuple[int, int]]  # (B, T) of the two runs
    runs: tuple[dict[fx.Node, Summary], dict[fx.Node, Summary]]

    def nodes(self) -> list[fx.Node]:
        return list(self.gm.graph.nodes)


def _summary(value: Any) -> Summary:
    if isinstance(value, torch.Tensor):
        return TensorInfo(tuple(int(d) for d in value.shape), value.dtype)
    if isinstance(value, torch.Size):
        return tuple(int(d) for d in value)
    if isinstance(value, (list, tuple)):
        return type(value)(_summary(v) for v in value)
    return value


class _Recorder(fx.Interpreter):
    def __init__(self, gm: fx.GraphModule) -> None:
        super().__init__(gm)
        self.seen: dict[fx.Node, Summary] = {}
        self.current: fx.Node | None = None

    def run_node(self, n: fx.Node) -> Any:
        self.current = n
        result = super().run_node(n)
        self.seen[n] = _summary(result)
        return result


def _drop_checks(gm: fx.GraphModule) -> None:
    """Remove export's guard call and `_assert_tensor_metadata` nodes: each stage gets its own
    inputs, and the asserts hard-code the capture device."""
    for n in list(gm.graph.nodes):
        if n.users:
            continue
        guard = n.op == "call_module" and str(n.target).startswith("_guards")
        check = n.op == "call_function" and "_assert" in getattr(n.target, "__name__", "")
        if guard or check:
            gm.graph.erase_node(n)
    gm.graph.lint()


# Random ops whose behaviour depends on the module's mode: (target, index of `p`, index of the
# `training` flag, its keyword). Traced in train mode, they record training=True; the flag is
# rewired to the stage module's own `self.training` so evaluation still turns them off.
F_ = torch.nn.functional
_DROPOUTS: dict[Any, tuple[int, int, str]] = {
    F_.dropout: (1, 2, "training"), F_.dropout1d: (1, 2, "training"),
    F_.dropout2d: (1, 2, "training"), F_.dropout3d: (1, 2, "training"),
    F_.alpha_dropout: (1, 2, "training"), F_.feature_alpha_dropout: (1, 2, "training"),
    torch.dropout: (1, 2, "train"), torch.ops.aten.dropout.default: (1, 2, "train"),
    torch.ops.aten.feature_dropout.default: (1, 2, "train"),
    torch.ops.aten.alpha_dropout.default: (1, 2, "train"),
}
_SDPA = (F_.scaled_dot_product_attention, torch.ops.aten.scaled_dot_product_attention.default)
TRAINING = "training"  # get_attr target: the running module's own mode flag


def _arg(n: fx.Node, index: int, key: str, default: Any) -> Any:
    return n.args[index] if len(n.args) > index else n.kwargs.get(key, default)


def _set_arg(n: fx.Node, index: int, key: str, value: Any) -> None:
    if len(n.args) > index:
        n.update_arg(index, value)
    else:
        n.update_kwarg(key, value)


def keep_train_mode(gm: fx.GraphModule) -> None:
    """Make a graph traced in train mode follow the running module's mode (docs/design.md §4b):
    dropout-like calls take `self.training` as their flag, attention's dropout probability
    becomes `p * self.training`, and dropouts with p = 0 (identities) are removed. Dropout
    modules (`nn.Dropout` as a leaf) follow the mode already."""
    flag: fx.Node | None = None
    for n in list(gm.graph.nodes):
        if n.op != "call_function":
            continue
        if n.target in _DROPOUTS:
            p_at, flag_at, key = _DROPOUTS[n.target]
            if _arg(n, p_at, "p", 0.5) == 0 or _arg(n, flag_at, key, True) is False:
                n.replace_all_uses_with(n.args[0])  # type: ignore[arg-type]
                gm.graph.erase_node(n)  # an identity in every mode
                continue
            flag = flag or _training_node(gm, n)
            _set_arg(n, flag_at, key, flag)
        elif n.target in _SDPA and _arg(n, 4, "dropout_p", 0.0):
            flag = flag or _training_node(gm, n)
            with gm.graph.inserting_before(n):
                scaled = gm.graph.call_function(operator.mul, (flag, _arg(n, 4, "dropout_p", 0)))
            _set_arg(n, 4, "dropout_p", scaled)
    gm.graph.lint()
    gm.recompile()


def _training_node(gm: fx.GraphModule, first_use: fx.Node) -> fx.Node:
    with gm.graph.inserting_before(first_use):
        return gm.graph.create_node("get_attr", TRAINING)


class _LeafTracer(fx.Tracer):
    """symbolic_trace that keeps the named modules as calls (`call_module`), not their ops."""

    def __init__(self, leaves: frozenset[str]) -> None:
        super().__init__()
        self.leaves = leaves

    def is_leaf_module(self, m: torch.nn.Module, module_qualified_name: str) -> bool:
        return module_qualified_name in self.leaves or super().is_leaf_module(
            m, module_qualified_name)


def _symbolic_trace(model: torch.nn.Module, leaves: frozenset[str]) -> fx.GraphModule:
    if not leaves:
        return fx.symbolic_trace(model)
    tracer = _LeafTracer(leaves)
    graph = tracer.trace(model)
    return fx.GraphModule(tracer.root, graph, model.__class__.__name__)


def _trace(model: torch.nn.Module, example: torch.Tensor, leaves: frozenset[str] = frozenset()
           ) -> tuple[fx.GraphModule, Literal["fx", "export"]]:
    try:
        return _symbolic_trace(model, leaves), "fx"
    except Exception as fx_error:  # any tracing failure: fall back to export
        batch = torch.export.Dim("B", min=1, max=4096)
        seq = torch.export.Dim("T", min=2, max=1 << 16)
        try:
            ep = torch.export.export(
                model,
                (example,),
                kwargs={"use_cache": False} if _takes_use_cache(model) else {},
                dynamic_shapes=_dynamic_shapes(model, batch, seq),
            )
        except Exception as export_error:
            raise CaptureFailed(
                f"symbolic_trace failed ({fx_error}); torch.export failed ({export_error})"
            ) from export_error
        return ep.module(), "export"  # type: ignore[return-value]


def _takes_use_cache(model: torch.nn.Module) -> bool:
    import inspect

    params = inspect.signature(model.forward).parameters
    return "use_cache" in params


def _dynamic_shapes(model: torch.nn.Module, batch: Any, seq: Any) -> dict[str, Any]:
    import inspect

    first = next(iter(inspect.signature(model.forward).parameters))
    shapes: dict[str, Any] = {first: {0: batch, 1: seq}}
    if _takes_use_cache(model):
        shapes["use_cache"] = None
    return shapes


class CaptureFailed(Exception):
    """Neither symbolic tracing nor export could capture the model."""


def _output_logits(gm: fx.GraphModule, run: dict[fx.Node, Summary], b: int, t: int) -> fx.Node:
    out = next(n for n in gm.graph.nodes if n.op == "output")
    flat = list(_flatten(out.args[0]))
    cands = [n for n in flat if isinstance(run.get(n), TensorInfo) and run[n].shape[:2] == (b, t)
             and len(run[n].shape) == 3]
    if not cands:
        raise CaptureFailed("the model returns no [B, T, vocab] logits tensor")
    return cands[0]


def _flatten(x: Any) -> Any:
    if isinstance(x, fx.Node):
        yield x
    elif isinstance(x, (list, tuple)):
        for y in x:
            yield from _flatten(y)
    elif isinstance(x, dict):
        for y in x.values():
            yield from _flatten(y)


def probe_shapes(batch: int, seq: int) -> list[tuple[int, int]]:
    """Second example shapes to try after (batch, seq), in order: one longer sequence, then one
    shorter (a model whose maximum length is `seq` accepts only that). Batch and sequence
    change by different amounts so that `B`, `T` and `B*T` stay distinguishable."""
    shapes = [(batch + 1, seq + 2)]
    if seq - 1 >= 2:
        shapes.append((batch + 1, seq - 1))
    return shapes


def capture(model: torch.nn.Module, batch: int = 2, seq: int = 8,
            leaves: frozenset[str] = frozenset()) -> Captured:
    """Trace `model` (built on the meta device) and run it on meta tokens of two shapes: the
    spec's (batch, seq) and one from `probe_shapes` that the model accepts. `leaves`: module
    paths kept as calls of the module (symbolic tracing only; export inlines every module)."""
    model.train()  # train-only behaviour is traced, then made to follow the stage's mode
    example = torch.zeros((batch, seq), dtype=torch.long, device="meta")
    gm, method = _trace(model, example, leaves)
    _drop_checks(gm)
    keep_train_mode(gm)
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    data = placeholders[0]
    extra = [n for n in placeholders[1:] if n.users]
    if extra:
        raise CaptureFailed(f"the model's forward needs inputs besides token ids: {extra}")
    first = _run(gm, len(placeholders), batch, seq)
    if isinstance(first, str):
        raise CaptureFailed(f"{first} (the microbatch shape the spec gives)")
    failures = []
    for b, t in probe_shapes(batch, seq):
        second = _run(gm, len(placeholders), b, t)
        if not isinstance(second, str):
            logits = _output_logits(gm, first, batch, seq)
            return Captured(model, gm, method, data, logits, ((batch, seq), (b, t)),
                            (first, second))
        failures.append(second)
    raise CaptureFailed("; ".join(failures) + f" (pgc runs the model on a second shape next to "
                        f"the spec's [{batch}, {seq}] to tell batch and sequence dimensions "
                        "from constants; give a microbatch seq the model accepts in both "
                        "directions, or at least 3)")


def _run(gm: fx.GraphModule, inputs: int, b: int, t: int) -> dict[fx.Node, Summary] | str:
    """What every node computes on a meta [b, t] token batch, or why the model fails on it."""
    rec = _Recorder(gm)
    args: list[object] = [torch.zeros(b, t, dtype=torch.long, device="meta")]
    args += [False] * (inputs - 1)  # unused extras such as `use_cache`
    try:
        rec.run(*args)
    except Exception as exc:  # the user's model fails on a token batch: say where
        n = rec.current
        where = n.target if n is not None and n.op == "call_module" else getattr(n, "name", "?")
        first = str(exc.args[0] if exc.args else exc).splitlines()[0]
        return f"running it on a [{b}, {t}] token batch fails at `{where}`: " \
               f"{type(exc).__name__}: {first}"
    return rec.seen


# -- node kinds ------------------------------------------------------------------------------

_META_ATTRS = ("shape", "device", "dtype", "ndim")
_META_METHODS = ("size", "dim")


def is_meta_query(n: fx.Node) -> bool:
    """A node that reads only a tensor's metadata (shape, device, dtype), never its values."""
    if n.op == "call_function" and n.target is getattr:
        return n.args[1] in _META_ATTRS
    if n.op == "call_method":
        return n.target in _META_METHODS
    if n.op == "call_function":
        name = str(n.target)
        return name.startswith("aten.sym_size") or name.startswith("aten.sym_numel")
    return False


def module_path(n: fx.Node) -> str:
    """The innermost module a node belongs to (`""` for the root or none)."""
    if n.op == "call_module":
        return str(n.target)
    stack = n.meta.get("nn_module_stack")
    if not stack:
        return ""
    path = list(stack.values())[-1][0]
    return _normalise(str(path))


def _normalise(path: str) -> str:
    """export may spell paths `L['self'].layers[0]`; pgc uses state_dict style `layers.0`."""
    import re

    path = path.replace("L['self'].", "").replace("L['self']", "")
    path = re.sub(r"\[(\d+)\]", r".\1", path)
    return "" if path.startswith("_empty_nn_module_stack") else path.strip(".")

