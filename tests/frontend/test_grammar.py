"""The grammar is conflict-free LALR(1), ships where the loader looks, and every catalogued
malformed example is recognised as itself."""

from __future__ import annotations

import lark
import pytest
from lark.parsers.lalr_analysis import LALR_Analyzer

from pgc.diagnostics import UserError
from pgc.frontend.parser import grammar, grammar_path, parse_text
from pgc.frontend.syntax_errors import CATALOGUE


def test_grammar_has_no_lalr_conflicts() -> None:
    fresh = lark.Lark(grammar_path().read_text(), parser="lalr", lexer="contextual", maybe_placeholders=True)
    analyzer = LALR_Analyzer(fresh.parser.parser_conf, strict=True)  # raises on shift/reduce
    analyzer.compute_lalr()


def test_grammar_is_the_checkout_file_and_loaded_once() -> None:
    assert grammar_path().parent.name == "grammar"
    assert grammar() is grammar()


@pytest.mark.parametrize(("label", "example"), [(label, ex) for label, exs in CATALOGUE.items() for ex in exs])
def test_catalogue_example_gets_its_own_label(label: tuple[str, str | None], example: str) -> None:
    with pytest.raises(UserError) as info:
        parse_text(example, "example.pgc")
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.message.startswith(label[0]), (example, diagnostic.message)
