"""Read the IR text form (`pgc.ir.printer`) back into a Program: `read_program(print_program(p))
== p` for every Program (spans aside, which the text leaves out).

The text is indentation-structured: `key: value` lines, `key:` followed by `- item` lines at the
key's indentation (a list) or by deeper `key: value` lines (a mapping), `TypeName` followed by
deeper field lines (a record), and inline forms `[a, b]`, `Type{a: 1, b: x}`, `"quoted"`.
Reading is type-directed: the field types of `pgc.ir.types` say what each value is, so a
plain `256` is an int where an int is expected and a string where a string is. Omitted fields
take their defaults. Lines starting with `//` are comments (`pgc compile --emit=PASS` heads its
output with `// ----- after PASS -----`, which `pass_of` reads).

Errors are `IRSyntaxError` naming the line. O(text length).
"""

from __future__ import annotations

import dataclasses
import functools
import re
import types
import typing
from typing import Any, Literal, Union

from pgc.ir import types as ir
from pgc.runtime.actions import Action, ActionSyntaxError, parse_action

_HEADER = re.compile(r"//\s*-+\s*after\s+(\S+)\s*-+\s*")
_TYPE_NAME = re.compile(r"[A-Z][A-Za-z0-9_]*")
_INT = re.compile(r"-?[0-9]+")
_FLOAT = re.compile(r"-?(?:[0-9]+\.[0-9]*(?:e[-+]?[0-9]+)?|[0-9]+e[-+]?[0-9]+|inf|nan)")

Node = tuple[Any, ...]  # ("text", raw) | ("str", value) | ("list", [Node]) |
#                         ("map", [(key, Node)]) | ("record", TypeName, {field: Node})


class IRSyntaxError(ValueError):
    """Text that is not the IR text form; `line` (1-based, 0 when not known) says where."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def pass_of(text: str) -> str:
    """The pass named by the text's `// ----- after PASS -----` head, or "ir" (lowered IR)."""
    for line in text.splitlines():
        m = _HEADER.fullmatch(line.strip())
        if m:
            return m[1]
        if line.strip() and not line.lstrip().startswith("//"):
            break
    return "ir"


def read_program(text: str) -> ir.Program:
    """Parse the IR text of one Program (module docstring)."""
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1)
             if line.strip() and not line.lstrip().startswith("//")]
    if not lines or lines[0][1].strip() != "Program":
        raise IRSyntaxError("the IR text of a program starts with `Program`",
                            lines[0][0] if lines else 1)
    tree = _Tree(lines)
    fields, end = tree.entries(1, 1)
    if end != len(lines):
        raise IRSyntaxError("unexpected indentation", lines[end][0])
    return typing.cast(ir.Program, _convert(ir.Program, ("record", "Program", dict(fields)), 0))


# ---- text -> generic tree ------------------------------------------------------------------

def _shape(line: str) -> tuple[int, bool, str]:
    """(content indent, is a list item, content) of one line; a `- ` item's content sits one
    level below its dash."""
    stripped = line.lstrip(" ")
    spaces = len(line) - len(stripped)
    if spaces % 2:
        raise IRSyntaxError(f"odd indentation ({spaces} spaces)")
    if stripped.startswith("- "):
        return spaces // 2 + 1, True, stripped[2:]
    return spaces // 2, False, stripped


