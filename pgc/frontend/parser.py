"""Parse .pgc text into the AST (pgc.frontend.ast), with located syntax diagnostics.

The grammar is loaded once (cached) from `grammar/pgc.lark` in a checkout or `pgc/grammar/`
inside the wheel. The Transformer only builds AST nodes; meaning is checked in lowering.
"""

from __future__ import annotations

import functools
import re
import stat
from pathlib import Path
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)

from pgc.diagnostics import Diagnostic, UserError, error, register_source
from pgc.frontend import ast
from pgc.ir.types import Span

MAX_NESTING = 64  # brackets deeper than this are surely a mistake; also keeps recursion bounded

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def grammar_path() -> Path:
    """The grammar file: inside the installed package (wheel) or at the checkout root."""
    for candidate in (_PACKAGE_DIR / "grammar" / "pgc.lark", _PACKAGE_DIR.parent / "grammar" / "pgc.lark"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("pgc grammar not found (expected pgc/grammar/pgc.lark or grammar/pgc.lark)")


# ---------------------------------------------------------------- reading source


def read_source(path: str | Path, display: str | None = None) -> str:
    """Read a spec as UTF-8; undecodable bytes are a located user error."""
    file = display or str(path)
    try:
        data = _read_regular_file(Path(path), file)
    except FileNotFoundError:
        raise error(Span(file, 0, 0, 0, 0), f"cannot read `{file}`: no such file") from None
    except OSError as exc:
        raise error(Span(file, 0, 0, 0, 0), f"cannot read `{file}`: {exc.strerror}") from None
    except ValueError:  # a NUL character in the path
        raise error(Span(file, 0, 0, 0, 0), f"cannot read `{file!r}`: the path holds a NUL character") from None
    return decode_source(data, file)


MAX_SPEC_BYTES = 32 * 2**20


def _read_regular_file(path: Path, file: str) -> bytes:
    """The file's bytes; a FIFO, a device (`/dev/zero`) or a file over MAX_SPEC_BYTES is a user
    error, decided from `stat` before any read, which could block or never end."""
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise error(Span(file, 0, 0, 0, 0), f"cannot read `{file}`: not a regular file",
                    hint="a spec is a text file; pipes and devices are not read")
    if info.st_size > MAX_SPEC_BYTES:
        raise error(Span(file, 0, 0, 0, 0), f"cannot read `{file}`: {info.st_size} bytes, "
                    f"more than a spec may have ({MAX_SPEC_BYTES // 2**20} MiB)")
    with path.open("rb") as handle:
        return handle.read(MAX_SPEC_BYTES + 1)


def decode_source(data: bytes, file: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        register_source(file, data.decode("utf-8", errors="replace"))
        raise error(
            Span(file, line, col, line, col + 1),
            f"the file is not valid UTF-8 (byte 0x{data[exc.start]:02x})",
            hint="save the spec as UTF-8",
        ) from None
    # A lone CR ends a line (classic Mac files); as "\n" a `//` comment stops there instead of
    # swallowing the rest of the file. Same length, so every column stays where it was.
    return _LONE_CR.sub("\n", text.removeprefix("\ufeff"))


_LONE_CR = re.compile(r"\r(?!\n)")


_BRACKETS = re.compile(r'"(?:[^"\\\n]|\\.)*"|//[^\n]*|[\[\](){}\n]')
_OPEN = "[({"


def check_nesting(text: str, file: str) -> None:
    """Reject brackets nested deeper than MAX_NESTING before parsing: a bounded AST keeps the
    tree walks (transformer, printer, lowering) far from Python's recursion limit."""
    depth, line, line_start = 0, 1, 0
    for m in _BRACKETS.finditer(text):
        tok = m.group()
        if tok == "\n":
            line, line_start = line + 1, m.end()
        elif tok in _OPEN:
            depth += 1
            if depth > MAX_NESTING:
                col = m.start() - line_start + 1
                raise error(
                    Span(file, line, col, line, col + 1),
                    f"brackets nested deeper than {MAX_NESTING} levels",
                    hint="a spec never needs this much nesting; check for a missing closing bracket",
                )
        elif tok in ")]}":
            depth = max(0, depth - 1)


# ---------------------------------------------------------------- AST building


def _tok_span(file: str, tok: Token) -> Span:
    return Span(file, tok.line or 0, tok.column or 0, tok.end_line or 0, tok.end_column or 0)


_QUANTITY = re.compile(r"([0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)[ \t]*(.*)")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}


def _unescape(body: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)


def _int(file: str, tok: Token) -> int:
    if len(tok) > 18:
        raise error(_tok_span(file, tok), f"integer `{tok[:20]}...` is too large")
    return int(tok)


class _Builder(Transformer[Token, Any]):
    """Tree -> AST. Every method only restructures; it never judges meaning."""

    def __init__(self, file: str) -> None:
        super().__init__()
        self.file = file

    def _span(self, meta: Any) -> Span:
        if getattr(meta, "empty", True):
            return Span(self.file, 0, 0, 0, 0)
        return Span(self.file, meta.line, meta.column, meta.end_line, meta.end_column)

    # -- top level
    def start(self, children: list[Any]) -> list[Any]:
        return children

    @v_args(meta=True)
    def import_stmt(self, meta: Any, c: list[Any]) -> ast.Import:
        return ast.Import(_unescape(c[0][1:-1]), self._span(meta))

    @v_args(meta=True)
    def model_decl(self, meta: Any, c: list[Any]) -> ast.ModelDecl:
        return ast.ModelDecl(str(c[0]), _unescape(c[1][1:-1]), c[2], self._span(meta))

    @v_args(meta=True)
    def node_decl(self, meta: Any, c: list[Any]) -> ast.NodeDecl:
        return ast.NodeDecl(c[0], c[1], self._span(meta))

    @v_args(meta=True)
    def pipeline_decl(self, meta: Any, c: list[Any]) -> ast.PipelineDecl:
        return ast.PipelineDecl(str(c[0]), c[1], self._span(meta))

    @v_args(meta=True)
    def link_decl(self, meta: Any, c: list[Any]) -> ast.LinkDecl:
        kind, src, dst, arrow = c[0]
        return ast.LinkDecl(kind, src, dst, arrow, c[1], self._span(meta))

    def link_default(self, c: list[Any]) -> tuple[Any, ...]:
        return ("default", None, None, "")

    def link_intra(self, c: list[Any]) -> tuple[Any, ...]:
        region = ast.Ref(str(c[0]), (), _tok_span(self.file, c[0])) if c and c[0] is not None else None
        return ("intra", region, None, "")

    def link_region(self, c: list[Any]) -> tuple[Any, ...]:
        a = ast.Ref(str(c[0]), (), _tok_span(self.file, c[0]))
        b = ast.Ref(str(c[2]), (), _tok_span(self.file, c[2]))
        return ("region", a, b, str(c[1]))

    def link_pair(self, c: list[Any]) -> tuple[Any, ...]:
        return ("pair", c[0], c[2], str(c[1]))

    # -- blocks and statements
    def block(self, c: list[Any]) -> tuple[Any, ...]:
        return tuple(c)

    @v_args(meta=True)
    def assign(self, meta: Any, c: list[Any]) -> ast.Assign:
        return ast.Assign(str(c[0]), c[1], self._span(meta))

    def kw_key(self, c: list[Any]) -> str:
        return str(c[0])

    @v_args(meta=True)
    def nested(self, meta: Any, c: list[Any]) -> ast.Nested:
        return ast.Nested(str(c[0]), c[1], self._span(meta))

    @v_args(meta=True)
    def stages_stmt(self, meta: Any, c: list[Any]) -> ast.StagesStmt:
        return ast.StagesStmt(c[0], c[1], c[2] if len(c) > 2 else None, self._span(meta))

    def criterion(self, c: list[Any]) -> str:
        return str(c[0])

    @v_args(meta=True)
    def stage_stmt(self, meta: Any, c: list[Any]) -> ast.StageStmt:
        return ast.StageStmt(str(c[0]), c[1], self._span(meta))

    @v_args(meta=True)
    def replicas_stmt(self, meta: Any, c: list[Any]) -> ast.ReplicasStmt:
        return ast.ReplicasStmt(c[0], c[1], self._span(meta))

    @v_args(meta=True)
    def place_stmt(self, meta: Any, c: list[Any]) -> ast.PlaceStmt:
        on = "auto" if isinstance(c[1], Token) else c[1]
        return ast.PlaceStmt(c[0], on, self._span(meta))

    @v_args(meta=True)
    def schedule_stmt(self, meta: Any, c: list[Any]) -> ast.ScheduleStmt:
        return ast.ScheduleStmt(str(c[0]), self._span(meta))

    @v_args(meta=True)
    def path_stmt(self, meta: Any, c: list[Any]) -> ast.PathStmt:
        return ast.PathStmt(str(c[0]), tuple(c[1:]), self._span(meta))

    @v_args(meta=True)
    def hop(self, meta: Any, c: list[Any]) -> ast.HopRef:
        if len(c) == 2 and c[1] is not None:
            return ast.HopRef(str(c[1]), str(c[0]), self._span(meta))
        return ast.HopRef(str(c[0]), None, self._span(meta))

    # -- values
    def _number(self, tok: Token, negative: bool, span: Span) -> ast.Number:
        m = _QUANTITY.fullmatch(str(tok))
        assert m is not None, tok
        return ast.Number(m.group(1), m.group(2), negative, span)

    @v_args(meta=True)
    def number(self, meta: Any, c: list[Any]) -> ast.Number:
        return self._number(c[-1], len(c) == 2, self._span(meta))

    @v_args(meta=True)
    def fraction(self, meta: Any, c: list[Any]) -> ast.Fraction:
        num = self._number(c[0], False, _tok_span(self.file, c[0]))
        den = self._number(c[1], False, _tok_span(self.file, c[1]))
        return ast.Fraction(num, den, self._span(meta))

    @v_args(meta=True)
    def string(self, meta: Any, c: list[Any]) -> ast.String:
        return ast.String(_unescape(c[0][1:-1]), self._span(meta))

    @v_args(meta=True)
    def array(self, meta: Any, c: list[Any]) -> ast.List:
        return ast.List(tuple(x for x in c if x is not None), self._span(meta))

    @v_args(meta=True)
    def call(self, meta: Any, c: list[Any]) -> ast.Call:
        return ast.Call(str(c[0]), tuple(x for x in c[1:] if x is not None), self._span(meta))

    @v_args(meta=True)
    def keyword_arg(self, meta: Any, c: list[Any]) -> ast.Arg:
        return ast.Arg(str(c[0]), c[1], self._span(meta))

    @v_args(meta=True)
    def positional_arg(self, meta: Any, c: list[Any]) -> ast.Arg:
        return ast.Arg(None, c[0], self._span(meta))

    @v_args(meta=True)
    def ref(self, meta: Any, c: list[Any]) -> ast.Ref:
        return ast.Ref(str(c[0]), tuple(c[1:]), self._span(meta))

    def field(self, c: list[Any]) -> ast.Field:
        return ast.Field(str(c[0]))

    def glob(self, c: list[Any]) -> ast.Glob:
        return ast.Glob()

    def any_index(self, c: list[Any]) -> ast.AnyIndex:
        return ast.AnyIndex()

    def index(self, c: list[Any]) -> ast.Index:
        return ast.Index(_int(self.file, c[0]))

    def slice(self, c: list[Any]) -> ast.Slice:
        lo = None if c[0] is None else _int(self.file, c[0])
        hi = None if c[1] is None else _int(self.file, c[1])
        return ast.Slice(lo, hi)

    def range(self, c: list[Any]) -> ast.Range:
        return ast.Range(_int(self.file, c[0]), _int(self.file, c[1]))


# ---------------------------------------------------------------- entry points


def parse_text(text: str, file: str = "<string>") -> ast.Module:
    """Parse one file's text. Raises UserError with a located diagnostic on any syntax error."""
    register_source(file, text)
    check_nesting(text, file)
    comments: list[Token] = []
    try:
        tree = _parse(text, comments)
    except UnexpectedInput as exc:
        first = _syntax_diagnostic(exc, text, file)
        raise UserError(first, *_later_syntax_errors(text, file, first.span.line)) from None
    try:
        decls = _Builder(file).transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, UserError):
            raise exc.orig_exc from None
        raise
    found = tuple((c.line or 0, c.column or 0, str(c)) for c in comments)
    lines = text.count("\n") + 1
    return ast.Module(file, tuple(decls), found, Span(file, 1, 1, lines, 1))


