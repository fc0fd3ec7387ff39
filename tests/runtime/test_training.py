"""What a user of torchrun and nanoGPT expects of a run, on a real 3-worker chain over gloo
reading a nanoGPT-style token file: data paths relative to the spec, checked before training;
evaluation during training; the log and progress lines; a resume with more steps continues the
schedule; `--eval` names what it evaluated."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pgc.runtime.optim import lr_factor
from tests.conftest import pgc_env, run_pgc
from tests.runtime.reference import load_script, read_log

pytestmark = [pytest.mark.torchrun, pytest.mark.xdist_group("torchrun")]

VOCAB = 64
SPEC = """\
model llama = "examples.models.llama:build" {
  vocab = 64; dim = 32; layers = 3; heads = 2; kv_heads = 1; max_seq = 32
}
node n[0..2] { rate = 50 GFLOPS; memory = 4 GiB }
link default { latency = 50 us; bandwidth = 1 GiB/s }
pipeline tokens3 {
  model = llama
  layout = chain
  stages s[0..2] = [[embed, layers[0:1]], layers[1:2], [layers[2:3], norm, head]]
  place s0 on n0
  place s1 on n1
  place s2 on n2
  microbatch { size = 2; seq = 16; count = 4 }
  schedule 1f1b
  train {
    steps = 12
    optimizer = adamw(lr = 3e-3)
    lr_schedule = cosine(warmup = 4, min_ratio = 0.1)
    data = tokens(path = "data/train.bin", val = "data/val.bin", dtype = uint16)
    log_every = 3
  }
  eval { every = 6; batches = 2; skip = [1/3] }
}
"""


def token_file(path: Path, count: int, seed: int) -> None:
    """A learnable token stream: runs of counting up modulo VOCAB from random starts."""
    g = torch.Generator().manual_seed(seed)
    starts = torch.randint(VOCAB, (count // 8 + 1,), generator=g)
    ids = (starts[:, None] + torch.arange(8)) % VOCAB
    path.parent.mkdir(parents=True, exist_ok=True)
    ids.flatten()[:count].to(torch.int16).numpy().tofile(path)


def torchrun(script: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
           "3", str(script), "--timeout", "60", *args]
    return subprocess.run(cmd, cwd=cwd, env=pgc_env(), capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user's project folder: the spec, its data beside it, compiled into build/."""
    proj = tmp_path_factory.mktemp("proj")
    (proj / "tokens3.pgc").write_text(SPEC)
    token_file(proj / "data" / "train.bin", 20_000, 0)
    token_file(proj / "data" / "val.bin", 2_000, 1)
    r = run_pgc("compile", str(proj / "tokens3.pgc"), "-o", str(proj / "build"), timeout=300)
    assert r.returncode == 0, r.stderr
    return proj


def test_compiled_plan_reads_data_relative_to_its_folder(project: Path) -> None:
    plan = load_script(project / "build" / "train.py").PLAN
    assert plan.train.data_args["path"] == "../data/train.bin"
    assert plan.train.data_args["val"] == "../data/val.bin"
    assert plan.eval_every == 6 and plan.eval_skips == ("0", "1/3")
    assert plan.train.log_every == 3


