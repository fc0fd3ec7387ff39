"""Lowering the AST of a spec (and its imports) to the IR Program, with semantic checks.

Independent mistakes are collected and reported together; a phase whose input is broken
stops before later phases would report consequences of the same mistake.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction

from pgc.diagnostics import Diagnostic, UserError, did_you_mean, error
from pgc.frontend import ast
from pgc.frontend import lower_settings as LS
from pgc.frontend import values as V
from pgc.frontend.blocks import Collector, block, settings, value
from pgc.frontend.load import Sources
from pgc.frontend.lower_place import check_policy, lower_paths, place, replicas
from pgc.frontend.lower_stages import LAYER_COUNT_ARGS, ORIGIN, Split, lower_split
from pgc.frontend.lower_topology import Topology, lower_topology
from pgc.ir.policy import skipped_count
from pgc.ir.types import (
    CostModel,
    EvalConfig,
    Layout,
    ModelRef,
    Objective,
    Path,
    Program,
    ScheduleKind,
    SkipPolicy,
    Span,
    Stage,
    SwapPolicy,
    SyncConfig,
    TrainConfig,
)
from pgc.runtime.rules import skip_ratio_hint, skip_ratio_problem

SCHEDULES: tuple[ScheduleKind, ...] = ("gpipe", "1f1b", "skippipe", "explicit")
LAYOUTS: tuple[Layout, ...] = ("ring", "chain")
OBJECTIVES: tuple[Objective, ...] = ("iteration", "pipeline")
PIPELINE_KEYS = ("model", "layout", "inflight", "objective")
PIPELINE_BLOCKS = ("origin", "microbatch", "skip", "swap", "cost", "sync", "train", "eval")


def _decls(sources: Sources) -> list[ast.Decl]:
    return [d for m in sources.modules for d in m.decls]


def lower_models(decls: list[ast.Decl], errors: Collector) -> dict[str, ModelRef]:
    out: dict[str, ModelRef] = {}
    for d in decls:
        if not isinstance(d, ast.ModelDecl):
            continue
        if d.name in out:
            errors.add(UserError(Diagnostic(d.span, f"model `{d.name}` is declared twice", notes=((out[d.name].span, "first declared here"),))))
            continue
        model = errors.run(_model, d, errors)
        if model is not None:
            out[d.name] = model
    return out


def _model(d: ast.ModelDecl, errors: Collector) -> ModelRef:
    module, _, function = d.target.partition(":")
    ident = all(part.isidentifier() for part in module.split(".")) and function.isidentifier()
    if not ident:
        raise error(d.span, f"model target `{d.target}` is not `module.path:function`", hint='e.g. "examples.models.llama:build"')
    args: list[tuple[str, object]] = []
    seen: dict[str, Span] = {}
    for item in d.items or ():
        if not isinstance(item, ast.Assign):
            errors.add(error(item.span, "model arguments are written `name = value`"))
            continue
        if item.key in seen:
            errors.add(UserError(Diagnostic(item.span, f"model argument `{item.key}` is set twice", notes=((seen[item.key], "first set here"),))))
            continue
        seen[item.key] = item.span
        lit = errors.run(V.literal, item.value, item.key)
        if lit is not None:
            args.append((item.key, lit))
    return ModelRef(d.name, d.target, tuple(args), span=d.span)  # type: ignore[arg-type]


Declarations = tuple[Topology, dict[str, ModelRef], list[ast.PipelineDecl]]


def lower_declarations(sources: Sources) -> Declarations:
    """Workers, links and models of every file; raises UserError with every mistake found."""
    errors = Collector()
    decls = _decls(sources)
    topology = lower_topology(decls, errors)
    models = lower_models(decls, errors)
    pipelines = [d for d in decls if isinstance(d, ast.PipelineDecl)]
    for extra in pipelines[1:]:
        errors.add(UserError(Diagnostic(extra.span, "a spec holds one pipeline", notes=((pipelines[0].span, "the first pipeline is here"),))))
    errors.raise_if_any()
    return topology, models, pipelines


def lower(sources: Sources, declarations: Declarations | None = None) -> Program:
    """The Program of a spec whose files are `sources` (`declarations`: their already lowered
    workers, links and models, when the caller has them)."""
    topology, models, pipelines = declarations or lower_declarations(sources)
    if not pipelines:
        raise error(Span(sources.main.file, 1, 1, 1, 2), f"`{sources.main.file}` declares no pipeline", hint="`pgc check` also accepts topology-only files")
    if not topology.workers:
        raise error(pipelines[0].span, "the spec declares no nodes", hint="e.g. `node n[0..3] { rate = 50 GFLOPS; memory = 4 GiB }`")
    return _Pipeline(sources, topology, models).lower(pipelines[0])


@dataclass(frozen=True)
class _Settings:
    """What phase 1 reads from the pipeline's settings and blocks (see `_Pipeline.lower`)."""

    model: ModelRef
    layout: Layout
    split: Split
    microbatch: LS.Microbatch
    ratio: Fraction
    ratio_span: Span
    never: tuple[ast.Ref, ...]
    balance: float | None
    max_swaps: int
    swap_span: Span
    schedule: ScheduleKind
    objective: Objective
    cost: CostModel
    sync: SyncConfig
    train: TrainConfig
    evaluation: EvalConfig
    inflight: ast.Value | None


