"""Human messages for syntax errors, from a catalogue of malformed examples.

Following lark's `examples/advanced/error_reporting_lalr.py`: when parsing fails, the parser
state and offending token are compared with those of each catalogued example; the first
example that fails the same way names the error. Anything not catalogued gets a generic
"unexpected X; expected Y" built from the terminals the parser would have accepted.
"""

from __future__ import annotations

import difflib
import functools
import re

from lark import Lark
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.lexer import PatternStr

from pgc.frontend.values import ALL_UNITS

# (message, hint) -> malformed examples that fail in the same parser state.
CATALOGUE: dict[tuple[str, str | None], list[str]] = {
    ("expected a declaration (`import`, `model`, `node`, `link` or `pipeline`)", None): [
        "inflight = 3",
        "foo bar",
        "3",
        "node n0 { } foo",
        "link default { } foo = 3",
        'model m = "a:b" foo',
        "pipeline p { } 3",
    ],
    ("unmatched `}`", "this closing brace has no opening `{`"): [
        "pipeline p { } }",
        "}",
    ],
    ("`import` takes a quoted path", 'write `import "topologies/geo20.pgc"`'): [
        "import topologies",
        "import 3",
    ],
    ("expected `=` after the model name", 'write `model NAME = "package.module:function" { ... }`'): [
        'model m "x.y:f"',
        "model m { }",
    ],
    ("the model target must be a quoted `module:function` string", 'write `model NAME = "package.module:function"`'): [
        "model m = x.y",
        "model m = 3",
    ],
    ("expected a name after the keyword", None): [
        "pipeline { }",
        "model = ",
        "node { }",
        'model "x" = 3',
    ],
    ("expected `{` to open the block", None): [
        "pipeline p inflight = 3",
        "node n0 rate = 3",
        "pipeline p",
        "node n0",
        "link default",
        "link intra east west",
    ],
    ("expected `=` or `{` after the key", "settings are written `key = value`; sub-blocks `name { ... }`"): [
        "pipeline p { inflight 3 }",
        "pipeline p { inflight }",
        "pipeline p { inflight: 3 }",
        'pipeline p { x = 3 "y" }',
    ],
    ("expected a value after `=`", None): [
        "pipeline p { inflight = }",
        "pipeline p { inflight = ; }",
        "pipeline p { inflight == 3 }",
        "pipeline p { stage s1 = }",
    ],
    ("the list is not closed: missing `]`", None): [
        "pipeline p { x = [a, b }",
        "pipeline p { x = [a, b ) }",
    ],
    ("expected `,` or `]` between list elements", None): [
        "pipeline p { x = [a b] }",
        "pipeline p { x = [1 2] }",
        'pipeline p { x = ["a" "b"] }',
        "pipeline p { x = [1/2 3] }",
    ],
    ("expected `,` or `)` between call arguments", None): [
        "pipeline p { x = f(a = 1 }",
        "pipeline p { x = f(a = 1 b = 2) }",
    ],
    ("expected `on` after `place STAGE`", "write `place s1 on n3` or `place s[*] on auto`"): [
        "pipeline p { place s0 n0 }",
        "pipeline p { place s0 }",
        "pipeline p { place s0 = n0 }",
    ],
    ("expected workers (or `auto`) after `on`", "write `place s1 on n3`, `place s1 on [n3, n7]` or `place s1 on auto`"): [
        "pipeline p { place s0 on }",
        "pipeline p { place s0 on 3 }",
    ],
    ("expected a stage name after `place`", None): [
        "pipeline p { place 3 on n0 }",
    ],
    ("expected `=` after the stage names", "write `stages s[0..3] = [...]` or `stage s1 = layers[2:4]`"): [
        "pipeline p { stages s[0..1] layers }",
        "pipeline p { stage s1 layers }",
        "pipeline p { replicas s1 3 }",
    ],
    ("expected `by` after `balanced`", "write `balanced by flops` (or params, time, layers)"): [
        "pipeline p { stages s[0..1] = layers balanced flops }",
        "pipeline p { stages s[0..1] = layers balanced }",
    ],
    ("expected a criterion after `balanced by`", "write `balanced by flops` (or params, time, layers)"): [
        "pipeline p { stages s[0..1] = layers balanced by }",
        "pipeline p { stages s[0..1] = layers balanced by 3 }",
    ],
    ("a path needs at least two hops joined by `->`", "write `path mb0 = n0 -> n3 -> n0`"): [
        "pipeline p { path mb0 = n0 }",
        "pipeline p { path mb0 = n0 n1 }",
        "pipeline p { path mb0 = n0 -> }",
        "pipeline p { path mb0 = }",
        "pipeline p { path mb0 n0 -> n1 }",
    ],
    ("expected a schedule kind after `schedule`", "one of gpipe, 1f1b, skippipe, explicit"): [
        "pipeline p { schedule }",
        "pipeline p { schedule = 1f1b }",
    ],
    ("expected `->` or `<->` between the ends of a link", "write `link n0 -> n1 { ... }` or `link region a <-> b { ... }`"): [
        "link n0 n1 { }",
        "link region a b { }",
        "link n0 { }",
        "link region a { }",
    ],
    ("expected what the link joins", "write `link default`, `link intra [REGION]`, `link region A <-> B` or `link N1 -> N2`"): [
        "link { }",
        "link 3 { }",
    ],
    ("expected a number after `/`", "write fractions as `1/3`"): [
        "pipeline p { x = 1/ }",
        "pipeline p { x = 1/a }",
    ],
    ("a name selector is malformed", "selectors look like `layers[2:6]`, `layers[3]`, `n[0..3]`, `s[*]` or `layers.*`"): [
        "pipeline p { x = layers[a] }",
        "pipeline p { x = layers[1..] }",
        "pipeline p { x = layers[1 }",
        "pipeline p { x = layers. }",
        "pipeline p { x = layers[] }",
        "node n[0..] { }",
    ],
}

