"""`pgc fmt`: canonical, idempotent, comment-preserving; examples are already canonical."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT, run_pgc

from pgc.frontend import format_source, parse_text

EXAMPLES = sorted((ROOT / "examples").rglob("*.pgc"))

MESSY = """// header comment


import "x.pgc" ; model m = "a.b:c" { layers = 4 } // trailing model
node n[0..1] {rate=1 GFLOPS
  // inside node
  memory = 1 GiB }
pipeline p { layout = chain
  stages s[0..1] = [ [embed, layers[0:2]], // first
     layers[2:4] ]


  place s0 on n0 ; place s1 on n1
  train { steps = 3, optimizer = adamw(lr = 3e-4, betas = [0.9, 0.95]) ; checkpoint { every = 1 } }
  path mb0 = n0 -> s1@n1
  x = -3.5e3 GiB/s; y=33%; z=2x; w=1/3; s = "a\\"b\\\\c"
  // before close
}
// trailing file comment
"""

CANONICAL = """// header comment

import "x.pgc"
model m = "a.b:c" { layers = 4 }  // trailing model
node n[0..1] {
  rate = 1 GFLOPS
  // inside node
  memory = 1 GiB
}
pipeline p {
  layout = chain
  stages s[0..1] = [
    [embed, layers[0:2]],  // first
    layers[2:4],
  ]

  place s0 on n0
  place s1 on n1
  train {
    steps = 3
    optimizer = adamw(lr = 3e-4, betas = [0.9, 0.95])
    checkpoint { every = 1 }
  }
  path mb0 = n0 -> s1@n1
  x = -3.5e3 GiB/s
  y = 33%
  z = 2x
  w = 1/3
  s = "a\\"b\\\\c"
  // before close
}
// trailing file comment
"""


def test_messy_spec_formats_canonically_keeping_comments() -> None:
    assert format_source(MESSY, "messy.pgc") == CANONICAL


def test_formatting_is_idempotent_and_keeps_the_ast() -> None:
    once = format_source(MESSY, "messy.pgc")
    assert format_source(once, "once.pgc") == once
    assert parse_text(once, "m.pgc") == parse_text(MESSY, "m.pgc")


def test_long_lists_break_one_element_per_line() -> None:
    names = ", ".join(f"module_number_{i}" for i in range(12))
    out = format_source(f"pipeline p {{ stage s0 = [{names}] }}\n")
    assert out.splitlines()[1] == "  stage s0 = ["
    assert out.splitlines()[2] == "    module_number_0,"
    assert format_source(out) == out


def test_empty_and_comment_only_files() -> None:
    assert format_source("") == ""
    assert format_source("\n\n// only a comment\n\n") == "// only a comment\n"


@pytest.mark.parametrize("path", EXAMPLES, ids=[str(p.relative_to(ROOT)) for p in EXAMPLES])
def test_every_example_is_canonical(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert format_source(text, str(path)) == text


def test_fmt_check_and_rewrite(tmp_path: Path) -> None:
    spec = tmp_path / "messy.pgc"
    spec.write_text(MESSY)
    r = run_pgc("fmt", "--check", str(spec))
    assert r.returncode == 1 and "would be reformatted" in r.stdout
    assert spec.read_text() == MESSY
    r = run_pgc("fmt", str(spec))
    assert r.returncode == 0 and spec.read_text() == CANONICAL
    r = run_pgc("fmt", "--check", str(spec))
    assert r.returncode == 0 and r.stdout == ""


def test_fmt_reports_syntax_errors_with_exit_2(tmp_path: Path) -> None:
    spec = tmp_path / "bad.pgc"
    spec.write_text("pipeline p {\n")
    r = run_pgc("fmt", str(spec))
    assert r.returncode == 2 and f"{spec}:1:13: error:" in r.stderr
