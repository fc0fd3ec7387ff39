"""`pgc plan FILE [--json]`: the spec's schedule next to gpipe and 1f1b on the same workers, the
lower bound with its components, per-worker compute, bubble, inflight and memory, and how long
planning took (parse to prediction of the spec's schedule, baselines excluded)."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from pgc.ir.text import text_table
from pgc.ir.types import Path, Program

HELP = "predict iteration time: the spec's schedule, gpipe and 1f1b baselines, bound, memory"
EXAMPLES = "  pgc plan examples/chain4.pgc\n  pgc plan examples/skippipe_ring.pgc --json\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="the spec")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    parser.add_argument("--explain", action="store_true",
                        help="also print what the planning passes tried (Program.notes)")


def plan(file: str) -> dict[str, Any]:
    """Everything `pgc plan` reports, as a JSON-ready dict."""
    from pgc.baselines import Row, after_placement, baselines, verdict
    from pgc.frontend import load_program
    from pgc.pipeline import run_passes
    from pgc.sim.bound import lower_bound
    from pgc.sim.explain import bottlenecks

    started = time.perf_counter()
    placed = run_passes(load_program(file), until="placed")
    planned = after_placement(placed)
    plan_time = time.perf_counter() - started
    spec_row = Row(f"{planned.schedule} (spec)", planned, inflight_limit=planned.inflight)
    others = baselines(placed, planned.schedule)
    said = verdict(spec_row, [r for r in others if r.program], planned.objective)
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
        "objective": planned.objective,
        "inflight": planned.inflight,
        "schedules": [_row(r) for r in [spec_row, *others]],
        "sync": _sync(planned),
        "training": _training(planned),
        "verdict": said,
        "placement": placement_table(planned),
        "paths": [{"mb": p.mb, "origin": p.origin, "route": route_text(planned, p),
                   "hops": [[h.segment, h.worker] for h in p.hops]} for p in planned.paths],
        "bound": {name: {"seconds": v, "at": where} for name, v, where in bound.components},
        "bottlenecks": bottlenecks(planned),
        "per_worker": workers,
        "notes": [*planned.notes, *(f"plan: {line}" for line in said)],
        "plan_time": plan_time,
    }


def placement_table(program: Program) -> list[dict[str, Any]]:
    """Stage -> its replica group, each worker with its region, in pipeline order."""
    return [{"stage": stage, "workers": [{"name": w, "region": program.worker(w).region}
                                         for w in group]}
            for stage, group in program.placement]


def route_text(program: Program, path: Path) -> str:
    """A path in the spec's `path` syntax: `stage@worker` hops, a stage with several segments
    (the ring origin) as its bare worker, so the line can be pasted into a spec."""
    several = {st.name for st in program.stages if len(st.segments) > 1}
    hops = []
    for h in path.hops:
        stage = program.segment(h.segment).stage
        hops.append(h.worker if stage in several else f"{stage}@{h.worker}")
    return " -> ".join(hops)


def _row(r: Any) -> dict[str, Any]:
    if r.program is None:
        return {"schedule": r.label, "error": r.error}
    p = r.program.prediction
    assert p is not None
    return {
        "schedule": r.label,
        "pipeline_time": p.pipeline_time,
        "pipeline_lower_bound": p.pipeline_lower_bound,
        "pipeline_gap": p.pipeline_time / p.pipeline_lower_bound - 1
        if p.pipeline_lower_bound > 0 else 0.0,
        "iteration_time": p.iteration_time,
        "lower_bound": p.lower_bound,
        "gap": p.gap,
        "peak_inflight": r.peak_inflight,
        "within_inflight": r.within_limit,
    }


def _sync(program: Program) -> dict[str, Any]:
    """The spec's sync mode and what it costs (docs/design.md §4b): a step without sync, one that
    syncs, their mean over `every` steps next to its bound, and the bytes each group member
    puts on the wire per sync."""
    from pgc.sim.cost import cost_table

    p, s = program.prediction, program.sync
    assert p is not None
    members = dict(_groups(program))
    costs = cost_table(program)
    exchanges = {g: costs.sync_exchange(g, ws) for g, ws in members.items()}
    return {
        "compress": s.compress, "every": s.every, "outer": s.outer, "outer_lr": s.outer_lr,
        "outer_momentum": s.outer_momentum, "exchange": s.exchange,
        "step_time": p.step_time, "sync_step_time": p.iteration_time,
        "amortised_time": p.amortised_time, "amortised_lower_bound": p.amortised_lower_bound,
        "bytes_per_sync": {g: {"per_member": b, "members": len(members[g]),
                               "exchange": exchanges[g].kind,
                               "seconds": exchanges[g].seconds,
                               **({"shares": dict(zip(members[g], exchanges[g].shares))}
                                  if exchanges[g].kind == "direct" else {})}
                           for g, b in p.sync_bytes},
    }


def _training(program: Program) -> dict[str, Any]:
    """Precision and recomputation, and what recomputation changes: the prediction's peak
    activation memory and iteration time next to the same plan without it."""
    from dataclasses import replace

    from pgc.sim.engine import simulate

    t, p = program.train, program.prediction
    assert p is not None
    modes = {st.name: t.recompute_of(st.name) for st in program.stages}
    out: dict[str, Any] = {"precision": t.precision, "recompute": modes}
    if any(m != "none" for m in modes.values()):
        plain = simulate(replace(program, train=replace(t, recompute="none",
                                                        recompute_stages=())))
        out["without_recompute"] = {
            "iteration_time": plain.iteration_time,
            "activations": {w: m.activations for w, m in plain.memory.items()}}
    return out


def _training_lines(training: dict[str, Any], report: dict[str, Any]) -> list[str]:
    on = {s: m for s, m in training["recompute"].items() if m != "none"}
    head = f"training: precision {training['precision']}; recompute " + (
        ", ".join(f"{s} {m}" for s, m in on.items()) if on else "none")
    plain = training.get("without_recompute")
    if plain is None:
        return [head]
    acts = {w: m["activations"] for w, m in report["per_worker"].items()}
    peak = max(acts, key=lambda w: plain["activations"][w])
    return [head, f"  activations at peak ({peak}) {_bytes(acts[peak])} "
                  f"({_bytes(plain['activations'][peak])} without recompute); a step that syncs "
                  f"{_seconds(report['sync']['sync_step_time'])} "
                  f"({_seconds(plain['iteration_time'])} without: each recomputed backward "
                  "runs its forward again)"]


def _groups(program: Program) -> tuple[tuple[str, tuple[str, ...]], ...]:
    from pgc.ir.queries import collective_groups

    return collective_groups(program)


def _sync_lines(sync: dict[str, Any]) -> list[str]:
    outer = (f"outer {sync['outer']}(lr = {sync['outer_lr']:g}"
             + (f", momentum = {sync['outer_momentum']:g}" if sync["outer"] == "nesterov" else "")
             + ")")
    head = (f"sync: every {sync['every']} step{'s' if sync['every'] > 1 else ''}, "
            f"compress {sync['compress']}, {outer}, exchange {sync['exchange']}")
    groups = ", ".join(f"{g} {_bytes(v['per_member'])} x {v['members']}"
                       + (" direct" if v["exchange"] == "direct" else "")
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


def _percent(x: float) -> str:
    return f"{100 * x:.1f}%" if abs(x) >= 5e-4 else "0.0%"  # no "-0.0%" from rounding


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Names left, figures right, a rule under the header."""
    return text_table([header, *rows], right=range(1, len(header)), rule=True)