# Readable names of terminals, for the generic message.
_TERMINAL_NAMES = {
    "NAME": "a name",
    "QUANTITY": "a number",
    "INT": "an integer",
    "STRING": "a string",
    "WORD": "a schedule kind",
    "ARROW": "`->` or `<->`",
    "SIGN": "`-`",
    "$END": "the end of the file",
}

_UNIT_WORD = re.compile(r"(?<![A-Za-z0-9_.])([0-9][0-9.]*)[ \t]+([A-Za-z_/]+)$")
_UNITS = list(ALL_UNITS)


def _terminal(lark: Lark, name: str) -> str:
    if name in _TERMINAL_NAMES:
        return _TERMINAL_NAMES[name]
    try:
        pattern = lark.get_terminal(name).pattern
    except KeyError:
        return name
    return f"`{pattern.value}`" if isinstance(pattern, PatternStr) else name.lower()


def _found(exc: UnexpectedInput, text: str) -> str:
    if isinstance(exc, UnexpectedCharacters):
        return f"character `{text[exc.pos_in_stream or 0]}`"
    if isinstance(exc, UnexpectedEOF) or (
        isinstance(exc, UnexpectedToken) and exc.token.type == "$END"
    ):
        return "end of file"
    assert isinstance(exc, UnexpectedToken)
    return f"`{exc.token}`"


Located = tuple[str, str | None, tuple[int, int, int] | None]  # message, hint, (line, col, width)


def _unknown_unit(exc: UnexpectedInput, text: str) -> Located | None:
    """`latency = 5 msec` lexes as the number 5 and a key `msec`; say what was meant."""
    if not isinstance(exc, UnexpectedToken) or exc.token.type not in ("RBRACE", "$END", "SEMICOLON", "COMMA", "QUANTITY", "STRING"):
        return None
    before = text[: exc.pos_in_stream].rstrip() if exc.pos_in_stream is not None else ""
    line = before.rsplit("\n", 1)[-1]
    m = _UNIT_WORD.search(line)
    if m is None:
        return None
    close = difflib.get_close_matches(m.group(2), _UNITS, n=1, cutoff=0.4)
    hint = f"did you mean `{close[0]}`?" if close else "units: " + ", ".join(_UNITS)
    where = (before.count("\n") + 1, m.start(2) + 1, len(m.group(2)))
    return f"unknown unit `{m.group(2)}` after the number {m.group(1)}", hint, where


_PAIRS = {"{": "}", "[": "]", "(": ")"}
_BRACKET = re.compile(r'"(?:[^"\\\n]|\\.)*"|//[^\n]*|[\[\](){}]')