MAX_SYNTAX_ERRORS = 8
_OPENERS = re.compile(r"[\[({]")
_CLOSERS = re.compile(r"[\])}]")


def _later_syntax_errors(text: str, file: str, line: int) -> list[Diagnostic]:
    """More syntax errors, found by blanking each erroneous line and parsing again. Stops when
    blanking would unbalance brackets, or when the next error is not on a later line or is not
    one the catalogue recognises (then it would most likely echo this one).

    Cost: the declarations before the one holding the error parsed cleanly, so each retry
    blanks them too (a run of blank lines costs the lexer one match); the text re-parsed over
    all retries is capped at RETRY_BUDGET characters beyond the file's own size, so a large
    file costs a few parses, not MAX_SYNTAX_ERRORS."""
    lines = text.split("\n")
    starts = _declaration_starts(lines)
    budget = max(RETRY_BUDGET, 2 * len(text))
    found: list[Diagnostic] = []
    while len(found) < MAX_SYNTAX_ERRORS - 1 and 0 < line <= len(lines):
        bad = re.sub(r'"(?:[^"\\]|\\.)*"|//.*', "", lines[line - 1])
        if len(_OPENERS.findall(bad)) != len(_CLOSERS.findall(bad)):
            break
        lines[line - 1] = ""
        start = max((s for s in starts if s < line), default=0)
        retry = "\n" * start + "\n".join(lines[start:])
        budget -= len(retry) - start
        if budget < 0:
            break
        try:
            _parse(retry, [])
            break
        except UnexpectedInput as exc:
            diagnostic = _syntax_diagnostic(exc, retry, file)
        if diagnostic.span.line <= line or diagnostic.message.startswith("unexpected "):
            break  # an uncatalogued error after a repair is most often an echo of the first
        found.append(diagnostic)
        line = diagnostic.span.line
    return found