def render(report: dict[str, Any], explain: bool = False) -> str:
    out = [f"pipeline {report['pipeline']}: {report['workers']} workers, "
           f"{report['microbatches']} microbatches per iteration; objective: "
           f"{report['objective']} time; inflight = {report['inflight']}", ""]
    out += _schedules(report)
    out += [""] + _sync_lines(report["sync"])
    out += _training_lines(report["training"], report)
    out += ["", *report["verdict"]]
    out += ["", "placement (stage: replica group by region):"]
    out += [f"  {p['stage']}: " + _by_region(p["workers"]) for p in report["placement"]]
    out += ["", "paths (forward; backward retraces each):"]
    out += [f"  path mb{p['mb']} = {p['route']}" for p in report["paths"]]
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
    if explain:
        out += ["", *_why(report)]
        if report["notes"]:
            out += ["", "planner notes:"] + [f"  {n}" for n in report["notes"]]
    out += ["", f"plan time: {report['plan_time']:.3f} s"]
    return "\n".join(out) + "\n"


def _schedules(report: dict[str, Any]) -> list[str]:
    rows = []
    for r in report["schedules"]:
        if "error" in r:
            rows.append([r["schedule"], "not plannable: " + r["error"], *[""] * 6])
            continue
        inflight = str(r["peak_inflight"])
        if not r["within_inflight"]:
            inflight += f" (over {report['inflight']})"
        rows.append([r["schedule"], _seconds(r["pipeline_time"]),
                     _seconds(r["pipeline_lower_bound"]), _percent(r["pipeline_gap"]),
                     _seconds(r["iteration_time"]), _seconds(r["lower_bound"]),
                     _percent(r["gap"]), inflight])
    return _table(["schedule", "pipeline", "bound", "gap", "iteration", "bound", "gap",
                   "inflight"], rows)


def _by_region(workers: list[dict[str, str]]) -> str:
    regions: dict[str, list[str]] = {}
    for w in workers:
        regions.setdefault(w["region"] or "-", []).append(w["name"])
    return "; ".join(f"{region} {', '.join(names)}" for region, names in regions.items())


def _why(report: dict[str, Any]) -> list[str]:
    """What decided the plan: the binding bounds, the critical path, the busiest resources."""
    b = report["bottlenecks"]
    cp = b["critical_path"]
    out = [f"why this plan (objective: {report['objective']} time):"]
    for phase in ("pipeline", "iteration"):
        c = b[phase]
        out.append(f"  the {phase} {'phase ' if phase == 'pipeline' else ''}is bound by "
                   f"`{c['bound']}` at {c['at']}: {_seconds(c['seconds'])} ({c['meaning']})")
    slowest = (f" (slowest {cp['slowest_message']}: {_seconds(cp['slowest_message_s'])})"
               if cp["slowest_message"] else "")
    out.append(f"  simulated critical path: {_seconds(cp['compute'])} compute, "
               f"{_seconds(cp['messages'])} messages{slowest}, {_seconds(cp['allreduce'])} "
               f"all-reduce, {_seconds(cp['waiting'])} waiting")
    if report["objective"] == "pipeline" and b["iteration"]["bound"] == "allreduce":
        out.append("  placement and routing minimised the pipeline phase (`objective = pipeline`); the "
                   "all-reduce after it is not weighed: `objective = iteration` weighs it")
    for kind in ("compute", "nic"):
        x = b[f"busiest_{kind}"]
        if x["worker"]:
            out.append(f"  busiest {'NIC' if kind == 'nic' else 'compute'}: {x['worker']} "
                       f"{_seconds(x['seconds'])} ({100 * x['share']:.0f}% of the pipeline phase)")
    return out


def run(args: argparse.Namespace) -> int:
    report = plan(args.file)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render(report, args.explain), end="")
    return 0
