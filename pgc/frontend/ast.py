"""The .pgc abstract syntax tree: frozen dataclasses with spans (spans excluded from equality).

The AST mirrors the grammar (grammar/pgc.lark) and carries no meaning: numbers keep their text
and unit as written, names are not resolved. `pgc.frontend.lower` gives it meaning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from pgc.ir.types import Span, span_field

# ---------------------------------------------------------------- values


@dataclass(frozen=True)
class Number:
    """`50 GFLOPS`, `-3`, `2x`, `33%`: the literal text, its sign and its unit ("" for none)."""

    text: str
    unit: str = ""
    negative: bool = False
    span: Span = span_field()


@dataclass(frozen=True)
class Fraction:
    """`1/3`."""

    num: Number
    den: Number
    span: Span = span_field()


@dataclass(frozen=True)
class String:
    value: str  # unescaped
    span: Span = span_field()


@dataclass(frozen=True)
class Field:
    """`.name` after a reference."""

    name: str


@dataclass(frozen=True)
class Glob:
    """`.*`: every child module."""


@dataclass(frozen=True)
class AnyIndex:
    """`[*]`: every member of a name range."""


@dataclass(frozen=True)
class Index:
    """`[3]`."""

    index: int


@dataclass(frozen=True)
class Slice:
    """`[2:6]` (python slice of a module list, end exclusive)."""

    lo: int | None
    hi: int | None


@dataclass(frozen=True)
class Range:
    """`[0..3]` (inclusive range of names: n0, n1, n2, n3)."""

    lo: int
    hi: int


Accessor = Union[Field, Glob, AnyIndex, Index, Slice, Range]


@dataclass(frozen=True)
class Ref:
    """A name with selectors: `layers[2:6]`, `n[0..3]`, `s[*]`, `model.layers.*`."""

    name: str
    accessors: tuple[Accessor, ...] = ()
    span: Span = span_field()


@dataclass(frozen=True)
class List:
    items: tuple[Value, ...]
    span: Span = span_field()


@dataclass(frozen=True)
class Arg:
    """A call argument; `key` is None for a positional one."""

    key: str | None
    value: Value
    span: Span = span_field()


@dataclass(frozen=True)
class Call:
    """`adamw(lr = 3e-4)`."""

    name: str
    args: tuple[Arg, ...]
    span: Span = span_field()


Value = Union[Number, Fraction, String, Ref, List, Call]

# ---------------------------------------------------------------- block items


@dataclass(frozen=True)
class Assign:
    key: str
    value: Value
    span: Span = span_field()


@dataclass(frozen=True)
class Nested:
    """A named sub-block: `checkpoint { every = 10 }`."""

    name: str
    items: tuple[Item, ...]
    span: Span = span_field()


@dataclass(frozen=True)
class StagesStmt:
    """`stages s[1..5] = layers[2:12] balanced by flops` (criterion None when absent)."""

    target: Ref
    value: Value
    criterion: str | None = None
    span: Span = span_field()


@dataclass(frozen=True)
class StageStmt:
    name: str
    value: Value
    span: Span = span_field()


@dataclass(frozen=True)
class ReplicasStmt:
    target: Ref
    value: Value
    span: Span = span_field()


@dataclass(frozen=True)
class PlaceStmt:
    """`place s1 on n[2..3]`; `on` is a Ref, a List of Refs, or the string "auto"."""

    target: Ref
    on: Ref | List | str
    span: Span = span_field()


@dataclass(frozen=True)
class ScheduleStmt:
    kind: str
    span: Span = span_field()


@dataclass(frozen=True)
class HopRef:
    """A path hop: a worker, optionally with the stage it runs there (`s1@n2`)."""

    worker: str
    stage: str | None = None
    span: Span = span_field()


@dataclass(frozen=True)
class PathStmt:
    mb: str
    hops: tuple[HopRef, ...]
    span: Span = span_field()


Item = Union[Assign, Nested, StagesStmt, StageStmt, ReplicasStmt, PlaceStmt, ScheduleStmt, PathStmt]

# ---------------------------------------------------------------- top-level declarations


@dataclass(frozen=True)
class Import:
    path: str
    span: Span = span_field()


@dataclass(frozen=True)
class ModelDecl:
    name: str
    target: str
    items: tuple[Item, ...] | None = None  # None: no block written
    span: Span = span_field()


@dataclass(frozen=True)
class NodeDecl:
    target: Ref
    items: tuple[Item, ...]
    span: Span = span_field()


@dataclass(frozen=True)
class LinkDecl:
    """kind: "default", "intra" (src = optional region), "region" or "pair"."""

    kind: str
    src: Ref | None
    dst: Ref | None
    arrow: str  # "->", "<->", or "" for default/intra
    items: tuple[Item, ...]
    span: Span = span_field()


@dataclass(frozen=True)
class PipelineDecl:
    name: str
    items: tuple[Item, ...]
    span: Span = span_field()


Decl = Union[Import, ModelDecl, NodeDecl, LinkDecl, PipelineDecl]


@dataclass(frozen=True)
class Module:
    """One parsed file. `comments` are (line, column, text) for the formatter."""

    file: str
    decls: tuple[Decl, ...]
    comments: tuple[tuple[int, int, str], ...] = field(default=(), compare=False)
    span: Span = span_field()

    def pretty(self) -> str:
        """An indented dump of the tree (what `pgc compile --emit=ast` prints)."""
        from pgc.ir.printer import dump

        return dump(self)