RETRY_BUDGET = 2**20
_TOP_LEVEL = re.compile(r"(import|model|node|link|pipeline)\b")


def _declaration_starts(lines: list[str]) -> list[int]:
    """0-based indices of lines that open a top-level declaration: outside every bracket, and
    starting with a declaration keyword."""
    starts, depth = [], 0
    for i, text in enumerate(lines):
        if depth == 0 and _TOP_LEVEL.match(text):
            starts.append(i)
        for m in _BRACKETS.finditer(text):
            tok = m.group()
            if tok in _OPEN:
                depth += 1
            elif tok in ")]}":
                depth = max(0, depth - 1)
    return starts


def _parse(text: str, comments: list[Token]) -> Any:
    # Lexer callbacks are fixed when the parser is built; a module-level sink, emptied per
    # call, lets one cached parser collect each file's comments for the formatter.
    _COMMENT_SINK[:] = []
    try:
        return grammar().parse(text)
    finally:
        comments.extend(_COMMENT_SINK)


_COMMENT_SINK: list[Token] = []


@functools.lru_cache(maxsize=1)
def grammar() -> Lark:
    """The LALR parser, built once per process (positions on, for spans)."""
    text = grammar_path().read_text(encoding="utf-8")
    return Lark(
        text,
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=True,
        lexer_callbacks={"COMMENT": _COMMENT_SINK.append},
        cache=_table_cache(text),
    )


