"""Lowering the model split: `origin { }`, `stages`, `stage` -> IR stages and segments, with
the coverage checks that need no model (overlaps, gaps, order, slices past the model's end)."""

from __future__ import annotations

from dataclasses import dataclass

from pgc.diagnostics import Diagnostic, UserError, did_you_mean, error
from pgc.frontend import ast
from pgc.frontend import values as V
from pgc.frontend.blocks import Collector, settings, value
from pgc.ir.types import AutoPartition, Layout, Segment, SegmentRole, Span, Stage

CRITERIA = ("flops", "params", "time", "layers")
# Model arguments that give the number of transformer blocks (for coverage checks).
LAYER_COUNT_ARGS = ("layers", "n_layers", "num_layers", "num_hidden_layers", "n_layer")
ORIGIN = "origin"


@dataclass(frozen=True)
class Split:
    stages: tuple[Stage, ...]
    segments: tuple[Segment, ...]
    partitions: tuple[AutoPartition, ...]


@dataclass(frozen=True)
class _Piece:
    """One stage as written, before roles are known."""

    name: str
    selectors: tuple[ast.Ref, ...]
    span: Span


def lower_split(
    layout: Layout,
    origin: ast.Nested | None,
    statements: list[ast.StagesStmt | ast.StageStmt],
    layer_count: int | None,
    where: Span,
    errors: Collector,
) -> Split:
    pieces: list[_Piece] = []
    partitions: list[tuple[AutoPartition, list[ast.Ref]]] = []
    for stmt in statements:
        got = errors.run(_statement, stmt, layer_count) or ([], None)
        pieces.extend(got[0])
        if got[1] is not None:
            partitions.append(got[1])
    _check_unique(pieces, errors)
    if not statements:
        raise error(where, "the pipeline declares no stages", hint="add e.g. `stages s[1..4] = layers[0:8] balanced by flops`")
    segments: list[Segment] = []
    stages: list[Stage] = []
    pro: tuple[ast.Ref, ...] = ()
    epi: tuple[ast.Ref, ...] = ()
    origin_span = origin.span if origin is not None else Span("<none>", 0, 0, 0, 0)
    if layout == "ring":
        assert origin is not None
        pro, epi = _origin(origin, errors)
        stages.append(Stage(ORIGIN, (f"{ORIGIN}.pro", f"{ORIGIN}.epi"), never_skip=True, span=origin_span))
        segments.append(_segment(f"{ORIGIN}.pro", ORIGIN, "prologue", pro, layer_count, origin_span))
    for i, p in enumerate(pieces):
        stages.append(Stage(p.name, (p.name,), span=p.span))
        segments.append(_segment(p.name, p.name, _role(layout, i, len(pieces)), p.selectors, layer_count, p.span))
    if layout == "ring":
        segments.append(_segment(f"{ORIGIN}.epi", ORIGIN, "epilogue", epi, layer_count, origin_span))
    entries: list[Entry] = []
    if layout == "ring":
        entries += [(r, "origin.pro", r.span) for r in pro]
    first_of = {part.stages[0]: (part, refs) for part, refs in partitions}
    for p in pieces:
        entries += [(r, p.name, r.span) for r in p.selectors]
        if p.name in first_of:
            part, refs = first_of[p.name]
            entries += [(r, f"stages {part.stages[0]}..{part.stages[-1]}", r.span) for r in refs]
    if layout == "ring":
        entries += [(r, "origin.epi", r.span) for r in epi]
    errors.run(check_coverage, entries, layer_count)
    return Split(tuple(stages), tuple(segments), tuple(p for p, _ in partitions))


def _role(layout: Layout, i: int, n: int) -> SegmentRole:
    if layout == "ring":
        return "body"
    if n == 1:
        return "whole"
    return "first" if i == 0 else "last" if i == n - 1 else "body"


def _segment(name: str, stage: str, role: SegmentRole, sels: tuple[ast.Ref, ...], layer_count: int | None, span: Span) -> Segment:
    texts = tuple(V.selector_text(r) for r in sels)
    layers = sum(_interval_len(r, layer_count) for r in sels)
    return Segment(name, stage, role, texts, layers, span=span)


