"""Stage mapping and cut analysis: which graph nodes each segment computes and which values
cross each boundary.

Following docs/design.md §8 "Capture and splitting":

* nodes whose value cone holds no parameter and no data (rotary tables, masks, position ids,
  shape arithmetic) are *pure*: every segment that needs one recomputes it, never receives it;
* a node inside a selected module belongs to the segment whose selector is the longest prefix of
  its module path; any other node goes to the latest segment among its inputs; a module node
  that consumes a later segment's value means the stages are out of execution order;
* a metadata query (`x.shape`, `x.size(1)`, `sym_size(x, 0)`) on a value from an earlier
  segment is rewritten to the same query on a local input that has the same dimension in both
  example runs, so B and T never need sending;
* a data-dependent value consumed by a later segment crosses every boundary in between (a long
  skip connection is carried through the segments on the way); it must be a tensor.

Parameters are named per segment by the alias under that segment's modules (tied weights), and
a parameter read by several segments forms a shared group.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.fx as fx

from pgc.capture.graph import TRAINING, Captured, TensorInfo, is_meta_query, module_path
from pgc.capture.select import owner, pinpoint, resolve
from pgc.diagnostics import error
from pgc.ir.types import Span


@dataclass(frozen=True)
class SegmentSpec:
    name: str
    selectors: tuple[str, ...]
    span: Span


@dataclass
class SegmentCut:
    """What one segment computes: graph nodes in order, boundary values in and out."""

    name: str
    span: Span
    prefixes: tuple[str, ...]
    nodes: list[fx.Node]
    inputs: list[fx.Node]
    outputs: list[fx.Node]
    # metadata query node -> (local input it now reads, dim or None for whole metadata)
    rewrites: dict[fx.Node, tuple[fx.Node, int | None]] = field(default_factory=dict)
    # metadata query on another segment's value whose answer never changes -> that answer
    constants: dict[fx.Node, object] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)  # graph name -> local (alias) name
    buffers: dict[str, bool] = field(default_factory=dict)  # buffer name -> persistent
    modules: list[str] = field(default_factory=list)  # call_module targets (adopted whole)
    adopt: list[tuple[str, str]] = field(default_factory=list)  # (local name, kind), use order


@dataclass
class Cut:
    captured: Captured
    segments: list[SegmentCut]
    shared: dict[str, tuple[str, ...]]  # canonical param name -> segments reading it
    aliases: dict[str, str]  # any parameter name -> canonical name (first registered)
    carried: dict[fx.Node, tuple[str, str]]  # long skip: value -> (producer, consumer)


def _aliases(model: torch.nn.Module) -> dict[str, str]:
    by_id: dict[int, str] = {}
    out: dict[str, str] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        out[name] = by_id.setdefault(id(p), name)
    return out


def _module_params(model: torch.nn.Module, path: str) -> list[str]:
    mod = model.get_submodule(path)
    return [f"{path}.{n}" for n, _ in mod.named_parameters(remove_duplicate=False)]


def selectable(model: torch.nn.Module) -> dict[str, object]:
    """What a stage selector may name: every module, and the parameters and buffers registered
    on the model itself (`self.pos = nn.Parameter(...)`), which no module but the root holds."""
    named: dict[str, object] = dict(model.named_modules(remove_duplicate=False))
    named.update(model.named_parameters(recurse=False))
    named.update(model.named_buffers(recurse=False))
    return named


class _Analysis:
    def __init__(self, cap: Captured, specs: list[SegmentSpec]) -> None:
        self.cap = cap
        self.specs = specs
        model = cap.model
        self.modules = selectable(model)
        self.aliases = _aliases(model)
        self.params = set(self.aliases)
        self.group: dict[str, list[str]] = {}  # canonical name -> every alias, model order
        for alias, canon in self.aliases.items():
            self.group.setdefault(canon, []).append(alias)
        self.prefix_of: dict[str, int] = {}
        self.written: dict[str, Span] = {}  # module path -> where its selector is written
        for k, spec in enumerate(specs):
            for sel in spec.selectors:
                for path in resolve(sel, self.modules, spec.span):
                    self._claim(path, k, pinpoint(spec.span, sel))
        self.pure: dict[fx.Node, bool] = {}
        self.seg: dict[fx.Node, int] = {}

    def _claim(self, path: str, k: int, where: Span) -> None:
        for other, j in self.prefix_of.items():
            if path == other or path.startswith(other + ".") or other.startswith(path + "."):
                first, second = sorted((j, k))
                raise error(
                    where if second == k else self.written[other],
                    f"module `{path}` is selected by both `{self.specs[first].name}` and "
                    f"`{self.specs[second].name}`",
                    hint="each module belongs to exactly one stage",
                )
        self.prefix_of[path] = k
        self.written[path] = where

    # -- classification ----------------------------------------------------------------
    def is_param(self, n: fx.Node) -> bool:
        return n.op == "get_attr" and str(n.target) in self.params

    def _module_has_params(self, n: fx.Node) -> bool:
        return n.op == "call_module" and bool(_module_params(self.cap.model, str(n.target)))

    def classify(self) -> None:
        for n in self.cap.gm.graph.nodes:
            if n.op in ("placeholder", "output"):
                self.pure[n] = False
            elif n.op == "get_attr":
                self.pure[n] = not self.is_param(n)
            elif is_meta_query(n):
                self.pure[n] = True
            elif self._module_has_params(n):
                self.pure[n] = False
            else:
                self.pure[n] = all(self.pure[i] for i in n.all_input_nodes)

    def _param_segment(self, name: str) -> int | None:
        for alias in self.group[self.aliases[name]]:
            k = owner(alias, self.prefix_of)  # a selected module holding it, or the name itself
            if k is not None:
                return k
        return None

    def assign(self) -> None:
        for n in self.cap.gm.graph.nodes:
            if n.op == "output" or (self.pure[n] and n.op != "placeholder"):
                continue
            if n.op == "placeholder":
                if n is self.cap.data:  # other inputs (`use_cache`) are unused constants
                    self.seg[n] = 0
                continue
            if self.is_param(n):
                k = self._param_segment(str(n.target))
                if k is None:
                    raise self._gap(n, str(n.target))
                self.seg[n] = k
                continue
            latest = max((self.seg[i] for i in n.all_input_nodes if i in self.seg), default=0)
            path = module_path(n)
            k = owner(path, self.prefix_of) if path else None
            if k is None:
                if self._module_has_params(n):
                    raise self._gap(n, _module_params(self.cap.model, str(n.target))[0])
                k = latest
            elif latest > k and not self._only_params_later(n, k):
                later = self.specs[latest]
                claimed = owner(path, {p: i for i, p in enumerate(self.written)})
                raise error(
                    list(self.written.values())[claimed] if claimed is not None
                    else self.specs[k].span,
                    f"stage `{self.specs[k].name}` (module `{path}`) uses a value computed by "
                    f"`{later.name}`, which runs after it",
                    hint="list stages in the model's execution order",
                )
            self.seg[n] = k

    def _only_params_later(self, n: fx.Node, k: int) -> bool:
        """Reading a parameter owned by a later segment (a tied head weight) is not an order
        violation: the parameter becomes shared instead."""
        return all(self.seg.get(i, 0) <= k or self.is_param(i) for i in n.all_input_nodes)

    def _gap(self, n: fx.Node, param: str) -> Exception:
        """Report at the stage whose values the unselected module consumes."""
        readers = [n, *n.users] if n.op == "get_attr" else [n]
        k = max((self.seg[i] for r in readers for i in r.all_input_nodes
                 if i in self.seg and not self.is_param(i)), default=0)
        module = param.rpartition(".")[0]
        what = f"module `{module}` (parameter `{param}`)" if module else f"parameter `{param}`"
        module = module or param
        name = self.specs[k].name
        return error(
            self.specs[k].span,
            f"{what} is not selected by any stage",
            hint=f"add `{module}` to `{name}` or to the stage after it",
        )


def analyse(cap: Captured, specs: list[SegmentSpec]) -> Cut:
    """Map graph nodes to segments and compute each boundary. Raises UserError for unknown,
    overlapping, missing or out-of-order modules and for non-tensor values that cross."""
    a = _Analysis(cap, specs)
    a.classify()
    a.assign()
    return _cut(a)


def _cut(a: _Analysis) -> Cut:
    nodes = a.cap.nodes()
    order = {n: i for i, n in enumerate(nodes)}
    last = len(a.specs) - 1
    # crossings[v] = segments after v's producer that read v (directly or via a failed rewrite)
    needs: dict[fx.Node, set[int]] = {}
    locals_: list[set[fx.Node]] = [set() for _ in a.specs]
    pending_meta: list[tuple[int, fx.Node]] = []
    constants: list[dict[fx.Node, object]] = [{} for _ in a.specs]

    def pull(k: int, n: fx.Node) -> None:
        """Make value `n` available in segment k."""
        if n in locals_[k]:
            return
        if n in a.seg and not a.is_param(n):
            if a.seg[n] != k:
                needs.setdefault(n, set()).add(k)
            return
        locals_[k].add(n)  # pure node or parameter read: computed here
        if is_meta_query(n):
            src = n.all_input_nodes[0]
            if a.pure[src] or a.seg.get(src) == k:
                pull(k, src)
            elif _constant(a.cap, n):
                constants[k][n] = a.cap.runs[0][n]
            else:
                pending_meta.append((k, n))
            return
        for i in n.all_input_nodes:
            pull(k, i)

    for n in nodes:
        if n in a.seg and not a.is_param(n):
            k = a.seg[n]
            locals_[k].add(n)
            for i in n.all_input_nodes:
                pull(k, i)
    if a.seg.get(a.cap.logits, last) != last:
        needs.setdefault(a.cap.logits, set()).add(last)

    rewrites: list[dict[fx.Node, tuple[fx.Node, int | None]]] = [{} for _ in a.specs]
    while True:
        bounds = _boundaries(a, needs, order)
        failed = False
        for k, q in pending_meta:
            if q in rewrites[k]:
                continue
            found = _rewrite(a.cap, q, bounds[k] if k else [a.cap.data])
            if found is None:
                needs.setdefault(q.all_input_nodes[0], set()).add(k)
                failed = True
            else:
                rewrites[k][q] = found
        if not failed:
            break
    return _finish(a, locals_, bounds, rewrites, constants, needs, order)


def _constant(cap: Captured, q: fx.Node) -> bool:
    """The query gives the same shape, size or dtype in both runs (e.g. a weight's shape)."""
    v0, v1 = cap.runs[0][q], cap.runs[1][q]
    plain = isinstance(v0, (int, torch.dtype)) or (
        isinstance(v0, tuple) and all(isinstance(x, int) for x in v0))
    return plain and v0 == v1


def _boundaries(
    a: _Analysis, needs: dict[fx.Node, set[int]], order: dict[fx.Node, int]
) -> list[list[fx.Node]]:
    """bounds[k] = values segment k receives: produced before k and read at k or later."""
    bounds: list[list[fx.Node]] = [[] for _ in a.specs]
    for v, readers in needs.items():
        for k in range(a.seg[v] + 1, max(readers) + 1):
            bounds[k].append(v)
    for b in bounds:
        b.sort(key=order.__getitem__)
    return bounds


def _dims(cap: Captured, n: fx.Node) -> list[tuple[int, int]] | None:
    r0, r1 = cap.runs[0].get(n), cap.runs[1].get(n)
    if isinstance(r0, TensorInfo) and isinstance(r1, TensorInfo):
        return list(zip(r0.shape, r1.shape))
    return None


def _rewrite(
    cap: Captured, q: fx.Node, available: list[fx.Node]
) -> tuple[fx.Node, int | None] | None:
    """A local tensor (and dim) that answers metadata query `q` identically in both runs."""
    v0, v1 = cap.runs[0][q], cap.runs[1][q]
    for y in available:
        dims = _dims(cap, y)
        if dims is None:
            continue
        if isinstance(v0, int) and not isinstance(v0, bool):
            for d, pair in enumerate(dims):
                if pair == (v0, v1):
                    return y, d
        elif isinstance(v0, tuple):
            if dims == list(zip(v0, v1)):
                return y, None
        elif isinstance(v0, torch.device) or (
            isinstance(v0, torch.dtype) and cap.runs[0][y].dtype == v0
        ):
            return y, None
    return None


def _finish(
    a: _Analysis,
    locals_: list[set[fx.Node]],
    bounds: list[list[fx.Node]],
    rewrites: list[dict[fx.Node, tuple[fx.Node, int | None]]],
    constants: list[dict[fx.Node, object]],
    needs: dict[fx.Node, set[int]],
    order: dict[fx.Node, int],
) -> Cut:
    cap = a.cap
    last = len(a.specs) - 1
    for b in bounds:
        for v in b:
            if not isinstance(cap.runs[0].get(v), TensorInfo):
                kind = type(cap.runs[0].get(v)).__name__
                k = min(needs[v])
                raise error(
                    a.specs[k].span,
                    f"stage `{a.specs[k].name}` needs `{v.name}` ({kind}) computed by "
                    f"`{a.specs[a.seg[v]].name}`; only tensors can cross a stage boundary",
                    hint="move the code that makes this value into one stage",
                )
    cuts = []
    readers_of: dict[str, set[str]] = {}
    for k, spec in enumerate(a.specs):
        nodes = sorted(locals_[k], key=order.__getitem__)
        inputs = bounds[k] if k else [cap.data]
        outputs = bounds[k + 1] if k < last else [cap.logits]
        seg = SegmentCut(spec.name, spec.span, tuple(p for p, j in a.prefix_of.items() if j == k),
                         nodes, list(inputs), list(outputs), rewrites[k], constants[k])
        _adopt(a, seg, readers_of)
        cuts.append(seg)
    shared = {c: tuple(s for s in (sp.name for sp in a.specs) if s in segs)
              for c, segs in readers_of.items() if len(segs) > 1}
    carried = {v: (a.specs[a.seg[v]].name, a.specs[max(r)].name)
               for v, r in needs.items() if max(r) > a.seg[v] + 1}
    return Cut(cap, cuts, dict(sorted(shared.items())), a.aliases, carried)


def _adopt(a: _Analysis, seg: SegmentCut, readers_of: dict[str, set[str]]) -> None:
    """Fill the parameters, buffers and leaf modules a segment reads, named by the alias under
    the segment's own modules."""
    model = a.cap.model
    for n in seg.nodes:
        if a.is_param(n):
            name = _local_alias(a, str(n.target), seg.prefixes)
            seg.params[str(n.target)] = name
            seg.adopt.append((name, "param"))
            readers_of.setdefault(a.aliases[name], set()).add(seg.name)
        elif n.op == "get_attr" and n.target == TRAINING:
            continue  # the stage module's own mode flag (`self.training`)
        elif n.op == "get_attr":
            owner_path, _, leaf = str(n.target).rpartition(".")
            try:
                mod = model.get_submodule(owner_path)
            except AttributeError:
                mod = None
            if mod is None or leaf not in mod._buffers:
                # a tensor made while tracing (torch.tensor(...) in forward) lives only in the
                # graph module: a stage built from the user's model could not adopt it
                raise error(
                    seg.span,
                    f"stage `{seg.name}` reads `{n.target}`, a tensor the model creates in "
                    "forward rather than a parameter or buffer",
                    hint="register it with `self.register_buffer(...)` in the model",
                )
            if leaf in mod._buffers:
                persistent = leaf not in mod._non_persistent_buffers_set
                seg.buffers[str(n.target)] = persistent
                seg.adopt.append((str(n.target), "buffer" if persistent else "buffer-nonpersistent"))
        elif n.op == "call_module" and str(n.target) not in seg.modules:
            seg.modules.append(str(n.target))
            seg.adopt.append((str(n.target), "module"))
            for name in _module_params(model, str(n.target)):
                readers_of.setdefault(a.aliases[name], set()).add(seg.name)


def _local_alias(a: _Analysis, name: str, prefixes: tuple[str, ...]) -> str:
    for alias in [name, *a.group[a.aliases[name]]]:
        if owner(alias.rpartition(".")[0], {p: 0 for p in prefixes}) is not None:
            return alias
    return name
