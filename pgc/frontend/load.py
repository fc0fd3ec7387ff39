"""Reading a spec and everything it imports, in dependency order, with cycle detection."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from pgc.diagnostics import Diagnostic, UserError, error
from pgc.frontend import ast
from pgc.frontend.parser import parse_text, read_source


@dataclass(frozen=True)
class Sources:
    """The parsed main file and its imports (dependencies before dependants, main last)."""

    modules: tuple[ast.Module, ...]
    spec_hash: str  # sha256 over every file's text, in load order

    @property
    def main(self) -> ast.Module:
        return self.modules[-1]


def load_sources(path: str | Path) -> Sources:
    """Parse `path` and, depth first, every file it imports (relative to the importing file).
    Raises UserError for unreadable files, syntax errors and import cycles."""
    modules: list[ast.Module] = []
    texts: list[str] = []
    _load(os.path.normpath(str(path)), [], {}, modules, texts, None)
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\0")
    return Sources(tuple(modules), digest.hexdigest())


def _load(
    file: str,
    stack: list[tuple[str, ast.Import | None]],
    done: dict[str, ast.Module],
    modules: list[ast.Module],
    texts: list[str],
    via: ast.Import | None,
) -> None:
    if "\0" in file and via is not None:
        raise error(via.span, f"cannot import `{via.path!r}`: the path holds a NUL character")
    key = os.path.realpath(file)
    if key in done:
        return
    chain = [os.path.realpath(f) for f, _ in stack]
    if key in chain:
        assert via is not None
        cycle = [f for f, _ in stack[chain.index(key) :]] + [file]
        raise error(via.span, "import cycle: " + " -> ".join(cycle), hint="remove one of these imports")
    try:
        text = read_source(file)
    except UserError as exc:
        if via is None or exc.diagnostics[0].span.line > 0:
            raise  # the spec itself, or a located error inside the imported file (bad UTF-8)
        reason = exc.diagnostics[0].message.partition("`: ")[2]
        if reason == "no such file":
            reason = f"{file} does not exist or cannot be read"
        raise UserError(Diagnostic(via.span, f"cannot import `{via.path}`: {reason}")) from exc
    module = parse_text(text, file)
    stack.append((file, via))
    for decl in module.decls:
        if isinstance(decl, ast.Import):
            target = os.path.normpath(os.path.join(os.path.dirname(file), decl.path))
            _load(target, stack, done, modules, texts, decl)
    stack.pop()
    done[key] = module
    modules.append(module)
    texts.append(text)
