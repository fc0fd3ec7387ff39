"""The generated script's entry point: flags, start-up, the training loop, the exit codes.

`train.py` calls `prepare(plan_path)` first (it reads and validates plan.json and puts the
model's import root on sys.path, before the stage code imports the model's module), then
`main(plan, stage_classes)`, which joins the process group (gloo on CPU, nccl with one GPU per
worker when CUDA is there), maps ranks to the plan's workers by host label, builds this
worker's stage, and trains (or evaluates).
Exit codes: 0 done; 2 a refusal with a message for the user (bad plan, flags, files); 1 an
error inside an action (the line names worker, rank, step, action, microbatch and stage, then
the original traceback follows; every other worker stops at once).
"""

from __future__ import annotations

import argparse
import datetime
import faulthandler
import importlib.util
import math
import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NoReturn

import torch
import torch.distributed as dist

from .checkpoint import load_checkpoint, save_checkpoint
from .data import Source
from .device import Placement, placement
from .evaluate import evaluate, perplexity
from .groups import make_groups
from .hostfiles import agree, prune
from .liveness import STOP, Watchdog, liveness_store
from .memory import (
    GLIBC_MMAP_THRESHOLD_MIN,
    MemoryMeter,
    memory_lines,
    peak_memory,
    set_mmap_threshold,
)
from .model import IMPORT_ROOT_ENV, ModelBuilder, StageClass, import_root, init_description
from .optim import make_optimizer, make_schedule
from .plan import Plan, PlanError, load_plan
from .precision import INIT_SCALE, LossScaler, Precision
from .rehearsal import summary
from .report import Clock, RunLog, Tracer
from .transport import Transport
from .worker import ActionError, Emulation, Worker


def parse_args(plan: Plan, argv: list[str] | None = None) -> argparse.Namespace:
    t = plan.train
    p = argparse.ArgumentParser(description=f"pgc pipeline `{plan.name}`: {plan.launch}")
    p.add_argument("--steps", type=_at_least(1), default=t.steps, help="total steps of the run")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint")
    p.add_argument("--init-from", help="start from this state_dict (model parameter names)")
    p.add_argument("--import-root", help="folder the model's module imports from "
                   "(default: PGC_IMPORT_ROOT, else the plan's, relative to plan.json)")
    p.add_argument("--data", help="the training data file (default: the spec's, relative to "
                   "plan.json's folder)")
    p.add_argument("--val-data", help="the validation data file (default: the spec's `val`)")
    p.add_argument("--ckpt-dir", default=t.checkpoint_dir)
    p.add_argument("--ckpt-every", type=_at_least(0), default=t.checkpoint_every)
    p.add_argument("--keep", type=_at_least(0), default=t.checkpoint_keep)
    p.add_argument("--log-file", default="train_log.jsonl",
                   help="JSON-lines log (written by rank 0), new for each run")
    p.add_argument("--append-log", action="store_true",
                   help="append to the log file instead of starting it anew")
    p.add_argument("--log-every", type=_at_least(1), default=t.log_every,
                   help="log and print every N-th step (and the last)")
    p.add_argument("--timeout", type=_positive,
                   help="seconds a wait may take once training runs (default: "
                   f"{TIMEOUT_STEPS} predicted steps, at least {TIMEOUT_FLOOR:g} s); start-up, the "
                   f"first step, checkpoints and evaluations wait at least {WARM_UP:g} s")
    p.add_argument("--emulate-network", action="store_true")
    p.add_argument("--emulate-compute", action="store_true")
    p.add_argument("--time-scale", type=_positive, default=1.0)
    p.add_argument("--trace", help="directory for per-worker Chrome traces")
    p.add_argument("--eval", action="store_true", help="evaluate instead of training")
    p.add_argument("--skip-stages", default="", help="comma-separated stages removed in --eval")
    p.add_argument("--skip-ratio", default="0", help="fraction of stages removed in --eval")
    p.add_argument("--eval-batches", type=_at_least(1), default=plan.eval_batches)
    p.add_argument("--eval-every", type=_at_least(0), default=plan.eval_every,
                   help="evaluate during training every N steps (0: never)")
    p.add_argument("--optimizer", choices=("sgd", "adamw"), help="override the spec's optimizer")
    p.add_argument("--lr", type=_positive, help="override the spec's learning rate")
    p.add_argument("--clip", type=_not_negative, help="override the spec's clip norm (0: off)")
    p.add_argument("--dump-grads", help="write this worker's first-step gradients to PREFIX.<worker>.pt")
    p.add_argument("--dump-params", help="write this worker's parameters to PREFIX.<worker>.pt")
    p.add_argument("--dump-after", type=_at_least(1), help="dump parameters after this step (default: last)")
    p.add_argument("--device", choices=("cpu", "cuda"),
                   help="override the automatic choice (CUDA when a GPU is there)")
    p.add_argument("--backend", choices=("gloo", "nccl"),
                   help="override the automatic choice (nccl with one GPU per worker, else gloo)")
    p.add_argument("--precision", choices=("fp32", "bf16", "fp16"),
                   help="override the spec's `train { precision }`")
    p.add_argument("--loss-scale", type=float, default=INIT_SCALE,
                   help="fp16: the initial dynamic loss scale")
    p.add_argument("--memory-report", action="store_true",
                   help="log each worker's peak memory above its baseline (taken once the "
                   "process group is up, before the model is built) next to the plan's")
    p.add_argument("--return-freed", action="store_true",
                   help="give memory a freed tensor held back to the system at once (glibc "
                   "maps every block of 128 KiB or more): a peak resident set close to the live "
                   "tensors, for more CPU time")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    if args.timeout is None:
        args.timeout = default_timeout(plan, args)
    if not args.eval and (args.skip_stages or args.skip_ratio != "0"):
        p.error("--skip-stages and --skip-ratio remove stages in --eval only; training skips "
                "what the plan's paths skip")
    return args


