"""Deterministic text dumps of the IR (and of any tree of frozen dataclasses, e.g. the AST).

Generic on purpose: fields that later passes add (placement, paths, actions, prediction, ...)
print without changes here. Rules:

- a dataclass prints as `TypeName` and its fields, one per line, indented; spans and other
  fields excluded from equality are left out, and so are fields that are None or empty
  (except on the top object, where every field is shown so a dump says what is still unset);
- a class with its own `__str__`, and hops, paths and actions, print as one line of text;
- a dataclass whose fields are all scalars prints on one line, `Type{a: 1, b: x}`, leaving out
  fields equal to their defaults;
- a tuple of (name, value) pairs prints as a mapping; a tuple of scalars inline `[a, b]`.
- floats print with `repr` (round-trips), strings quoted only when they need to be (spaces,
  odd characters, or text that would read back as a number, a boolean, `none` or a list).

`pgc.ir.reader.read_program` reads the text of a Program back.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from pgc.ir.types import Hop, Path, Program

_PLAIN = re.compile(r"[A-Za-z0-9_.:/@\-\[\]*]+")
_READS_AS_OTHER = re.compile(r"true|false|none|inf|nan|-?[0-9][0-9.e+\-]*|\[.*")
_WIDTH = 100


def print_program(program: Program) -> str:
    """The whole Program as text (ends with a newline)."""
    return dump(program)


def dump(obj: Any) -> str:
    lines: list[str] = []
    _emit(obj, 0, lines, top=True)
    return "\n".join(lines) + "\n"


def _scalar(x: Any) -> bool:
    return x is None or isinstance(x, bool | int | float | str) or _has_str(x)


def _has_str(x: Any) -> bool:
    if isinstance(x, Hop | Path):
        return True
    return type(x).__str__ is not object.__str__ and not isinstance(x, bool | int | float | str | tuple)


def _text_form(x: Any) -> str:
    """One line of text: hops and paths as in the spec's `path` statement, anything else
    with its own `__str__` (actions: `F s2 m5`) as that."""
    if isinstance(x, Hop):
        return f"{x.segment}@{x.worker}"
    if isinstance(x, Path):
        origin = f" (origin {x.origin})" if not x.hops or x.hops[0].worker != x.origin else ""
        return f"mb{x.mb}{origin}: " + " -> ".join(_text_form(h) for h in x.hops)
    return str(x)


def _fmt(x: Any) -> str:
    if x is None:
        return "none"
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, float):
        return repr(x)
    if isinstance(x, str):
        plain = _PLAIN.fullmatch(x) and not _READS_AS_OTHER.fullmatch(x)
        return x if plain else '"' + x.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return _text_form(x)


def _fields(obj: Any, top: bool) -> list[tuple[str, Any]]:
    out = []
    for f in dataclasses.fields(obj):
        if not f.compare:
            continue
        v = getattr(obj, f.name)
        if not top and (v is None or v == ()) and f.default in (v, dataclasses.MISSING):
            continue
        out.append((f.name, v))
    return out


def _inline(obj: Any) -> str | None:
    """`Type{a: 1, b: x}` for a dataclass whose fields are scalars, lists of scalars or
    themselves inline (defaults left out); None when some field is not."""
    if not dataclasses.is_dataclass(obj) or _has_str(obj):
        return None
    parts = []
    for f in dataclasses.fields(obj):
        if not f.compare:
            continue
        v = getattr(obj, f.name)
        if f.default is not dataclasses.MISSING and v == f.default:
            continue
        text = _inline_value(v)
        if text is None:
            return None
        parts.append(f"{f.name}: {text}")
    return type(obj).__name__ + "{" + ", ".join(parts) + "}"


def _inline_value(v: Any) -> str | None:
    """A field value on one line: a scalar, an inline record, or a list of those (a list of
    lists or of pairs keeps its own lines)."""
    if _scalar(v):
        return _fmt(v)
    if isinstance(v, tuple):
        items = [None if isinstance(i, tuple) else _inline_value(i) for i in v]
        return None if any(i is None for i in items) else "[" + ", ".join(items) + "]"  # type: ignore[arg-type]
    return _inline(v)


def _is_mapping(v: tuple[Any, ...]) -> bool:
    return bool(v) and all(isinstance(i, tuple) and len(i) == 2 and isinstance(i[0], str) for i in v)


def _emit(obj: Any, indent: int, lines: list[str], top: bool = False, label: str = "") -> None:
    pad = "  " * indent
    head = f"{pad}{label}: " if label else pad
    if _scalar(obj):
        lines.append(head + _fmt(obj))
    elif isinstance(obj, tuple):
        _emit_tuple(obj, indent, lines, head)
    elif dataclasses.is_dataclass(obj):
        flat = None if top else _inline(obj)
        if flat is not None and len(head) + len(flat) <= _WIDTH:
            lines.append(head + flat)
            return
        lines.append(head + type(obj).__name__)
        for name, v in _fields(obj, top):
            _emit(v, indent + 1, lines, label=name)
    else:
        lines.append(head + _fmt(repr(obj)))


def _emit_tuple(obj: tuple[Any, ...], indent: int, lines: list[str], head: str) -> None:
    if all(_scalar(i) for i in obj):
        text = head + "[" + ", ".join(_fmt(i) for i in obj) + "]"
        if len(text) <= _WIDTH or not obj:
            lines.append(text)
            return
        lines.append(head.rstrip())
        lines.extend("  " * indent + "- " + _fmt(i) for i in obj)
        return
    lines.append(head.rstrip())
    if _is_mapping(obj):
        for key, v in obj:
            _emit(v, indent + 1, lines, label=_fmt(key))
        return
    for item in obj:
        sub: list[str] = []
        _emit(item, indent + 1, sub)
        first = sub[0]
        stripped = first.lstrip()
        sub[0] = first[: len(first) - len(stripped) - 2] + "- " + stripped
        lines.extend(sub)
