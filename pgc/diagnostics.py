"""User-facing diagnostics: `file:line:col: error: message`, the source line, a caret, a hint.

Every pass raises `UserError` for a mistake in the user's input; the CLI renders it and exits 2.
Anything else that escapes is an internal error (exit 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pgc.ir.types import NO_SPAN, Span

# file name -> text, for rendering source lines. Filled by whoever reads a source file.
_SOURCES: dict[str, str] = {}


def register_source(file: str, text: str) -> None:
    _SOURCES[file] = text


def source_line(file: str, line: int) -> str | None:
    text = _SOURCES.get(file)
    if text is None:
        try:
            text = Path(file).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        _SOURCES[file] = text
    lines = text.splitlines()
    return lines[line - 1] if 0 < line <= len(lines) else None


@dataclass(frozen=True)
class Diagnostic:
    span: Span
    message: str
    hint: str | None = None
    severity: str = "error"
    notes: tuple[tuple[Span, str], ...] = field(default=())

    def render(self) -> str:
        if self.span == NO_SPAN or self.span.line <= 0:
            head = f"pgc: {self.severity}: {self.message}"
            out = [head]
        else:
            out = [f"{self.span}: {self.severity}: {self.message}"]
            out += _excerpt(self.span)
        for span, note in self.notes:
            out.append(f"{span}: note: {note}")
            out += _excerpt(span)
        if self.hint:
            out.append(f"  hint: {self.hint}")
        return "\n".join(out)


def _excerpt(span: Span) -> list[str]:
    text = source_line(span.file, span.line)
    if text is None:
        return []
    text = text.replace("\t", " ")
    width = 1
    if span.end_line == span.line and span.end_col > span.col:
        width = span.end_col - span.col
    width = max(1, min(width, max(1, len(text) - span.col + 1)))
    return ["  " + text, "  " + " " * (span.col - 1) + "^" + "~" * (width - 1)]


class UserError(Exception):
    """One or more diagnostics about the user's input."""

    def __init__(self, *diagnostics: Diagnostic) -> None:
        super().__init__("\n".join(d.message for d in diagnostics))
        self.diagnostics: tuple[Diagnostic, ...] = diagnostics

    def render(self) -> str:
        return "\n".join(d.render() for d in self.diagnostics)


def error(span: Span, message: str, hint: str | None = None) -> UserError:
    """Shorthand: `raise error(span, "unknown stage `s9`", hint="did you mean `s0`?")`."""
    return UserError(Diagnostic(span, message, hint))


def did_you_mean(word: str, candidates: object) -> str | None:
    import difflib

    close = difflib.get_close_matches(word, [str(c) for c in candidates], n=1)  # type: ignore[attr-defined]
    return f"did you mean `{close[0]}`?" if close else None
