"""The HTML report: self-contained, every section present, pictures inline, and the
predicted-vs-measured comparison computed from real trace files."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest
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


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.urls += [v or "" for k, v in attrs if k in ("src", "href")]


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
    parser = _Tags()
    parser.feed(html)
    assert parser.urls == []  # nothing to fetch: one file carries everything
    assert "script" not in parser.tags
    assert parser.tags.count("svg") == 4
    for heading in ("Spec", "Plan", "Memory per worker", "Paths", "Pictures",
                    "Predicted vs measured"):
        assert f"<h2>{heading}</h2>" in html
    assert "gap 22.8%" in html and "1.36x" in html and "1.13x" in html  # 30/22.1, 25/22.1
    # n3: 1 + 1 + 2 GiB of weights, grads, optimizer and 2 GiB of activations on 4 GiB
    assert '<td class="num">6 GiB</td><td class="num">4 GiB</td><td>150% <span class="bar over"' in html
    # backward is 2 s predicted, 2.2 s measured: 16 backwards, +0.2 s each
    row = re.search(r"<td>B</td><td class=\"num\">16</td><td class=\"num\">32 s</td>"
                    r"<td class=\"num\">35.2 s</td>", html)
    assert row is not None
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
