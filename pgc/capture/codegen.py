"""Emit stage code: readable Python source of one `torch.nn.Module` subclass per segment.

The class derives from `pgc.runtime.stage.Stage`, whose `__init__(self, model)` adopts, from a
built user model, exactly the parameters, buffers and modules the segment reads (its `ADOPT`
list), under their original names (so the
stage's state_dict keys are the model's own). `forward` is generated from the segment's fx graph
by `torch.fx.Graph.python_code`. The source imports only torch, the standard library and the
user's model module; never pgc.
"""

from __future__ import annotations

import builtins
import contextlib
import keyword
import re
import sys
import textwrap
import types
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx as fx

from pgc.capture.cut import Cut, SegmentCut
from pgc.capture.graph import Captured, TensorInfo
from pgc.diagnostics import error
from pgc.ir.types import ModelRef


@dataclass(frozen=True)
class TensorSig:
    """A boundary tensor: `shape` entries are ints or symbols in `B` (batch) and `T` (tokens)."""

    name: str
    shape: tuple[int | str, ...]
    dtype: str  # "torch.float32"

    def text(self) -> str:
        return f"{self.name}: {self.dtype.replace('torch.', '')}[{', '.join(map(str, self.shape))}]"


@dataclass(frozen=True)
class SegmentCode:
    """Everything the runtime needs to build and call one segment.

    Call `cls(model)` then `cls(...)(*inputs)`: the first segment takes `input_ids` [B, T]
    int64, every other the boundary tensors its predecessor returned, in order; the loss
    segment also takes `labels` last and returns the token-mean cross-entropy (ignore_index
    -100), and has a `logits(...)` method with the same inputs minus labels. Other segments
    return a tuple of boundary tensors (`outputs`).
    """

    segment: str
    class_name: str
    source: str  # the class definition only; `imports` go above it
    imports: tuple[str, ...]  # import lines the source needs
    param_names: tuple[str, ...]  # state_dict names of the parameters it holds
    buffer_names: tuple[str, ...]
    inputs: tuple[TensorSig, ...]  # labels included for the loss segment
    outputs: tuple[TensorSig, ...]  # boundary out; () for the loss segment (returns a scalar)
    first: bool
    computes_loss: bool
    shared: tuple[tuple[str, str], ...] = ()  # local parameter name -> shared group name

    def module_text(self) -> str:
        """Imports plus class: a file that defines the class."""
        return "\n".join(self.imports) + "\n\n\n" + self.source


def class_name(segment: str) -> str:
    parts = re.split(r"[^0-9A-Za-z]+", segment)
    return "Stage_" + "_".join(p for p in parts if p)


def symbolic_shape(cap: Captured, n: fx.Node) -> tuple[int | str, ...]:
    """Shape of `n` with batch and sequence dims written as `B`, `T` (or products of them)."""
    (b0, t0), (b1, t1) = cap.shapes
    r0, r1 = cap.runs[0][n], cap.runs[1][n]
    out: list[int | str] = []
    for d0, d1 in zip(r0.shape, r1.shape):
        out.append(d0 if d0 == d1 else _symbol(d0, d1, (b0, t0), (b1, t1)))
    return tuple(out)


def _symbol(d0: int, d1: int, s0: tuple[int, int], s1: tuple[int, int]) -> str:
    for name, f in (("B", lambda b, t: b), ("T", lambda b, t: t), ("B*T", lambda b, t: b * t)):
        base0, base1 = f(*s0), f(*s1)
        if d0 % base0 == 0 and d0 // base0 == d1 // base1 and d1 % base1 == 0:
            k = d0 // base0
            return name if k == 1 else f"{k}*{name}"
    return "?"


def _sig(cap: Captured, n: fx.Node, name: str) -> TensorSig:
    info = cap.runs[0][n]
    assert isinstance(info, TensorInfo)
    return TensorSig(name, symbolic_shape(cap, n), str(info.dtype))