def test_train_eval_resume_and_refusals(project: Path, tmp_path: Path) -> None:
    """One group of launches (each costs seconds): a run from another folder, a resume with
    more steps appended to its log, `--eval`, and two data files refused before training."""
    script = project / "build" / "train.py"
    # run from elsewhere: data paths come from the plan, not the current folder
    r = torchrun(script, tmp_path, "--ckpt-every", "6", "--ckpt-dir", "ck")
    assert r.returncode == 0, r.stderr[-3000:]
    log = read_log(tmp_path / "train_log.jsonl")
    steps = [rec for rec in log if "loss" in rec]
    assert [rec["step"] for rec in steps] == [3, 6, 9, 12]  # log_every = 3
    evals = [(rec["step"], rec["skip_ratio"]) for rec in log if "eval_loss" in rec]
    assert evals == [(6, "0"), (6, "1/3"), (12, "0"), (12, "1/3")]
    for rec in log:
        if "eval_loss" in rec:
            assert rec["perplexity"] == pytest.approx(math.exp(rec["eval_loss"]))
    full = {rec["step"]: rec["eval_loss"] for rec in log if rec.get("skip_ratio") == "0"}
    cut = {rec["step"]: rec["eval_loss"] for rec in log if rec.get("skip_ratio") == "1/3"}
    assert full[12] < full[6] and full[12] < cut[12]  # it learns; removing a stage hurts
    assert len({rec["run"] for rec in log}) == 1
    # piped stdout: plain lines with the ETA, no terminal escape codes
    assert "\x1b" not in r.stdout and "\r" not in r.stdout
    assert [ln.split()[1] for ln in r.stdout.splitlines() if ln.startswith("step")] == \
        ["3/12", "6/12", "9/12", "12/12"]
    assert all(" eta " in ln for ln in r.stdout.splitlines() if ln.startswith("step"))

    # resume with more steps than the spec: the schedule runs over 16 steps from step 12 on
    r = torchrun(script, tmp_path, "--resume", "--steps", "16", "--ckpt-dir", "ck",
                 "--ckpt-every", "4", "--append-log", "--log-every", "1")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "resumed from" in r.stdout and "(step 12)" in r.stdout
    log = read_log(tmp_path / "train_log.jsonl")
    assert len({rec["run"] for rec in log}) == 2  # appended, told apart by run id
    resumed = [rec for rec in log if "loss" in rec and rec["run"] == log[-1]["run"]]
    assert [rec["step"] for rec in resumed] == [13, 14, 15, 16]
    plan = load_script(script).PLAN
    for rec in resumed:
        assert rec["lr"] == pytest.approx(3e-3 * lr_factor(plan.train, 16, rec["step"] - 1))
    # continues the decay: no restart of the warm-up, never below the floor
    lrs = [rec["lr"] for rec in resumed]
    assert lrs == sorted(lrs, reverse=True) and lrs[-1] >= 3e-4 * 0.999

    # --eval says which checkpoint and step it evaluated
    r = torchrun(script, tmp_path, "--eval", "--resume", "--ckpt-dir", "ck", "--log-file",
                 "eval.jsonl")
    assert r.returncode == 0, r.stderr[-3000:]
    rec = read_log(tmp_path / "eval.jsonl")[-1]
    assert rec["step"] == 16 and rec["checkpoint"].endswith("step_00000016")
    assert "(step 16)" in r.stdout and "step_00000016" in r.stdout

    # a token id the model's vocabulary lacks: refused before training, naming file, offset, value
    bad = tmp_path / "bad.bin"
    ids = torch.zeros(5000, dtype=torch.int16)
    ids[1234] = VOCAB + 6
    ids.numpy().tofile(bad)
    r = torchrun(script, tmp_path, "--data", str(bad), "--log-file", "bad.jsonl")
    assert r.returncode != 0
    assert f"{bad}: token id {VOCAB + 6} at byte offset {2 * 1234} (token 1234)" in r.stderr
    assert "pgc_runtime" not in r.stderr  # no traceback of ours (torchrun's agent prints its own)
    assert not (tmp_path / "bad.jsonl").exists()  # refused before the run began
    r = torchrun(script, tmp_path, "--data", "missing.bin", "--log-file", "bad.jsonl")
    assert r.returncode != 0 and "data file missing.bin does not exist" in r.stderr


class Screen:
    def __init__(self, tty: bool) -> None:
        self.text, self.tty = "", tty

    def write(self, s: str) -> None:
        self.text += s

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize("tty", [True, False])
def test_progress_redraws_on_a_terminal_and_prints_plain_lines_elsewhere(tty: bool) -> None:
    from pgc.runtime.progress import CLEAR, Progress

    now = [0.0]
    screen = Screen(tty)
    p = Progress(10, 20, 5, screen, clock=lambda: now[0])  # type: ignore[arg-type]
    for done in range(11, 21):
        now[0] += 2.0
        p.step(done, "loss 1.0")
        if done == 12:
            p.say("pgc: an event")
    lines = screen.text.split("\n")
    if tty:  # every step redrawn in place; the logged ones (15, 20) kept
        assert screen.text.count(CLEAR) == 10
        assert lines[0] == CLEAR + "step    11/20  loss 1.0  eta 0:18" + CLEAR + \
            "step    12/20  loss 1.0  eta 0:16"
        assert lines[1] == "pgc: an event"
        assert lines[2].endswith("step    15/20  loss 1.0  eta 0:10")
    else:
        assert "\x1b" not in screen.text and "\r" not in screen.text
        assert lines == ["pgc: an event", "step    15/20  loss 1.0  eta 0:10",
                         "step    20/20  loss 1.0  eta 0:00", ""]


