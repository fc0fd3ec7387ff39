"""The runtime package module by module, in this process, without torchrun: the plan contract,
the data order, the schedule and optimizer, checkpoint manifests, gradient groups, transport
ordering and naming a stopped worker over an in-process stand-in for torch.distributed, the action interpreter
(several workers as threads, against one process) and its error context."""

from __future__ import annotations

import json
import math
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch

from pgc.runtime import sync
from pgc.runtime.checkpoint import (
    load_checkpoint,
    newest_checkpoint,
    prune_checkpoints,
    read_manifest,
    step_dir,
    write_manifest,
    write_worker_file,
)
from pgc.runtime.data import Source, batch, generator, sample_seed
from pgc.runtime.evaluate import skipped_stages, whole_stage_count
from pgc.runtime.files import sha256
from pgc.runtime.groups import direct_shares, norm_owners, orphans
from pgc.runtime.liveness import Watchdog, stopped_worker
from pgc.runtime.main import map_workers
from pgc.runtime.model import named_params
from pgc.runtime.optim import lr_factor, make_optimizer, make_schedule
from pgc.runtime.plan import Bucket, Plan, PlanError, load_plan
from pgc.runtime.precision import FP32, Precision
from pgc.runtime.report import Clock
from pgc.runtime.transport import Transport
from pgc.runtime.worker import ActionError, Worker
from tests.conftest import ROOT, pgc_env, run_pgc
from tests.runtime.reference import builder, load_script

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def chain4(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """examples/chain4.pgc compiled (4 workers, 1F1B), its train.py loaded as a module."""
    out = tmp_path_factory.mktemp("chain4")
    r = run_pgc("compile", str(ROOT / "examples" / "chain4.pgc"), "-o", str(out), timeout=300)
    assert r.returncode == 0, r.stderr
    return load_script(out / "train.py")


# ----------------------------------------------------------------------------- plan contract
def test_plan_loads_typed_and_refuses_what_is_not_a_compiled_plan(
    chain4: ModuleType, tmp_path: Path
) -> None:
    plan: Plan = chain4.PLAN
    assert plan.workers == ("n0", "n1", "n2", "n3") and plan.microbatches == 8
    assert [s.name for s in plan.stages] == ["s0", "s1", "s2", "s3"]
    assert plan.segment("s0").first and plan.segment("s3").loss
    assert plan.actions["n0"][0].kind == "F"
    text = (plan.folder / "plan.json").read_text()
    for content, message in (
        ("{not json", "not a plan (invalid JSON"),
        (json.dumps({"version": 1}), "this pgc reads schema version 2, got 1"),
        (text.replace('"world_size": 4', '"world_size": 5'), "world_size is 5"),
        (text.replace('"SEND_F m0 ->n1"', '"SEND_F m0 ->n9"', 1), "unknown name 'n9'"),
    ):
        bad = tmp_path / "plan.json"
        bad.write_text(content)
        with pytest.raises(PlanError, match=re.escape(message)) as info:
            load_plan(bad)
        assert str(bad) in str(info.value)
    obj = json.loads(text)
    obj["runtime"] = None
    (tmp_path / "plan.json").write_text(json.dumps(obj))
    with pytest.raises(PlanError, match="not a compiled folder"):
        load_plan(tmp_path / "plan.json")
    with pytest.raises(PlanError, match="cannot read the plan"):
        load_plan(tmp_path / "missing.json")


def test_bucket_shares_load_in_worker_order_and_hostile_ones_are_refused(
    chain4: ModuleType, tmp_path: Path
) -> None:
    """`runtime.buckets[i].shares` is optional (old plans load without it); given, it must
    name exactly the bucket's workers with finite shares >= 0 summing to 1, and only for an
    uncompressed sum; each refusal is one located line."""
    plan: Plan = chain4.PLAN
    assert all(b.shares is None for b in plan.buckets)
    obj = json.loads((plan.folder / "plan.json").read_text())
    first = obj["runtime"]["buckets"][0]
    assert first["workers"] == ["n0"]
    where = "runtime.buckets[0].shares"

    def load(shares: Any, compress: str = "none") -> Plan:
        edited = json.loads(json.dumps(obj))
        edited["runtime"]["buckets"][0]["shares"] = shares
        edited["sync"]["compress"] = compress
        path = tmp_path / "plan.json"
        path.write_text(json.dumps(edited))  # NaN and Infinity as Python's json writes them
        return load_plan(path)

    assert load({"n0": 1.0}).buckets[0].shares == (1.0,)
    assert load({"n0": 1 - 5e-7}).buckets[0].shares == (1 - 5e-7,)
    for shares, compress, message in (
        ({"n0": 1.0, "n1": 0.0}, "none", f"{where}: expected one share per worker of the "
         "bucket (n0); not in the bucket n1"),
        ({}, "none", f"{where}: expected one share per worker of the bucket (n0); missing n0"),
        ({"n0": -1.0}, "none", f"{where}: share of n0: expected a finite number >= 0, got -1.0"),
        ({"n0": math.nan}, "none", f"{where}: share of n0: expected a finite number >= 0, got nan"),
        ({"n0": math.inf}, "none", f"{where}: share of n0: expected a finite number >= 0, got inf"),
        ({"n0": 0.99}, "none", f"{where}: shares sum to 0.99, expected 1 (within 1e-06)"),
        ({"n0": "1"}, "none", f"{where}.n0: expected a number, got '1'"),
        ({"n0": True}, "none", f"{where}.n0: expected a number, got True"),
        ([1.0], "none", f"{where}: expected an object"),
        ({"n0": 1.0}, "int8", f"{where}: shares need `sync.compress` none, got 'int8'"),
    ):
        with pytest.raises(PlanError, match=re.escape(message)) as info:
            load(shares, compress)
        assert str(info.value).count("\n") == 0


def test_shares_are_read_in_group_rank_order() -> None:
    """A group lists its members by ascending rank; the bucket lists its workers in plan
    order: the shares follow the workers to their ranks."""
    bucket = Bucket("s1", (("w",),), ("n7", "n1", "n3"), (0.54, 0.26, 0.20))
    assert bucket.shares_by_rank({"n1": 0, "n3": 1, "n7": 2}) == (0.26, 0.20, 0.54)
    assert bucket.shares_by_rank({"n1": 5, "n3": 1, "n7": 2}) == (0.20, 0.54, 0.26)
    assert replace(bucket, shares=None).shares_by_rank({"n1": 0, "n3": 1, "n7": 2}) is None


def test_uncompressed_sums_take_the_direct_exchange_where_the_plan_gives_shares(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wiring: a worker's buckets with shares and a group go to `direct_sum` with their
    shares in group-rank order, the others to the all-reduce; compressed sums never do."""
    group = object()
    groups = {"s1": (Bucket("s1", (), ("n7", "n1"), (0.75, 0.25)), group),
              "s2": (Bucket("s2", (), ("n1", "n7")), group),
              "s3": (Bucket("s3", (), ("n1",), (1.0,)), None)}
    shares = direct_shares(groups, {"n1": 0, "n7": 1})
    assert shares == {"s1": (0.25, 0.75)}
    calls: list[tuple[str, Any]] = []
    monkeypatch.setattr(sync, "direct_sum", lambda x, g, s: calls.append(("direct", s)) or x)
    monkeypatch.setattr(sync, "plain_sum", lambda x, g: calls.append(("plain", None)) or x)
    monkeypatch.setattr(sync, "compressed_sum", lambda *a: calls.append(("bf16", None)) or a[0])
    x = torch.ones(3)
    total = sync.summer("none", 4096, {}, shares)
    assert total(x, group, "s1") is x and total(x, group, "s2") is x
    sync.summer("bf16", 4096, {}, shares)(x, group, "s1")
    assert calls == [("direct", (0.25, 0.75)), ("plain", None), ("bf16", None)]


def test_optimizer_override_keeps_the_spec_arguments(chain4: ModuleType) -> None:
    plan: Plan = chain4.PLAN
    assert plan.train.optimizer == "adamw" and plan.train.optimizer_args["weight_decay"] == 0.0
    sgd = plan.with_optimizer("sgd", 0.5, 0)
    assert sgd.train.optimizer == "sgd" and sgd.train.clip is None
    assert sgd.train.optimizer_args == {"lr": 0.5, "weight_decay": 0.0}
    assert plan.train.optimizer == "adamw"  # the plan itself never changes


# ----------------------------------------------------------------------------- data order
def test_data_order_is_the_documented_function(chain4: ModuleType, tmp_path: Path) -> None:
    text = tmp_path / "corpus.txt"
    text.write_bytes(bytes(range(256)) * 40)
    plan = replace(chain4.PLAN, train=replace(chain4.PLAN.train, data="text",
                                              data_args={"files": [str(text)]}, data_seed=5))
    source = Source(plan)
    ids, labels = batch(plan, source, 3, 0, 2)
    train = torch.frombuffer(bytearray(text.read_bytes()), dtype=torch.uint8)[: int(10240 * 0.9)]
    g = torch.Generator()
    g.manual_seed((5 * 1_000_003 + 3 * 10_007 + 2) % (2**63 - 1))
    starts = torch.randint(len(train) - plan.seq_len - 1, (plan.microbatch_size,), generator=g)
    want = torch.stack([train[s : s + plan.seq_len + 1].long() for s in starts.tolist()])
    assert torch.equal(ids, want[:, :-1]) and torch.equal(labels, want[:, 1:])
    assert not torch.equal(batch(plan, source, 3, 0, 3)[0], ids)  # another microbatch
    assert torch.equal(batch(plan, source, 3, 1, 2)[0], ids)  # origins do not shard it
    val = batch(plan, source, 3, 0, 2, split="val")[0]
    assert int(val.min()) >= 0 and not torch.equal(val, ids)


def test_synthetic_data_is_learnable_and_reproducible(chain4: ModuleType) -> None:
    plan: Plan = chain4.PLAN
    a, la = batch(plan, None, 0, 0, 1)
    b, _ = batch(plan, None, 0, 0, 1)
    assert torch.equal(a, b) and a.shape == (plan.microbatch_size, plan.seq_len)
    assert torch.equal(a[:, 1:], la[:, :-1])  # labels are the next tokens
    g = generator(sample_seed(plan.train.data_seed, 0, 1))
    assert int(torch.randint(plan.vocab, (plan.microbatch_size,), generator=g)[0]) == int(a[0, 0])


# ----------------------------------------------------------------------------- optimizer, schedule
def test_schedule_closed_form_and_resume(chain4: ModuleType) -> None:
    train = replace(chain4.PLAN.train, lr_schedule="cosine",
                    lr_schedule_args={"warmup": 2, "min_ratio": 0.1})
    assert lr_factor(train, 10, 0) == 0.5 and lr_factor(train, 10, 1) == 1.0
    assert lr_factor(train, 10, 2) == 1.0
    assert math.isclose(lr_factor(train, 10, 6), 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 2)))
    assert lr_factor(train, 10, 10) == lr_factor(train, 10, 40) == pytest.approx(0.1)

    def lrs(start: int, stop: int) -> list[float]:
        p = torch.nn.Parameter(torch.zeros(2))
        opt = make_optimizer(train, {"p": p})
        sched = make_schedule(opt, train, 10, start)
        out = []
        for _ in range(start, stop):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        return out

    assert lrs(0, 10) == lrs(0, 4) + lrs(4, 10)  # a resumed run continues the schedule
    assert lrs(0, 10)[0] == pytest.approx(0.003 * 0.5)


def test_optimizer_defaults(chain4: ModuleType) -> None:
    p = torch.nn.Parameter(torch.zeros(2))
    train = replace(chain4.PLAN.train, optimizer_args={"lr": 0.1})
    adamw = make_optimizer(train, {"p": p}).param_groups[0]
    assert adamw["weight_decay"] == 0.01 and adamw["betas"] == (0.9, 0.999)
    assert adamw["eps"] == 1e-8
    sgd = make_optimizer(replace(train, optimizer="sgd"), {"p": p}).param_groups[0]
    assert sgd["momentum"] == 0.0 and sgd["weight_decay"] == 0.0
    with pytest.raises(PlanError, match="unknown optimizer `lamb`"):
        make_optimizer(replace(train, optimizer="lamb"), {"p": p})


# ----------------------------------------------------------------------------- checkpoints
def test_checkpoint_manifest_logic(chain4: ModuleType, tmp_path: Path) -> None:
    plan: Plan = chain4.PLAN
    segs = builder(chain4).segments(["s0"], None, CPU)
    opt = make_optimizer(plan.train, named_params(segs))
    for p in named_params(segs).values():
        p.grad = torch.ones_like(p)
    opt.step()
    root = tmp_path / "ck"
    for step in (10, 20, 30):
        d = step_dir(root, step)
        digests = {}
        for w in plan.workers:
            path = write_worker_file(d, w, step, segs, opt)
            digests[path.name] = sha256(path)
        if step != 30:  # the newest one never got its manifest: incomplete
            write_manifest(d, step, plan, {"target": plan.model.target}, digests)
    assert read_manifest(plan, step_dir(root, 30)) is None
    found = newest_checkpoint(plan, root)
    assert found is not None and found[0] == step_dir(root, 20) and found[1]["step"] == 20
    (step_dir(root, 20) / "n2.pt").unlink()  # a listed file gone: incomplete too
    assert newest_checkpoint(plan, root)[0] == step_dir(root, 10)  # type: ignore[index]
    other = replace(plan, spec_hash="another spec")
    assert newest_checkpoint(other, root) is None
    shutil.copytree(step_dir(root, 10), step_dir(root, 40))
    prune_checkpoints(plan, root, keep=1)
    assert [d.name for d in sorted(root.iterdir())] == ["step_00000020", "step_00000030",
                                                       "step_00000040"]
    # load restores tensors and optimizer state; damaged files are refused with the path
    fresh = builder(chain4).segments(["s0"], None, CPU)
    fresh_opt = make_optimizer(plan.train, named_params(fresh))
    man = read_manifest(plan, step_dir(root, 40))
    assert man is not None
    assert load_checkpoint(step_dir(root, 40), man, "n0", fresh, fresh_opt, CPU) == 10
    for name, t in named_params(fresh).items():
        assert torch.equal(t, named_params(segs)[name])
    assert len(fresh_opt.state) == len(opt.state)
    blob = torch.load(step_dir(root, 40) / "n0.pt", weights_only=True)
    del blob["opt"]
    torch.save(blob, step_dir(root, 40) / "n0.pt")
    with pytest.raises(PlanError, match="sha256 differs"):
        load_checkpoint(step_dir(root, 40), man, "n0", fresh, fresh_opt, CPU)
    man["files"]["n0.pt"] = sha256(step_dir(root, 40) / "n0.pt")
    with pytest.raises(PlanError, match=r"n0.pt: not a complete checkpoint \(no opt\)"):
        load_checkpoint(step_dir(root, 40), man, "n0", fresh, fresh_opt, CPU)


# ----------------------------------------------------------------------------- groups
def test_each_parameter_counts_once_in_the_norm(tmp_path: Path) -> None:
    out = tmp_path / "tied"
    spec = ROOT / "tests" / "runtime" / "specs" / "tied_skip_swap.pgc"
    assert run_pgc("compile", str(spec), "-o", str(out), timeout=300).returncode == 0
    script = load_script(out / "train.py")
    plan: Plan = script.PLAN
    counted: dict[str, int] = defaultdict(int)
    for w in plan.workers:
        names = list(plan.stage_of(w).segments)
        params = named_params({n: script.STAGES[n](builder(script).worker_model(names, None))
                               for n in names})
        assert orphans(plan, w, params) == []
        ids = {id(p) for p in norm_owners(plan, w, params)}
        for name, p in params.items():
            counted[name] += id(p) in ids
    tied = [b for b in plan.buckets if len(b.params[0]) > 1]
    assert tied, "the spec ties embed and head"
    for name, n in counted.items():
        assert n == 1 or (n == 0 and any(name in alias for b in tied for alias in b.params)), name
    assert sum(counted.values()) == len({a[0] for b in plan.buckets for a in b.params})


def test_workers_map_to_ranks_by_host_label(chain4: ModuleType) -> None:
    plan = replace(chain4.PLAN, hosts=("b", "a", "", "a"))
    labels = [("a", 0), ("b", 0), ("a", 1), ("a", 2)]
    assert map_workers(plan, labels) == ["n1", "n0", "n3", "n2"]
    with pytest.raises(PlanError, match="worker n0 needs host `b` but the hosts are"):
        map_workers(plan, [("a", i) for i in range(4)])


def test_the_import_root_is_the_flag_else_the_environment_else_the_plans(
        chain4: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """`prepare` puts the model's import root on sys.path before the stage code imports the
    model: `--import-root`, else PGC_IMPORT_ROOT, else the plan's (relative to plan.json); a
    module found under none of them ends the process with one line naming both ways to give it."""
    from pgc.runtime.main import parse_args, prepare
    from pgc.runtime.model import import_root

    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delenv("PGC_IMPORT_ROOT", raising=False)
    folder, flag_root, env_root = tmp_path / "build", tmp_path / "flag", tmp_path / "env"
    folder.mkdir()
    for root in (flag_root, env_root):
        (root / "zoo_model_x").mkdir(parents=True)
        (root / "zoo_model_x" / "__init__.py").write_text("def build(**kw): pass\n")
    obj = json.loads((chain4.PLAN.folder / "plan.json").read_text())
    obj["model"]["target"] = "zoo_model_x:build"
    obj["runtime"]["import_root"] = "../env"
    (folder / "plan.json").write_text(json.dumps(obj))
    plan = load_plan(folder / "plan.json")
    assert import_root(plan, None) == env_root.resolve()  # the plan's, from its own folder
    monkeypatch.setenv("PGC_IMPORT_ROOT", str(flag_root))
    assert import_root(plan, None) == flag_root.resolve()
    assert import_root(plan, str(env_root)) == env_root.resolve()  # the flag wins
    prepare(folder / "plan.json", ["--steps", "3", "--import-root", str(flag_root)])
    assert sys.path[0] == str(flag_root.resolve())
    assert parse_args(plan, ["--import-root", str(flag_root)]).import_root == str(flag_root)
    monkeypatch.delenv("PGC_IMPORT_ROOT")
    sys.path.remove(str(flag_root.resolve()))
    obj["runtime"]["import_root"] = None
    (folder / "plan.json").write_text(json.dumps(obj))
    with pytest.raises(SystemExit) as info:
        prepare(folder / "plan.json", ["--import-root", str(tmp_path / "nowhere")])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert (f"cannot find the model module `zoo_model_x` under {tmp_path / 'nowhere'}; give "
            "the folder it imports from with --import-root DIR or PGC_IMPORT_ROOT=DIR") in err


# ----------------------------------------------------------------------------- transport
class Work:
    def __init__(self, action: Any) -> None:
        self.action = action

    def wait(self, timeout: Any = None) -> bool:
        self.action(timeout.total_seconds() if timeout is not None else None)
        return True


class LocalComm:
    """torch.distributed's point-to-point calls between threads of this process: one FIFO
    queue per ordered pair of ranks (no tags), a receive that waits at most its timeout."""

    queues: dict[tuple[int, int], queue.Queue[torch.Tensor]]

    def __init__(self) -> None:
        self.queues = defaultdict(queue.Queue)

    def endpoint(self, rank: int) -> Any:
        hub = self

        class Endpoint:
            def isend(self, tensor: torch.Tensor, dst: int) -> Work:
                hub.queues[(rank, dst)].put(tensor.clone())
                return Work(lambda _t: None)

            def irecv(self, tensor: torch.Tensor, src: int) -> Work:
                def take(timeout: float | None) -> None:
                    try:
                        tensor.copy_(hub.queues[(src, rank)].get(timeout=timeout))
                    except queue.Empty:
                        raise RuntimeError("Timed out waiting for recv") from None
                return Work(take)

        return Endpoint()


def transports(plan: Plan, comm: LocalComm, timeout: float = 5.0) -> dict[str, Transport]:
    rank_of = {w: r for r, w in enumerate(plan.workers)}
    clock = Clock()
    return {w: Transport(plan, w, rank_of, CPU, timeout, clock, comm=comm.endpoint(r))
            for w, r in rank_of.items()}


def test_messages_between_a_pair_match_in_fifo_order(chain4: ModuleType) -> None:
    t = transports(chain4.PLAN, LocalComm())
    shapes = ((("B", 3), "float32"),)
    sent = [torch.full((4, 3), float(k)) for k in range(5)]
    for x in sent:
        t["n0"].send((x,), "n1", "SEND")
    posted = [t["n1"].post_recv(shapes, "n0", "RECV") for _ in sent]
    assert [int(p.get()[0][0, 0]) for p in posted] == [0, 1, 2, 3, 4]
    t["n0"].flush()


def test_a_receive_that_times_out_names_the_peer(chain4: ModuleType) -> None:
    t = transports(chain4.PLAN, LocalComm(), timeout=0.05)
    with pytest.raises(PlanError, match=r"worker n1 failed in `RECV_F m0 <-n0` after waiting "
                                        r"up to 0.05 s \(Timed out waiting for recv\)"):
        t["n1"].recv(((("B", 3), "float32"),), "n0", "RECV_F m0 <-n0")


def test_the_worker_named_is_where_every_wait_chain_ends() -> None:
    # n0 waits on n1, which waits on n2, which stopped: n2's record did not change
    first = {"n0": "4\tn1\tRECV_B m0 <-n1", "n1": "7\tn2\tRECV_B m0 <-n2",
             "n2": "9\t\tF s2 m1 (action 3 of step 2)", "n3": "2\tn2\tRECV_F m1 <-n2"}
    second = {w: rec.replace(rec[0], str(int(rec[0]) + 2), 1) for w, rec in first.items()}
    second["n2"] = first["n2"]
    line = stopped_worker("n0", first, second, ("n1",))
    assert line == ("worker n2 is not responding (stopped or dead; its last heartbeat: "
                    "F s2 m1 (action 3 of step 2)); wait chain: n0 -> n1 -> n2")
    # a collective: the members waiting in it are alive, the one that never came is named
    coll = {w: "5\tn0,n1,n2,n3\tALLREDUCE s1" for w in ("n1", "n3")}
    line = stopped_worker("n0", first | coll, second | {"n1": "6\tn0,n1,n2,n3\tALLREDUCE s1",
                                                         "n3": "6\tn0,n1,n2,n3\tALLREDUCE s1"},
                          ("n1", "n3"))
    assert line.startswith("worker n2 is not responding") and "n0 -> n1 -> n2" in line
    # a worker that never beat is named as such
    without = {w: r for w, r in second.items() if w != "n2"}
    assert stopped_worker("n0", {k: v for k, v in first.items() if k != "n2"}, without,
                          ("n1",)).startswith("worker n2 is not responding (stopped or dead; "
                                              "no heartbeat)")
    # everyone alive: the busy worker, or the workers waiting on each other
    busy = second | {"n2": "10\t\tF s2 m1 (action 3 of step 2)"}
    assert stopped_worker("n0", first, busy, ("n1",)).startswith(
        "worker n2 is alive and busy in F s2 m1 (action 3 of step 2)")
    cycle = {"n0": "1\tn1\ta", "n1": "1\tn0\tb"}
    assert stopped_worker("n0", cycle, {"n0": "2\tn1\ta", "n1": "2\tn0\tb"}, ("n1",)) == (
        "workers n1 are alive and wait on each other")
    # this worker's own heartbeat did not move: no diagnosis
    assert stopped_worker("n0", first, first, ("n1",)).startswith("could not tell")


def test_watchdogs_publish_heartbeats_and_name_the_silent_worker(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Real watchdog threads over an in-process store: n0's wait on n1 fails, n1 is alive and
    waits on n2, whose one record never changes."""
    monkeypatch.setattr("pgc.runtime.liveness.CHECK", 0.4)
    store = torch.distributed.HashStore()
    store.set("beat/n2", "3\t\tF s2 m0 (action 2 of step 1)")
    workers = ("n0", "n1", "n2")
    dogs = [Watchdog(w, 0.4, store, workers) for w in ("n0", "n1")]
    ended: list[int] = []
    dogs[1].exit = ended.append  # type: ignore[method-assign]  # os._exit in a run
    try:
        with dogs[1].blocking(("n2",), "RECV_F m0 <-n2"):
            time.sleep(0.3)  # a beat publishes the wait
            with pytest.raises(PlanError) as info, dogs[0].blocking(("n1",), "RECV_B m0 <-n1"):
                raise RuntimeError("Timed out waiting 400ms for recv operation to complete")
        assert str(info.value) == (
            "worker n0 failed in `RECV_B m0 <-n1` (Timed out waiting 400ms for recv operation "
            "to complete); worker n2 is not responding (stopped or dead; its last heartbeat: "
            "F s2 m0 (action 2 of step 1)); wait chain: n0 -> n1 -> n2")
        # published for the others: n1's diagnosis quotes it instead of guessing
        assert store.get("failed").decode() == f"n0\t{info.value}"
        assert dogs[1].diagnose(("n2",)) == f"stopped because {info.value}"
        time.sleep(0.3)  # n1's next beat sees it and ends its process with that line
        assert ended == [1]
        assert f"pgc: error: worker n1 stops: {info.value}" in capsys.readouterr().err
    finally:
        for dog in dogs:
            dog.close()
    assert not any(dog.thread.is_alive() for dog in dogs)
    assert Watchdog("n0", 1.0).diagnose(("n1",)).startswith("could not tell")


# ----------------------------------------------------------------------------- the interpreter
def run_workers(script: ModuleType, steps: int, fail: str = "", timeout: float = 30.0,
                plan: Plan | None = None, precision: Precision = FP32) -> dict[str, Any]:
    """Every worker of the plan (the script's, or `plan`) as a thread over LocalComm; returns
    worker -> the run_step results, or the error it stopped with. Stages are built one after
    the other first: a build seeds the process's one global generator (each worker is its own
    process in a run)."""
    plan = plan or script.PLAN
    comm, results = LocalComm(), {}
    ts = transports(plan, comm, timeout)
    workers = []
    for w in plan.workers:
        names = list(plan.stage_of(w).segments)
        segs = builder(script).segments(names, None, CPU)
        if w == fail:
            def boom(*args: Any) -> Any:
                raise ValueError("injected")

            segs[names[0]].forward = boom  # type: ignore[method-assign]
        groups = {b.name: (b, None) for b in plan.buckets if w in b.workers}
        workers.append(Worker(plan, w, plan.workers.index(w), segs, ts[w], groups,
                              Watchdog(w, 30.0), CPU, precision=precision))

    def one(worker: Worker) -> None:
        try:
            results[worker.me] = [worker.run_step(s) for s in range(steps)]
        except (ActionError, PlanError) as exc:
            results[worker.me] = exc

    threads = [threading.Thread(target=one, args=(w,), daemon=True) for w in workers]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    for w in workers:
        w.watchdog.close()  # its thread would end this process on a wait left behind
    return results


def test_interpreter_over_threads_equals_one_process(chain4: ModuleType) -> None:
    torch.set_num_threads(1)
    got = run_workers(chain4, 1)
    plan: Plan = chain4.PLAN
    loss_sum, count = got["n3"][0]  # the chain's loss segment lives on the last worker
    assert count == plan.microbatches
    model = builder(chain4).worker_model([s.name for s in plan.segments], None)
    segs = {s.name: chain4.STAGES[s.name](model) for s in plan.segments}
    want = 0.0
    with torch.no_grad():
        for mb in range(plan.microbatches):
            ids, labels = batch(plan, None, 0, 0, mb)
            x: Any = (ids,)
            for s in plan.segments:
                if s.loss:
                    want += float(segs[s.name](*x, labels))
                else:
                    out = segs[s.name](*x)
                    x = out if isinstance(out, tuple) else (out,)
    assert loss_sum == pytest.approx(want, rel=1e-6)


def test_an_error_inside_an_action_names_where(chain4: ModuleType) -> None:
    got = run_workers(chain4, 1, fail="n2", timeout=0.5)
    err = got["n2"]
    assert isinstance(err, ActionError) and isinstance(err.__cause__, ValueError)
    assert str(err) == ("worker n2 (rank 2), step 0, action 2 `F s2 m0` (microbatch 0, "
                        "segment s2 of stage s2)")


def test_an_action_that_never_ends_is_named_by_the_watchdog(
        chain4: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    """A forward that hangs (no error, no wait gloo could time out): the watchdog ends the
    process after 1.5 x the timeout + 2 s with one line naming the worker, the action's text
    in backticks, its index and step."""
    plan: Plan = chain4.PLAN
    names = list(plan.stage_of("n0").segments)
    segs = builder(chain4).segments(names, None, CPU)
    released = threading.Event()

    def hang(*args: Any) -> Any:
        released.wait(30)
        raise ValueError("released")

    segs[names[0]].forward = hang  # type: ignore[method-assign]
    dog = Watchdog("n0", 0.2)
    ended: list[int] = []

    def exit_(code: int) -> None:  # os._exit in a run
        ended.append(code)
        released.set()

    dog.exit = exit_  # type: ignore[method-assign,assignment]
    groups = {b.name: (b, None) for b in plan.buckets if "n0" in b.workers}
    worker = Worker(plan, "n0", 0, segs, transports(plan, LocalComm())["n0"], groups, dog, CPU)
    try:
        with pytest.raises(ActionError):
            worker.run_step(0)
    finally:
        dog.close()
    assert ended == [3]
    first = plan.actions["n0"][0]
    assert str(first) == "F s0 m0"
    assert capsys.readouterr().err == ("pgc: error: worker n0 timed out after 0.2 s in action "
                                       "`F s0 m0` (action 0 of step 0)\n")


# ----------------------------------------------------------------------------- evaluation
def test_skip_ratio_rule_and_seeded_choice(chain4: ModuleType) -> None:
    plan = replace(chain4.PLAN, stages=tuple(replace(s, never_skip=s.name in ("s0", "s3"))
                                             for s in chain4.PLAN.stages),
                   segments=tuple(replace(s, skippable=True) for s in chain4.PLAN.segments))
    assert whole_stage_count("1/2", 4) == 2
    with pytest.raises(PlanError, match=r"--skip-ratio 1/3: skip ratio 1/3 of 4 stages skips 1.33333 stages, not a whole"):
        whole_stage_count("1/3", 4)
    with pytest.raises(PlanError, match="not a fraction"):
        whole_stage_count("half", 4)
    chosen = skipped_stages(plan, "", "1/4", 0)
    assert len(chosen) == 1 and chosen <= {"s1", "s2"}
    assert skipped_stages(plan, "", "1/4", 0) == chosen
    assert skipped_stages(plan, "s2", "0", 0) == {"s2"}
    with pytest.raises(PlanError, match=r"--skip-stages: \['s0'\] cannot be skipped"):
        skipped_stages(plan, "s0", "0", 0)


def test_the_default_timeout_is_a_multiple_of_the_predicted_step(chain4: ModuleType) -> None:
    from pgc.runtime.main import TIMEOUT_FLOOR, TIMEOUT_STEPS, parse_args

    plan: Plan = chain4.PLAN
    assert TIMEOUT_FLOOR == 60 and TIMEOUT_STEPS == 20
    # chain4's steps are predicted in milliseconds: the floor
    assert plan.predicted_step is not None and plan.predicted_step < 1
    assert parse_args(plan, []).timeout == 60.0
    slow = replace(plan, predicted_step=7.5)  # a plan whose steps take 7.5 s: 20 of them
    assert parse_args(slow, []).timeout == 150.0
    # a rehearsal runs the plan's times scaled: so is its timeout
    assert parse_args(slow, ["--emulate-network", "--time-scale", "2"]).timeout == 300.0
    assert parse_args(slow, ["--time-scale", "2"]).timeout == 150.0  # no rehearsal: no scale
    assert parse_args(slow, ["--timeout", "12"]).timeout == 12.0  # the user's word wins
    assert parse_args(replace(plan, predicted_step=None), []).timeout == 60.0


@pytest.mark.parametrize("argv, message", [
    (["--lr", "nan"], "argument --lr: `nan` is not a finite number"),
    (["--lr", "0"], "argument --lr: must be positive, not 0"),
    (["--timeout", "-1"], "argument --timeout: must be positive, not -1"),
    (["--steps", "-1"], "argument --steps: must be at least 1, not -1"),
    (["--steps", "ten"], "argument --steps: `ten` is not a whole number"),
    (["--clip", "-0.5"], "argument --clip: must be 0 or more, not -0.5"),
    (["--skip-ratio", "2"], "--skip-stages and --skip-ratio remove stages in --eval only"),
])
def test_bad_flags_are_one_clear_line(chain4: ModuleType, argv: list[str], message: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Each once a traceback on every rank, or silently ignored (`--steps -1` trained nothing
    and exited 0, `--skip-ratio 2` was ignored in training)."""
    from pgc.runtime.main import parse_args

    with pytest.raises(SystemExit) as info:
        parse_args(chain4.PLAN, argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err


@pytest.mark.parametrize("kind, content, message", [
    ("text", b"", "the train part of the data has 0 tokens, fewer than one window"),
    ("text", None, "cannot read the data `"),
    ("tokens", None, "cannot read the data `"),
    ("tokens", b"\0" * 1001, "has 1001 bytes, not a whole number of uint16 tokens"),
])
def test_unusable_data_is_one_clear_line(chain4: ModuleType, tmp_path: Path, kind: str,
                                         content: bytes | None, message: str) -> None:
    """An empty text file, a missing file, a token file with an odd byte count (once a
    traceback, or truncated without a word)."""
    path = tmp_path / "data.bin"
    if content is not None:
        path.write_bytes(content)
    args = {"files": [str(path)]} if kind == "text" else {"path": str(path)}
    plan = replace(chain4.PLAN, train=replace(chain4.PLAN.train, data=kind, data_args=args))
    with pytest.raises(PlanError, match=re.escape(message)):
        Source(plan).part("train")


def test_resume_agrees_on_a_step_every_host_holds(tmp_path: Path) -> None:
    """What `--resume` takes from what each worker holds (hostfiles.choose). Once a resume
    beside only incomplete checkpoints started from step 0 and later rotated them away, and
    one whose newest step lay on another host's disk started over without a word."""
    from pgc.runtime.hostfiles import Holding, choose

    def hold(w: str, host: str, steps: tuple[int, ...], present: tuple[str, ...] = ()) -> Holding:
        return Holding(w, host, steps, present or tuple(f"step_{s:08d}" for s in steps))

    assert choose([hold("n0", "a", ()), hold("n1", "b", ())], tmp_path) is None  # a first run
    assert choose([hold("n0", "a", (4, 8)), hold("n1", "b", (4,))], tmp_path) == 4
    with pytest.raises(PlanError, match=r"step 8, is missing or incomplete on host\(s\) b "
                       r"\(workers n1, n2\)"):
        choose([hold("n0", "a", (8,)), hold("n1", "b", ()), hold("n2", "b", ())], tmp_path)
    partial = ("step_00000010", "step_00000020")
    with pytest.raises(PlanError, match=r"--resume: none of the checkpoints under .* is "
                       r"complete for this plan \(newest: step_00000020 on host a\); refusing"):
        choose([hold("n0", "a", (), partial), hold("n1", "a", (), partial)], tmp_path)


@pytest.mark.parametrize(("outcome", "code"), [("return 3", 3), ("raise SystemExit(2)", 2),
                                               ("raise RuntimeError('inside torch')", 1)])
def test_the_script_entry_keeps_the_exit_code_and_skips_interpreter_teardown(
        tmp_path: Path, outcome: str, code: int) -> None:
    """train.py ends through `run_script`: main's exit code (or argparse's, or 1 with the
    traceback of an internal error), everything printed is flushed, and no exit-time teardown
    runs (the teardown in which torch's gloo groups can abort the process)."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import atexit, sys\n"
        "import pgc.runtime.main as m\n"
        "def fake(plan, classes, argv=None):\n"
        "    print('trained', end='')\n"
        f"    {outcome}\n"
        "m.main = fake\n"
        "atexit.register(lambda: print('TEARDOWN', file=sys.stderr))\n"
        "m.run_script(None, {})\n"
    )
    r = subprocess.run([sys.executable, str(probe)], env=pgc_env(), capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == code, r.stderr
    assert r.stdout == "trained"
    assert "TEARDOWN" not in r.stderr
    assert ("RuntimeError: inside torch" in r.stderr) == (code == 1)
