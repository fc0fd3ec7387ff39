"""Emit a compiled folder: `train.py`, `plan.json` and the runtime package beside them.

    DIR/train.py       a summary (rank -> worker -> stage -> blocks, schedule, flags), then the
                       stage classes and a call of the runtime's `main`
    DIR/plan.json      the one plan contract (docs/plan_schema.md), read and validated at start-up
    DIR/pgc_runtime/   the runtime package `pgc/runtime/`, its source copied verbatim

The folder holds no path of the compiling machine: the model's import root is written relative
to the folder (and can be given at run time, `--import-root` or PGC_IMPORT_ROOT).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pgc.runtime
from pgc.diagnostics import error
from pgc.ir.plan_schema import plan_to_dict
from pgc.ir.queries import holders, stage_of_worker
from pgc.ir.topology import link_table
from pgc.ir.types import ModelRef, Program
from pgc.runtime.schema import validate_plan

RUNTIME_DIR = Path(pgc.runtime.__file__).parent
RUNTIME_PACKAGE = "pgc_runtime"  # its name in a compiled folder


@dataclass(frozen=True)
class StageCode:
    """A segment's module source as the generated script embeds it (from capture's `SegmentCode`).

    `outputs` lists (shape, dtype) per boundary tensor, shapes symbolic in "B" and "T"
    (empty for the loss segment); `shared` maps a local parameter name to its shared group."""

    class_name: str
    source: str
    outputs: tuple[tuple[tuple[int | str, ...], str], ...]
    first: bool
    loss: bool
    imports: tuple[str, ...] = ()
    shared: tuple[tuple[str, str], ...] = ()
    param_names: tuple[str, ...] = ()
    selectors: tuple[str, ...] = ()  # the spec's module selectors, for the summary


def buckets(program: Program, code: dict[str, StageCode]) -> list[dict[str, Any]]:
    """Gradient buckets, named like the ALLREDUCE actions of the order pass (pgc.ir.plan_schema):
    one per stage over its replicas with the parameters no other stage reads, and one per shared
    parameter (tied embedding and head) over every worker holding an owning segment. Every
    parameter is thus summed exactly once over exactly its holders (docs/design.md §4). A bucket
    lists alias groups: the names one tensor has in different segments (a worker holds one).
    A bucket whose sum the cost model sends as a direct exchange (`pgc.sim.cost.group_exchange`)
    carries `shares`: worker -> its share of the flat tensor."""
    from pgc.ir.queries import collective_groups
    from pgc.sim.cost import cost_table

    costs = cost_table(program)
    groups = dict(collective_groups(program))
    exchanges = {name: costs.sync_exchange(name, members) for name, members in groups.items()}
    aliases: dict[str, set[str]] = {}
    for c in code.values():
        for local, group in c.shared:
            aliases.setdefault(group, {group}).add(local)
    shared_names = {n for names in aliases.values() for n in names}
    out: list[dict[str, Any]] = []
    for stage in program.stages:
        names = {
            n
            for seg in stage.segments
            for n in code[seg].param_names
            if n not in shared_names
        }
        replicas = list(program.replicas(stage.name))
        out.append({"name": stage.name, "workers": replicas, "params": [[n] for n in sorted(names)]})
    for group, segments in program.shared_groups:
        out.append(
            {
                "name": group,
                "workers": list(holders(program, segments)),
                "params": [sorted(aliases.get(group, {group}))],
            }
        )
    for b in out:
        ex = exchanges.get(b["name"])
        if ex is not None and ex.kind == "direct":
            b["shares"] = dict(zip(groups[b["name"]], ex.shares))
    return out


def predicted_times(program: Program) -> dict[str, Any]:
    """The simulator's own cost model, so that a rehearsal (--emulate-compute, --emulate-network)
    pads to exactly what was predicted: (forward, backward) seconds per `segment@worker`,
    seconds of each group's exchange (a ring of the bytes its sync mode puts on the wire, the
    time a synchronous all-reduce or an outer sync takes), optimizer-step seconds per worker."""
    from pgc.ir.queries import collective_groups
    from pgc.sim.cost import cost_table

    costs = cost_table(program)
    return {
        "compute_times": {
            f"{seg}@{w}": [f, costs.bwd[(seg, w)]] for (seg, w), f in sorted(costs.fwd.items())
        },
        "allreduce_times": {
            name: costs.sync_seconds(name, workers)
            for name, workers in collective_groups(program)
        },
        "step_times": dict(sorted(costs.step.items())),
    }


def init_decision(program: Program) -> dict[str, Any]:
    """How the generated script makes the initial state (the plan's `model` fields `init`,
    `init_reason`, `skeleton`, `verified`), decided by the runtime's own `init_mode`
    on the model built as the workers build it (docs/CONTRACTS.md "Initial state")."""
    args = json.dumps(model_args(program), sort_keys=True)
    return dict(_init_decision(program.model, program.file, args, program.train.seed))


@functools.lru_cache(maxsize=8)
def _init_decision(model: ModelRef, file: str, args: str, seed: int) -> tuple[tuple[str, Any], ...]:
    # cached: emit and `pgc compile`'s report ask once each, and building a model costs
    from pgc.capture.model import resolve_factory
    from pgc.runtime.init_replay import init_mode

    factory, _ = resolve_factory(model, file)
    return tuple(init_mode(factory, json.loads(args), seed).items())


def model_args(program: Program) -> dict[str, Any]:
    """The factory's arguments exactly as the generated script reads them from its plan."""
    loaded: dict[str, Any] = json.loads(json.dumps(dict(program.model.args)))
    return loaded


