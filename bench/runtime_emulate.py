"""Rehearsal benchmark (bench b of the runtime benchmarks): plans on a time-scaled geo topology
run for real under torchrun with --emulate-network --emulate-compute --time-scale, each
measured step time against the simulator's prediction (what `pgc plan` prints; target: within
10%).

Two pipelines share the topology bench/specs/geo7.pgc (7 workers in 4 regions, 5-223 ms
one-way): bench/specs/geo_skip.pgc (ring, skip ratio 1/3, one swap, skippipe schedule) against
bench/specs/geo_full.pgc (the same ring, every microbatch through every stage, 1F1B); and the
sync modes on bench/specs/geo_sync.pgc (a ring whose body stages have two replicas in
different regions, skip 1/4), each with its `sync` block added: `overlap` (the default, an
fp32 all-reduce every step, started as soon as a group's last backward is done), `int8` (the
same sum sent as int8 every step) and `outer` (outer steps every 4 steps, int8
pseudo-gradients, Nesterov). Every plan compiles with `pgc compile`; the runs alternate
(plan after plan, round after round) so that machine load hits all alike. Within a run the
first step (start-up) is dropped; a plan's measured step time is the mean of its steps over all
rounds, divided by the time scale (back to spec time), against the mean of the predictions of
the same steps: a step that syncs is predicted at `prediction.iteration_time`, one that does
not (outer steps between syncs) at `prediction.step_time`. For the outer-step plan the syncing
and the other steps are also compared on their own.

    python bench/runtime_emulate.py [--steps 9] [--rounds 2] [--time-scale 0.5]

Writes bench/results/runtime_emulate.json and .md.
"""

from __future__ import annotations

import argparse
import re
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
SYNC_SPEC = SPECS / "geo_sync.pgc"
OUTER_EVERY = 4
SYNC_MODES = {
    "overlap": "",
    "int8": "sync { compress = int8 }",
    "outer": f"sync {{ every = {OUTER_EVERY}; compress = int8; "
             "outer = nesterov(lr = 0.7, momentum = 0.9) }",
}
TOLERANCE = 0.10


def flags(scale: float) -> tuple[str, ...]:
    return ("--emulate-network", "--emulate-compute", "--time-scale", str(scale))


def with_sync(block: str, out: Path) -> Path:
    """bench/specs/geo_sync.pgc with `block` before its `train` block, written next to the
    spec (its import is relative)."""
    text = SYNC_SPEC.read_text(encoding="utf-8")
    text = re.sub(r"^  train \{", f"  {block}\n  train {{", text, count=1, flags=re.M)
    spec = SPECS / f".{out.name}.pgc"
    spec.write_text(text, encoding="utf-8")
    return spec


def syncs_after(plan: dict[str, Any], step: int) -> bool:
    """Whether step `step` (from 1) ends with a sync (the runtime's rule)."""
    sync = plan["sync"]
    return bool(sync["synchronous"]) or step % int(sync["every"]) == 0


def run_once(out: Path, plan: dict[str, Any], steps: int, scale: float
             ) -> list[tuple[int, float]]:
    """(step from 1, time-scaled seconds) of one emulated run, its first step dropped."""
    log = out / "log.jsonl"
    log.unlink(missing_ok=True)
    torchrun(out / "train.py", int(plan["world_size"]), "--quiet", "--steps", str(steps),
             "--log-file", str(log), *flags(scale))
    return [(rec["step"], rec["time"]) for rec in read_log(log) if "time" in rec][1:]


def compare(plan: dict[str, Any], times: list[tuple[int, float]], scale: float
            ) -> dict[str, Any]:
    """Mean measured (spec time) against the mean prediction of the same steps."""
    pred = plan["prediction"]
    predicted = [pred["iteration_time"] if syncs_after(plan, s) else pred["step_time"]
                 for s, _ in times]
    p = sum(predicted) / len(predicted)
    m = sum(t for _, t in times) / len(times) / scale
    return {"predicted_s": round(p, 4), "measured_s": round(m, 4),
            "error": round(m / p - 1.0, 4), "steps": len(times)}