@dataclass(frozen=True)
class _Placed:
    """What phase 2 decides: stages with replica counts and never-skip marks, placement."""

    stages: tuple[Stage, ...]
    never: tuple[str, ...]
    placement: dict[str, tuple[str, ...]]
    auto: tuple[str, ...]
    microbatches: int


@dataclass
class _Pipeline:
    """Lowers one pipeline in three phases (settings; stages and placement; paths), each
    reporting all of its independent mistakes before the next phase would repeat them."""

    sources: Sources
    topology: Topology
    models: dict[str, ModelRef]

    def lower(self, decl: ast.PipelineDecl) -> Program:
        errors = Collector()
        st = self._settings(decl, errors)
        errors.raise_if_any()
        assert st is not None
        placed = self._placement(decl, st, errors)
        errors.raise_if_any()
        path_stmts = [i for i in decl.items if isinstance(i, ast.PathStmt)]
        paths = lower_paths(path_stmts, st.layout, list(placed.stages), placed.placement, placed.microbatches, errors)
        for p in paths:
            errors.run(check_policy, p, list(placed.stages), st.ratio, st.max_swaps)
        errors.run(_check_explicit, st.schedule, paths, path_stmts, placed.microbatches, decl)
        inflight = len(placed.stages)
        if st.inflight is not None:
            inflight = errors.run(V.integer, st.inflight, "inflight", 1) or 1
        errors.raise_if_any()
        return Program(
            file=self.sources.main.file,
            spec_hash=self.sources.spec_hash,
            name=decl.name,
            model=st.model,
            layout=st.layout,
            segments=st.split.segments,
            stages=placed.stages,
            workers=self.topology.workers,
            links=self.topology.links,
            microbatch_size=st.microbatch.size,
            seq_len=st.microbatch.seq,
            microbatches=placed.microbatches,
            inflight=inflight,
            skip=SkipPolicy((st.ratio.numerator, st.ratio.denominator), placed.never, span=st.ratio_span,
                            balance=st.balance),
            swap=SwapPolicy(st.max_swaps, span=st.swap_span),
            schedule=st.schedule,
            objective=st.objective,
            cost=st.cost,
            sync=st.sync,
            train=st.train,
            eval=st.evaluation,
            placement=tuple((s.name, placed.placement[s.name]) for s in placed.stages if s.name in placed.placement),
            auto_place=placed.auto,
            explicit_paths=tuple(paths),
            partitions=st.split.partitions,
            span=decl.span,
        )

    def _settings(self, decl: ast.PipelineDecl, errors: Collector) -> _Settings | None:
        """Phase 1: model, layout, stage split and the settings blocks."""
        where = f"pipeline `{decl.name}`"
        items = tuple(i for i in decl.items if isinstance(i, ast.Assign | ast.Nested))
        found = settings(items, where, PIPELINE_KEYS, PIPELINE_BLOCKS, errors=errors)
        model = errors.run(self._model, decl, value(found, "model"))
        layout: Layout = errors.run(self._layout, decl, value(found, "layout"), block(found, "origin")) or "chain"
        split_stmts = [i for i in decl.items if isinstance(i, ast.StagesStmt | ast.StageStmt)]
        split = errors.run(lower_split, layout, block(found, "origin"), split_stmts, _layer_count(model), decl.span, errors)
        mb = errors.run(LS.microbatch, block(found, "microbatch"), decl.span, errors)
        ratio, never, ratio_span, balance = (errors.run(LS.skip, block(found, "skip"), errors)
                                             or (Fraction(0), [], None, 0.0))
        max_swaps, swap_span = errors.run(LS.swap, block(found, "swap"), errors) or (0, None)
        cost = LS.cost(block(found, "cost"), errors)
        sync = LS.sync(block(found, "sync"), errors)
        train = LS.train(block(found, "train"), errors)
        evaluation = LS.evaluation(block(found, "eval"), errors)
        schedule = errors.run(self._schedule, decl, ratio)
        objective = errors.run(_objective, value(found, "objective")) or "iteration"
        if model is None or split is None or mb is None or schedule is None:
            return None
        return _Settings(
            model, layout, split, mb, ratio, ratio_span or decl.span, tuple(never), balance, max_swaps,
            swap_span or decl.span, schedule, objective, cost, sync, train, evaluation, value(found, "inflight"),
        )  # fmt: skip

    def _placement(self, decl: ast.PipelineDecl, st: _Settings, errors: Collector) -> _Placed:
        """Phase 2: never-skip marks, replicas, placement, and the checks that need them."""
        stages = list(st.split.stages)
        names = [s.name for s in stages]
        never = self._never(list(st.never), stages, st.layout, errors)
        stages = [replace(s, never_skip=s.name in never) for s in stages]
        counts = replicas([i for i in decl.items if isinstance(i, ast.ReplicasStmt)], names, errors)
        workers = {w.name for w in self.topology.workers}
        groups: dict[str, list[str]] = {}
        for w in self.topology.workers:
            for g in w.groups:
                groups.setdefault(g, []).append(w.name)
        place_stmts = [i for i in decl.items if isinstance(i, ast.PlaceStmt)]
        placed, auto = place(place_stmts, stages, workers, groups, counts, errors)
        stages = [replace(s, replicas=len(placed[s.name]) if s.name in placed else counts.get(s.name)) for s in stages]
        errors.run(_check_skip, st.ratio, st.ratio_span, stages, st.schedule)
        for num, den in st.evaluation.skip_ratios:
            problem = skip_ratio_problem(Fraction(num, den), len(stages))
            if problem:
                at = st.evaluation.span if st.evaluation.span.line else decl.span
                errors.add(error(at, f"eval {problem}", hint=skip_ratio_hint(len(stages))))
        if st.max_swaps and st.schedule not in ("skippipe", "explicit"):
            errors.add(error(st.swap_span, f"swaps need `schedule skippipe` or `schedule explicit`, not `{st.schedule}`"))
        microbatches = errors.run(_microbatches, st.microbatch, stages) or 1
        LS.check_recompute_stages(decl, names, errors)
        never_sorted = tuple(sorted(never, key=names.index))
        return _Placed(tuple(stages), never_sorted, placed, tuple(auto), microbatches)

    def _model(self, decl: ast.PipelineDecl, v: ast.Value | None) -> ModelRef:
        if v is None:
            if len(self.models) == 1:
                return next(iter(self.models.values()))
            raise error(decl.span, "the pipeline needs `model = NAME`", hint=f"models: {', '.join(self.models) or 'none declared'}")
        name = V.name(v, "model")
        if name not in self.models:
            raise error(v.span, f"unknown model `{name}`", hint=did_you_mean(name, self.models) or f"models: {', '.join(self.models) or 'none declared'}")
        return self.models[name]

    def _layout(self, decl: ast.PipelineDecl, v: ast.Value | None, origin: ast.Nested | None) -> Layout:
        layout: str = "ring" if origin is not None else "chain"
        if v is not None:
            layout = V.name(v, "layout")
            if layout not in LAYOUTS:
                raise error(v.span, f"unknown layout `{layout}`", hint=did_you_mean(layout, LAYOUTS) or "layouts: ring, chain")
        if layout == "ring" and origin is None:
            raise error(v.span if v is not None else decl.span, "the ring layout needs an `origin { prologue = [...]; epilogue = [...] }` block")
        if layout == "chain" and origin is not None:
            raise error(origin.span, "`origin` belongs to the ring layout", hint="set `layout = ring`, or make the first and last stages hold the embedding and head")
        return layout  # type: ignore[return-value]

    def _schedule(self, decl: ast.PipelineDecl, ratio: Fraction) -> ScheduleKind:
        stmts = [i for i in decl.items if isinstance(i, ast.ScheduleStmt)]
        for extra in stmts[1:]:
            raise UserError(Diagnostic(extra.span, "the schedule is set twice", notes=((stmts[0].span, "first set here"),)))
        if not stmts:
            has_paths = any(isinstance(i, ast.PathStmt) for i in decl.items)
            return "explicit" if has_paths else "skippipe" if ratio else "1f1b"
        kind = stmts[0].kind
        if kind not in SCHEDULES:
            raise error(stmts[0].span, f"unknown schedule `{kind}`", hint=did_you_mean(kind, SCHEDULES) or f"schedules: {', '.join(SCHEDULES)}")
        return kind  # type: ignore[return-value]

    def _never(self, refs: list[ast.Ref], stages: list[Stage], layout: Layout, errors: Collector) -> set[str]:
        """Stages never skipped: the ones listed, plus those that cannot be: the ring origin
        (data and loss live there), the chain's first (tokens in) and last (loss) stages."""
        from pgc.frontend.lower_place import stage_names

        names = [s.name for s in stages]
        never = {ORIGIN} if layout == "ring" else {names[0], names[-1]}
        for ref in refs:
            never.update(errors.run(stage_names, ref, names) or [])
        return never


