"""Per-segment profile from the captured graph: parameters, FLOPs, boundary and activation bytes.

FLOPs are an analytic model over the segment's nodes at the spec's microbatch shape: 2*M*K*N
per matrix product (linear, mm, addmm, bmm, matmul) and 2*Tq*Tk*(d + dv) per attention head for
scaled-dot-product attention (the causal mask is not discounted, as in
`torch.utils.flop_counter`). Element-wise work is ignored. Activation bytes are measured: the
emitted stage module runs on meta tensors under `saved_tensors_hooks`, summing the distinct
non-parameter tensors autograd keeps for backward.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx as fx

from pgc.capture.codegen import SegmentCode, TensorSig, emit_segment
from pgc.capture.cut import Cut, SegmentCut
from pgc.capture.graph import TensorInfo


@dataclass(frozen=True)
class SegmentProfile:
    name: str
    param_names: tuple[str, ...]
    params: int
    param_bytes: int
    flops: float
    boundary_bytes: int  # output boundary per microbatch (0 for the loss segment)
    activation_bytes: int
    inputs: tuple[TensorSig, ...]  # boundary in (labels excluded)
    outputs: tuple[TensorSig, ...]
    layers: int  # numbered blocks selected (ModuleList children)

    @property
    def skippable(self) -> bool:
        """Input and output boundary signatures match: the segment may be left out of a path."""
        return bool(self.outputs) and _sig_key(self.inputs) == _sig_key(self.outputs)


def _sig_key(sigs: tuple[TensorSig, ...]) -> tuple[tuple[tuple[int | str, ...], str], ...]:
    return tuple((s.shape, s.dtype) for s in sigs)


def _numel(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


_LINEAR = {"linear", "aten.linear.default"}
_MM = {"mm", "aten.mm.default", "bmm", "aten.bmm.default", "matmul", "aten.matmul.default"}
_ADDMM = {"addmm", "aten.addmm.default", "baddbmm", "aten.baddbmm.default"}
_SDPA = "scaled_dot_product_attention"


def _name(n: fx.Node) -> str:
    t = n.target
    return str(t) if not callable(t) or str(t).startswith("aten.") else getattr(t, "__name__", "")


def _matmul_flops(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    """2*M*K*N for `a @ b` with batch broadcasting (vectors promoted as torch does)."""
    a2 = a if len(a) > 1 else (1, *a)
    b2 = b if len(b) > 1 else (*b, 1)
    batch = torch.broadcast_shapes(a2[:-2], b2[:-2])
    return 2 * _numel(tuple(batch)) * a2[-2] * a2[-1] * b2[-1]


def node_flops(run: dict[fx.Node, Any], n: fx.Node, model: torch.nn.Module) -> int:
    """Forward FLOPs of one node at the shapes recorded in `run`."""
    def shape(i: int) -> tuple[int, ...]:
        info = run[n.args[i]]  # type: ignore[index]
        assert isinstance(info, TensorInfo)
        return info.shape

    if n.op == "call_module":
        mod = model.get_submodule(str(n.target))
        if isinstance(mod, torch.nn.Linear):
            return 2 * _numel(shape(0)[:-1]) * mod.in_features * mod.out_features
        return 0
    if n.op not in ("call_function", "call_method"):
        return 0
    name = _name(n)
    if name in _LINEAR:
        w = shape(1)
        return 2 * _numel(shape(0)[:-1]) * w[0] * w[1]
    if name in _MM or n.target is operator.matmul:
        return _matmul_flops(shape(0), shape(1))
    if name in _ADDMM:
        return _matmul_flops(shape(1), shape(2))
    if _SDPA in name:
        q, k, v = shape(0), shape(1), shape(2)
        heads = _numel(torch.broadcast_shapes(q[:-2], k[:-2]))
        return 2 * heads * q[-2] * k[-2] * (q[-1] + v[-1])
    return 0


def _layers(prefixes: tuple[str, ...]) -> int:
    return sum(1 for p in prefixes if p.rpartition(".")[2].isdigit())


def profile_segment(cut: Cut, seg: SegmentCut, code: SegmentCode) -> SegmentProfile:
    cap = cut.captured
    run = cap.runs[0]
    flops = sum(node_flops(run, n, cap.model) for n in seg.nodes)
    seen: dict[str, int] = {}
    params = dict(cap.model.named_parameters(remove_duplicate=False))
    for name in code.param_names:
        seen.setdefault(cut.aliases[name], params[name].numel() * params[name].element_size())
    numels = {cut.aliases[n]: params[n].numel() for n in code.param_names}
    outputs = () if code.computes_loss else code.outputs
    inputs = code.inputs[:-1] if code.computes_loss else code.inputs
    boundary = sum(run[v].nbytes for v in seg.outputs) if outputs else 0
    return SegmentProfile(
        name=seg.name,
        param_names=code.param_names,
        params=sum(numels.values()),
        param_bytes=sum(seen.values()),
        flops=float(flops),
        boundary_bytes=boundary,
        activation_bytes=activation_bytes(code, cap.model, cap.shapes[0]),
        inputs=inputs,
        outputs=outputs,
        layers=_layers(seg.prefixes),
    )


def _meta_input(sig: TensorSig, batch: int, seq: int) -> torch.Tensor:
    shape = [_dim(d, batch, seq) for d in sig.shape]
    dtype = getattr(torch, sig.dtype.replace("torch.", ""))
    if dtype.is_floating_point:
        return torch.zeros(shape, dtype=dtype, device="meta", requires_grad=True)
    return torch.zeros(shape, dtype=dtype, device="meta")


def _dim(d: int | str, batch: int, seq: int) -> int:
    if isinstance(d, int):
        return d
    value = 1
    for factor in d.split("*"):
        value *= {"B": batch, "T": seq}.get(factor) or int(factor)
    return value


def instantiate(code: SegmentCode, model: torch.nn.Module) -> torch.nn.Module:
    """Execute the emitted source and build the stage from `model` (meta or real)."""
    namespace: dict[str, Any] = {}
    exec(compile(code.module_text(), f"<stage {code.segment}>", "exec"), namespace)
    mod: torch.nn.Module = namespace[code.class_name](model)
    return mod


def meta_inputs(code: SegmentCode, batch: int, seq: int) -> list[torch.Tensor]:
    return [_meta_input(s, batch, seq) for s in code.inputs]


def activation_bytes(code: SegmentCode, model: torch.nn.Module, shape: tuple[int, int]) -> int:
    """Bytes of the distinct non-parameter tensors autograd saves in one forward (meta run)."""
    stage = instantiate(code, model)
    param_ids = {id(p) for p in stage.parameters()}
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        base = t._base if t._base is not None else t
        if id(base) not in param_ids and id(t) not in param_ids:
            saved.setdefault(id(base), base.numel() * base.element_size())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = stage(*meta_inputs(code, *shape))  # kept alive so saved ids stay distinct
    total = sum(saved.values())
    del out
    return total


def profile_cut(cut: Cut, user_module: str) -> list[SegmentProfile]:
    return [profile_segment(cut, seg, emit_segment(cut, seg, user_module)) for seg in cut.segments]
