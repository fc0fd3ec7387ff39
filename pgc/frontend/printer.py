"""The canonical printer behind `pgc fmt`: AST (+ the source's comments) -> canonical text.

Rules (each decided from the AST alone, so formatting is idempotent):
- two-space indentation; one item per line; no separators in multi-line blocks;
- a block of at most three plain settings prints on one line (`{ a = 1; b = 2 }`) when it
  fits in 100 columns and holds no comment; pipelines always span lines;
- a list prints inline when it fits and holds no comment, else one element per line with a
  trailing comma; the per-stage list of `stages` always prints one stage per line;
- numbers keep their digits; a unit follows after one space (`50 ms`), `x` and `%` directly;
- comments stay next to the code they were next to (above it, or at the end of its line);
  single blank lines between items are kept, runs of blank lines are collapsed.
"""

from __future__ import annotations

from dataclasses import dataclass

from pgc.frontend import ast
from pgc.frontend.values import selector_text

WIDTH = 100
INLINE_ITEMS = 3
_INDENT = "  "


@dataclass
class _Line:
    indent: int
    text: str
    src: int  # source line it came from (0: none)


@dataclass(frozen=True)
class _Comment:
    line: int
    col: int
    text: str
    trailing: bool  # code precedes it on its line


class _Printer:
    def __init__(self, comments: list[_Comment]) -> None:
        self.comments = comments
        self.lines: list[_Line] = []

    def has_comment(self, span: ast.Span) -> bool:
        if span.line <= 0:
            return False
        return any((span.line, span.col) < (c.line, c.col) < (span.end_line, span.end_col) for c in self.comments)

    def emit(self, indent: int, text: str, src: int) -> None:
        self.lines.append(_Line(indent, text, src))

    # -- declarations
    def decl(self, d: ast.Decl) -> None:
        line = d.span.line
        if isinstance(d, ast.Import):
            self.emit(0, f"import {string(d.path)}", line)
        elif isinstance(d, ast.ModelDecl):
            head = f"model {d.name} = {string(d.target)}"
            if d.items is None:
                self.emit(0, head, line)
            else:
                self.block(0, head, d.items, d.span)
        elif isinstance(d, ast.NodeDecl):
            self.block(0, f"node {selector_text(d.target)}", d.items, d.span)
        elif isinstance(d, ast.LinkDecl):
            self.block(0, "link " + link_ends(d), d.items, d.span)
        else:
            self.block(0, f"pipeline {d.name}", d.items, d.span, inline=False)

    def block(self, indent: int, head: str, items: tuple[ast.Item, ...], span: ast.Span, inline: bool = True) -> None:
        one = self.inline_block(items) if inline and not self.has_comment(span) else None
        if one is not None and len(_INDENT * indent) + len(head) + len(one) + 1 <= WIDTH:
            self.emit(indent, f"{head} {one}", span.line)
            return
        if not items:
            self.emit(indent, head + " {}", span.line)
            return
        self.emit(indent, head + " {", span.line)
        for item in items:
            self.item(indent + 1, item)
        self.emit(indent, "}", span.end_line)

    def inline_block(self, items: tuple[ast.Item, ...]) -> str | None:
        if len(items) > INLINE_ITEMS or any(not isinstance(i, ast.Assign) for i in items):
            return None
        parts = [f"{i.key} = {self.inline_value(i.value)}" for i in items if isinstance(i, ast.Assign)]
        if not parts:
            return "{}"
        return "{ " + "; ".join(parts) + " }"

    # -- block items
    def item(self, indent: int, item: ast.Item) -> None:
        line = item.span.line
        if isinstance(item, ast.Assign):
            self.value_line(indent, f"{item.key} = ", item.value, "", line)
        elif isinstance(item, ast.Nested):
            self.block(indent, item.name, item.items, item.span)
        elif isinstance(item, ast.StagesStmt):
            tail = f" balanced by {item.criterion}" if item.criterion else ""
            head = f"stages {selector_text(item.target)} = "
            per_stage = isinstance(item.value, ast.List) and len(item.value.items) > 1 and not item.criterion
            self.value_line(indent, head, item.value, tail, line, force_lines=per_stage)
        elif isinstance(item, ast.StageStmt):
            self.value_line(indent, f"stage {item.name} = ", item.value, "", line)
        elif isinstance(item, ast.ReplicasStmt):
            self.value_line(indent, f"replicas {selector_text(item.target)} = ", item.value, "", line)
        elif isinstance(item, ast.PlaceStmt):
            on = item.on if isinstance(item.on, str) else self.inline_value(item.on)
            self.emit(indent, f"place {selector_text(item.target)} on {on}", line)
        elif isinstance(item, ast.ScheduleStmt):
            self.emit(indent, f"schedule {item.kind}", line)
        else:
            hops = " -> ".join(f"{h.stage}@{h.worker}" if h.stage else h.worker for h in item.hops)
            self.emit(indent, f"path {item.mb} = {hops}", line)

    def value_line(self, indent: int, head: str, v: ast.Value, tail: str, line: int, force_lines: bool = False) -> None:
        """`head value tail`, breaking a list over lines when it does not fit or has comments."""
        text = self.inline_value(v)
        fits = len(_INDENT * indent) + len(head) + len(text) + len(tail) <= WIDTH
        if not isinstance(v, ast.List) or not v.items or (fits and not force_lines and not self.has_comment(v.span)):
            self.emit(indent, head + text + tail, line)
            return
        self.emit(indent, head + "[", line)
        for element in v.items:
            self.value_line(indent + 1, "", element, ",", element.span.line)
        self.emit(indent, "]" + tail, v.span.end_line)

    def inline_value(self, v: ast.Value) -> str:
        if isinstance(v, ast.Number):
            return number(v)
        if isinstance(v, ast.Fraction):
            return f"{number(v.num)}/{number(v.den)}"
        if isinstance(v, ast.String):
            return string(v.value)
        if isinstance(v, ast.Ref):
            return selector_text(v)
        if isinstance(v, ast.List):
            return "[" + ", ".join(self.inline_value(i) for i in v.items) + "]"
        args = ", ".join((f"{a.key} = " if a.key else "") + self.inline_value(a.value) for a in v.args)
        return f"{v.name}({args})"


