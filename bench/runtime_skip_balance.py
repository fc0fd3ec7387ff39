"""Why the router balances stage visits (skip { balance = 0% }): the bench-c model and data,
1/3 skip, with explicit paths that share the five skippable stages evenly (4/4/4/3/3 of 18
visits) against paths that starve one stage (s2: 1 of 18), as pure time-driven routing did on
geo-20 (2 of 30), at equal tokens and learning rate; held-out loss with every stage and with
half of them removed.

    python bench/runtime_skip_balance.py [--steps 300]

Writes bench/results/runtime_skip_balance.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import runtime_skip_text as text_bench  # noqa: E402

PATHS: dict[str, list[tuple[int, ...]]] = {  # per microbatch, the skippable stages it visits (origin n0 first and last)
    "balanced": [(1, 2, 4), (1, 3, 5), (2, 3, 5), (1, 4, 5), (2, 3, 4), (1, 2, 5)],
    "starved": [(1, 3, 4), (1, 3, 5), (1, 4, 5), (3, 4, 5), (1, 2, 3), (1, 3, 4)],
}


def policy(combos: list[tuple[int, ...]]) -> str:
    paths = "\n  ".join(f"path mb{i} = n0 -> " + " -> ".join(f"n{s}" for s in c) + " -> n0"
                        for i, c in enumerate(combos))
    return "skip { ratio = 1/3; never = [origin]; balance = off }\n  schedule explicit\n  " + paths


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--lr", default="6e-3")
    args = ap.parse_args()
    text_bench.POLICY = {k: policy(v) for k, v in PATHS.items()}
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        corpus = text_bench.corpus(work / "stdlib.txt")
        for kind, combos in PATHS.items():
            visits = [sum(s in c for c in combos) for s in range(1, 6)]
            runs[kind] = {"visits": visits, **text_bench.train_and_eval(
                kind, work, corpus, args.steps, 16, 64, args.lr)}
            r = runs[kind]
            print(f"{kind:8}  visits s1..s5 {visits}  held-out full {r['eval_full']:.4f}  "
                  f"half removed {r['eval_half_removed']:.4f}", flush=True)
    result = {"steps": args.steps, "lr": float(args.lr), "runs": runs,
              "starved_over_balanced_full": runs["starved"]["eval_full"] / runs["balanced"]["eval_full"] - 1}
    print(f"starved / balanced held-out full loss: {result['starved_over_balanced_full']:+.1%}")
    dest = text_bench.ROOT / "bench/results/runtime_skip_balance.json"
    dest.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
