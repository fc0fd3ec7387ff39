"""Files a user or a fuzzer can hand to `pgc check`: NUL bytes, old line endings, huge files
with many syntax errors, and imports of things that are not files. Each is a located error (or
a correct result), never a crash, a hang or silent misreading."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from pgc.diagnostics import UserError
from pgc.frontend import check_file, parser
from pgc.frontend.load import load_sources

TOPOLOGY = (
    'node n[0..1] { rate = 1 GFLOPS; memory = 1 GiB }\n'
    'link default { latency = 1 ms; bandwidth = 1 Gbps }\n'
)


def _error(path: Path) -> str:
    with pytest.raises(UserError) as info:
        check_file(str(path))
    return info.value.render()


def test_nul_in_import_path_is_located(tmp_path: Path) -> None:
    spec = tmp_path / "spec.pgc"
    spec.write_text('// a spec\nimport "topo\0.pgc"\n' + TOPOLOGY)
    out = _error(spec)
    assert out.startswith(f"{spec}:2:1: error: cannot import `'topo\\x00.pgc'`: the path holds "
                          "a NUL character"), out


def test_cr_only_line_endings_are_line_ends(tmp_path: Path) -> None:
    """The `//` comment on the first line must end at its CR, so the unknown key below it is
    seen (at its own line and column) instead of the whole file reading as one comment."""
    spec = tmp_path / "mac.pgc"
    spec.write_bytes(b"// classic line endings\rnode n0 { rate = 1 GFLOPS; memory = 1 GiB; "
                     b"colour = 3 }\rlink default { latency = 1 ms; bandwidth = 1 Gbps }\r")
    out = _error(spec)
    assert out.startswith(f"{spec}:2:44: error: unknown setting `colour`"), out
    assert "colour" in out


def test_many_syntax_errors_in_a_large_file_cost_a_few_parses(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Recovery re-parses only from the declaration holding the last error, within a budget:
    a 1.2 MB file with 8 errors is parsed (in characters) at most 3.5 times, not 8."""
    lines = [f'node w{i} {{ rate = 1 GFLOPS; memory = 1 GiB }}' for i in range(24000)]
    for k in range(1, 9):
        lines[k * 2500] = f"node bad{k} {{ rate = = 1 GFLOPS }}"
    text = "\n".join(lines) + "\n"
    spec = tmp_path / "big.pgc"
    spec.write_text(text)
    parsed: list[int] = []
    real = parser._parse

    def counting(source: str, comments: list) -> object:  # type: ignore[type-arg]
        parsed.append(len(source.lstrip("\n")))
        return real(source, comments)

    monkeypatch.setattr(parser, "_parse", counting)
    out = _error(spec)
    assert out.count(": error: ") >= 2
    assert out.startswith(f"{spec}:2501:")
    assert sum(parsed) <= 3.5 * len(text), (len(parsed), sum(parsed) / len(text))


def test_import_of_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.pgc"
    os.mkfifo(fifo)
    spec = tmp_path / "spec.pgc"
    spec.write_text('import "pipe.pgc"\n' + TOPOLOGY)
    result: list[str] = []
    worker = threading.Thread(target=lambda: result.append(_error(spec)), daemon=True)
    worker.start()
    worker.join(timeout=20)
    if worker.is_alive():  # unblock the reader so the test process can end, then fail
        with open(fifo, "w"):
            pass
        pytest.fail("importing a FIFO blocked")
    assert result[0].startswith(f"{spec}:1:1: error: cannot import `pipe.pgc`: not a regular file")


def test_import_of_a_device_is_refused(tmp_path: Path) -> None:
    spec = tmp_path / "spec.pgc"
    spec.write_text('import "/dev/zero"\n' + TOPOLOGY)
    assert _error(spec).startswith(
        f"{spec}:1:1: error: cannot import `/dev/zero`: not a regular file")


def test_oversized_spec_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parser, "MAX_SPEC_BYTES", 1000)
    spec = tmp_path / "spec.pgc"
    spec.write_text(TOPOLOGY + "// " + "x" * 1000 + "\n")
    assert "more than a spec may have" in _error(spec)


def test_load_sources_reads_a_regular_import(tmp_path: Path) -> None:
    (tmp_path / "topo.pgc").write_text(TOPOLOGY)
    spec = tmp_path / "spec.pgc"
    spec.write_text('import "topo.pgc"\n')
    assert len(load_sources(spec).modules) == 2
