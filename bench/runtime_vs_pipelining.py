"""Throughput benchmark (bench a of the runtime benchmarks): tokens/s of pgc's generated 1F1B script against
torch.distributed.pipelining's Schedule1F1B (bench/pipelining_1f1b.py: PipelineStage with
manual stage modules), same model, stages, 4 CPU workers over gloo, 8 microbatches, SGD;
measured side by side in one run (target ratio >= 1.0).

bench/specs/pipe4.pgc: a LLaMA-style model (dim 256, 8 blocks) cut into 4 chain stages of 2
blocks, 8 microbatches of 4 x 128 tokens. Rounds alternate (pgc, torch, pgc, torch, ...) so that
machine load hits both alike; the first WARMUP steps of each run are dropped and a side's step
time is the median over all its remaining steps.

    python bench/runtime_vs_pipelining.py [--steps 8] [--rounds 3]

Writes bench/results/runtime_vs_pipelining.json and .md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.rt_common import (  # noqa: E402
    LOAD_NOTE,
    ROOT,
    SPECS,
    children_cpu,
    compile_spec,
    machine,
    median,
    read_log,
    shown,
    torchrun,
    torchrun_cmd,
    write_results,
)

SPEC = SPECS / "pipe4.pgc"
BASELINE = ROOT / "bench" / "pipelining_1f1b.py"
WARMUP, TARGET = 2, 1.0


def pgc_run(out: Path, steps: int) -> list[float]:
    log = out / "log.jsonl"
    log.unlink(missing_ok=True)
    torchrun(out / "train.py", 4, "--quiet", "--steps", str(steps), "--log-file", str(log))
    return [rec["time"] for rec in read_log(log)[WARMUP:]]


def torch_run(steps: int) -> list[float]:
    out = torchrun(BASELINE, 4, str(steps))
    times: list[float] = json.loads(out.strip().splitlines()[-1])["times"]
    return times[WARMUP:]


def markdown(data: dict[str, Any]) -> list[str]:
    before, after = data["machine_before"], data["machine_after"]
    return [
        "# pgc runtime vs torch.distributed.pipelining (Schedule1F1B)",
        "",
        f"Spec `{data['spec']}`: LLaMA-style, dim 256, 8 blocks, 4 chain stages of 2 blocks on 4 "
        f"CPU processes (gloo, 1 thread each), 8 microbatches of 4 x 128 tokens, SGD. "
        f"{data['rounds']} alternating rounds, {data['steps']} steps per run, first {WARMUP} "
        f"dropped, median step time.",
        "",
        "| side | median step | tokens/s |",
        "|---|---|---|",
        f"| pgc train.py (1f1b) | {data['pgc_step_s']:.3f} s | {data['pgc_tokens_per_s']:,.0f} |",
        f"| pipelining Schedule1F1B | {data['schedule1f1b_step_s']:.3f} s | "
        f"{data['schedule1f1b_tokens_per_s']:,.0f} |",
        "",
        f"**Ratio pgc / pipelining: {data['ratio']:.3f}** (target >= {TARGET}: "
        f"{'met' if data['target_met'] else 'NOT met'}).",
        "",
        f"CPU seconds per run (all 4 workers and torchrun, start-up included; steadier than "
        f"wall time under load): pgc {data['cpu_s_per_run']['pgc']}, Schedule1F1B "
        f"{data['cpu_s_per_run']['torch']} (torch / pgc {data['cpu_ratio_torch_over_pgc']:.3f}).",
        "",
        f"Step times (s): pgc {data['pgc_step_times_s']}; Schedule1F1B "
        f"{data['schedule1f1b_step_times_s']}.",
        "",
        f"Command: `{data['commands']['bench']}`; pgc side: `{data['commands']['pgc']}`; "
        f"torch side: `{data['commands']['torch']}`.",
        "",
        f"{LOAD_NOTE} Load average before {before['load_average']}, after "
        f"{after['load_average']}; {before['cpus']} cpus, python {before['python']}, torch "
        f"{before['torch']}.",
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    before = machine()
    pgc: list[float] = []
    ref: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "pipe4"
        plan = compile_spec(SPEC, out)
        mb = plan["microbatch"]
        tokens = mb["size"] * mb["seq_len"] * mb["count"]
        cpu: dict[str, list[float]] = {"pgc": [], "torch": []}
        for r in range(args.rounds):
            c0 = children_cpu()
            pgc += pgc_run(out, args.steps)
            c1 = children_cpu()
            ref += torch_run(args.steps)
            cpu["pgc"].append(round(c1 - c0, 2))
            cpu["torch"].append(round(children_cpu() - c1, 2))
            print(f"round {r + 1}/{args.rounds}: pgc {pgc[-(args.steps - WARMUP):]}, "
                  f"Schedule1F1B {ref[-(args.steps - WARMUP):]}", flush=True)
    ratio = median(ref) / median(pgc)
    data = {
        "spec": str(SPEC.relative_to(ROOT)),
        "workers": 4,
        "microbatches": mb["count"],
        "tokens_per_iteration": tokens,
        "steps": args.steps,
        "rounds": args.rounds,
        "pgc_step_times_s": [round(t, 4) for t in pgc],
        "schedule1f1b_step_times_s": [round(t, 4) for t in ref],
        "pgc_step_s": round(median(pgc), 4),
        "schedule1f1b_step_s": round(median(ref), 4),
        "pgc_tokens_per_s": round(tokens / median(pgc), 1),
        "schedule1f1b_tokens_per_s": round(tokens / median(ref), 1),
        "ratio": round(ratio, 4),
        "cpu_s_per_run": cpu,
        "cpu_ratio_torch_over_pgc": round(sum(cpu["torch"]) / sum(cpu["pgc"]), 4),
        "target": f">= {TARGET}",
        "target_met": ratio >= TARGET,
        "commands": {
            "bench": f"python bench/runtime_vs_pipelining.py --steps {args.steps} --rounds "
                     f"{args.rounds}",
            "pgc": f"python -m pgc compile {SPEC.relative_to(ROOT)} -o OUT && cd OUT && "
            + shown(torchrun_cmd(Path("train.py"), 4, "--steps", str(args.steps))),
            "torch": shown(torchrun_cmd(BASELINE.relative_to(ROOT), 4, str(args.steps))),
        },
        "machine_before": before,
        "machine_after": machine(),
        "load_note": LOAD_NOTE,
    }
    write_results("runtime_vs_pipelining", data, markdown(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
