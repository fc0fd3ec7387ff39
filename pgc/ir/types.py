"""IR types shared by every pass (docs/design.md §5).

All types are frozen dataclasses with tuple fields; passes change them with
`dataclasses.replace`. Source spans never take part in equality (`compare=False`).

Units after lowering: seconds, bytes, bytes/s, FLOP/s, FLOPs. Nothing here imports torch.

Segments and stages
-------------------
A *stage* is the placement unit (a replica group holds one stage). A *segment* is the unit of
code and of actions. Every stage has exactly one segment named like the stage, except the
origin stage of the ring layout, which has two: ``<origin>.pro`` (prologue: embedding and first
blocks) and ``<origin>.epi`` (epilogue: final norm, head, loss). In the chain layout the first
stage's segment takes tokens and the last stage's segment computes the loss.
`Program.segments` lists segments in model execution order.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Literal, Union

from pgc.runtime.actions import Action

# A literal argument value as written in the spec (after unit normalisation).
Value = Union[int, float, str, bool, tuple["Value", ...]]


@dataclass(frozen=True)
class Span:
    """A source range: 1-based line and column, end exclusive."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


NO_SPAN = Span("<none>", 0, 0, 0, 0)


def span_field() -> Span:
    """A dataclass field for a span that never takes part in equality or hashing."""
    return field(default=NO_SPAN, compare=False, hash=False, repr=False)  # type: ignore[return-value]


@dataclass(frozen=True)
class ModelRef:
    """The user's model: `module:function` factory called with `args`."""

    name: str
    target: str  # "examples.models.llama:build"
    args: tuple[tuple[str, Value], ...] = ()
    # filled by capture: the factory module's file and the sys.path entry it imports from
    file: str = ""
    import_root: str = ""
    span: Span = span_field()


SegmentRole = Literal["prologue", "body", "epilogue", "first", "last", "whole"]


@dataclass(frozen=True)
class Segment:
    """A contiguous piece of the model: unit of code, FLOPs and actions.

    `selectors` are the spec's module selectors as canonical text (``embed``, ``layers[2:6]``,
    ``layers.*``). Profile fields are None until capture (or a synthetic `cost` profile) fills
    them; all per-microbatch numbers are for one microbatch of the spec's size and sequence length.
    """

    name: str  # "s2", "origin.pro", "origin.epi"
    stage: str  # the stage (placement unit) that owns it
    role: SegmentRole
    selectors: tuple[str, ...] = ()
    layers: int = 0  # transformer blocks in this segment (for per-layer cost models)
    param_names: tuple[str, ...] = ()
    params: int | None = None  # parameter count (shared parameters counted in each owner)
    param_bytes: int | None = None
    flops: float | None = None  # forward FLOPs per microbatch
    boundary_bytes: int | None = None  # bytes of the output activation per microbatch
    activation_bytes: int | None = None  # bytes kept for backward per microbatch
    fwd_time: float | None = None  # measured seconds per microbatch on a reference worker
    bwd_time: float | None = None
    skippable: bool | None = None  # input/output boundary signatures match (proven by capture)
    # boundary tensors in and out as text, e.g. "add_11: float32[B, T, 64]" (filled by capture)
    boundary_in: tuple[str, ...] = ()
    boundary_out: tuple[str, ...] = ()
    span: Span = span_field()


@dataclass(frozen=True)
class BlockProfile:
    """One block of an automatic partition's range (e.g. `layers.7`), profiled by `traced` so
    the partition pass can balance without the model. Same units as Segment's fields;
    `signature` is the block's input and output boundary text (skip legality of a merged run)."""

    selector: str
    param_names: tuple[str, ...] = ()
    params: int | None = None
    param_bytes: int | None = None
    flops: float | None = None
    boundary_bytes: int | None = None
    activation_bytes: int | None = None
    fwd_time: float | None = None
    bwd_time: float | None = None
    signature: tuple[str, str] = ("", "")


@dataclass(frozen=True)
class AutoPartition:
    """`stages s[1..5] = layers[2:12] balanced by flops`: the partition pass splits the modules
    of `selectors` (in order) into len(`stages`) contiguous segments balancing `criterion`
    (flops | params | time | layers). Until then those stages' segments have no selectors."""

    stages: tuple[str, ...]
    selectors: tuple[str, ...]
    criterion: str
    blocks: tuple[BlockProfile, ...] = ()  # filled by `traced`, in order
    span: Span = span_field()


@dataclass(frozen=True)
class Stage:
    """A placement unit: one replica group runs all of its segments."""

    name: str
    segments: tuple[str, ...]
    replicas: int | None = None  # requested replica-group size; None = decided by placement
    never_skip: bool = False
    span: Span = span_field()


@dataclass(frozen=True)
class Worker:
    """One process = one rank = one device. The spec calls it a node."""

    name: str  # "n7"
    rate: float  # FLOP/s
    memory: float  # bytes
    region: str = ""
    host: str = ""  # host label for torchrun placement; "" = any host
    groups: tuple[str, ...] = ()
    span: Span = span_field()


