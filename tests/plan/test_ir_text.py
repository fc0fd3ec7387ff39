"""The IR text form and the pass driver.

* Per-pass goldens, FileCheck style: each pass reads the IR text before it (the previous
  golden; the lowered IR for the first pass), runs alone through `run_passes`, and its output
  must equal its own golden, tests/golden/passes/<spec>.<pass>.ir. A pass is tested from text,
  without running the passes before it. `PGC_ACCEPT=1` rewrites the goldens after a reviewed
  change.
* Round trip IR -> text -> IR for every example, and text -> IR -> text for every golden.
* `pgc compile --emit=PASS` output reads back with `--from-ir` and continues from the next pass.
* A pass that breaks an IR invariant is named by the driver's VerifyError.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import replace
from pathlib import Path

import pytest

from pgc.frontend import load_program
from pgc.ir.printer import print_program
from pgc.ir.reader import IRSyntaxError, pass_of, read_program
from pgc.ir.verify import VerifyError
from pgc.pipeline import PASS_NAMES, run_passes
from tests.conftest import ROOT, check_golden, run_pgc

GOLDEN = ROOT / "tests" / "golden" / "passes"
SPEC = "skippipe_ring"  # auto partition and placement, skip, swaps, a ring: every pass acts
EXAMPLES = sorted((ROOT / "examples").glob("*.pgc"))


@pytest.fixture(autouse=True)
def _in_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # file names in the IR are relative to the checkout


def _text(program: object, after: str) -> str:
    return f"// ----- after {after} -----\n{print_program(program)}"  # type: ignore[arg-type]


def _golden_text(program: object, after: str) -> str:
    """The IR text with this checkout's path (the model file found by capture) as `<root>`."""
    return _text(program, after).replace(str(ROOT), "<root>")


def _read_golden(name: str) -> str:
    return (GOLDEN / f"{SPEC}.{name}.ir").read_text().replace("<root>", str(ROOT))


def _before(name: str) -> str:
    i = PASS_NAMES.index(name)
    if i == 0:
        return _text(load_program(f"examples/{SPEC}.pgc"), "ir")
    return _read_golden(PASS_NAMES[i - 1])


@pytest.mark.parametrize("name", PASS_NAMES)
def test_each_pass_from_text_matches_its_golden(name: str) -> None:
    before = _before(name)
    assert pass_of(before) == (PASS_NAMES[PASS_NAMES.index(name) - 1] if name != PASS_NAMES[0] else "ir")
    program = read_program(before)
    assert _text(program, pass_of(before)) == before  # text -> IR -> text
    with contextlib.redirect_stderr(io.StringIO()):
        after = run_passes(program, start=name, until=name)
    check_golden(GOLDEN / f"{SPEC}.{name}.ir", _golden_text(after, name))
    assert read_program(_text(after, name)) == after  # IR -> text -> IR


@pytest.mark.parametrize("spec", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_round_trips(spec: Path) -> None:
    program = load_program(str(spec.relative_to(ROOT)))
    assert read_program(print_program(program)) == program


def test_round_trip_keeps_what_the_printer_could_confuse() -> None:
    program = load_program(f"examples/{SPEC}.pgc")
    odd = replace(program, model=replace(program.model, args=(
        ("n", 3), ("s", "3"), ("f", 0.5), ("t", "true"), ("b", True), ("l", (1, "x")),
        ("none", "none"), ("q", 'a "quoted", spaced\nline'), ("e", ""), ("br", "[x]"))),
        skip=replace(program.skip, balance=None), notes=("a note: with a colon, and a comma",))
    assert read_program(print_program(odd)) == odd


@pytest.mark.parametrize(("text", "line", "message"), [
    ("Program\n  name chain\n", 2, "expected `key: value`"),
    ("Program\n   name: x\n", 2, "odd indentation"),
    ("Segment\n", 1, "starts with `Program`"),
    ("Program\n  file: a\n    name: x\n", 3, "unexpected indentation"),
])
def test_malformed_text_names_the_line(text: str, line: int, message: str) -> None:
    with pytest.raises(IRSyntaxError, match=message) as info:
        read_program(text)
    assert info.value.line == line


def test_emit_output_continues_with_from_ir(tmp_path: Path) -> None:
    routed = tmp_path / "routed.ir"
    routed.write_text(_read_golden("routed"))
    done = run_pgc("compile", "--from-ir", str(routed), "--emit=simulated")
    assert done.returncode == 0, done.stderr
    assert done.stdout == _read_golden("simulated") + "\n"
    routed.write_text(routed.read_text().replace("  name: ring", "  name ring"))
    bad = run_pgc("compile", "--from-ir", str(routed))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith(f"{routed}:5:3: error: not pgc IR text: expected `key: value`")


def test_the_driver_names_the_pass_that_broke_an_invariant(monkeypatch: pytest.MonkeyPatch) -> None:
    import pgc.passes.route as route

    real = route.PASS.run
    monkeypatch.setattr(route, "PASS", replace(route.PASS, run=lambda p: replace(
        real(p), paths=real(p).paths[:1])))
    program = read_program(_before("routed"))
    with pytest.raises(VerifyError) as info, contextlib.redirect_stderr(io.StringIO()):
        run_passes(program, start="routed", until="ordered")
    assert info.value.pass_name == "routed"
    assert str(info.value).startswith("pass `routed` broke an IR invariant: paths must cover")
