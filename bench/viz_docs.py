"""Draw the pictures the README shows: the geo-20 SkipPipe example's pipeline graph, paths and
timeline, planned once and rendered from that one plan (PNG by `dot -Tpng` of each view's DOT).

    python bench/viz_docs.py        # writes docs/geo20_{graph,paths,timeline}.png
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SPEC = ROOT / "examples" / "skippipe_geo20.pgc"


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
    return 0


if __name__ == "__main__":
    sys.exit(main())