TIMEOUT_FLOOR = 60.0  # seconds: the shortest default timeout
TIMEOUT_STEPS = 20  # the default timeout in predicted step times
WARM_UP = 300.0  # seconds: the least a wait may take in start-up, checkpoints and evaluations


def default_timeout(plan: Plan, args: argparse.Namespace) -> float:
    """The plan's predicted step time (at the rehearsal's time scale) times TIMEOUT_STEPS, at
    least TIMEOUT_FLOOR: a wait in a step lasts at most about a step, so a stopped peer is
    reported after a few steps' time, never minutes when steps take seconds."""
    rehearsal = args.emulate_network or args.emulate_compute
    step = (plan.predicted_step or 0.0) * (args.time_scale if rehearsal else 1.0)
    return max(TIMEOUT_FLOOR, TIMEOUT_STEPS * step)


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"`{text}` is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"`{text}` is not a finite number")
    return value


def _positive(text: str) -> float:
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def _not_negative(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def _at_least(minimum: int) -> Callable[[str], int]:
    def whole(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"`{text}` is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, not {text}")
        return value
    return whole


def with_overrides(plan: Plan, args: argparse.Namespace) -> Plan:
    plan = plan.with_optimizer(args.optimizer, args.lr, args.clip)
    if args.precision:
        plan = replace(plan, train=replace(plan.train, precision=args.precision))
    return plan


# ----------------------------------------------------------------------------- start-up
def check_world(plan: Plan, world: int) -> None:
    """Refuse a run whose process count differs from the plan's worker count."""
    if world != len(plan.workers):
        raise PlanError(f"the plan has {len(plan.workers)} workers but torchrun started {world} "
                        f"processes; run: {plan.launch}")


def host_label() -> str:
    return os.environ.get("PGC_HOST") or socket.gethostname()


def map_workers(plan: Plan, labels: list[tuple[str, int]]) -> list[str]:
    """rank -> plan worker name. `labels[rank] = (host label, local rank)`.

    Plan workers with a host label go to ranks with that label (in plan order, ranks ordered by
    local rank); workers without one take the remaining ranks in rank order. torchrun does not
    fix which host gets which rank range, so the mapping must come from the labels."""
    free = sorted(range(len(labels)), key=lambda r: (labels[r][0], labels[r][1]))
    names: list[str | None] = [None] * len(labels)
    for name, host in zip(plan.workers, plan.hosts):
        if host:
            match = [r for r in free if labels[r][0] == host]
            if not match:
                have = sorted({label for label, _ in labels})
                raise PlanError(f"worker {name} needs host `{host}` but the hosts are {have} "
                                "(set PGC_HOST on each host, or fix the spec's host labels)")
            names[match[0]] = name
            free.remove(match[0])
    rest = iter(sorted(free))
    for name, host in zip(plan.workers, plan.hosts):
        if not host:
            names[next(rest)] = name
    return [n for n in names if n is not None]


def init_distributed(plan: Plan, args: argparse.Namespace) -> tuple[int, int, Placement]:
    """The device and backend (`device.placement`: automatic, or the flags), then the group."""
    if "RANK" not in os.environ:
        raise PlanError(f"train.py runs under torchrun, one process per worker: {plan.launch}")
    where = placement(args.device, args.backend)
    if where.device.type == "cuda":
        torch.cuda.set_device(where.device)
    warm_up = datetime.timedelta(seconds=max(args.timeout, WARM_UP))
    dist.init_process_group(where.backend, timeout=warm_up)
    return dist.get_rank(), dist.get_world_size(), where


@dataclass
class Run:
    """One worker's run: the plan, its flags and its built worker."""

    plan: Plan
    args: argparse.Namespace
    worker: Worker
    log: RunLog
    meter: MemoryMeter | None = None


def setup(plan: Plan, classes: Mapping[str, StageClass], args: argparse.Namespace) -> Run:
    source = None if plan.train.data == "synthetic" else Source(plan, args.data, args.val_data)
    if source is not None:
        source.check()  # every rank, before any waits on another: all refuse alike
    rank, world, where = init_distributed(plan, args)
    device = where.device
    check_world(plan, world)
    labels: list[Any] = [None] * world
    dist.all_gather_object(labels, (host_label(), int(os.environ.get("LOCAL_RANK", 0))))
    names = map_workers(plan, labels)
    me = names[rank]
    rank_of = {n: r for r, n in enumerate(names)}
    log = RunLog(args.log_file if rank == 0 else None, args.quiet, args.append_log)
    log.say(f"run {log.run}, log {args.log_file}")
    log.say("workers: " + ", ".join(f"{n}=rank{r}@{labels[r][0]}" for r, n in enumerate(names)))
    log.say(init_description(plan, args.init_from))
    log.say(f"{where.describe()}; precision {plan.train.precision}")
    meter = MemoryMeter.start(device) if args.memory_report else None
    builder = ModelBuilder(plan, classes, args.import_root)
    segments = builder.segments(list(plan.stage_of(me).segments), args.init_from, device)
    if args.return_freed and set_mmap_threshold(GLIBC_MMAP_THRESHOLD_MIN):
        log.say("freed memory goes back to the system at once (blocks of 128 KiB or more mapped)")
    warm_up = max(args.timeout, WARM_UP)
    groups = make_groups(plan, me, rank_of, warm_up)
    dist.barrier()
    clock = Clock(time.perf_counter())
    emulation = Emulation(args.emulate_network, args.emulate_compute, args.time_scale)
    watchdog = Watchdog(me, warm_up, liveness_store(), plan.workers)
    transport = Transport(plan, me, rank_of, device, warm_up, clock, emulation.network,
                          emulation.scale, staged=where.staged, watchdog=watchdog,
                          stream_ordered=where.stream_ordered)
    worker = Worker(plan, me, rank, segments, transport, groups, watchdog,
                    device, emulation, Tracer(me, rank, clock, emulation.scale if emulation.network or emulation.compute else 1.0)
                    if args.trace else None,
                    source, Precision(plan.train.precision, device.type))
    weighted = {b.name: dict(zip(b.workers, b.shares)) for b in plan.buckets
                if b.shares is not None and len(b.workers) > 1}
    if weighted:
        log.record({"direct_exchange": weighted}, "pgc: direct weighted exchange: " + "; ".join(
            f"{name} ({', '.join(f'{w} {s:.0%}' for w, s in shares.items())})"
            for name, shares in weighted.items()))
    return Run(plan, args, worker, log, meter)


# ----------------------------------------------------------------------------- training
def train(run: Run) -> None:
    plan, args, w = run.plan, run.args, run.worker
    opt = make_optimizer(plan.train, w.params)
    root = Path(args.ckpt_dir)
    start = 0
    if args.resume:
        found = agree(plan, root, w.me, host_label())
        if found is not None:
            start = load_checkpoint(found[0], found[1], w.me, w.segments, opt, w.device,
                                    w.sync_state)
            run.log.say(f"resumed from {found[0]} (step {start})", always=True)
        else:
            run.log.say(f"--resume: no checkpoint under {root} on any host; starting at step 1",
                        always=True)
    outer = not plan.sync.synchronous
    if outer:
        w.start_outer()
    schedule = make_schedule(opt, plan.train, args.steps, start)
    scaler = LossScaler(plan.train.precision == "fp16", w.sync_state, args.loss_scale)
    signal.signal(signal.SIGTERM, lambda *_: STOP.set())
    tokens = plan.microbatch_size * plan.seq_len * plan.microbatches
    run.log.begin(start, args.steps, args.log_every)
    times: list[float] = []
    for step in range(start, args.steps):
        t0 = time.perf_counter()
        w.loss_scale = scaler.scale
        loss_sum, _ = w.run_step(step)
        overflow = scaler.unscale((p.grad for p in w.params.values() if p.grad is not None),
                                  w.device)
        if outer:
            w.inner_gradient()
        if step == start and args.dump_grads:
            torch.save({n: p.grad.clone() for n, p in w.params.items() if p.grad is not None},
                       f"{args.dump_grads}.{w.me}.pt")
        stats = end_of_step(w, step, loss_sum, overflow)
        if step == start:  # warmed up: from now on a wait may take the run's timeout
            set_timeout(w, args.timeout)
        skipped = stats[3] > 0  # fp16: a gradient overflowed on some worker
        scaler.update(skipped)
        # outer steps: each worker clips by the norm of its own inner gradient
        norm = math.sqrt(w.own_norm_sq() if outer else stats[0])
        if plan.train.clip:
            coef = min(1.0, float(plan.train.clip) / (norm + 1e-6))
            for p in w.params.values():
                p.grad.mul_(coef)  # type: ignore[union-attr]
        lr = opt.param_groups[0]["lr"]
        # no step on an fp16 overflow (every worker alike); none for a worker that saw no
        # microbatch with outer steps
        if not skipped and (not outer or w.visits):
            opt.step()
        schedule.step()
        if outer and plan.sync.syncs_after(step):
            w.outer_sync()
        dt = time.perf_counter() - t0
        times.append(dt)
        loss, done = stats[1] / plan.microbatches, step + 1
        fields = {"loss": loss, "lr": lr, "grad_norm": norm, "tokens_per_s": tokens / dt,
                  "time": dt, "peak_memory": peak_memory(w.device)}
        if scaler.enabled:
            fields |= {"loss_scale": scaler.scale, "skipped": skipped}
        run.log.step(
            done, fields,
            f"loss {loss:.4f}  lr {lr:.2e}  norm {norm:.3f}  {tokens / dt:,.0f} tok/s  "
            f"{dt * 1e3:.0f} ms")
        if skipped:
            run.log.say(f"step {done}: skipped on every worker (an fp16 gradient overflowed); "
                        f"loss scale now {scaler.scale:g}", always=True)
        if args.dump_params and done == (args.dump_after or args.steps):
            torch.save({n: p.detach().clone() for n, p in w.params.items()},
                       f"{args.dump_params}.{w.me}.pt")
        if args.eval_every and done % args.eval_every == 0:
            with relaxed(w, args.timeout):
                evaluate_during(run, done)
        stop = stats[2] > 0
        due = bool(args.ckpt_every) and (done % args.ckpt_every == 0 or done == args.steps)
        if due or stop:  # a stop (SIGTERM) always saves the finished step, checkpoints off or not
            found_root = import_root(plan, args.import_root)
            model = {"target": plan.model.target, "args": plan.model.args,
                     "import_root": str(found_root) if found_root else None}
            with relaxed(w, args.timeout):
                if save_checkpoint(plan, root, done, w.me, w.segments, opt, model, w.sync_state,
                                   host_label()):
                    prune(plan, root, w.me, host_label(), args.keep)
        if stop:
            run.log.say(f"stopped by SIGTERM after step {done}", always=True)
            break
    if w.tracer is not None:
        w.tracer.write(args.trace)
    if args.emulate_compute or args.emulate_network:
        rehearsal_report(run, times, start)
    if run.meter is not None:
        memory_report(run, run.meter)


def memory_report(run: Run, meter: MemoryMeter) -> None:
    """Every worker's peak above its baseline, with the plan's prediction, in one record."""
    mine = meter.measure()
    predicted = run.plan.predicted_memory.get(run.worker.me)
    if predicted:
        mine |= {"predicted": predicted, "ratio": mine["above_baseline"] / predicted}
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, (run.worker.me, mine))
    by_worker = dict(gathered)
    report = {w: by_worker[w] for w in run.plan.workers}
    lines = memory_lines(report)
    run.log.record({"memory_report": report, "device": meter.device.type,
                    "return_freed": run.args.return_freed},
                   "pgc: memory " + lines[0], always=True)
    for line in lines[1:]:
        run.log.say("memory " + line, always=True)


