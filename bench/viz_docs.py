"""Draw the pictures the README shows: the geo-20 SkipPipe example's pipeline graph, paths and
timeline, planned once and rendered from that one plan (PNG by `dot -Tpng` of each view's DOT),
and screenshots of the interactive view (`pgc viz --what view`) of geo-20 and of the 256-worker
bench spec, taken by headless Chromium.

    python bench/viz_docs.py        # writes docs/geo20_{graph,paths,timeline,view}.png and
                                    # docs/geo256_view.png
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SPEC = ROOT / "examples" / "skippipe_geo20.pgc"
SPEC_256 = ROOT / "bench" / "specs" / "geo256.pgc"


def main() -> int:
    from pgc.frontend import load_program
    from pgc.pipeline import run_passes
    from pgc.viz import render

    started = time.perf_counter()
    program = run_passes(load_program(SPEC), until="simulated")
    print(f"planned {program.name} in {time.perf_counter() - started:.1f} s: "
          f"iteration {program.prediction.iteration_time:.1f} s predicted"
          f" (lower bound {program.prediction.lower_bound:.1f} s)", flush=True)
    for what in ("graph", "paths", "timeline"):
        out = ROOT / "docs" / f"geo20_{what}.png"
        for path in render(program, what, out):
            if path.suffix == ".png":
                print(f"wrote {path.relative_to(ROOT)}")
            else:  # the timeline's Chrome trace: not a picture, not committed
                path.unlink()
    screenshot(program, ROOT / "docs" / "geo20_view.png", 1400, 2200)
    screenshot(run_passes(load_program(SPEC_256), until="simulated"),
               ROOT / "docs" / "geo256_view.png", 1400, 3300)
    return 0


def screenshot(program: object, out: Path, width: int, height: int) -> None:
    """The interactive view of `program` as Chromium draws it, `width` x `height` pixels."""
    import subprocess
    import tempfile

    from pgc.ir.types import Program
    from pgc.viz import render

    assert isinstance(program, Program)
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "view.html"
        render(program, "view", page)
        subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                        "--hide-scrollbars", f"--user-data-dir={tmp}/profile",
                        f"--window-size={width},{height}", f"--screenshot={out}",
                        page.as_uri()], check=True, capture_output=True, timeout=300)
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    sys.exit(main())