class _Tree:
    def __init__(self, lines: list[tuple[int, str]]) -> None:
        self.numbers = [n for n, _ in lines]
        self.shapes: list[tuple[int, bool, str]] = []
        for n, line in lines:
            try:
                self.shapes.append(_shape(line))
            except IRSyntaxError as exc:
                raise IRSyntaxError(exc.message, n) from None

    def fail(self, i: int, why: str) -> IRSyntaxError:
        return IRSyntaxError(why, self.numbers[min(i, len(self.numbers) - 1)])

    def entries(self, i: int, indent: int) -> tuple[list[tuple[str, Node]], int]:
        """`key: value` lines at `indent` from line i."""
        out: list[tuple[str, Node]] = []
        while i < len(self.shapes):
            level, item, content = self.shapes[i]
            if level < indent or (item and level == indent):
                break
            if level > indent or item:
                raise self.fail(i, "unexpected indentation")
            key, rest = _split_key(content)
            if key is None:
                raise self.fail(i, f"expected `key: value`, got `{content}`")
            node, i = self.value(i, indent, rest)
            out.append((key, node))
        return out, i

    def value(self, i: int, indent: int, rest: str) -> tuple[Node, int]:
        """The value whose text starts on line i (content at `indent`) after its key or dash."""
        nxt = self.shapes[i + 1] if i + 1 < len(self.shapes) else (-1, False, "")
        if rest == "":
            if nxt[1] and nxt[0] == indent + 1:  # `- item` lines at the key's indentation
                return self.items(i + 1, indent + 1)
            if not nxt[1] and nxt[0] == indent + 1:
                fields, end = self.entries(i + 1, indent + 1)
                return ("map", fields), end
            raise self.fail(i, "a `key:` line is followed by its items or entries")
        if _TYPE_NAME.fullmatch(rest) and nxt[0] == indent + 1 and not nxt[1]:
            fields, end = self.entries(i + 1, indent + 1)
            return ("record", rest, dict(fields)), end
        try:
            return _inline(rest), i + 1
        except IRSyntaxError as exc:
            raise self.fail(i, exc.message) from None

    def items(self, i: int, indent: int) -> tuple[Node, int]:
        out: list[Node] = []
        while i < len(self.shapes) and self.shapes[i][1] and self.shapes[i][0] == indent:
            node, i = self.value(i, indent, self.shapes[i][2])
            out.append(node)
        return ("list", out), i


def _split_key(content: str) -> tuple[str | None, str]:
    """(key, rest) of `key: rest` / `key:`; a key may be quoted."""
    if content.startswith('"'):
        key, end = _quoted(content, 0)
        rest = content[end:]
    else:
        cut = content.find(": ")
        if content.endswith(":") and (cut < 0 or cut == len(content) - 1):
            return content[:-1], ""
        if cut < 0:
            return None, ""
        key, rest = content[:cut], content[cut:]
    if rest == ":":
        return key, ""
    if not rest.startswith(": "):
        return None, ""
    return key, rest[2:]


def _quoted(text: str, start: int) -> tuple[str, int]:
    """The string quoted at text[start] and the index after its closing quote."""
    out, i = [], start + 1
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            out.append({"n": "\n"}.get(text[i + 1], text[i + 1]))
            i += 2
            continue
        if c == '"':
            return "".join(out), i + 1
        out.append(c)
        i += 1
    raise IRSyntaxError(f"unterminated string: {text[start:]}")


def _split_top(text: str) -> list[str]:
    """Split at `, ` outside brackets, braces and quotes."""
    parts, depth, i, start = [], 0, 0, 0
    while i < len(text):
        c = text[i]
        if c == '"':
            i = _quoted(text, i)[1]
            continue
        if c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        elif c == "," and depth == 0 and text.startswith(", ", i):
            parts.append(text[start:i])
            start = i + 2
            i += 1
        i += 1
    parts.append(text[start:])
    return parts


def _inline(text: str) -> Node:
    if text.startswith('"'):
        value, end = _quoted(text, 0)
        if end != len(text):
            raise IRSyntaxError(f"text after a quoted string: {text}")
        return ("str", value)
    if text.startswith("[") and text.endswith("]"):
        body = text[1:-1]
        return ("list", [] if body == "" else [_inline(p) for p in _split_top(body)])
    m = re.fullmatch(r"([A-Z][A-Za-z0-9_]*)\{(.*)\}", text)
    if m:
        fields: dict[str, Node] = {}
        for part in _split_top(m[2]) if m[2] else []:
            key, rest = _split_key(part)
            if key is None:
                raise IRSyntaxError(f"expected `field: value` in {text}")
            fields[key] = _inline(rest)
        return ("record", m[1], fields)
    return ("text", text)


# ---- generic tree -> typed values ----------------------------------------------------------

@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, vars(ir))


_RECORDS = {c.__name__: c for c in vars(ir).values()
            if isinstance(c, type) and dataclasses.is_dataclass(c)}