def set_timeout(w: Worker, seconds: float) -> None:
    """Every wait of this worker from now on fails after `seconds`: point-to-point waits, the
    collectives of every group it is in, and the watchdog's."""
    w.transport.timeout = w.watchdog.timeout = seconds
    delta = datetime.timedelta(seconds=seconds)
    for group in (None, *(g for _, g in w.groups.values() if g is not None)):
        dist.distributed_c10d._set_pg_timeout(delta, group)


@contextmanager
def relaxed(w: Worker, timeout: float) -> Iterator[None]:
    """Checkpoints and evaluations (disk writes, a pass over held-out data) wait at least
    WARM_UP seconds; then the run's timeout again."""
    set_timeout(w, max(timeout, WARM_UP))
    try:
        yield
    finally:
        set_timeout(w, timeout)


def rehearsal_report(run: Run, times: list[float], first: int) -> None:
    """Predicted against measured step time, and compute that overran its emulated time;
    `times[i]` is step `first + i`."""
    overruns: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(overruns, (run.worker.me, run.worker.overrun))
    record, lines = summary(run.plan, run.args.time_scale, times, overruns, first)
    run.log.record(record, "pgc: " + lines[0], always=True)
    for line in lines[1:]:
        run.log.say(line, always=True)


def end_of_step(w: Worker, step: int, loss_sum: torch.Tensor | float,
                overflow: torch.Tensor | None = None) -> list[float]:
    """Summed over every worker: squared gradient norm, loss, whether any was told to stop,
    and whether a gradient overflowed (fp16). The one host read of the step's values."""
    zero = torch.zeros((), dtype=torch.float64, device=w.device)
    stats = torch.stack([w.norm_sq(), zero + loss_sum, zero + float(STOP.is_set()),
                         zero if overflow is None else overflow.to(zero)])
    with w.watchdog.blocking(w.plan.workers, f"end-of-step all-reduce of step {step}"):
        dist.all_reduce(stats)
    return [float(x) for x in stats.tolist()]


