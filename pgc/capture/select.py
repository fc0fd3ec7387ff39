"""Resolve a spec's module selectors (`embed`, `layers[2:6]`, `layers.3`, `layers.*`) against
the model's module names."""

from __future__ import annotations

import fnmatch
import re

from pgc.diagnostics import did_you_mean, error
from pgc.ir.types import Span

_SLICE = re.compile(r"^(?P<base>[\w.]*?)\[(?P<lo>-?\d*)(?P<colon>:?)(?P<hi>-?\d*)\]$")


def _children(modules: dict[str, object], base: str) -> list[str]:
    """Names of `base`'s direct children whose names are integers (ModuleList / Sequential)."""
    prefix = base + "." if base else ""
    kids = []
    for name in modules:
        rest = name[len(prefix):] if name.startswith(prefix) else None
        if rest is not None and rest.isdigit():
            kids.append(int(rest))
    return [f"{prefix}{i}" for i in sorted(kids)]


def resolve(selector: str, modules: dict[str, object], span: Span) -> tuple[str, ...]:
    """Module paths a selector names. Raises UserError naming the closest module names."""
    text = selector.strip()
    span = pinpoint(span, text)
    text = re.sub(r"\[(\d+)\]\.", r".\1.", text)  # `layers[1].mlp` -> `layers.1.mlp`
    m = _SLICE.match(text)
    if m:
        base = m.group("base")
        if base not in modules:
            raise _unknown(base, modules, span)
        kids = _children(modules, base)
        if not kids:
            raise error(span, f"`{base}` has no numbered children to slice", hint="slice a ModuleList")
        if m.group("colon"):
            lo = int(m.group("lo") or 0)
            hi = int(m.group("hi") or len(kids))
            if not 0 <= lo < hi <= len(kids):
                raise error(span, f"slice `{text}` is out of range: `{base}` has {len(kids)} blocks")
            return tuple(kids[lo:hi])
        i = int(m.group("lo"))
        if not -len(kids) <= i < len(kids):
            raise error(span, f"index `{text}` is out of range: `{base}` has {len(kids)} blocks")
        return (kids[i],)
    if any(c in text for c in "*?["):
        hits = [n for n in modules if n and fnmatch.fnmatchcase(n, text)]
        if not hits:
            raise error(span, f"`{text}` matches no module")
        # keep the outermost matches: a glob over blocks also matches their children
        return tuple(n for n in hits if not any(n.startswith(h + ".") for h in hits))
    if text not in modules or text == "":
        raise _unknown(text, modules, span)
    return (text,)


def _unknown(name: str, modules: dict[str, object], span: Span) -> Exception:
    top = [n for n in modules if n and not n.split(".")[-1].isdigit()]
    return error(span, f"unknown module `{name}` in the model", hint=did_you_mean(name, top))


def owner(path: str, prefixes: dict[str, int]) -> int | None:
    """Index of the segment whose selected prefix is the longest prefix of `path`."""
    best, best_len = None, -1
    for prefix, seg in prefixes.items():
        if (path == prefix or path.startswith(prefix + ".")) and len(prefix) > best_len:
            best, best_len = seg, len(prefix)
    return best


def pinpoint(span: Span, text: str) -> Span:
    """The span of selector `text` as written inside `span` (a stage's declaration), so a
    diagnostic's caret sits under the selector; `span` itself when it cannot be found."""
    from pgc.diagnostics import source_line

    last = span.end_line if span.end_line >= span.line else span.line
    for line_no in range(span.line, last + 1):
        line = source_line(span.file, line_no)
        if line is None:
            break
        start = span.col - 1 if line_no == span.line else 0
        for m in re.finditer(re.escape(text), line):
            before = line[m.start() - 1] if m.start() else " "
            after = line[m.end()] if m.end() < len(line) else " "
            if m.start() >= start and not (before.isalnum() or before in "._") and not (
                after.isalnum() or after in "_"
            ):
                col = m.start() + 1
                return Span(span.file, line_no, col, line_no, col + len(text))
    return span