LinkScope = Literal["pair", "region", "intra", "default"]


@dataclass(frozen=True)
class Link:
    """A link rule. Resolution order: pair, region pair, intra-region, default."""

    scope: LinkScope
    src: str  # worker name, region name, or "" for intra/default
    dst: str
    latency: float  # seconds, one way
    bandwidth: float  # bytes/s
    directed: bool = False
    span: Span = span_field()


@dataclass(frozen=True)
class SkipPolicy:
    ratio: tuple[int, int] = (0, 1)  # exact fraction k = num/den of all stages
    never: tuple[str, ...] = ()  # stage names that are never skipped
    span: Span = span_field()
    # Stage-load balance (SkipPipe's stage-load constraint): a skippable stage is visited by at
    # most ceil((1 + balance) x mean) microbatches per iteration, mean = the visits of skippable
    # stages spread evenly; 0.0 = as even as whole microbatches allow; None = no constraint.
    balance: float | None = 0.0


@dataclass(frozen=True)
class SwapPolicy:
    max_swaps: int = 0  # adjacent transpositions per path
    span: Span = span_field()


@dataclass(frozen=True)
class CostModel:
    backward_ratio: float = 2.0  # backward time / forward time
    message_overhead: float = 0.0  # seconds added to every message
    efficiency: float = 1.0  # fraction of a worker's peak rate achieved
    sec_per_sample_per_layer: float | None = None  # SkipPipe-style synthetic cost
    loss_ratio: float | None = None  # epilogue time / one layer's forward (None: from FLOPs)
    profile: str | None = None  # path of a measured profile file
    activation_dtype: str = "fp32"  # dtype of boundary activations before capture measures them
    span: Span = span_field()


# bytes per element of the dtypes `cost { activation_dtype = ... }` accepts
DTYPE_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2}


@dataclass(frozen=True)
class Hop:
    """One visit of a microbatch: a segment run on a worker."""

    segment: str
    worker: str


@dataclass(frozen=True)
class Path:
    """Microbatch `mb`'s forward route: hops in order, from its origin's first segment to the
    segment that computes the loss. Backward retraces it exactly in reverse."""

    mb: int
    origin: str  # worker that holds data and labels
    hops: tuple[Hop, ...]
    span: Span = span_field()




Precision = Literal["fp32", "bf16", "fp16"]
Recompute = Literal["none", "blocks", "stage"]
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16")
RECOMPUTE: tuple[str, ...] = ("none", "blocks", "stage")


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 100
    optimizer: str = "adamw"
    optimizer_args: tuple[tuple[str, Value], ...] = ()
    lr_schedule: str = "constant"
    lr_schedule_args: tuple[tuple[str, Value], ...] = ()
    clip: float | None = None
    data: str = "synthetic"  # synthetic | text | tokens
    data_args: tuple[tuple[str, Value], ...] = ()
    seed: int = 0
    checkpoint_every: int = 0  # 0 = never
    checkpoint_dir: str = "checkpoints"
    checkpoint_keep: int = 3
    log_every: int = 1
    precision: Precision = "fp32"  # compute dtype under autocast; weights and optimizer stay fp32
    recompute: Recompute = "none"  # activation recomputation for every stage ...
    recompute_stages: tuple[tuple[str, Recompute], ...] = ()  # ... but these
    compile: bool = False  # torch.compile each stage
    span: Span = span_field()

    def recompute_of(self, stage: str) -> Recompute:
        """The recomputation of stage `stage`: its own setting, else the pipeline's."""
        return dict(self.recompute_stages).get(stage, self.recompute)


@dataclass(frozen=True)
class EvalConfig:
    every: int = 0  # 0 = only on demand (--eval)
    batches: int = 4
    skip_ratios: tuple[tuple[int, int], ...] = ()
    span: Span = span_field()


SyncCompression = Literal["none", "bf16", "int8"]
OuterKind = Literal["sgd", "nesterov"]
ExchangeKind = Literal["auto", "ring", "direct"]
# int8 sync: one fp32 scale per chunk of this many values (the wire carries the scales too)
INT8_CHUNK = 4096
# bytes a value of a synced tensor takes on the wire, per compression
SYNC_WIDTH: dict[str, float] = {"none": 4.0, "bf16": 2.0, "int8": 1.0}


