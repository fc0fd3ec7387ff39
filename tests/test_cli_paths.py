"""Paths the user gets wrong on the command line: exit 2 with the path named, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgc.cli import main

ROOT = Path(__file__).resolve().parents[1]
CHAIN4 = str(ROOT / "examples" / "chain4.pgc")


@pytest.mark.parametrize("command", ["check", "fmt"])
def test_a_directory_without_specs_is_an_error(command: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("no specs here\n")
    assert main([command, str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"pgc: error: directory `{tmp_path}` holds no .pgc files\n"


def test_compile_into_a_path_that_is_a_file(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    taken = tmp_path / "out"
    taken.write_text("mine\n")
    assert main(["compile", CHAIN4, "-o", str(taken)]) == 2
    err = capsys.readouterr().err
    assert err == f"pgc: error: cannot use `{taken}`: File exists\n"
    assert taken.read_text() == "mine\n"  # left alone


def test_viz_report_under_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    taken = tmp_path / "out"
    taken.write_text("mine\n")
    assert main(["viz", CHAIN4, "--what", "report", "-o", str(taken / "r.html")]) == 2
    assert capsys.readouterr().err.endswith(f"cannot use `{taken / 'r.html'}`: Not a directory\n")
