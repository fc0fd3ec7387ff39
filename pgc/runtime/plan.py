"""The plan as the runtime reads it: plan.json, validated, as typed read-only records.

`load_plan(path)` reads and validates plan.json (`schema.validate_plan`) and returns a `Plan`;
nothing in the runtime reads the JSON object itself. Command-line overrides of the spec's
settings make a new `Plan` (`dataclasses.replace`); the plan is never changed in place.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .actions import Action, parse_action
from .schema import PlanSchemaError, validate_plan


class PlanError(RuntimeError):
    """A run-time refusal with a message for the user (printed without a traceback)."""


@dataclass(frozen=True)
class Segment:
    name: str
    stage: str
    first: bool  # takes the token ids
    loss: bool  # takes the labels last, returns the loss
    skippable: bool
    outputs: tuple[tuple[tuple[Any, ...], str], ...]  # (symbolic shape, dtype name)
    param_names: tuple[str, ...]


@dataclass(frozen=True)
class Stage:
    name: str
    segments: tuple[str, ...]
    replicas: tuple[str, ...]
    never_skip: bool


@dataclass(frozen=True)
class Bucket:
    """Parameters summed together over `workers`; each entry of `params` is one tensor under
    the names it has in different segments (a worker holds exactly one of them). `shares`,
    when the plan gives them: each worker's share of a direct weighted exchange, in `workers`
    order (docs/CONTRACTS.md "Sync modes")."""

    name: str
    params: tuple[tuple[str, ...], ...]
    workers: tuple[str, ...]
    shares: tuple[float, ...] | None = None

    def shares_by_rank(self, rank_of: Mapping[str, int]) -> tuple[float, ...] | None:
        """The shares in group-rank order (a group lists its members by ascending rank)."""
        if self.shares is None:
            return None
        return tuple(s for _, s in sorted(zip((rank_of[w] for w in self.workers), self.shares)))


@dataclass(frozen=True)
class MicrobatchPath:
    mb: int
    origin: str
    origin_index: int
    hops: tuple[tuple[str, str], ...]  # (segment, worker), forward order


@dataclass(frozen=True)
class ModelInfo:
    target: str  # `module:function`
    args: dict[str, Any]
    import_root: str | None  # relative to the plan's folder
    init: str  # replay | full-build
    init_reason: str
    skeleton: bool
    verified: bool


@dataclass(frozen=True)
class Train:
    steps: int
    optimizer: str
    optimizer_args: dict[str, Any]
    lr_schedule: str
    lr_schedule_args: dict[str, Any]
    clip: float | None
    seed: int
    data: str
    data_args: dict[str, Any]
    data_seed: int
    checkpoint_every: int
    checkpoint_dir: str
    checkpoint_keep: int
    log_every: int = 1
    precision: str = "fp32"  # fp32 | bf16 | fp16 (compute dtype under autocast)
    recompute: dict[str, str] = field(default_factory=dict)  # stage -> none | blocks | stage
    compile: bool = False


@dataclass(frozen=True)
class Sync:
    """How gradient groups synchronise (docs/CONTRACTS.md "Sync modes")."""

    compress: str = "none"  # none | bf16 | int8
    chunk: int = 4096  # values per int8 scale
    every: int = 1
    outer: str = "sgd"  # sgd | nesterov
    outer_lr: float = 1.0
    outer_momentum: float = 0.0
    synchronous: bool = True  # gradients summed every step, no outer optimizer

    def syncs_after(self, step: int) -> bool:
        """Whether step `step` (counted from 0) ends with its groups synced: every step when
        synchronous, else every `every`-th (the outer step)."""
        return self.synchronous or (step + 1) % self.every == 0


@dataclass(frozen=True)
class Plan:
    """One pipeline plan: who runs what, in which order, with which settings."""

    folder: Path  # where plan.json lies (relative paths in the plan start here)
    name: str
    spec_hash: str
    schedule: str
    workers: tuple[str, ...]  # rank-table order
    hosts: tuple[str, ...]  # host label per worker ("" = any)
    segments: tuple[Segment, ...]  # model execution order
    stages: tuple[Stage, ...]
    buckets: tuple[Bucket, ...]
    paths: tuple[MicrobatchPath, ...]
    origins: tuple[str, ...]
    actions: dict[str, tuple[Action, ...]]
    microbatch_size: int
    seq_len: int
    microbatches: int
    vocab: int
    model: ModelInfo
    train: Train
    eval_batches: int
    launch: str
    links: dict[str, tuple[float, float]]
    message_overhead: float
    compute_times: dict[str, tuple[float, float]]
    allreduce_times: dict[str, float]
    step_times: dict[str, float]
    sync: Sync = Sync()
    eval_every: int = 0  # evaluate during training every N steps (0: never)
    eval_skips: tuple[str, ...] = ("0",)  # skip ratios each evaluation tries, like "1/3"
    predicted_step: float | None = None  # simulated seconds per step (mean over a sync period)
    # simulated seconds of a step without sync and of one that syncs (the same when every
    # step syncs)
    predicted_steps: tuple[float, float] | None = None
    predicted_memory: dict[str, float] = field(default_factory=dict)  # worker -> peak bytes

    def segment(self, name: str) -> Segment:
        return next(s for s in self.segments if s.name == name)

    def stage_of(self, worker: str) -> Stage:
        return next(s for s in self.stages if worker in s.replicas)

    def dims(self, shape: tuple[Any, ...]) -> list[int]:
        """A symbolic boundary shape with `B` and `T` filled in."""
        sizes = {"B": self.microbatch_size, "T": self.seq_len}
        return [sizes[d] if isinstance(d, str) else int(d) for d in shape]

    def with_optimizer(self, optimizer: str | None, lr: float | None,
                       clip: float | None) -> Plan:
        """Command-line overrides: another optimizer (keeping the spec's arguments it shares,
        the learning rate among them), another learning rate, another clip norm (0: off)."""
        t = self.train
        args = dict(t.optimizer_args)
        if lr is not None:
            args["lr"] = lr
        new = replace(t, optimizer=optimizer or t.optimizer, optimizer_args=args,
                      clip=t.clip if clip is None else (clip or None))
        return replace(self, train=new)


def load_plan(path: Path) -> Plan:
    """Read and validate plan.json; a file that is not a valid plan raises PlanError."""
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PlanError(f"{path}: cannot read the plan ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise PlanError(f"{path}: not a plan (invalid JSON: {exc})") from None
    try:
        validate_plan(obj)
    except PlanSchemaError as exc:
        raise PlanError(f"{path}: {exc}") from None
    return from_dict(obj, path.parent)


def from_dict(obj: dict[str, Any], folder: Path) -> Plan:
    """The typed view of a validated plan.json object of a compiled folder."""
    model, train, rt = obj["model"], obj["train"], obj["runtime"]
    if rt is None:
        raise PlanError("plan.json has no `runtime` section: it is a plan, not a compiled folder "
                        "(`pgc compile SPEC -o DIR` writes one)")
    calls = {s["name"]: s for s in rt["segments"]}
    return Plan(
        folder=folder,
        name=obj["pipeline"],
        spec_hash=obj["spec_hash"],
        schedule=obj["schedule"],
        workers=tuple(w["name"] for w in obj["workers"]),
        hosts=tuple(w["host"] for w in obj["workers"]),
        segments=tuple(
            Segment(s["name"], s["stage"], calls[s["name"]]["first"], calls[s["name"]]["loss"],
                    bool(s["skippable"]),
                    tuple((tuple(o["shape"]), o["dtype"]) for o in calls[s["name"]]["outputs"]),
                    tuple(s["param_names"]))
            for s in obj["segments"]
        ),
        stages=tuple(Stage(s["name"], tuple(s["segments"]), tuple(s["workers"]), s["never_skip"])
                     for s in obj["stages"]),
        buckets=tuple(Bucket(b["name"], tuple(map(tuple, b["params"])), tuple(b["workers"]),
                             tuple(float(b["shares"][w]) for w in b["workers"])
                             if "shares" in b else None)
                      for b in rt["buckets"]),
        paths=tuple(MicrobatchPath(p["mb"], p["origin"], p["origin_index"],
                                   tuple((h[0], h[1]) for h in p["hops"]))
                    for p in obj["paths"]),
        origins=tuple(obj["data"]["origins"]),
        actions={w: tuple(parse_action(a) for a in acts) for w, acts in obj["actions"].items()},
        microbatch_size=obj["microbatch"]["size"],
        seq_len=obj["microbatch"]["seq_len"],
        microbatches=obj["microbatch"]["count"],
        vocab=rt["vocab"],
        model=ModelInfo(model["target"], dict(model["args"]), rt["import_root"],
                        rt["init"]["mode"], rt["init"]["reason"], rt["init"]["skeleton"],
                        rt["init"]["verified"]),
        train=Train(
            steps=train["steps"], optimizer=train["optimizer"],
            optimizer_args=dict(train["optimizer_args"]), lr_schedule=train["lr_schedule"],
            lr_schedule_args=dict(train["lr_schedule_args"]), clip=train["clip"],
            seed=obj["seeds"]["train"], data=obj["data"]["kind"],
            data_args=dict(obj["data"]["args"]), data_seed=obj["seeds"]["data"],
            checkpoint_every=train["checkpoint_every"], checkpoint_dir=train["checkpoint_dir"],
            checkpoint_keep=train["checkpoint_keep"], log_every=train["log_every"],
            precision=train["precision"], recompute=dict(train["recompute"]),
            compile=train["compile"],
        ),
        eval_batches=obj["eval"]["batches"],
        launch=rt["launch"],
        links={k: (float(v[0]), float(v[1])) for k, v in rt["links"].items()},
        message_overhead=float(rt["message_overhead"]),
        compute_times={k: (float(v[0]), float(v[1])) for k, v in rt["compute_times"].items()},
        allreduce_times=dict(rt["allreduce_times"]),
        step_times=dict(rt["step_times"]),
        sync=Sync(obj["sync"]["compress"], obj["sync"]["int8_chunk"], obj["sync"]["every"],
                  obj["sync"]["outer"], float(obj["sync"]["outer_lr"]),
                  float(obj["sync"]["outer_momentum"]), obj["sync"]["synchronous"]),
        eval_every=obj["eval"]["every"],
        eval_skips=tuple(obj["eval"]["skip"]),
        predicted_step=obj["prediction"]["amortised_time"] if obj["prediction"] else None,
        predicted_steps=((float(obj["prediction"]["step_time"]),
                          float(obj["prediction"]["iteration_time"]))
                         if obj["prediction"] else None),
        predicted_memory={w: float(m["total"]) for w, m in
                          (obj["prediction"] or {}).get("memory", {}).items()},
    )