def _unclosed(exc: UnexpectedInput, text: str) -> Located | None:
    """At the end of the file, name the innermost bracket that was never closed."""
    if not (isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == "$END")):
        return None
    stack: list[int] = []
    for m in _BRACKET.finditer(text):
        tok = m.group()
        if tok in _PAIRS:
            stack.append(m.start())
        elif tok in ")]}" and stack and _PAIRS[text[stack[-1]]] == tok:
            stack.pop()
    if not stack:
        return None
    pos = stack[-1]
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    opener = text[pos]
    return f"the file ends before `{opener}` (opened at {line}:{col}) is closed", f"add the missing `{_PAIRS[opener]}`", None


def describe(exc: UnexpectedInput, text: str, lark: Lark) -> Located:
    """(message, hint, where) for a syntax error; `where` overrides the error's position."""
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream or 0
        ch = text[pos]
        if ch == '"':
            return "unterminated string", "close the string with `\"` on the same line", None
        if ch == "/" and text[pos : pos + 2] == "/*":
            return "unexpected `/*`", "comments are written `// ...`", None
        if ch == "#":
            return "unexpected character `#`", "comments are written `// ...`", None
    unit = _unknown_unit(exc, text)
    if unit is not None:
        return unit
    unclosed = _unclosed(exc, text)
    if unclosed is not None:
        return unclosed
    label = _match(exc, lark)
    if label is not None:
        message, hint = label
        return f"{message}; found {_found(exc, text)}", hint or _keyword_hint(exc, lark), None
    message, hint = _generic(exc, text, lark)
    return message, hint, None


def _state(exc: UnexpectedInput) -> object:
    """The LALR state the parser was in (an int, or the top of a ParserState's stack)."""
    state = getattr(exc, "state", None)
    return state if isinstance(state, int) else getattr(state, "position", None)


@functools.lru_cache(maxsize=1)
def _example_states(lark: Lark) -> tuple[tuple[object, str | None, tuple[str, str | None]], ...]:
    """(state, token type, label) of every catalogued example, computed once per process.
    (Lark's own `match_examples` is not used: it fails on contextual-lexer errors.)"""
    out = []
    for label, examples in CATALOGUE.items():
        for example in examples:
            try:
                lark.parse(example)
            except UnexpectedInput as exc:
                out.append((_state(exc), _token_type(exc), label))
            else:
                raise AssertionError(f"catalogue example parses: {example!r}")
    return tuple(out)


def _token_type(exc: UnexpectedInput) -> str | None:
    return exc.token.type if isinstance(exc, UnexpectedToken) else None


def _match(exc: UnexpectedInput, lark: Lark) -> tuple[str, str | None] | None:
    """The label of the first example failing in the same state on the same kind of token,
    else of the first failing in the same state."""
    state, token = _state(exc), _token_type(exc)
    if state is None:
        return None
    candidates = [(t, label) for s, t, label in _example_states(lark) if s == state]
    for t, label in candidates:
        if t == token:
            return label
    return candidates[0][1] if candidates else None


def _keyword_hint(exc: UnexpectedInput, lark: Lark) -> str | None:
    """"did you mean `pipeline`?" when a name stands where a keyword was expected."""
    if not isinstance(exc, UnexpectedToken) or exc.token.type != "NAME":
        return None
    keywords = []
    for name in exc.accepts or exc.expected:
        try:
            pattern = lark.get_terminal(name).pattern
        except KeyError:
            continue
        if isinstance(pattern, PatternStr) and pattern.value.isalpha():
            keywords.append(pattern.value)
    close = difflib.get_close_matches(str(exc.token), keywords, n=1)
    return f"did you mean `{close[0]}`?" if close else None


def _generic(exc: UnexpectedInput, text: str, lark: Lark) -> tuple[str, str | None]:
    expected: set[str] = set()
    if isinstance(exc, UnexpectedToken):
        expected = set(exc.accepts or exc.expected)
    elif isinstance(exc, UnexpectedCharacters):
        expected = set(exc.allowed or ())
    elif isinstance(exc, UnexpectedEOF):
        expected = set(exc.expected)
    names = sorted({_terminal(lark, e) for e in expected if e not in ("COMMENT", "WS")})
    hint = _keyword_hint(exc, lark)
    message = f"unexpected {_found(exc, text)}"
    if names:
        message += "; expected " + (names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1])
    return message, hint