def init_line(fields: dict[str, Any]) -> str:
    """`pgc compile`'s line on the initial state (`fields`: from `init_decision`)."""
    if fields["init"] == "full-build":
        return f"init: full build ({fields['init_reason']})"
    checked = ("verified against a full build" if fields.get("verified", True)
               else fields["init_reason"])
    return ("init: replay (each worker materialises only its own parameters, equal to the full "
            f"build's; {checked})")


def runtime_fields(program: Program, code: dict[str, StageCode], out_dir: Path) -> dict[str, Any]:
    """plan.json's `runtime` section: what the generated script needs beyond the plan (the
    segments' calling conventions, the initial-state decision, the import root relative to
    the folder, gradient buckets, the predicted times that a rehearsal pads to)."""
    args = model_args(program)
    init = init_decision(program)
    return {
        "import_root": relative_import_root(program, out_dir),
        "init": {"mode": init["init"], "reason": init["init_reason"],
                 "skeleton": init["skeleton"], "verified": init["verified"]},
        "segments": [
            {"name": s.name, "first": code[s.name].first, "loss": code[s.name].loss,
             "outputs": [{"shape": list(shape), "dtype": dtype}
                         for shape, dtype in code[s.name].outputs]}
            for s in program.segments
        ],
        "launch": launch_command(program, "train.py"),
        "vocab": int(args.get("vocab", args.get("vocab_size", 256))),
        "buckets": buckets(program, code),
        "links": placed_links(program),
        "message_overhead": program.cost.message_overhead,
        **predicted_times(program),
    }


def placed_links(program: Program) -> dict[str, list[float]]:
    """"a->b" -> [latency, bandwidth] for every ordered pair of workers that hold a stage (the
    pairs a rehearsal can price: messages and collectives run between placed workers only).
    O(P^2) in the placed workers: a topology that declares tens of thousands of spare nodes
    costs nothing here."""
    table = link_table(program)
    held = stage_of_worker(program)
    placed = [w.name for w in program.workers if w.name in held]
    return {f"{a}->{b}": list(table[a, b]) for a in placed for b in placed if a != b}


def relative_import_root(program: Program, out_dir: Path) -> str | None:
    """The model's import root relative to the compiled folder, when the folder lies inside it
    (a project's `build/x`, copied along with the project); else None, and the model's module
    must be importable at run time (installed, PYTHONPATH, `--import-root`, PGC_IMPORT_ROOT)."""
    root = program.model.import_root or find_import_root(program)
    if root is None:
        return None
    root, out = Path(root).resolve(), out_dir.resolve()
    if root != out and root not in out.parents:
        return None
    return Path(os.path.relpath(root, out)).as_posix()


DATA_PATH_ARGS = ("path", "files", "val")  # data arguments that name files


