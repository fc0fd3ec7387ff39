"""The measured-trace reader (files written here in the shapes other tools write) and the
alignment of predicted and measured actions by id."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from viz_programs import gpipe_timeline

from pgc.diagnostics import UserError
from pgc.viz.measured import align, read_measured
from pgc.viz.timeline import Bar
from pgc.viz.trace import trace_text


def _write(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj))


def test_reads_back_our_own_trace(tmp_path: Path) -> None:
    tl = gpipe_timeline()
    (tmp_path / "predicted.json").write_text(trace_text(tl))
    bars = read_measured(tmp_path)
    assert len(bars) == len(tl.bars)
    by_id = {(b.worker, b.label): b for b in bars}
    for b in tl.bars:
        got = by_id[(b.worker, b.label)]
        assert got.start == pytest.approx(b.start) and got.end == pytest.approx(b.end)
        assert got.kind == b.kind and got.mb == b.mb


def test_per_worker_files_begin_end_pairs_gzip_and_noise(tmp_path: Path) -> None:
    # rank files without worker names, B/E pairs, an unrelated slice, gzip, wall-clock offsets
    t0 = 1_700_000_000_000_000.0
    _write(tmp_path / "trace_n0.json", {"traceEvents": [
        {"ph": "B", "name": "F s0 m0", "ts": t0, "pid": 7, "tid": 1},
        {"ph": "E", "ts": t0 + 1e6, "pid": 7, "tid": 1},
        {"ph": "X", "name": "barrier", "ts": t0 - 5e5, "dur": 10, "pid": 7, "tid": 1},
        {"ph": "X", "name": "send", "ts": t0 + 1e6, "dur": 1e5, "pid": 7, "tid": 2,
         "args": {"action_id": "SEND_F  m0 ->n1"}},
    ]})
    events = [{"ph": "X", "name": "fwd", "ts": t0 + 1.2e6, "dur": 2e6, "pid": 0, "tid": 0,
               "args": {"action": "F s1 m0", "worker": "n1"}}]
    (tmp_path / "rank1.json.gz").write_bytes(gzip.compress(json.dumps(events).encode()))
    (tmp_path / "notes.txt").write_text("not a trace")
    bars = read_measured(tmp_path)
    assert [(b.worker, b.label, round(b.start, 6), round(b.end, 6)) for b in bars] == [
        ("n0", "F s0 m0", 0.0, 1.0),
        ("n0", "SEND_F m0 ->n1", 1.0, 1.1),
        ("n1", "F s1 m0", 1.2, 3.2),
    ]


def test_picks_last_step_every_worker_reached(tmp_path: Path) -> None:
    def ev(worker: str, step: int, ts: float) -> dict[str, object]:
        return {"ph": "X", "name": "STEP", "ts": ts, "dur": 5.0, "pid": 0, "tid": 0,
                "args": {"worker": worker, "step": step}}

    _write(tmp_path / "a.json", [ev("n0", 0, 0), ev("n0", 1, 100), ev("n0", 2, 200)])
    _write(tmp_path / "b.json", [ev("n1", 0, 3), ev("n1", 1, 104)])
    bars = read_measured(tmp_path)
    assert [(b.worker, b.start) for b in bars] == [("n0", 0.0), ("n1", 4e-6)]


def test_untagged_repeats_keep_the_last_iteration(tmp_path: Path) -> None:
    events = [{"ph": "X", "name": "F s0 m0", "ts": ts, "dur": 1.0, "pid": 0, "tid": 0,
               "args": {"worker": "n0"}} for ts in (0.0, 50.0)]
    _write(tmp_path / "t.json", events)
    assert [b.start for b in read_measured(tmp_path)] == [0.0]
    assert len(read_measured(tmp_path)) == 1


def test_bad_inputs_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not a directory"):
        read_measured(tmp_path / "missing")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(UserError, match="cannot read trace"):
        read_measured(tmp_path)
    (tmp_path / "broken.json").write_text(json.dumps({"traceEvents": [
        {"ph": "X", "name": "compile", "ts": 0, "dur": 1}]}))
    with pytest.raises(UserError, match="no action slices"):
        read_measured(tmp_path)


def test_align_pairs_by_worker_and_action() -> None:
    predicted = [Bar("n0", "F", "F s0 m0", 0.0, 1.0, 0), Bar("n0", "B", "B s0 m0", 2.0, 4.0, 0)]
    measured = [Bar("n0", "B", "B s0 m0", 2.5, 5.0, 0), Bar("n0", "STEP", "STEP", 5.0, 5.1)]
    rows = align(predicted, measured)
    assert [(r.label, r.predicted is not None, r.measured is not None) for r in rows] == [
        ("F s0 m0", True, False), ("B s0 m0", True, True), ("STEP", False, True)
    ]
    assert rows[1].start_diff == pytest.approx(0.5)
    assert rows[1].duration_diff == pytest.approx(0.5)
    assert rows[0].start_diff is None


def test_a_rehearsal_trace_is_read_at_its_time_scale(tmp_path: Path) -> None:
    """A rehearsal at --time-scale 4 pads every action to 4x its prediction; the report
    compares with the prediction, so its times are divided by the scale the trace records."""
    tl = gpipe_timeline()
    doc = json.loads(trace_text(tl))
    for e in doc["traceEvents"]:
        for key in ("ts", "dur"):
            if key in e:
                e[key] *= 4
    _write(tmp_path / "run.json", {**doc, "otherData": {"time_scale": 4}})
    bars = {(b.worker, b.label): b for b in read_measured(tmp_path)}
    for b in tl.bars:
        got = bars[(b.worker, b.label)]
        assert got.start == pytest.approx(b.start) and got.end == pytest.approx(b.end)
