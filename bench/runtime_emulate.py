"""Rehearsal benchmark (bench b of the runtime benchmarks): a SkipPipe plan against its full-pipeline plan on a
time-scaled geo topology, run for real under torchrun with --emulate-network --emulate-compute
--time-scale, and each measured iteration time against the simulator's prediction
(plan.json `prediction.iteration_time`, what `pgc plan` prints; target: within 10%).

bench/specs/geo_skip.pgc (ring, skip ratio 1/3, one swap, skippipe schedule) and
bench/specs/geo_full.pgc (the same ring, every microbatch through every stage, 1F1B) share the
topology bench/specs/geo7.pgc (7 workers in 4 regions, 5-223 ms one-way). Both compile with
`pgc compile`; the runs alternate (skip, full, skip, full, ...) so that machine load hits both
alike. Within a run the first step (start-up) is dropped; a plan's measured iteration time is
the median of its steps over all rounds, divided by the time scale (back to spec time).

    python bench/runtime_emulate.py [--steps 6] [--rounds 2] [--time-scale 0.5]

Writes bench/results/runtime_emulate.json and .md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.rt_common import (  # noqa: E402
    LOAD_NOTE,
    ROOT,
    SPECS,
    compile_spec,
    machine,
    median,
    read_log,
    shown,
    torchrun,
    torchrun_cmd,
    write_results,
)

PLANS = {"skip": SPECS / "geo_skip.pgc", "full": SPECS / "geo_full.pgc"}
TOLERANCE = 0.10


def flags(scale: float) -> tuple[str, ...]:
    return ("--emulate-network", "--emulate-compute", "--time-scale", str(scale))


def run_once(out: Path, plan: dict[str, Any], steps: int, scale: float) -> list[float]:
    """Step times (seconds, time-scaled) of one emulated run, its first step dropped."""
    log = out / "log.jsonl"
    log.unlink(missing_ok=True)
    torchrun(out / "train.py", int(plan["world_size"]), "--quiet", "--steps", str(steps),
             "--log-file", str(log), *flags(scale))
    return [rec["time"] for rec in read_log(log) if "time" in rec][1:]


def summary(name: str, plan: dict[str, Any], times: list[float], scale: float) -> dict[str, Any]:
    predicted = float(plan["prediction"]["iteration_time"])
    measured = median(times) / scale
    error = measured / predicted - 1.0
    return {
        "spec": str(PLANS[name].relative_to(ROOT)),
        "schedule": plan["schedule"],
        "workers": int(plan["world_size"]),
        "predicted_s": round(predicted, 4),
        "measured_s": round(measured, 4),
        "error": round(error, 4),
        "within_tolerance": abs(error) <= TOLERANCE,
        "step_times_scaled_s": [round(t, 4) for t in times],
    }


def markdown(data: dict[str, Any]) -> list[str]:
    res, before, after = data["plans"], data["machine_before"], data["machine_after"]
    md = [
        "# Emulated geo rehearsal: measured against predicted iteration time",
        "",
        f"Topology `bench/specs/geo7.pgc` (7 CPU workers in 4 regions, 5-223 ms one-way); "
        f"`train.py {' '.join(flags(data['time_scale']))}`; {data['rounds']} alternating runs "
        f"per plan, {data['steps']} steps each, first step dropped; measured = median step time "
        f"/ {data['time_scale']}.",
        "",
        "| plan | schedule | predicted | measured | error |",
        "|---|---|---|---|---|",
    ]
    for name, r in res.items():
        md.append(f"| {name} (`{r['spec']}`) | {r['schedule']} | {r['predicted_s']:.3f} s | "
                  f"{r['measured_s']:.3f} s | {100 * r['error']:+.1f}% |")
    md += [
        "",
        f"Skip / full iteration time: measured {data['skip_over_full_measured']:.3f}, predicted "
        f"{data['skip_over_full_predicted']:.3f}.",
        "",
        f"**Target (each plan measured within {TOLERANCE:.0%} of predicted): "
        f"{'met' if data['within_10pct'] else 'NOT met'}.**",
        "",
        f"Step times (s, time-scaled): skip {res['skip']['step_times_scaled_s']}; full "
        f"{res['full']['step_times_scaled_s']}.",
        "",
        f"Command: `{data['commands']['bench']}`; each plan: `{data['commands']['each_plan']}`.",
        "",
        f"{LOAD_NOTE} Load average before {before['load_average']}, after "
        f"{after['load_average']}; {before['cpus']} cpus, python {before['python']}, torch "
        f"{before['torch']}.",
    ]
    return md


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--time-scale", type=float, default=0.5)
    args = ap.parse_args()
    scale = args.time_scale
    before = machine()
    with tempfile.TemporaryDirectory() as tmp:
        outs = {name: Path(tmp) / name for name in PLANS}
        plans = {name: compile_spec(spec, outs[name]) for name, spec in PLANS.items()}
        times: dict[str, list[float]] = {name: [] for name in PLANS}
        for r in range(args.rounds):
            for name in PLANS:
                times[name] += run_once(outs[name], plans[name], args.steps, scale)
                print(f"round {r + 1}/{args.rounds} {name}: {times[name][-(args.steps - 1):]}",
                      flush=True)
    res = {name: summary(name, plans[name], times[name], scale) for name in PLANS}
    data = {
        "time_scale": scale,
        "steps": args.steps,
        "rounds": args.rounds,
        "plans": res,
        "skip_over_full_measured": round(res["skip"]["measured_s"] / res["full"]["measured_s"], 4),
        "skip_over_full_predicted": round(res["skip"]["predicted_s"] / res["full"]["predicted_s"],
                                          4),
        "within_10pct": all(r["within_tolerance"] for r in res.values()),
        "commands": {
            "bench": f"python bench/runtime_emulate.py --steps {args.steps} --rounds "
                     f"{args.rounds} --time-scale {scale}",
            "each_plan": "python -m pgc compile SPEC -o OUT && cd OUT && "
            + shown(torchrun_cmd(Path("train.py"), 7, "--steps", str(args.steps), *flags(scale))),
        },
        "machine_before": before,
        "machine_after": machine(),
        "load_note": LOAD_NOTE,
    }
    write_results("runtime_emulate", data, markdown(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