def test_token_check_names_file_offset_and_value() -> None:
    from pgc.runtime.data import check_tokens
    from pgc.runtime.plan import PlanError

    ids = torch.zeros(100, dtype=torch.uint16)
    ids[40], ids[70] = 300, 500
    with pytest.raises(PlanError, match=r"f.bin: token id 300 at byte offset 80 \(token 40\)"):
        check_tokens(ids, 256, "f.bin", 2)
    check_tokens(ids, 501, "f.bin", 2)


def test_eval_skips_in_the_plan() -> None:
    from pgc.ir.plan_schema import eval_skips

    assert eval_skips(()) == ["0"]
    assert eval_skips(((0, 1), (1, 3), (1, 2))) == ["0", "1/3", "1/2"]


def test_rehearsal_summary_compares_at_scale_and_warns_of_overruns(project: Path) -> None:
    from dataclasses import replace

    from pgc.runtime.rehearsal import Overrun, summary

    plan = replace(load_script(project / "build" / "train.py").PLAN, predicted_step=0.5,
                   predicted_steps=(0.4, 0.5))
    slow, fine = Overrun(), Overrun()
    for excess in (-0.01, 0.003, 0.02):
        slow.note(excess, f"F s1 m{int(excess * 1000)}")
    fine.note(-0.2, "F s0 m0")
    record, lines = summary(plan, 2.0, [9.0, 1.1, 0.9], [("n0", fine), ("n1", slow)])
    assert lines[0] == ("rehearsal: predicted 0.500 s/step x time scale 2 = 1.000 s, measured "
                        "1.000 s (mean of 2 steps, 1.00x the prediction)")
    assert lines[1].startswith("warning: worker n1: real compute exceeded its emulated time in "
                               "2 of 3 actions (worst `F s1 m20` by 20 ms)")
    assert len(lines) == 2
    assert record["rehearsal"] == {"time_scale": 2.0, "predicted_step_s": 1.0,
                                   "measured_step_s": 1.0, "steps": 2, "synced_steps": 2,
                                   "overruns": {"n1": 2}}
    # outer steps every 2: of steps 1 and 2 (from 0) only step 1 syncs; a resumed run that
    # starts at step 4 measures steps 5 (syncs) and 6 (does not)
    outer = replace(plan, sync=replace(plan.sync, every=2, synchronous=False))
    record, lines = summary(outer, 2.0, [9.0, 1.1, 0.9], [], first=0)
    assert record["rehearsal"]["predicted_step_s"] == pytest.approx(0.9)
    assert record["rehearsal"]["synced_steps"] == 1
    assert "(mean of 2 steps, 1 of them syncing, 1.11x the prediction)" in lines[0]
    record, _ = summary(outer, 1.0, [9.0, 0.5, 0.4], [], first=4)
    assert record["rehearsal"]["predicted_step_s"] == pytest.approx(0.45)



def test_data_paths_start_at_the_spec_and_are_written_for_the_compiled_folder(
        tmp_path: Path) -> None:
    """Inside the spec's folder: relative to the compiled folder (the project moves whole);
    elsewhere: absolute. Once paths started at whatever folder the run started in."""
    from pgc.codegen.emit import data_args
    from pgc.frontend import load_program

    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "s.pgc").write_text(SPEC)
    program = load_program(str(proj / "s.pgc"))
    args = {"path": "data/train.bin", "val": "../elsewhere/val.bin", "dtype": "uint16"}
    fixed = data_args(program, args, proj / "build" / "x")
    assert fixed == {"path": "../../data/train.bin", "val": str(tmp_path / "elsewhere" / "val.bin"),
                     "dtype": "uint16"}
    assert data_args(program, {"files": ["a.txt", "/abs/b.txt"]}, proj / "out") == \
        {"files": ["../a.txt", "/abs/b.txt"]}