def _origin(block: ast.Nested, errors: Collector) -> tuple[tuple[ast.Ref, ...], tuple[ast.Ref, ...]]:
    found = settings(block.items, "`origin`", ("prologue", "epilogue"), errors=errors)
    out: list[tuple[ast.Ref, ...]] = []
    for key in ("prologue", "epilogue"):
        v = value(found, key)
        if v is None:
            errors.add(error(block.span, f"`origin` needs `{key}`", hint="e.g. `origin { prologue = [embed]; epilogue = [norm, head] }`"))
            out.append(())
        else:
            out.append(tuple(errors.run(_selectors, v, key) or []))
    return out[0], out[1]


def _selectors(v: ast.Value, what: str) -> list[ast.Ref]:
    """A module selector or a list of them (strings are taken as written)."""
    items = v.items if isinstance(v, ast.List) else (v,)
    out: list[ast.Ref] = []
    for item in items:
        if isinstance(item, ast.String):
            out.append(ast.Ref(item.value, (), item.span))
        elif isinstance(item, ast.Ref):
            if any(isinstance(a, ast.Range | ast.AnyIndex) for a in item.accessors):
                raise error(item.span, f"`{V.selector_text(item)}` is not a module selector", hint="modules are selected like `layers[2:6]`, `layers[3]` or `layers.*`")
            out.append(item)
        else:
            raise error(item.span, f"`{what}` lists module selectors, not {V.describe(item)}")
    if not out:
        raise error(v.span, f"`{what}` selects no module")
    return out


def _statement(
    stmt: ast.StagesStmt | ast.StageStmt, layer_count: int | None
) -> tuple[list[_Piece], tuple[AutoPartition, list[ast.Ref]] | None]:
    if isinstance(stmt, ast.StageStmt):
        return [_Piece(stmt.name, tuple(_selectors(stmt.value, f"stage {stmt.name}")), stmt.span)], None
    names = V.expand_names(stmt.target, "stage names")
    if stmt.criterion is None and isinstance(stmt.value, ast.List):
        if len(stmt.value.items) != len(names):
            raise error(
                stmt.value.span,
                f"{len(names)} stages but {len(stmt.value.items)} selectors",
                hint="give one selector (or list of selectors) per stage, or partition automatically with `balanced by flops`",
            )
        return [_Piece(n, tuple(_selectors(v, n)), v.span) for n, v in zip(names, stmt.value.items)], None
    criterion = stmt.criterion or "layers"
    if criterion not in CRITERIA:
        raise error(stmt.span, f"unknown partition criterion `{criterion}`", hint=did_you_mean(criterion, CRITERIA) or f"criteria: {', '.join(CRITERIA)}")
    sels = _selectors(stmt.value, "stages")
    even = _even_split(sels, len(names), layer_count) if criterion == "layers" else None
    if even is not None:
        return [_Piece(n, (r,), stmt.span) for n, r in zip(names, even)], None
    pieces = [_Piece(n, (), stmt.span) for n in names]
    part = AutoPartition(tuple(names), tuple(V.selector_text(r) for r in sels), criterion, span=stmt.span)
    return pieces, (part, sels)


def _even_split(sels: list[ast.Ref], n: int, layer_count: int | None) -> list[ast.Ref] | None:
    """`layers[2:12]` in 5 stages by layers -> layers[2:4], ..., layers[10:12] when the slice
    bounds are known; earlier stages take the remainder. None when not decidable here."""
    if len(sels) != 1:
        return None
    base, interval = _interval(sels[0], layer_count)
    if interval is None or base is None:
        return None
    lo, hi = interval
    if hi - lo < n:
        raise error(sels[0].span, f"`{V.selector_text(sels[0])}` has {hi - lo} layers, too few for {n} stages")
    size, extra = divmod(hi - lo, n)
    out, start = [], lo
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        out.append(_with_slice(sels[0], start, end))
        start = end
    return out


def _with_slice(r: ast.Ref, lo: int, hi: int) -> ast.Ref:
    return ast.Ref(r.name, r.accessors[:-1] + (ast.Slice(lo, hi),), r.span)


def _interval(r: ast.Ref, layer_count: int | None) -> tuple[str | None, tuple[int, int] | None]:
    """(base path, [lo, hi)) for `base[i]`, `base[a:b]`, `base.*`; (None, None) otherwise.
    Open bounds need the model's layer count (None when unknown)."""
    if not r.accessors:
        return None, None
    last = r.accessors[-1]
    base = V.selector_text(ast.Ref(r.name, r.accessors[:-1]))
    if isinstance(last, ast.Index):
        return base, (last.index, last.index + 1)
    if isinstance(last, ast.Slice):
        lo = last.lo if last.lo is not None else 0
        hi = last.hi if last.hi is not None else layer_count
        return base, None if hi is None else (lo, hi)
    if isinstance(last, ast.Glob):
        return base, None if layer_count is None else (0, layer_count)
    return None, None


