"""`pgc viz` from a compiled plan: every view of one plan, without planning again, and the
interactive view opened in a real headless Chromium (no script error, a non-blank picture)."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from conftest import ROOT, run_pgc

SPEC = Path(__file__).resolve().parent / "specs" / "ring_explicit.pgc"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz `dot` not installed")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("build") / "ring"
    # as a user compiles from their project: plan.json names the spec by this relative path
    done = run_pgc("compile", str(SPEC.relative_to(ROOT)), "-o", str(out))
    assert done.returncode == 0, done.stderr
    return out


def test_program_from_plan_is_the_compiled_plan(compiled: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    import pgc.passes.place
    import pgc.passes.route
    import pgc.sched.order
    from pgc.ir.plan_schema import plan_to_dict
    from pgc.plan_file import program_from_plan

    def no_planning(program: object) -> object:
        raise AssertionError("a compiled plan was planned again")

    for module in (pgc.passes.place, pgc.passes.route, pgc.sched.order):
        monkeypatch.setattr(module, "PASS", replace(module.PASS, run=no_planning))
    program = program_from_plan(compiled, SPEC)  # the folder; plan.json works the same
    stored = json.loads((compiled / "plan.json").read_text())
    again = plan_to_dict(program)
    for key in ("stages", "paths", "actions", "prediction"):
        assert again[key] == stored[key], key


@needs_dot
def test_viz_all_from_a_plan_writes_every_view(compiled: Path, tmp_path: Path) -> None:
    out = tmp_path / "pictures"
    done = run_pgc("viz", str(compiled / "plan.json"), "--spec", str(SPEC), "--what", "all",
                   "-o", str(out))
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == ["graph.svg", "paths.svg", "report.html", "timeline.svg",
                     "timeline.trace.json", "view.html"]
    assert done.stdout.count("wrote ") == 6


def test_plan_errors_are_located_and_plain(compiled: Path, tmp_path: Path) -> None:
    bad = tmp_path / "plan.json"
    bad.write_text("{not json")
    done = run_pgc("viz", str(bad), "--what", "graph", "-o", str(tmp_path / "g.svg"))
    assert done.returncode == 2 and "is not a JSON plan" in done.stderr
    plan = json.loads((compiled / "plan.json").read_text())
    plan["spec_file"] = "nowhere_to_be_found.pgc"
    bad.write_text(json.dumps(plan))
    done = run_pgc("viz", str(bad), "--what", "graph", "-o", str(tmp_path / "g.svg"))
    assert done.returncode == 2 and "which is not found from here" in done.stderr
    assert "--spec FILE" in done.stderr
    changed = tmp_path / "changed.pgc"
    changed.write_text(SPEC.read_text().replace("steps = ", "steps = 1"))
    done = run_pgc("viz", str(bad), "--spec", str(changed), "--what", "graph", "-o",
                   str(tmp_path / "g.svg"))
    assert done.returncode == 2 and "has changed since" in done.stderr
    done = run_pgc("viz", str(compiled), "--what", "all", "-o", str(tmp_path / "x.svg"))
    assert done.returncode == 2 and "--what all writes a folder" in done.stderr
    done = run_pgc("viz", str(compiled), "--what", "graph", "--format", "png", "-o",
                   str(tmp_path / "g.svg"))
    assert done.returncode == 2 and "--format only applies to --what all" in done.stderr
    done = run_pgc("viz", str(SPEC), "--spec", str(SPEC), "--what", "graph", "-o",
                   str(tmp_path / "g.svg"))
    assert done.returncode == 2 and "--spec only applies when drawing a compiled plan" in \
        done.stderr
    assert not (tmp_path / "g.svg").exists()
    assert "Traceback" not in done.stderr


PLANTED = """\
from pathlib import Path

from torch import nn

Path({marker!r}).write_text("imported")


