"""Benchmark: 20,000 fuzzed specs through `pgc check` and 500 check-clean ones through
`pgc plan` (the mutator and seeds of tests/fuzz/), counting outcomes: ok, error (a located
diagnostic), crash (any other exception) and hang (past the per-call limit). The must-show is
0 crashes and 0 hangs; CPU seconds are recorded next to the counts.

Run: `python bench/fuzz_bench.py [--seed N]` (writes bench/results/fuzz_bench.json/.md).
"""

from __future__ import annotations

import collections
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402, F401  (loaded before any time limit can interrupt its import)

from pgc.commands.plan import plan  # noqa: E402
from pgc.frontend import check_file  # noqa: E402
from tests.fuzz.corpus import check_seeds, plan_seeds  # noqa: E402
from tests.fuzz.mutator import mutants, run_one  # noqa: E402

CHECKS, PLANS = 20_000, 500
CHECK_LIMIT_S, PLAN_LIMIT_S = 10.0, 60.0  # CPU seconds (run_one)


def sweep(name: str, fn: Any, stream: Any, limit: float, wanted: int,
          clean_first: bool) -> dict[str, Any]:
    counts: collections.Counter[str] = collections.Counter()
    bad: list[str] = []
    cpu = time.process_time()
    for m in stream:
        if clean_first and run_one(check_file, m, limit)[0] != "ok":
            continue
        outcome, detail = run_one(fn, m, limit)
        counts[outcome] += 1
        if outcome in ("crash", "hang"):
            bad.append(f"{m.describe()}: {outcome}: {detail.strip().splitlines()[-1]}")
        if sum(counts.values()) == wanted:
            break
    result = {"command": name, "mutants": sum(counts.values()), **{k: counts[k] for k in
              ("ok", "error", "crash", "hang")}, "cpu_s": round(time.process_time() - cpu, 1),
              "failures": bad[:20]}
    print(result, flush=True)
    return result


def main(seed: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        rows = [sweep("check", check_file, mutants(check_seeds(scratch / "c"), CHECKS, seed),
                      CHECK_LIMIT_S, CHECKS, False),
                sweep("plan", plan, mutants(plan_seeds(scratch), 100 * PLANS, seed),
                      PLAN_LIMIT_S, PLANS, True)]
    out = ROOT / "bench" / "results"
    (out / "fuzz_bench.json").write_text(json.dumps({"seed": seed, "rows": rows}, indent=2) + "\n")
    lines = [f"# Spec fuzzer (`bench/fuzz_bench.py`, seed {seed})", "",
             "| command | mutants | ok | located error | crash | hang | CPU s |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| pgc {r['command']} | {r['mutants']} | {r['ok']} | {r['error']} | {r['crash']} "
              f"| {r['hang']} | {r['cpu_s']} |" for r in rows]
    lines += ["", f"Per-call limits: check {CHECK_LIMIT_S:g} s, plan {PLAN_LIMIT_S:g} s of CPU "
              "time, ten times that in wall time (a call past either counts as a hang). A "
              "mutant that drops the synthetic cost line makes `pgc plan` build and capture the "
              "real model.", "Plan mutants are check-clean mutants of small "
              "synthetic-cost ring and chain specs (tests/fuzz/corpus.py)."]
    for r in rows:
        lines += [f"- {f}" for f in r["failures"]]
    (out / "fuzz_bench.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 1)