def _objective(v: ast.Value | None) -> Objective:
    """`objective = iteration | pipeline`; the default is the whole iteration."""
    if v is None:
        return "iteration"
    name = V.name(v, "objective")
    if name not in OBJECTIVES:
        raise error(v.span, f"unknown objective `{name}`",
                    hint=did_you_mean(name, OBJECTIVES) or "objectives: iteration, pipeline")
    return name  # type: ignore[return-value]


def _layer_count(model: ModelRef | None) -> int | None:
    for key, v in model.args if model else ():
        if key in LAYER_COUNT_ARGS and isinstance(v, int) and not isinstance(v, bool):
            return v
    return None


def _check_skip(ratio: Fraction, where: Span, stages: list[Stage], schedule: str) -> None:
    if not ratio:
        return
    n = len(stages)
    skipped = skipped_count(ratio, n, where)
    never = sum(s.never_skip for s in stages)
    if n - int(skipped) < never:
        raise error(where, f"skip ratio {ratio} leaves {n - int(skipped)} stages per path, fewer than the {never} never-skipped ones")
    if schedule not in ("skippipe", "explicit"):
        raise error(where, f"skipping needs `schedule skippipe` or `schedule explicit`, not `{schedule}`")


MAX_MICROBATCHES = 4096  # per iteration: planning cost grows with it (bench/plan_scale.py)