def evaluate_during(run: Run, done: int) -> None:
    """After step `done`: held-out loss and perplexity at each of the spec's skip ratios."""
    for ratio in run.plan.eval_skips:
        loss = evaluate(run.worker, run.args.eval_batches, "", ratio)
        if loss is not None:
            run.log.record(
                {"step": done, "eval_loss": loss, "perplexity": perplexity(loss),
                 "skip_ratio": ratio, "batches": run.args.eval_batches},
                f"eval  step {done}  skip {ratio}  loss {loss:.4f}  ppl {perplexity(loss):.2f}")


def run_eval(run: Run) -> None:
    plan, args, w = run.plan, run.args, run.worker
    where, step = "the initial model (no --resume)", 0
    if args.resume:
        found = agree(plan, Path(args.ckpt_dir), w.me, host_label())
        if found is None:
            raise PlanError(f"--resume: no complete checkpoint under {args.ckpt_dir}")
        step = load_checkpoint(found[0], found[1], w.me, w.segments,
                               make_optimizer(plan.train, w.params), w.device)
        where = str(found[0])
    loss = evaluate(w, args.eval_batches, args.skip_stages, args.skip_ratio)
    if loss is not None:
        run.log.record(
            {"eval_loss": loss, "perplexity": perplexity(loss), "batches": args.eval_batches,
             "skip_stages": args.skip_stages, "skip_ratio": args.skip_ratio,
             "checkpoint": where, "step": step},
            f"eval  {where} (step {step})  loss {loss:.4f}  ppl {perplexity(loss):.2f}  "
            f"skip {args.skip_stages or args.skip_ratio}")


