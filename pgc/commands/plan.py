"""`pgc plan FILE [--json]`: the spec's schedule next to gpipe and 1f1b on the same workers, the
lower bound with its components, per-worker compute, bubble, inflight and memory, and how long
planning took (parse to prediction of the spec's schedule, baselines excluded)."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from typing import Any

from pgc.diagnostics import UserError
from pgc.ir.types import Program, ScheduleKind

HELP = "predict iteration time: the spec's schedule, gpipe and 1f1b baselines, bound, memory"
EXAMPLES = "  pgc plan examples/chain4.pgc\n  pgc plan examples/skippipe_ring.pgc --json\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="the spec")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    parser.add_argument("--explain", action="store_true",
                        help="also print what the planning passes tried (Program.notes)")


def _after_placement(placed: Program) -> Program:
    """Run the pipeline's passes that follow `placed`, through `simulated`."""
    from pgc.pipeline import PASS_MODULES, load_pass

    names = [name for name, _ in PASS_MODULES]
    program = placed
    for name in names[names.index("placed") + 1 : names.index("simulated") + 1]:
        program = load_pass(name)(program)
    return program


def _baseline(placed: Program, schedule: ScheduleKind) -> Program:
    """The placed program re-planned with a full-pipeline schedule on the same workers; GPipe
    holds every microbatch at once, so its inflight is M."""
    program = replace(placed, schedule=schedule, explicit_paths=(), paths=(), actions=(),
                      prediction=None)
    if schedule == "gpipe":
        program = replace(program, inflight=program.microbatches)
    return _after_placement(program)


def plan(file: str) -> dict[str, Any]:
    """Everything `pgc plan` reports, as a JSON-ready dict."""
    from pgc.frontend import load_program
    from pgc.pipeline import run_passes
    from pgc.sim.bound import lower_bound

    started = time.perf_counter()
    placed = run_passes(load_program(file), until="placed")
    planned = _after_placement(placed)
    plan_time = time.perf_counter() - started
    rows = [_row(f"{planned.schedule} (spec)", planned)]
    baselines: tuple[ScheduleKind, ...] = ("gpipe", "1f1b")
    for schedule in baselines:
        if schedule == planned.schedule:
            continue  # the spec's own row already shows it
        try:
            rows.append(_row(schedule, _baseline(placed, schedule)))
        except UserError as exc:
            rows.append({"schedule": schedule, "error": exc.diagnostics[0].message})
    bound = lower_bound(planned)
    pred = planned.prediction
    assert pred is not None
    busy, peak = dict(pred.busy), dict(pred.peak_inflight)
    workers = {w: {"busy": busy.get(w, 0.0), "bubble": pred.pipeline_time - busy.get(w, 0.0),
                   "peak_inflight": peak.get(w, 0), "weights": m.weights, "grads": m.grads,
                   "optimizer": m.optimizer, "activations": m.activations, "total": m.total,
                   "capacity": planned.worker(w).memory}
               for w, m in pred.memory}
    return {
        "pipeline": planned.name,
        "workers": len(planned.workers),
        "microbatches": planned.microbatches,
        "schedules": rows,
        "sync": _sync(planned),
        "bound": {name: {"seconds": v, "at": where} for name, v, where in bound.components},
        "per_worker": workers,
        "notes": list(planned.notes),
        "plan_time": plan_time,
    }


def _row(label: str, program: Program) -> dict[str, Any]:
    p = program.prediction
    assert p is not None
    return {
        "schedule": label,
        "pipeline_time": p.pipeline_time,
        "iteration_time": p.iteration_time,
        "lower_bound": p.lower_bound,
        "gap": p.gap,
        "peak_inflight": max((n for _, n in p.peak_inflight), default=0),
    }


def _sync(program: Program) -> dict[str, Any]:
    """The spec's sync mode and what it costs (DESIGN.md §4b): a step without sync, one that
    syncs, their mean over `every` steps next to its bound, and the bytes each group member
    puts on the wire per sync."""
    p, s = program.prediction, program.sync
    assert p is not None
    members = dict(_groups(program))
    return {
        "compress": s.compress, "every": s.every, "outer": s.outer, "outer_lr": s.outer_lr,
        "outer_momentum": s.outer_momentum,
        "step_time": p.step_time, "sync_step_time": p.iteration_time,
        "amortised_time": p.amortised_time, "amortised_lower_bound": p.amortised_lower_bound,
        "bytes_per_sync": {g: {"per_member": b, "members": len(members[g])}
                           for g, b in p.sync_bytes},
    }


