"""The HTML report: self-contained, every section present, pictures inline, and the
predicted-vs-measured comparison computed from real trace files."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from html_page import Page
from viz_programs import chain4, gpipe_timeline

from pgc.ir.types import MemoryEstimate, Prediction
from pgc.viz.graph import pipeline_graph
from pgc.viz.measured import read_measured
from pgc.viz.paths import paths_graph
from pgc.viz.report import Picture, report_html
from pgc.viz.timeline import timeline_dot
from pgc.viz.trace import chrome_trace

GIB = 1024**3
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz `dot` not installed")


def _program():  # type: ignore[no-untyped-def]
    memory = tuple((f"n{i}", MemoryEstimate(GIB, GIB, 2 * GIB, 0.5 * GIB * (i + 1)))
                   for i in range(4))
    pred = Prediction(pipeline_time=21.6, iteration_time=22.1, lower_bound=18.0,
                      pipeline_lower_bound=17.5, memory=memory)
    return replace(chain4(), prediction=pred)


def _measured_dir(tmp_path: Path) -> Path:
    """The predicted trace with every backward 10% slower and one action missing, written as
    per-worker files, the way a run's --trace writes them."""
    events = chrome_trace(gpipe_timeline())["traceEvents"]
    per_worker: dict[int, list[dict[str, object]]] = {}
    for e in events:
        if e["ph"] == "X" and e["cat"] == "B":
            e = {**e, "dur": e["dur"] * 1.1}
        if e["ph"] == "X" and e["name"] == "STEP" and e["pid"] == 3:
            continue
        per_worker.setdefault(e["pid"], []).append(e)
    out = tmp_path / "trace"
    out.mkdir()
    for pid, evs in per_worker.items():
        (out / f"rank{pid}.json").write_text(json.dumps({"traceEvents": evs}))
    return out


@needs_dot
def test_report_is_self_contained_with_every_section(tmp_path: Path) -> None:
    program = _program()
    tl = gpipe_timeline()
    pictures = [Picture("pipeline graph", pipeline_graph(program).source),
                Picture("microbatch paths", paths_graph(program).source),
                Picture("predicted timeline", timeline_dot(tl))]
    measured = read_measured(_measured_dir(tmp_path))
    mtl = replace(tl, bars=tuple(measured), iteration_time=max(b.end for b in measured))
    html = report_html(program, pictures, baselines=[("gpipe", 30.0), ("1f1b", 25.0)],
                       predicted=tl, measured=measured,
                       measured_pic=Picture("measured timeline", timeline_dot(mtl)))
    page = Page(html)
    assert page.urls == []  # nothing to fetch: one file carries everything
    assert "script" not in page.tags
    assert page.tags.count("svg") == 4
    assert {"Spec", "Plan", "Memory per worker", "Paths", "Pictures",
            "Predicted vs measured"} <= set(page.headings)
    assert page.row("lower bound")[-1] == "gap 22.8%"
    assert page.row("gpipe")[-1] == "1.36x" and page.row("1f1b")[-1] == "1.13x"  # 30/22.1, 25/22.1
    # n3: 1 + 1 + 2 GiB of weights, grads, optimizer and 2 GiB of activations on 4 GiB
    assert page.row("n3", "used")[-3:] == ["6 GiB", "4 GiB", "150%"]
    assert {"bar", "over"} <= page.classes("n3", "used")
    # backward is 2 s predicted, 2.2 s measured: 16 backwards, +0.2 s each
    assert page.row("B")[:4] == ["B", "16", "32 s", "35.2 s"]
    assert "1 only predicted" in html  # the STEP the measured run lost
    assert "e-0" not in html  # float noise is shown as zero


def test_report_without_dot_shows_dot_source(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    program = _program()
    html = report_html(program, [Picture("pipeline graph", pipeline_graph(program).source)])
    assert "<svg" not in html and "digraph chain4 {" in html and "not found" in html


def test_report_without_prediction_says_so() -> None:
    html = report_html(chain4(), [])
    assert "no prediction" in html and "no memory estimate" in html
