"""Selector resolution against module names (slices, indices, nested paths, globs)."""

from __future__ import annotations

import pytest

from pgc.capture.select import owner, pinpoint, resolve
from pgc.diagnostics import UserError
from pgc.ir.types import Span

MODULES = {n: None for n in ["", "embed", "layers", "norm", "head"]}
MODULES.update({f"layers.{i}": None for i in range(4)})
MODULES.update({f"layers.{i}.{c}": None for i in range(4) for c in ("attn", "mlp")})
SPAN = Span("x.pgc", 1, 1, 1, 2)


@pytest.mark.parametrize(
    ("selector", "paths"),
    [
        ("embed", ("embed",)),
        ("layers[1:3]", ("layers.1", "layers.2")),
        ("layers[2:]", ("layers.2", "layers.3")),
        ("layers[3]", ("layers.3",)),
        ("layers[-1]", ("layers.3",)),
        ("layers[1].mlp", ("layers.1.mlp",)),
        ("layers.*", ("layers.0", "layers.1", "layers.2", "layers.3")),
        ("layers.*.mlp", tuple(f"layers.{i}.mlp" for i in range(4))),
    ],
)
def test_resolve(selector: str, paths: tuple[str, ...]) -> None:
    assert resolve(selector, MODULES, SPAN) == paths


@pytest.mark.parametrize("selector", ["layers[3:9]", "layers[4]", "lyers", "norm[0:1]", "x.*"])
def test_resolve_rejects(selector: str) -> None:
    with pytest.raises(UserError):
        resolve(selector, MODULES, SPAN)


def test_owner_is_longest_prefix() -> None:
    prefixes = {"layers.1": 0, "layers.1.mlp": 1, "head": 2}
    assert owner("layers.1.mlp.up", prefixes) == 1
    assert owner("layers.1.attn", prefixes) == 0
    assert owner("layers.10", prefixes) is None
    assert owner("norm", prefixes) is None


def test_pinpoint_finds_the_selector_in_its_statement(tmp_path) -> None:  # type: ignore[no-untyped-def]
    spec = tmp_path / "s.pgc"
    spec.write_text("x\n  stage s0 = [embed, layers[0:2]]\n")
    span = Span(str(spec), 2, 3, 2, 33)
    assert pinpoint(span, "layers[0:2]") == Span(str(spec), 2, 22, 2, 33)
    assert pinpoint(span, "embed") == Span(str(spec), 2, 15, 2, 20)
    assert pinpoint(span, "head") == span
