"""What verifying the IR after every pass costs (`run_passes(verify=True)`, the default):
CPU seconds of the passes and of the verifier after each, side by side in one run, on the
shipped examples and the 256-worker spec. Decides whether `--no-verify` is worth offering.

Run: PYTHONPATH=. python bench/verify_cost.py   Writes bench/results/verify_cost.json
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from pathlib import Path

from pgc.frontend import load_program
from pgc.ir.verify import verify_program
from pgc.pipeline import PASS_NAMES, load_pass

ROOT = Path(__file__).resolve().parent.parent
SPECS = ("examples/chain4.pgc", "examples/skippipe_ring.pgc", "examples/skippipe_geo20.pgc",
         "examples/dtfm_gpt3xl.pgc", "bench/specs/geo256.pgc")


def measure(spec: str) -> dict[str, float]:
    program = load_program(str(ROOT / spec))
    pass_s = verify_s = 0.0
    for name in PASS_NAMES:
        t = time.process_time()
        with contextlib.redirect_stderr(io.StringIO()):
            program = load_pass(name)(program)
        pass_s += time.process_time() - t
        t = time.process_time()
        verify_program(program)
        verify_s += time.process_time() - t
    return {"passes_cpu_s": round(pass_s, 4), "verify_cpu_s": round(verify_s, 5),
            "verify_share": round(verify_s / pass_s, 5)}


if __name__ == "__main__":
    result = {spec: measure(spec) for spec in SPECS}
    print(json.dumps(result, indent=2))
    (ROOT / "bench/results/verify_cost.json").write_text(json.dumps(result, indent=2) + "\n")