@dataclass(frozen=True)
class SyncConfig:
    """How replica and shared groups synchronise (docs/design.md §4b): every `every` steps, values
    sent as `compress`; with `every > 1` or an outer optimizer other than sgd(lr = 1) each
    worker steps on its own microbatches and the group averages pseudo-gradients, then takes
    the outer step (`outer`, `outer_lr`, `outer_momentum`). The default is synchronous."""

    compress: SyncCompression = "none"
    every: int = 1
    outer: OuterKind = "sgd"
    outer_lr: float = 1.0
    outer_momentum: float = 0.0
    exchange: ExchangeKind = "auto"  # how an uncompressed group sum travels (pgc.sim.cost)
    span: Span = span_field()

    @property
    def synchronous(self) -> bool:
        """Gradients summed every step (no outer optimizer)."""
        return self.every == 1 and self.outer == "sgd" and self.outer_lr == 1.0 \
            and self.outer_momentum == 0.0

    def amortised(self, step: float, synced: float) -> float:
        """Mean seconds per step over `every` steps, the last of which syncs."""
        return ((self.every - 1) * step + synced) / self.every


@dataclass(frozen=True)
class MemoryEstimate:
    weights: float
    grads: float
    optimizer: float
    activations: float

    @property
    def total(self) -> float:
        return self.weights + self.grads + self.optimizer + self.activations


@dataclass(frozen=True)
class Prediction:
    """Simulated times (seconds) next to a lower bound for the same placement."""

    pipeline_time: float  # last backward done at any worker
    iteration_time: float  # all-reduces and optimizer step included
    lower_bound: float  # bound on iteration_time for this placement
    pipeline_lower_bound: float
    busy: tuple[tuple[str, float], ...] = ()  # worker -> busy seconds (compute)
    peak_inflight: tuple[tuple[str, int], ...] = ()
    memory: tuple[tuple[str, MemoryEstimate], ...] = ()
    # sync modes (docs/design.md §4b): `iteration_time` is a step that syncs; a step that does not
    # (every > 1) takes `step_time`; over `every` steps the mean is `amortised_time`
    step_time: float = 0.0  # pipeline and optimizer step, no sync
    amortised_time: float = 0.0  # ((every - 1) x step_time + iteration_time) / every
    amortised_lower_bound: float = 0.0
    sync_bytes: tuple[tuple[str, float], ...] = ()  # group -> bytes on the wire per member per sync

    @property
    def gap(self) -> float:
        return self.iteration_time / self.lower_bound - 1.0 if self.lower_bound > 0 else 0.0


Layout = Literal["ring", "chain"]
ScheduleKind = Literal["gpipe", "1f1b", "skippipe", "explicit"]
# what automatic placement minimises: the whole iteration (pipeline phase, all-reduces and
# step) or the pipeline phase alone (SkipPipe's measure, which leaves the all-reduce out)
Objective = Literal["iteration", "pipeline"]


@dataclass(frozen=True)
class Program:
    """The whole compilation state. Fields after `schedule` are filled by later passes."""

    file: str
    spec_hash: str  # sha256 of the spec text and its imports
    name: str  # pipeline name
    model: ModelRef
    layout: Layout
    segments: tuple[Segment, ...]  # model execution order
    stages: tuple[Stage, ...]  # pipeline order of the spec (origin first in ring layout)
    workers: tuple[Worker, ...]
    links: tuple[Link, ...]
    microbatch_size: int  # samples per microbatch
    seq_len: int  # tokens per sample
    microbatches: int  # M, total per iteration
    inflight: int
    skip: SkipPolicy
    swap: SwapPolicy
    schedule: ScheduleKind
    objective: Objective = "iteration"
    cost: CostModel = CostModel()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
    sync: SyncConfig = SyncConfig()
    # placement: stage -> replica group, ("auto" stages are absent until placed)
    placement: tuple[tuple[str, tuple[str, ...]], ...] = ()
    auto_place: tuple[str, ...] = ()  # stages the spec places `on auto`
    explicit_paths: tuple[Path, ...] = ()
    partitions: tuple[AutoPartition, ...] = ()  # automatic splits left to the partition pass
    shared_groups: tuple[tuple[str, tuple[str, ...]], ...] = ()  # param name -> segments
    paths: tuple[Path, ...] = ()  # filled by route
    actions: tuple[tuple[str, tuple[Action, ...]], ...] = ()  # worker -> actions, by order
    prediction: Prediction | None = None  # filled by simulate
    # what the planning passes tried and why they stopped (`pgc plan --explain` prints them)
    notes: tuple[str, ...] = ()
    span: Span = span_field()

    # -- lookups (small, linear; programs are small) -------------------------------------
    def worker(self, name: str) -> Worker:
        found = self._worker_index.get(name)
        if found is None:
            raise KeyError(name)
        return found

    @functools.cached_property
    def _worker_index(self) -> dict[str, Worker]:
        """Workers by name, built on first use (a spec may declare tens of thousands)."""
        return {w.name: w for w in self.workers}

    def segment(self, name: str) -> Segment:
        for s in self.segments:
            if s.name == name:
                return s
        raise KeyError(name)

    def stage(self, name: str) -> Stage:
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(name)

    def replicas(self, stage: str) -> tuple[str, ...]:
        return dict(self.placement).get(stage, ())
