"""Throughput benchmark (issue 5, bench a): tokens/s of pgc's generated 1F1B script against
torch.distributed.pipelining's Schedule1F1B, same model, stages, 4 CPU workers over gloo,
8 microbatches; measured side by side in one run (target ratio >= 1.0).

    python bench/runtime_vs_pipelining.py [--steps 8] [--rounds 2]

Rounds alternate the two (pgc, torch, pgc, torch, ...) so machine load hits both alike.
Writes bench/results/runtime_vs_pipelining.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "bench/specs/pipe4.pgc"
TOKENS = 4 * 128 * 8  # microbatch size x sequence x microbatches per iteration
WARMUP = 2


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def torchrun(*args: str, cwd: Path) -> str:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "4",
           *args]
    return subprocess.run(cmd, check=True, env=env(), cwd=cwd, capture_output=True,
                          text=True).stdout


def pgc_round(out: Path, steps: int) -> float:
    log = out / "log.jsonl"
    log.unlink(missing_ok=True)
    torchrun(str(out / "train.py"), "--quiet", "--steps", str(steps), "--log-file", str(log),
             cwd=out)
    times = [json.loads(line)["time"] for line in log.read_text().splitlines()]
    return TOKENS / statistics.median(times[WARMUP:])


def torch_round(steps: int) -> float:
    out = torchrun(str(ROOT / "bench/pipelining_1f1b.py"), str(steps), cwd=ROOT)
    times = json.loads(out.strip().splitlines()[-1])["times"]
    return TOKENS / statistics.median(times[WARMUP:])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "pipe4"
        subprocess.run([sys.executable, "-m", "pgc", "compile", str(SPEC), "-o", str(out)],
                       check=True, env=env(), capture_output=True)
        pgc, ref = [], []
        for _ in range(args.rounds):
            pgc.append(pgc_round(out, args.steps))
            ref.append(torch_round(args.steps))
    result = {
        "spec": str(SPEC.relative_to(ROOT)),
        "workers": 4, "microbatches": 8, "tokens_per_iteration": TOKENS,
        "pgc_tokens_per_s": pgc, "schedule1f1b_tokens_per_s": ref,
        "ratio": statistics.median(pgc) / statistics.median(ref),
    }
    print(f"pgc 1f1b   {statistics.median(pgc):8.0f} tok/s  {pgc}")
    print(f"Schedule1F1B {statistics.median(ref):6.0f} tok/s  {ref}")
    print(f"ratio pgc / torch.distributed.pipelining: {result['ratio']:.3f}")
    (ROOT / "bench/results").mkdir(exist_ok=True)
    (ROOT / "bench/results/runtime_vs_pipelining.json").write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