def _convert(tp: Any, node: Node, depth: int) -> Any:
    if depth > 50:
        raise IRSyntaxError("nested too deeply")
    origin = typing.get_origin(tp)
    if tp is ir.Value or tp is Any:
        return _guess(node)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if type(None) in args and node == ("text", "none"):
            return None
        rest = [a for a in args if a is not type(None)]
        return _convert(rest[0], node, depth) if len(rest) == 1 else _guess(node)
    if tp is Action:
        try:
            return parse_action(_text(node))
        except ActionSyntaxError as exc:
            raise IRSyntaxError(str(exc)) from None
    if tp is ir.Hop:
        segment, _, worker = _text(node).rpartition("@")
        return ir.Hop(segment, worker)
    if tp is ir.Path:
        return _path(_text(node))
    if dataclasses.is_dataclass(tp):
        return _record(typing.cast(type, tp), node, depth)
    if origin is tuple:
        return _tuple(typing.get_args(tp), node, depth)
    if origin is Literal or tp is str:
        return _text(node)
    if tp is bool:
        return {"true": True, "false": False}[_text(node)]
    if tp in (int, float):
        try:
            return tp(_text(node))
        except ValueError:
            raise IRSyntaxError(f"expected a number, got `{_text(node)}`") from None
    raise IRSyntaxError(f"cannot read a value of type {tp}")


def _text(node: Node) -> str:
    if node[0] not in ("text", "str"):
        raise IRSyntaxError(f"expected a single value, got a {node[0]}")
    return typing.cast(str, node[1])


def _path(text: str) -> ir.Path:
    m = re.fullmatch(r"mb(\d+)(?: \(origin ([^)]+)\))?: (.*)", text)
    if m is None:
        raise IRSyntaxError(f"expected a path `mbN: stage@worker -> ...`, got `{text}`")
    hops = tuple(ir.Hop(*h.rpartition("@")[::2]) for h in m[3].split(" -> "))
    return ir.Path(int(m[1]), m[2] or hops[0].worker, hops)


def _record(cls: type, node: Node, depth: int) -> Any:
    if node[0] != "record" or node[1] != cls.__name__:
        raise IRSyntaxError(f"expected a {cls.__name__}, got `{node[1] if node[0] == 'record' else node}`")
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.compare}
    unknown = set(node[2]) - names
    if unknown:
        raise IRSyntaxError(f"{cls.__name__} has no field `{sorted(unknown)[0]}`")
    kwargs = {name: _convert(hints[name], value, depth + 1) for name, value in node[2].items()}
    for f in dataclasses.fields(cls):  # omitted fields: None or empty when they have no default
        if f.name not in kwargs and f.compare and f.default is dataclasses.MISSING \
                and f.default_factory is dataclasses.MISSING:
            kwargs[f.name] = () if typing.get_origin(hints[f.name]) is tuple else None
    return cls(**kwargs)


def _tuple(args: tuple[Any, ...], node: Node, depth: int) -> tuple[Any, ...]:
    if len(args) == 2 and args[1] is Ellipsis:
        item = args[0]
        if node[0] == "map":
            key_tp, value_tp = typing.get_args(item)
            return tuple((_convert(key_tp, ("text", k), depth + 1), _convert(value_tp, v, depth + 1))
                         for k, v in node[1])
        if node[0] != "list":
            raise IRSyntaxError(f"expected a list, got `{node[1]}`")
        return tuple(_convert(item, n, depth + 1) for n in node[1])
    if node[0] != "list" or len(node[1]) != len(args):
        raise IRSyntaxError(f"expected a list of {len(args)}, got `{node[1]}`")
    return tuple(_convert(a, n, depth + 1) for a, n in zip(args, node[1]))


def _guess(node: Node) -> Any:
    """An untyped value (model and optimizer arguments): the printer quotes a string that
    would read as anything else."""
    if node[0] == "str":
        return node[1]
    if node[0] == "list":
        return tuple(_guess(n) for n in node[1])
    if node[0] == "map":
        return tuple((k, _guess(v)) for k, v in node[1])
    if node[0] == "record":
        cls = _RECORDS.get(node[1])
        if cls is None:
            raise IRSyntaxError(f"unknown record type `{node[1]}`")
        return _record(cls, node, 0)
    text = node[1]
    if text in ("true", "false"):
        return text == "true"
    if text == "none":
        return None
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    return text
