"""Timeline: Gantt DOT and Chrome trace goldens, bubbles, Perfetto-safe lanes, real SVG."""

from __future__ import annotations

import json
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest
from viz_golden import check_golden
from viz_programs import gpipe_timeline

from pgc.viz.timeline import Bar, Timeline, bubbles, idle_fraction, nice_step, timeline_dot
from pgc.viz.trace import chrome_trace, trace_text

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz `dot` not installed")


def test_timeline_dot_golden() -> None:
    check_golden("gpipe_timeline.dot", timeline_dot(gpipe_timeline()))


def test_trace_json_golden() -> None:
    check_golden("gpipe_timeline.trace.json", trace_text(gpipe_timeline()))


def test_trace_is_valid_json_with_one_slice_per_bar() -> None:
    tl = gpipe_timeline()
    obj = json.loads(trace_text(tl))
    slices = [e for e in obj["traceEvents"] if e["ph"] == "X"]
    begins = [e for e in obj["traceEvents"] if e["ph"] == "b"]
    ends = {e["id"]: e["ts"] for e in obj["traceEvents"] if e["ph"] == "e"}
    assert len(slices) + len(begins) == len(tl.bars)
    assert {e["cat"] for e in begins} == {"SEND_F", "RECV_F"}
    assert all(ends[e["id"]] >= e["ts"] for e in begins)
    names = {e["args"]["name"] for e in obj["traceEvents"] if e["name"] == "process_name"}
    assert names == {"n0", "n1", "n2", "n3"}
    first = next(e for e in slices if e["name"] == "B s2 m1")
    bar = next(b for b in tl.bars if b.label == "B s2 m1" and b.worker == "n2")
    assert first["ts"] == pytest.approx(bar.start * 1e6)
    assert first["dur"] == pytest.approx((bar.end - bar.start) * 1e6)
    marks = {e["name"]: e["ts"] for e in obj["traceEvents"] if e["ph"] == "i"}
    assert marks["lower bound"] == 18e6


def test_no_two_complete_slices_overlap_on_one_thread() -> None:
    # Perfetto nests X slices per (pid, tid); overlapping siblings would be drawn wrongly.
    spans: dict[tuple[int, int], list[tuple[float, float]]] = {}
    for e in chrome_trace(gpipe_timeline())["traceEvents"]:
        if e["ph"] == "X":
            spans.setdefault((e["pid"], e["tid"]), []).append((e["ts"], e["ts"] + e["dur"]))
    for lane in spans.values():
        lane.sort()
        assert all(a[1] <= b[0] + 1e-6 for a, b in zip(lane, lane[1:]))


def test_bubbles_are_the_idle_compute_before_pipeline_end() -> None:
    tl = gpipe_timeline()
    gaps = bubbles(tl)
    horizon = tl.pipeline_time
    assert horizon is not None
    for worker in tl.workers:
        busy = sum(b.end - b.start for b in tl.bars
                   if b.worker == worker and b.kind in ("F", "B") and b.end <= horizon)
        assert sum(e - s for s, e in gaps[worker]) == pytest.approx(horizon - busy)
    # n0 finishes its forwards at 4 s and waits for the first gradient to come back
    first_b = min(b.start for b in tl.bars if b.worker == "n0" and b.kind == "B")
    assert gaps["n0"][0] == pytest.approx((4.0, first_b))
    # in GPipe every stage idles the same share: 4 x (1 + 2) s busy of the pipeline phase
    idle = idle_fraction(tl)
    assert idle["n0"] == pytest.approx(1 - 12 / horizon)
    assert idle["n3"] == pytest.approx(idle["n0"])


def test_nice_step() -> None:
    assert nice_step(22.1) == 5.0
    assert nice_step(0.013) == 0.002
    assert nice_step(100.0) == 10.0


def test_labels_inside_wide_bars_beside_narrow_ones_with_room_else_none() -> None:
    bars = (Bar("w", "F", "F s0 m12", 0.0, 0.001, 12, ""),  # narrow, next bar right after
            Bar("w", "F", "F s0 m14", 0.001, 0.002, 14, ""),  # narrow, idle until 1 s
            Bar("w", "F", "F s0 m13", 1.0, 2.0, 13, ""))  # wide
    dot = timeline_dot(Timeline("t", ("w",), bars, 2.0))
    assert 'label="m13" tooltip=' in dot
    assert 'label="m14" fontsize="6.5"' in dot and 'label="m14" tooltip' not in dot
    assert 'label="m12"' not in dot


@needs_dot
def test_timeline_svg_parses_with_a_node_per_bar(tmp_path) -> None:  # type: ignore[no-untyped-def]
    tl = gpipe_timeline()
    dot = timeline_dot(tl)
    svg = subprocess.run(["dot", "-Tsvg"], input=dot.encode(), capture_output=True,
                         check=True).stdout
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    tips = [a.get("{http://www.w3.org/1999/xlink}title") or "" for a in root.iter(f"{ns}a")]
    drawn = [b for b in tl.bars if not b.kind.startswith("RECV")]
    assert sum(": " in t and " - " in t and "idle" not in t for t in tips) == len(drawn)
    assert sum(t.endswith("critical") for t in tips) == sum(b.critical for b in tl.bars)
    texts = " ".join(t.text or "" for t in root.iter(f"{ns}text"))
    assert "lower bound 18 s" in texts and "gap" in texts


def test_trace_lines_split_only_between_events() -> None:
    # a worker name holding the very text the line splitter looks for stays one event
    weird = 'w"}, {"x'
    tl = Timeline("t", (weird,), (Bar(weird, "F", "F s0 m0", 0.0, 1.0, 0, ""),), 1.0)
    text = trace_text(tl)
    events = json.loads(text)["traceEvents"]
    assert len(text.splitlines()) == 1 + len(events)
    assert events[-2]["args"]["worker"] == weird
