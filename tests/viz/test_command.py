"""`pgc viz` as a user runs it: real spec, real passes, real graphviz, real exit codes."""

from __future__ import annotations

import os
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import ROOT, pgc_env
from html_page import Page

SPEC = Path(__file__).resolve().parent / "specs" / "ring_explicit.pgc"

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz `dot` not installed")


def _pgc(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "pgc", *args], cwd=ROOT, env=env or pgc_env(),
                          capture_output=True, text=True, timeout=120)


@needs_dot
def test_graph_svg_from_a_spec(tmp_path: Path) -> None:
    out = tmp_path / "g.svg"
    done = _pgc("viz", str(SPEC), "--what", "graph", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"wrote {out}"
    root = ET.parse(out).getroot()
    texts = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    assert "visited by 2/4 mb, skipped by 2" in texts  # s1: mb0 and mb2 only


def test_without_dot_writes_dot_and_says_how_to_install(tmp_path: Path) -> None:
    env = pgc_env()
    bin_dir = tmp_path / "bin"  # PATH with python but no dot
    bin_dir.mkdir()
    env["PATH"] = str(bin_dir)
    out = tmp_path / "p.png"
    done = _pgc("viz", str(SPEC), "--what", "paths", "-o", str(out), env=env)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "graphviz's `dot` is not on PATH" in done.stderr
    assert "apt-get install graphviz" in done.stderr and "brew install graphviz" in done.stderr
    assert not out.exists()
    assert (tmp_path / "p.dot").read_text().startswith("digraph ring_paths {")


def test_bad_suffix_and_view_are_user_errors(tmp_path: Path) -> None:
    done = _pgc("viz", str(SPEC), "--what", "report", "-o", str(tmp_path / "r.svg"))
    assert done.returncode == 2 and "use an output file ending in .html" in done.stderr
    done = _pgc("viz", str(SPEC), "--what", "pictures", "-o", str(tmp_path / "r.svg"))
    assert done.returncode == 2 and "invalid choice: 'pictures'" in done.stderr
    assert os.listdir(tmp_path) == []


@needs_dot
def test_timeline_writes_svg_and_trace_from_the_simulator(tmp_path: Path) -> None:
    import json

    out = tmp_path / "t.svg"
    done = _pgc("viz", str(SPEC), "--what", "timeline", "-o", str(out))
    assert done.returncode == 0, done.stderr
    trace = tmp_path / "t.trace.json"
    assert done.stdout.split() == ["wrote", str(out), "wrote", str(trace)]
    ET.parse(out)
    events = json.loads(trace.read_text())["traceEvents"]
    compute = [e for e in events if e["ph"] == "X"]
    # 4 microbatches x 5 segment visits (prologue, 3 stages, epilogue) x (F + B), then one
    # ALLREDUCE on each origin (a replica group of two) and a STEP on each of 7 workers
    assert sum(e["cat"] in ("F", "B") for e in compute) == 40
    assert sum(e["cat"] == "ALLREDUCE" for e in compute) == 2
    assert sum(e["cat"] == "STEP" for e in compute) == 7
    assert any(e["args"].get("critical") for e in compute)


@needs_dot
def test_report_with_baselines_and_pictures(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    done = _pgc("viz", str(SPEC), "--what", "report", "-o", str(out))
    assert done.returncode == 0, done.stderr
    html = out.read_text()
    assert html.count("<svg") == 3
    # gpipe holds every microbatch a worker sees (4 per origin) over the spec's inflight = 2
    page = Page(html)
    assert page.row("gpipe (holds 4, over inflight = 2)") and page.row("1f1b")
    assert "lower bound components" in html