def _table_cache(grammar_text: str) -> str | bool:
    """Where lark keeps the built LALR tables (building them costs more than the rest of a
    typical `pgc check`): the user's own cache directory, never a shared temp directory, since
    the file is a pickle. False (no cache) when that directory cannot be made."""
    import hashlib
    import os

    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pgc"
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    digest = hashlib.sha256(grammar_text.encode("utf-8")).hexdigest()[:16]
    return str(root / f"grammar-{digest}.lark-tables")


def parse_file(path: str | Path) -> ast.Module:
    """Read and parse one file (imports are not followed; see `load_program`)."""
    return parse_text(read_source(path), str(path))


def _syntax_diagnostic(exc: UnexpectedInput, text: str, file: str) -> Diagnostic:
    from pgc.frontend.syntax_errors import describe

    line, col = exc.line, exc.column
    at_end = isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == "$END")
    if at_end or not line or line < 1:
        # the end of the file: just after its last non-blank character
        body = text.rstrip()
        line, col = body.count("\n") + 1, len(body.rsplit("\n", 1)[-1]) + 1
    width = 1
    if isinstance(exc, UnexpectedToken) and exc.token.end_column and exc.token.line == line:
        width = max(1, exc.token.end_column - col)
    if isinstance(exc, UnexpectedCharacters):
        width = 1
    message, hint, where = describe(exc, text, grammar())
    if where is not None:
        line, col, width = where
    return Diagnostic(Span(file, line, col, line, col + width), message, hint)