def prepare(plan_path: Path, argv: list[str] | None = None) -> Plan:
    """Before the stage code imports anything of the model's module: the validated plan, and
    the model's import root on sys.path. A plan that cannot be read ends the process (exit 2)."""
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--import-root")
    given = early.parse_known_args(argv)[0].import_root
    try:
        plan = load_plan(plan_path)
    except PlanError as exc:
        print(f"pgc: error (rank {os.environ.get('RANK', '?')}): {exc}", file=sys.stderr, flush=True)
        sys.exit(2)
    root = import_root(plan, given)
    if root is not None and str(root) not in sys.path:
        sys.path.insert(0, str(root))
    module = plan.model.target.partition(":")[0]
    if not module_exists(module):
        where = f"under {root}" if root is not None else "on sys.path"
        print(f"pgc: error (rank {os.environ.get('RANK', '?')}): cannot find the model module "
              f"`{module}` {where}; give the folder it imports from with --import-root DIR or "
              f"{IMPORT_ROOT_ENV}=DIR", file=sys.stderr, flush=True)
        sys.exit(2)
    return plan


def module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a parent package is missing, or the name is not one
        return False


def main(plan: Plan, classes: Mapping[str, StageClass], argv: list[str] | None = None) -> int:
    rank = os.environ.get("RANK", "?")
    run: Run | None = None
    try:
        args = parse_args(plan, argv)
        plan = with_overrides(plan, args)
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
        run = setup(plan, classes, args)
        if args.eval:
            run_eval(run)
        else:
            train(run)
        dist.barrier()
        run.worker.watchdog.close()
        dist.destroy_process_group()
        run.log.close()
        return 0
    except PlanError as exc:
        print(f"pgc: error (rank {rank}): {exc}", file=sys.stderr, flush=True)
        return 2
    except ActionError as exc:
        cause = exc.__cause__
        line = f"{exc}: {type(cause).__name__}: {cause}"
        print(f"pgc: error: {line}", file=sys.stderr, flush=True)
        if cause is not None:
            traceback.print_exception(cause, file=sys.stderr)
        if run is not None:
            run.worker.watchdog.publish(line)
        return 1
    finally:
        if run is not None:
            run.worker.watchdog.close()


def run_script(plan: Plan, classes: Mapping[str, StageClass],
               argv: list[str] | None = None) -> NoReturn:
    """train.py's entry point: `main`, then the process ends without the interpreter's
    teardown. torch's gloo process groups can abort a process at interpreter exit
    ("terminate called without an active exception", SIGABRT) when a group outlives
    `destroy_process_group` (a failed worker never reaches it) or a backend thread still holds
    a tensor while Python is finalising. Every file the run writes is closed or flushed by the
    time `main` returns, so skipping the teardown loses nothing. A fatal signal prints every
    thread's Python stack (faulthandler), so a crash inside torch still says where it was."""
    faulthandler.enable()
    try:
        code = main(plan, classes, argv)
    except SystemExit as exc:  # --help, a flag argparse refuses
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except BaseException:  # noqa: BLE001 - an internal error: its traceback, then exit 1
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