def _groups(program: Program) -> tuple[tuple[str, tuple[str, ...]], ...]:
    from pgc.passes.order import collective_groups

    return collective_groups(program)


def _sync_lines(sync: dict[str, Any]) -> list[str]:
    outer = (f"outer {sync['outer']}(lr = {sync['outer_lr']:g}"
             + (f", momentum = {sync['outer_momentum']:g}" if sync["outer"] == "nesterov" else "")
             + ")")
    head = (f"sync: every {sync['every']} step{'s' if sync['every'] > 1 else ''}, "
            f"compress {sync['compress']}, {outer}")
    groups = ", ".join(f"{g} {_bytes(v['per_member'])} x {v['members']}"
                       for g, v in sync["bytes_per_sync"].items() if v["members"] > 1)
    total = sum(v["per_member"] * v["members"] for v in sync["bytes_per_sync"].values()
                if v["members"] > 1)
    return [head,
            f"  a step without sync {_seconds(sync['step_time'])}, a step that syncs "
            f"{_seconds(sync['sync_step_time'])} (all-reduces overlap the pipeline)",
            f"  amortised per step {_seconds(sync['amortised_time'])} (bound "
            f"{_seconds(sync['amortised_lower_bound'])})",
            f"  bytes per sync {_bytes(total)}" + (f": {groups}" if groups else "")]


def _seconds(x: float) -> str:
    return f"{x:.4g} s"


def _bytes(x: float) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if x >= size:
            return f"{x / size:.1f} {unit}"
    return f"{x:.0f} B"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:{'<' if i == 0 else '>'}{w}}}" for i, w in enumerate(widths))
    return [fmt.format(*header), fmt.format(*("-" * w for w in widths))] + [
        fmt.format(*r) for r in rows]


def render(report: dict[str, Any], explain: bool = False) -> str:
    out = [f"pipeline {report['pipeline']}: {report['workers']} workers, "
           f"{report['microbatches']} microbatches per iteration", ""]
    rows = []
    for r in report["schedules"]:
        if "error" in r:
            rows.append([r["schedule"], "not plannable: " + r["error"], "", "", "", ""])
            continue
        rows.append([r["schedule"], _seconds(r["pipeline_time"]), _seconds(r["iteration_time"]),
                     _seconds(r["lower_bound"]), f"{100 * r['gap']:.1f}%",
                     str(r["peak_inflight"])])
    out += _table(["schedule", "pipeline", "iteration", "bound", "gap", "inflight"], rows)
    out += [""] + _sync_lines(report["sync"])
    out += ["", "lower bound of the spec's schedule (placement and paths fixed):"]
    out += _table(["component", "seconds", "at"],
                  [[k, _seconds(v["seconds"]), v["at"]] for k, v in report["bound"].items()])
    out += ["", "per worker (spec's schedule; memory at peak inflight):"]
    rows = []
    for w, m in report["per_worker"].items():
        over = "  OVER" if m["total"] > m["capacity"] else ""
        rows.append([w, _seconds(m["busy"]), _seconds(m["bubble"]), str(m["peak_inflight"]),
                     _bytes(m["weights"]), _bytes(m["grads"]), _bytes(m["optimizer"]),
                     _bytes(m["activations"]), _bytes(m["total"]),
                     _bytes(m["capacity"]) + over])
    out += _table(["worker", "busy", "bubble", "inflight", "weights", "grads", "optimizer",
                   "activations", "total", "memory"], rows)
    if explain and report["notes"]:
        out += ["", "planner notes:"] + [f"  {n}" for n in report["notes"]]
    out += ["", f"plan time: {report['plan_time']:.3f} s"]
    return "\n".join(out) + "\n"


def run(args: argparse.Namespace) -> int:
    report = plan(args.file)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render(report, args.explain), end="")
    return 0