def _interval_len(r: ast.Ref, layer_count: int | None) -> int:
    _, iv = _interval(r, layer_count)
    return 0 if iv is None else max(0, iv[1] - iv[0])


def _check_unique(pieces: list[_Piece], errors: Collector) -> None:
    first: dict[str, Span] = {}
    for p in pieces:
        if p.name == ORIGIN:
            errors.add(error(p.span, "`origin` is the ring layout's origin stage; name body stages differently"))
        elif p.name in first:
            errors.add(UserError(Diagnostic(p.span, f"stage `{p.name}` is declared twice", notes=((first[p.name], "first declared here"),))))
        else:
            first[p.name] = p.span


Entry = tuple[ast.Ref, str, Span]  # (selector, owner, where), in execution order


def check_coverage(entries: list[Entry], layer_count: int | None) -> None:
    """Selectors must not overlap, must run in order, and must leave no gap in any indexed
    module list (checked against the model's layer count where the model arguments give it)."""
    diags: list[Diagnostic] = []
    seen: dict[str, tuple[str, Span]] = {}
    lists: dict[str, list[tuple[int, int, str, str, Span]]] = {}
    for ref, owner, span in entries:
        text = V.selector_text(ref)
        if text in seen:
            other, ospan = seen[text]
            diags.append(Diagnostic(span, f"`{text}` is selected by both {other} and {owner}", notes=((ospan, f"{other} is here"),)))
            continue
        seen[text] = (owner, span)
        base, iv = _interval(ref, layer_count)
        if base is not None and iv is not None:
            lists.setdefault(base, []).append((iv[0], iv[1], text, owner, span))
    # The model's block list: the one named like its layer-count argument, else the only
    # indexed list (GPT-2's `h`). Its end is checked against the layer count.
    blocks = [b for b in lists if b.rsplit(".", 1)[-1] in LAYER_COUNT_ARGS] or (list(lists) if len(lists) == 1 else [])
    for base, ivs in lists.items():
        diags += _check_list(base, ivs, layer_count if base in blocks else None, seen)
    if diags:
        raise UserError(*diags)


def _check_list(
    base: str, ivs: list[tuple[int, int, str, str, Span]], layer_count: int | None, seen: dict[str, tuple[str, Span]]
) -> list[Diagnostic]:
    """Overlaps, order and gaps within one indexed module list; its end against `layer_count`
    when given (the model's block list)."""
    diags: list[Diagnostic] = []
    for lo, hi, text, _, span in ivs:
        if lo >= hi:
            diags.append(Diagnostic(span, f"`{text}` selects nothing"))
        elif layer_count is not None and hi > layer_count:
            diags.append(Diagnostic(span, f"`{text}` goes past the model's {layer_count} layers"))
    if diags:
        return diags
    if base in seen:  # `layers` selected whole and by index
        owner, span = seen[base]
        return [Diagnostic(ivs[0][4], f"`{ivs[0][2]}` overlaps `{base}` selected by {owner}", notes=((span, "selected here"),))]
    for before, after in zip(ivs, ivs[1:]):
        if after[0] < before[0]:
            msg = f"`{after[2]}` in {after[3]} comes after `{before[2]}` in {before[3]}: stages must follow the model's order"
            return [Diagnostic(after[4], msg, notes=((before[4], f"`{before[2]}` is here"),))]
    prev_hi = 0
    prev: tuple[int, int, str, str, Span] | None = None
    for iv in ivs:
        lo, hi, text, owner, span = iv
        if prev is not None and lo < prev[1]:
            msg = f"`{text}` in {owner} overlaps `{prev[2]}` in {prev[3]}"
            return [Diagnostic(span, msg, notes=((prev[4], f"`{prev[2]}` is here"),))]
        if lo > prev_hi:
            where = f"after `{prev[2]}`" if prev else "before it"
            return [Diagnostic(span, f"no stage selects {base}[{prev_hi}:{lo}] ({where})", hint="every block must belong to exactly one stage")]
        prev_hi, prev = hi, iv
    if layer_count is not None and prev_hi < layer_count and prev is not None:
        return [Diagnostic(prev[4], f"no stage selects {base}[{prev_hi}:{layer_count}] (the model has {layer_count} layers)", hint="every block must belong to exactly one stage")]
    return []