def _py_name(node: fx.Node) -> str:
    name = re.sub(r"\W", "_", node.name)
    return name + "_" if keyword.iskeyword(name) else name


def segment_graph(cut: Cut, seg: SegmentCut) -> fx.Graph:
    """A fresh fx graph computing `seg`: placeholders for its inputs, its nodes in model order,
    metadata queries redirected to local inputs, device constants taken from the first input."""
    g = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    for v in seg.inputs:
        env[v] = g.placeholder(_py_name(v))
    anchor = env[seg.inputs[0]]
    device: list[fx.Node] = []

    def local_device() -> fx.Node:
        if not device:
            device.append(g.call_function(getattr, (anchor, "device")))
        return device[0]

    def remap(a: Any) -> Any:
        if isinstance(a, fx.Node):
            if a not in env:  # parameter and buffer reads go right before their first use
                env[a] = g.create_node(a.op, a.target, (), {}, name=a.name)
            return env[a]
        if isinstance(a, torch.device):  # export bakes the capture device in
            return local_device()
        return a

    for n in seg.nodes:
        if n in env or n.op == "get_attr":  # inputs; get_attr is emitted on first use
            continue
        if n in seg.constants:  # answered at capture time: used inline
            env[n] = seg.constants[n]  # type: ignore[assignment]
            continue
        if n in seg.rewrites:
            src, dim = seg.rewrites[n]
            if dim is None:
                env[n] = g.call_function(getattr, (env[src], str(n.args[1])))
            else:
                env[n] = g.call_method("size", (env[src], dim))
            continue
        args = fx.node.map_aggregate(n.args, remap)
        kwargs = fx.node.map_aggregate(n.kwargs, remap)
        env[n] = g.create_node(n.op, n.target, args, kwargs, name=n.name)  # type: ignore[arg-type]
    result = tuple(env[v] for v in seg.outputs)
    g.output(result if len(result) > 1 or not _is_loss(cut, seg) else result[0])
    g.lint()
    return g


def _is_loss(cut: Cut, seg: SegmentCut) -> bool:
    return seg is cut.segments[-1]


_FORWARD_LOSS = '''
def forward(self, {args}, labels):
    """Token-mean cross-entropy of the logits against `labels` (ignore_index -100)."""
    logits = self.logits({args})
    return torch.nn.functional.cross_entropy(
        logits.flatten(0, -2), labels.flatten(), ignore_index=-100
    )
'''

STAGE_BASE = "from pgc.runtime.stage import Stage"  # the base class that adopts ADOPT


def _adopt_source(items: list[tuple[str, str]]) -> str:
    if not items:
        return "()"
    rows = "".join(f"    ({n!r}, {k!r}),\n" for n, k in items)
    return "(\n" + rows + ")"


def emit_segment(cut: Cut, seg: SegmentCut, user_module: str) -> SegmentCode:
    cap = cut.captured
    g = segment_graph(cut, seg)
    # get_attr targets must name the local alias of a tied parameter
    for n in g.nodes:
        if n.op == "get_attr" and str(n.target) in seg.params:
            n.target = seg.params[str(n.target)]
    code = g.python_code(root_module="self")
    body = code.src.strip("\n")
    names = [_py_name(v) for v in seg.inputs]
    loss = _is_loss(cut, seg)
    if loss:
        body = body.replace("def forward(self", "def logits(self", 1)
        body += "\n" + _FORWARD_LOSS.format(args=", ".join(names))
    cls = class_name(seg.name)
    adopt = list(dict.fromkeys(seg.adopt))
    doc = f'"""Segment `{seg.name}`: {", ".join(seg.prefixes) or "(no modules)"}."""'
    adopt_text = f"ADOPT = {_adopt_source(adopt)}\n"
    source = (
        f"class {cls}(Stage):\n"
        + textwrap.indent(doc + "\n\n" + adopt_text + "\n" + body, "    ")
        + "\n"
    )
    source = "\n".join(line.rstrip() for line in source.splitlines()) + "\n"
    params = _param_names(cap.model, seg)
    inputs = tuple(_sig(cap, v, nm) for v, nm in zip(seg.inputs, names))
    if loss:
        inputs += (TensorSig("labels", ("B", "T"), "torch.int64"),)
    outputs = () if loss else tuple(_sig(cap, v, _py_name(v)) for v in seg.outputs)
    shared = tuple((p, cut.aliases[p]) for p in params if cut.aliases[p] in cut.shared)
    return SegmentCode(
        segment=seg.name,
        class_name=cls,
        source=source,
        imports=_imports(code.globals, source, user_module),
        param_names=params,
        buffer_names=tuple(_buffer_names(cap.model, seg)),
        inputs=inputs,
        outputs=outputs,
        first=seg is cut.segments[0],
        computes_loss=loss,
        shared=shared,
    )