def summary(name: str, spec: Path, plan: dict[str, Any], times: list[tuple[int, float]],
            scale: float) -> dict[str, Any]:
    both = compare(plan, times, scale)
    out = {
        "spec": str(spec.relative_to(ROOT)),
        "schedule": plan["schedule"],
        "sync": {k: plan["sync"][k] for k in ("every", "compress", "outer")},
        "workers": int(plan["world_size"]),
        **both,
        "median_measured_s": round(median([t for _, t in times]) / scale, 4),
        "within_tolerance": abs(both["error"]) <= TOLERANCE,
        "step_times_scaled_s": [[s, round(t, 4)] for s, t in times],
    }
    if not plan["sync"]["synchronous"]:
        synced = [(s, t) for s, t in times if syncs_after(plan, s)]
        plain = [(s, t) for s, t in times if not syncs_after(plan, s)]
        out["syncing_steps"] = compare(plan, synced, scale)
        out["other_steps"] = compare(plan, plain, scale)
    return out


def markdown(data: dict[str, Any]) -> list[str]:
    res, before, after = data["plans"], data["machine_before"], data["machine_after"]
    md = [
        "# Emulated geo rehearsal: measured against predicted step time",
        "",
        f"Topology `bench/specs/geo7.pgc` (7 CPU workers in 4 regions, 5-223 ms one-way); "
        f"`train.py {' '.join(flags(data['time_scale']))}`; {data['rounds']} alternating runs "
        f"per plan, {data['steps']} steps each, first step dropped; measured = mean step time "
        f"/ {data['time_scale']}, predicted = the mean prediction of the same steps (a step "
        "that syncs: `iteration_time`; one that does not: `step_time`).",
        "",
        "| plan | schedule | sync | predicted | measured | error |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in res.items():
        sync = r["sync"]
        mode = ("every step" if sync["every"] == 1 else f"every {sync['every']}, "
                f"{sync['outer']}") + f", {sync['compress']}"
        md.append(f"| {name} (`{r['spec']}`) | {r['schedule']} | {mode} | "
                  f"{r['predicted_s']:.3f} s | {r['measured_s']:.3f} s | "
                  f"{100 * r['error']:+.1f}% |")
        for part in ("syncing_steps", "other_steps"):
            if part in r:
                q = r[part]
                md.append(f"| ... {name}, {part.replace('_', ' ')} ({q['steps']}) | | | "
                          f"{q['predicted_s']:.3f} s | {q['measured_s']:.3f} s | "
                          f"{100 * q['error']:+.1f}% |")
    md += [
        "",
        f"Skip / full step time: measured {data['skip_over_full_measured']:.3f}, predicted "
        f"{data['skip_over_full_predicted']:.3f}.",
        "",
        f"**Target (each plan measured within {TOLERANCE:.0%} of predicted): "
        f"{'met' if data['within_10pct'] else 'NOT met'}.**",
        "",
        "Step times (s, time-scaled, by step): "
        + "; ".join(f"{n} {r['step_times_scaled_s']}" for n, r in res.items()) + ".",
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
    ap.add_argument("--steps", type=int, default=1 + 2 * OUTER_EVERY)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--time-scale", type=float, default=0.5)
    args = ap.parse_args()
    scale = args.time_scale
    before = machine()
    with tempfile.TemporaryDirectory() as tmp:
        specs = dict(PLANS)
        made = []
        for mode, block in SYNC_MODES.items():
            made.append(with_sync(block, Path(tmp) / f"sync_{mode}"))
            specs[f"sync_{mode}"] = made[-1]
        outs = {name: Path(tmp) / name for name in specs}
        try:
            plans = {name: compile_spec(spec, outs[name]) for name, spec in specs.items()}
        finally:
            for spec in made:
                spec.unlink()
        times: dict[str, list[tuple[int, float]]] = {name: [] for name in specs}
        for r in range(args.rounds):
            for name in specs:
                got = run_once(outs[name], plans[name], args.steps, scale)
                times[name] += got
                print(f"round {r + 1}/{args.rounds} {name}: {got}", flush=True)
    shown_specs = {**specs, **{f"sync_{m}": SYNC_SPEC for m in SYNC_MODES}}
    res = {name: summary(name, shown_specs[name], plans[name], times[name], scale)
           for name in specs}
    data = {
        "time_scale": scale,
        "steps": args.steps,
        "rounds": args.rounds,
        "sync_blocks": {f"sync_{m}": b for m, b in SYNC_MODES.items()},
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
