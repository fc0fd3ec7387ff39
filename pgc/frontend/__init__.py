"""The .pgc frontend: parsing, the AST, lowering to the IR, and the canonical printer.

    load_program(path)        parse a spec and its imports, lower, check -> Program
    parse_file(path)          one file's AST (imports not followed)
    format_source(text, file) canonical text of a spec (comments kept)
    format_file(path)         the same, reading the file
    format_ast(module)        a readable dump of an AST (for `--emit=ast`)

Every mistake in the input raises pgc.diagnostics.UserError with located diagnostics.
Nothing here imports torch.
"""

from __future__ import annotations

from pathlib import Path

from pgc.frontend.ast import Module
from pgc.frontend.parser import parse_file, parse_text
from pgc.ir.types import Program

__all__ = ["load_program", "parse_file", "parse_text", "format_source", "format_file", "format_ast", "check_file"]


def load_program(path: str | Path) -> Program:
    """Parse `path` and its imports, lower to the IR and run the semantic checks."""
    from pgc.frontend.load import load_sources
    from pgc.frontend.lower import lower

    return lower(load_sources(path))


def check_file(path: str | Path) -> str:
    """Check a spec, or a topology-only file (nodes, links, models); a one-line summary."""
    from pgc.frontend.load import load_sources
    from pgc.frontend.lower import lower, lower_declarations

    sources = load_sources(path)
    declarations = lower_declarations(sources)
    topology, models, pipelines = declarations
    if not pipelines:
        counts = ", ".join((_n(len(topology.workers), "worker"), _n(len(topology.links), "link rule"), _n(len(models), "model")))
        return f"{path}: ok: {counts} (no pipeline)"
    p = lower(sources, declarations)
    return (
        f"{path}: ok: pipeline `{p.name}` ({p.layout}, {p.schedule}): {len(p.stages)} stages, "
        f"{len(p.segments)} segments, {len(p.workers)} workers, {p.microbatches} microbatches"
    )


def format_source(text: str, file: str = "<string>") -> str:
    """The canonical text of a spec (idempotent; comments kept)."""
    from pgc.frontend.printer import format_module

    return format_module(parse_text(text, file), text)


def format_file(path: str | Path) -> str:
    from pgc.frontend.parser import read_source

    return format_source(read_source(path), str(path))


def format_ast(module: Module) -> str:
    """A deterministic, indented dump of an AST (spans left out)."""
    from pgc.ir.printer import dump

    return dump(module)


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")