def number(n: ast.Number) -> str:
    sign = "-" if n.negative else ""
    if not n.unit:
        return sign + n.text
    gap = "" if n.unit in ("x", "%") else " "
    return f"{sign}{n.text}{gap}{n.unit}"


def string(s: str) -> str:
    escaped = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def link_ends(d: ast.LinkDecl) -> str:
    if d.kind == "default":
        return "default"
    if d.kind == "intra":
        return "intra" + (f" {d.src.name}" if d.src is not None else "")
    assert d.src is not None and d.dst is not None
    ends = f"{selector_text(d.src)} {d.arrow} {selector_text(d.dst)}"
    return f"region {ends}" if d.kind == "region" else ends


def _comments(module: ast.Module, source: list[str]) -> list[_Comment]:
    out = []
    for line, col, text in module.comments:
        before = source[line - 1][: col - 1] if 0 < line <= len(source) else ""
        out.append(_Comment(line, col, text.rstrip(), bool(before.strip())))
    return out


def format_module(module: ast.Module, text: str = "") -> str:
    """Canonical text of `module`; `text` is its source (for comments and blank lines)."""
    source = text.split("\n")
    printer = _Printer(_comments(module, source))
    for d in module.decls:
        printer.decl(d)
    return _merge(printer.lines, printer.comments, source)


def _is_blank(source: list[str], line: int) -> bool:
    return 0 < line <= len(source) and not source[line - 1].strip()


def _merge(lines: list[_Line], comments: list[_Comment], source: list[str]) -> str:
    """Lay out code lines and comments, keeping single blank lines of the source."""
    out: list[str] = []
    last_src = 0
    last_code = -1  # index in `out` of the last code line

    def put(indent: int, text: str, src: int, is_code: bool) -> None:
        nonlocal last_src, last_code
        opener = out and out[-1].rstrip().endswith(("{", "["))
        closer = text.startswith(("}", "]"))
        if src != last_src and _is_blank(source, src - 1) and out and out[-1] and not opener and not closer:
            out.append("")
        out.append(_INDENT * indent + text)
        last_src = src
        if is_code:
            last_code = len(out) - 1

    pending = list(comments)
    for ln in lines:
        while pending and pending[0].line < ln.src:
            _place_comment(pending.pop(0), ln, out, put, last_code)
        put(ln.indent, ln.text, ln.src, True)
    for c in pending:
        if c.trailing and last_code >= 0:
            out[last_code] += "  " + c.text
        else:
            put(0, c.text, c.line, False)
    return "\n".join(out) + "\n" if out else ""


def _place_comment(c: _Comment, nxt: _Line, out: list[str], put: object, last_code: int) -> None:
    if c.trailing and last_code >= 0:
        out[last_code] += "  " + c.text
        return
    indent = nxt.indent + 1 if nxt.text.startswith(("}", "]")) else nxt.indent
    put(indent, c.text, c.line, False)  # type: ignore[operator]