def _param_names(model: torch.nn.Module, seg: SegmentCut) -> tuple[str, ...]:
    """State-dict names of the segment's parameters, in order of first use."""
    names: list[str] = []
    for name, kind in seg.adopt:
        if kind == "param":
            names.append(name)
        elif kind == "module":
            sub = model.get_submodule(name)
            names += [f"{name}.{n}" for n, _ in sub.named_parameters(remove_duplicate=False)]
    return tuple(dict.fromkeys(names))


def _buffer_names(model: torch.nn.Module, seg: SegmentCut) -> list[str]:
    names: list[str] = []
    for name, kind in seg.adopt:
        if kind.startswith("buffer"):
            names.append(name)
        elif kind == "module":
            names += [f"{name}.{n}" for n, _ in model.get_submodule(name).named_buffers()]
    return list(dict.fromkeys(names))


_STDLIB = set(getattr(sys, "stdlib_module_names", ()))


class StageImportError(ValueError):
    """A function the stage code calls cannot be imported by name in the generated script."""


@contextlib.contextmanager
def imports_located(model: ModelRef) -> Iterator[None]:
    """A `StageImportError` inside becomes a diagnostic at the spec's model line."""
    try:
        yield
    except StageImportError as exc:
        raise error(model.span, f"cannot compile model `{model.name}`: {exc}") from None


def _importable(module: str, qual: str, obj: object) -> bool:
    """Whether `from module import qual` gives `obj` (already imported: no code runs here)."""
    found: object = sys.modules.get(module)
    for part in qual.split("."):
        found = getattr(found, part, None)
    return found is obj


def _imports(globals_: dict[str, Any], source: str, user_module: str) -> tuple[str, ...]:
    """Import lines for the globals the generated source refers to."""
    lines = {"import torch", STAGE_BASE}
    for name, obj in globals_.items():
        if name == "torch" or not re.search(rf"\b{re.escape(name)}\b", source):
            continue
        if hasattr(builtins, name) and getattr(builtins, name) is obj:
            continue
        if name in ("inf", "nan"):
            lines.add(f"from math import {name}")
        elif obj is torch.device:
            lines.add("from torch import device")
        elif isinstance(obj, types.ModuleType):
            lines.add(f"import {obj.__name__} as {name}")
        else:
            mod = getattr(obj, "__module__", None) or ""
            qual = getattr(obj, "__qualname__", getattr(obj, "__name__", name))
            if not mod or mod == "__main__" or "<" in qual or not _importable(mod, qual, obj):
                raise StageImportError(
                    f"the stage code calls `{qual}` (from `{mod or '?'}`, used by the model "
                    f"module `{user_module}`), which a script cannot import by name: define it "
                    "at the top level of an importable module")
            lines.add(f"from {mod} import {qual} as {name}" if qual != name else
                      f"from {mod} import {name}")
    return tuple(sorted(lines, key=lambda s: (not s.startswith("import"), s)))