def _microbatches(mb: LS.Microbatch, stages: list[Stage]) -> int:
    if mb.count is not None:
        total = mb.count
    else:
        assert mb.per_origin is not None
        first = stages[0]
        if first.replicas is None:
            raise error(mb.span, f"`per_origin` needs the number of `{first.name}` workers", hint=f"place `{first.name}` explicitly or set `replicas {first.name} = N`")
        total = mb.per_origin * first.replicas
    if total > MAX_MICROBATCHES:
        raise error(mb.span, f"{total} microbatches per iteration are more than pgc plans "
                    f"({MAX_MICROBATCHES})", hint="use larger microbatches, or accumulate "
                    "gradients over several iterations")
    return total


def _check_explicit(schedule: str, paths: list[Path], stmts: list[ast.PathStmt], microbatches: int, decl: ast.PipelineDecl) -> None:
    if stmts and schedule in ("gpipe", "1f1b"):
        raise error(stmts[0].span, f"explicit paths need `schedule explicit` or `schedule skippipe`, not `{schedule}`")
    if schedule == "explicit":
        have = {p.mb for p in paths}
        missing = [m for m in range(microbatches) if m not in have]
        if missing:
            shown = ", ".join(f"mb{m}" for m in missing[:5]) + (" ..." if len(missing) > 5 else "")
            raise error(decl.span, f"`schedule explicit` needs a path for every microbatch; missing {shown}")
