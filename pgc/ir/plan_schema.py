"""Write plan.json from a program (the schema lives in `pgc.runtime.schema`, with its
validator; `pgc compile` adds the `runtime` section, pgc.codegen.emit)."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from pgc.ir.queries import holders, origins
from pgc.ir.types import INT8_CHUNK, Action, Program, Value
from pgc.runtime.actions import format_action, parse_action
from pgc.runtime.schema import SCHEMA_VERSION


# -- writing --------------------------------------------------------------------------------
def _value(v: Value) -> Any:
    return [_value(x) for x in v] if isinstance(v, tuple) else v


def _args(pairs: tuple[tuple[str, Value], ...]) -> dict[str, Any]:
    return {k: _value(v) for k, v in pairs}


def spec_file(path: str) -> str:
    """The spec as plan.json names it: as the user wrote it when relative (to the folder they
    compiled from), only its name when absolute (a plan holds no path of the compiling
    machine; `pgc viz PLAN --spec FILE` finds it then)."""
    return PurePath(path).name if PurePath(path).is_absolute() else PurePath(path).as_posix()


def plan_to_dict(program: Program) -> dict[str, Any]:
    """The plan.json object of a program that went through `ordered` (prediction optional)."""
    origin_order = origins(program)
    seg_params = {s.name: s.param_names for s in program.segments}
    t = program.train
    return {
        "version": SCHEMA_VERSION,
        "spec_hash": program.spec_hash,
        "spec_file": spec_file(program.file),
        "pipeline": program.name,
        "layout": program.layout,
        "schedule": program.schedule,
        "world_size": len(program.workers),
        "model": {
            "name": program.model.name,
            "target": program.model.target,
            "args": _args(program.model.args),
        },
        "workers": [
            {"name": w.name, "rank": i, "host": w.host, "region": w.region, "rate": w.rate,
             "memory": w.memory}
            for i, w in enumerate(program.workers)
        ],
        "segments": [
            {"name": s.name, "stage": s.stage, "role": s.role, "layers": s.layers,
             "param_names": list(s.param_names), "skippable": s.skippable}
            for s in program.segments
        ],
        "stages": [
            {"name": st.name, "segments": list(st.segments), "workers": list(program.replicas(st.name)),
             "param_names": [n for seg in st.segments for n in seg_params[seg]],
             "never_skip": st.never_skip}
            for st in program.stages
        ],
        "shared_groups": [
            {"param": param, "segments": list(segs), "workers": list(holders(program, segs))}
            for param, segs in sorted(program.shared_groups)
        ],
        "microbatch": {"size": program.microbatch_size, "seq_len": program.seq_len,
                       "count": program.microbatches},
        "inflight": program.inflight,
        "seeds": {"train": t.seed, "data": int(dict(t.data_args).get("seed", t.seed))},  # type: ignore[arg-type]
        "data": {"kind": t.data, "args": _args(t.data_args), "origins": list(origin_order)},
        "train": {
            "steps": t.steps, "optimizer": t.optimizer,
            "optimizer_args": _args(t.optimizer_args), "lr_schedule": t.lr_schedule,
            "lr_schedule_args": _args(t.lr_schedule_args), "clip": t.clip,
            "log_every": t.log_every, "checkpoint_every": t.checkpoint_every,
            "checkpoint_dir": t.checkpoint_dir, "checkpoint_keep": t.checkpoint_keep,
            "precision": t.precision,
            "recompute": {st.name: t.recompute_of(st.name) for st in program.stages},
            "compile": t.compile,
        },
        "sync": {
            "compress": program.sync.compress, "int8_chunk": INT8_CHUNK,
            "every": program.sync.every, "outer": program.sync.outer,
            "outer_lr": program.sync.outer_lr, "outer_momentum": program.sync.outer_momentum,
            "synchronous": program.sync.synchronous,
        },
        "paths": [
            {"mb": p.mb, "origin": p.origin, "origin_index": origin_order.index(p.origin),
             "hops": [[h.segment, h.worker] for h in p.hops]}
            for p in sorted(program.paths, key=lambda p: p.mb)
        ],
        "actions": {w: [format_action(a) for a in acts] for w, acts in program.actions},
        "eval": {"every": program.eval.every, "batches": program.eval.batches,
                 "skip": eval_skips(program.eval.skip_ratios)},
        "runtime": None,  # filled by `pgc compile` (pgc.codegen.emit)
        "prediction": prediction_dict(program),
    }


def eval_skips(ratios: tuple[tuple[int, int], ...]) -> list[str]:
    """The skip ratios an evaluation tries, as fractions: the whole model first, then the spec's."""
    out = ["0"]
    for num, den in ratios:
        text = "0" if num == 0 else f"{num}/{den}" if den != 1 else str(num)
        if text not in out:
            out.append(text)
    return out


def prediction_dict(program: Program) -> dict[str, Any] | None:
    p = program.prediction
    if p is None:
        return None
    return {
        "pipeline_time": p.pipeline_time,
        "iteration_time": p.iteration_time,
        "lower_bound": p.lower_bound,
        "pipeline_lower_bound": p.pipeline_lower_bound,
        "gap": p.gap,
        "busy": dict(p.busy),
        "peak_inflight": dict(p.peak_inflight),
        "memory": {
            w: {"weights": m.weights, "grads": m.grads, "optimizer": m.optimizer,
                "activations": m.activations, "total": m.total}
            for w, m in p.memory
        },
        "step_time": p.step_time,
        "amortised_time": p.amortised_time,
        "amortised_lower_bound": p.amortised_lower_bound,
        "sync_bytes": dict(p.sync_bytes),
    }


def actions_from_dict(obj: dict[str, Any]) -> dict[str, tuple[Action, ...]]:
    """worker -> parsed action list of a validated plan."""
    return {w: tuple(parse_action(t) for t in lines) for w, lines in obj["actions"].items()}