def data_args(program: Program, args: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """The data source's file arguments, given relative to the spec's folder (or absolute),
    as the compiled folder reads them: relative to the folder when the file and the folder lie
    in one project (the spec's folder or the model's import root), so the project moves as a
    whole; else absolute (a run on another machine gives `--data`)."""
    spec_dir = Path(program.file).resolve().parent
    roots = [spec_dir, *([Path(r).resolve()] if (r := program.model.import_root) else [])]
    out = out_dir.resolve()

    def where(given: str) -> str:
        p = (spec_dir / given).resolve()
        inside = any(all(r == d or r in d.parents for d in (p, out)) for r in roots)
        return Path(os.path.relpath(p, out)).as_posix() if inside else str(p)

    fixed = dict(args)
    for key in DATA_PATH_ARGS:
        v = fixed.get(key)
        if isinstance(v, str):
            fixed[key] = where(v)
        elif isinstance(v, list):
            fixed[key] = [where(str(x)) for x in v]
    return fixed


def compiled_plan(program: Program, code: dict[str, StageCode], out_dir: Path) -> dict[str, Any]:
    """plan.json of a compiled folder: the plan with its `runtime` section, validated before
    it is written."""
    plan = plan_to_dict(program)
    plan["data"]["args"] = data_args(program, plan["data"]["args"], out_dir)
    plan["runtime"] = runtime_fields(program, code, out_dir)
    validate_plan(json.loads(json.dumps(plan)))
    return plan


def placed_only(program: Program) -> Program:
    """The program as it runs: one process per worker that holds a stage. Declared nodes the
    placement left unused (spares, or nodes the planner found no use for) get no process and
    no rank; the plan's links and prediction never involve them."""
    held = stage_of_worker(program)
    if len(held) == len(program.workers):
        return program
    pred = program.prediction
    if pred is not None:
        pred = replace(pred, busy=tuple(kv for kv in pred.busy if kv[0] in held),
                       peak_inflight=tuple(kv for kv in pred.peak_inflight if kv[0] in held),
                       memory=tuple(kv for kv in pred.memory if kv[0] in held))
    return replace(program, workers=tuple(w for w in program.workers if w.name in held),
                   actions=tuple(kv for kv in program.actions if kv[0] in held),
                   prediction=pred)


def copy_runtime(out_dir: Path) -> Path:
    """The runtime package's source, verbatim, as `DIR/pgc_runtime/` (stale files removed)."""
    dest = out_dir / RUNTIME_PACKAGE
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for src in sorted(RUNTIME_DIR.glob("*.py")):
        shutil.copyfile(src, dest / src.name)
    return dest


def emit(program: Program, out_dir: Path, code: dict[str, StageCode] | None = None) -> list[Path]:
    """Write the compiled folder (see the module docstring); returns the written paths."""
    from pgc.codegen.script import render

    program = placed_only(program)
    if code is None:
        code = stage_code(program)
    out_dir.mkdir(parents=True, exist_ok=True)
    plan = compiled_plan(program, code, out_dir)
    plan_file = out_dir / "plan.json"
    plan_file.write_text(json.dumps(plan, indent=1, sort_keys=True) + "\n")
    script = out_dir / "train.py"
    script.write_text(render(program, plan, code), encoding="utf-8")
    return [script, plan_file, copy_runtime(out_dir)]


def launch_command(program: Program, script: str) -> str:
    """The torchrun command line(s) that run the plan: one host, or one per host label."""
    hosts: dict[str, int] = {}
    for w in program.workers:
        hosts[w.host] = hosts.get(w.host, 0) + 1
    if len(hosts) == 1:
        return f"torchrun --nproc-per-node {len(program.workers)} {script}"
    lines = [
        f"PGC_HOST={h or '<any>'} torchrun --nnodes {len(hosts)} --nproc-per-node {n} "
        f"--rdzv-backend c10d --rdzv-endpoint HOST0:29500 {script}"
        for h, n in hosts.items()
    ]
    return "\n".join(lines)


def find_import_root(program: Program) -> Path | None:
    """The folder from which the model's module imports: the spec's folder or one of its
    parents, else the current folder; None when it is importable without help (installed)."""
    import importlib.util

    module = program.model.target.partition(":")[0]
    rel = Path(*module.split("."))
    start = Path(program.file).resolve().parent
    for d in [start, *start.parents, Path.cwd()]:
        if (d / rel).with_suffix(".py").exists() or (d / rel / "__init__.py").exists():
            return d
    if importlib.util.find_spec(module.split(".")[0]) is not None:
        return None
    raise error(
        program.model.span,
        f"cannot find the model module `{module}`",
        hint="put the spec next to the module's package, or install it",
    )


def stage_code(program: Program) -> dict[str, StageCode]:
    """Capture's stage code for every segment, in the form the generated script embeds."""
    from pgc.capture import stage_code as capture_stage_code

    return {
        name: StageCode(
            class_name=sc.class_name,
            source=sc.source,
            outputs=tuple((sig.shape, sig.dtype.replace("torch.", "")) for sig in sc.outputs),
            first=sc.first,
            loss=sc.computes_loss,
            imports=sc.imports,
            shared=sc.shared,
            param_names=sc.param_names,
            selectors=tuple(program.segment(name).selectors),
        )
        for name, sc in capture_stage_code(program).items()
    }