class Model(nn.Module):
    def __init__(self, vocab: int, dim: int, layers: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.layers = nn.ModuleList(nn.Sequential(nn.Linear(dim, dim), nn.GELU())
                                    for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab, bias=False)

    def forward(self, ids):
        x = self.embed(ids)
        for layer in self.layers:
            x = layer(x)
        return self.head(self.norm(x))


def build(**kwargs):
    Path({marker!r}).write_text("called")
    return Model(**kwargs)
"""


def test_a_plan_never_runs_the_model_of_a_spec_it_was_not_given(tmp_path: Path) -> None:
    """A downloaded folder: plan.json, the spec beside it, and the model module the spec names
    beside that, which creates a marker file when imported or called. Drawing the plan without
    `--spec` finds the spec (beside the plan, and again from the working folder) but imports
    nothing: it says where the spec is and how to name it."""
    download, marker = tmp_path / "download", tmp_path / "MARKER"
    download.mkdir()
    (download / "planted.py").write_text(PLANTED.format(marker=str(marker)))
    spec = (ROOT / "tests" / "runtime" / "specs" / "fault_chain.pgc").read_text()
    (download / "spec.pgc").write_text(spec.replace("tests.runtime.fault_model:build",
                                                    "planted:build"))
    done = run_pgc("compile", str(download / "spec.pgc"), "-o", str(download))
    assert done.returncode == 0 and marker.exists(), done.stderr  # the compile ran it
    marker.unlink()
    for cwd in (tmp_path, download):
        done = run_pgc("viz", str(download / "plan.json"), "--what", "graph", "-o",
                       str(tmp_path / "g.svg"), cwd=cwd)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert "runs model code only from a spec you name" in done.stderr, done.stderr
        assert "`planted:build`" in done.stderr and "--spec " in done.stderr
        assert not marker.exists() and not (tmp_path / "g.svg").exists()
    # named, it is trusted: the same command draws it (and the model runs)
    done = run_pgc("viz", str(download / "plan.json"), "--spec", str(download / "spec.pgc"),
                   "--what", "graph", "-o", str(tmp_path / "g.dot"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert marker.read_text() == "called" and (tmp_path / "g.dot").exists()


def test_a_plan_whose_spec_times_the_model_without_it_draws_without_spec(tmp_path: Path) -> None:
    """The same downloaded folder with a cost block that times the model (seconds per sample
    per layer): drawing needs none of the model's code, so the spec found beside the plan is
    used without `--spec`, and the planted module is never imported."""
    download, marker = tmp_path / "download", tmp_path / "MARKER"
    download.mkdir()
    (download / "planted.py").write_text(PLANTED.format(marker=str(marker)))
    spec = (ROOT / "tests" / "runtime" / "specs" / "fault_chain.pgc").read_text()
    spec = spec.replace("tests.runtime.fault_model:build", "planted:build").replace(
        "  schedule 1f1b\n", "  schedule 1f1b\n  cost { seconds_per_sample_per_layer = 1 ms }\n")
    (download / "spec.pgc").write_text(spec)
    done = run_pgc("compile", str(download / "spec.pgc"), "-o", str(download))
    assert done.returncode == 0, done.stderr
    marker.unlink(missing_ok=True)  # the compile may build the model for train.py's stages
    out = tmp_path / "pictures"
    done = run_pgc("viz", str(download / "plan.json"), "--what", "all", "-o", str(out),
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("wrote ") == 6 and (out / "view.html").is_file()
    assert not marker.exists()
    # the spec changed after compiling: found, but not the plan's
    (download / "spec.pgc").write_text(spec.replace("steps = 5", "steps = 6"))
    done = run_pgc("viz", str(download / "plan.json"), "--what", "graph", "-o",
                   str(tmp_path / "g.dot"), cwd=tmp_path)
    assert done.returncode == 2 and "has changed since" in done.stderr, done.stderr


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and unfiltered rows of an 8-bit RGB or RGBA PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    height = channels = 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and colour in (2, 6)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            pred = {0: 0, 1: a, 2: b, 3: (a + b) // 2}.get(f)
            if pred is None:  # Paeth
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
            line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, rows


needs_chromium = pytest.mark.skipif(shutil.which("chromium") is None,
                                    reason="chromium is not installed")


@needs_chromium
def test_view_opens_in_headless_chromium(compiled: Path, tmp_path: Path) -> None:
    page = tmp_path / "view.html"
    done = run_pgc("viz", str(compiled), "--spec", str(SPEC), "--what", "view", "-o", str(page))
    assert done.returncode == 0, done.stderr
    text = page.read_text()
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in text and "<link" not in text and " src=" not in text
    _check_in_browser(page, tmp_path)


@needs_chromium
def test_view_of_256_workers_opens_in_headless_chromium(tmp_path: Path) -> None:
    """256 workers, 32 per stage over 8 regions: stage columns show region boxes, timeline rows
    are named by stage band."""
    from dataclasses import replace

    from viz_programs import wide_ring

    from pgc.ir.types import CostModel
    from pgc.pipeline import load_pass
    from pgc.viz.view import view_html

    program = wide_ring(workers=256, microbatches=64)
    program = replace(program, cost=CostModel(sec_per_sample_per_layer=0.01),
                      segments=tuple(replace(s, layers=2) for s in program.segments))
    for name in ("ordered", "verified", "simulated"):
        program = load_pass(name)(program)
    page = tmp_path / "wide.html"
    page.write_text(view_html(program), encoding="utf-8")
    text = page.read_text()
    assert text.count('class="region"') == 9 * 8 and 'class="worker"' not in text
    assert text.count('class="band"') == 8
    assert text.count('class="cell"') == sum(len(p.hops) - 1 for p in program.paths)
    _check_in_browser(page, tmp_path)


def _check_in_browser(page: Path, tmp_path: Path) -> None:
    """Open `page` in headless Chromium: no script error, zoom and hover work in every panel,
    and a screenshot is not blank."""
    base = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1000,1300"]
    # one load: the page's own events drive zoom and hover (`#selftest`) and it writes what
    # happened, and any script error (window.onerror, console.error), into the DOM
    dom = subprocess.run([*base, "--dump-dom", page.as_uri() + "#selftest"],
                         capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert '<div id="errors"></div>' in dom.stdout, dom.stdout[:2000]
    ready = dom.stdout.split('data-ready="', 1)[1].split('"', 1)[0]
    assert int(ready) > 40  # the script ran to its end and found the hover marks
    assert "Uncaught" not in dom.stderr and "CONSOLE" not in dom.stderr
    result = dom.stdout.split('data-selftest="', 1)[1].split('"', 1)[0]
    assert result.split() == [f"{panel}:{check}" for panel in ("graph", "paths", "timeline")
                              for check in ("zoom", "hover")]
    shot = tmp_path / "shot.png"
    done2 = subprocess.run([*base, f"--screenshot={shot}", page.as_uri()], capture_output=True,
                           text=True, timeout=120)
    assert done2.returncode == 0 and shot.exists(), done2.stderr[-2000:]
    width, height, rows = png_pixels(shot.read_bytes())
    assert (width, height) == (1000, 1300)
    sample = [px for row in rows[::20] for px in row[::97]]
    mean = sum(sample) / len(sample)
    variance = sum((v - mean) ** 2 for v in sample) / len(sample)
    assert variance > 100, f"blank screenshot (variance {variance:.1f})"
    assert len(set(sample)) > 20


def test_the_256_worker_picture_spec_lowers() -> None:
    """bench/specs/geo256.pgc, the scale docs/geo256_view.png shows, stays a valid spec."""
    from pgc.frontend import load_program

    program = load_program(str(Path(__file__).resolve().parents[2] / "bench" / "specs" /
                                "geo256.pgc"))
    assert len(program.workers) == 256 and len(program.stages) == 16
    assert len({w.region for w in program.workers}) == 16


def test_view_timeline_names_stage_bands_when_rows_are_too_thin_for_workers() -> None:
    """At 256 workers a timeline row is too thin for a worker's name: each stage's band of rows
    is named once (stage, worker count; its workers on hover); at 16 every row is named. The
    labels of the pipeline's end and of the bound never overlap."""
    import re
    from dataclasses import replace

    from viz_programs import wide_ring

    from pgc.ir.types import CostModel
    from pgc.pipeline import load_pass
    from pgc.viz.predicted import predicted_timeline
    from pgc.viz.view import timeline_svg

    for workers in (256, 16):
        program = wide_ring(workers=workers, microbatches=16)
        program = replace(program, cost=CostModel(sec_per_sample_per_layer=0.01),
                          segments=tuple(replace(s, layers=2) for s in program.segments))
        for name in ("ordered", "verified", "simulated"):
            program = load_pass(name)(program)
        svg = timeline_svg(program, predicted_timeline(program))
        # right-aligned texts: the row or band labels, then the iteration time at the axis' end
        labels = re.findall(r'text-anchor="end"[^>]*>([^<]*)</text>', svg)[:-1]
        per = workers // 8
        if workers == 256:
            assert labels == [f"{s} · {per} workers" for s in
                              ["origin", *(f"s{i}" for i in range(1, 8))]]
            assert svg.count('class="band"') == 8
            assert f'data-tip="stage s3: {per} workers: n{3 * per}, n{3 * per + 1},' in svg
            # the pipeline's end and the bound lie close here: their labels take two lines
            marks = re.findall(r'y="([\d.]+)"[^>]*>(pipeline end|lower bound) ', svg)
            assert len(marks) == 2 and marks[0][0] != marks[1][0], marks
        else:
            assert len(labels) == workers and "n0 origin" in labels and 'class="band"' not in svg
