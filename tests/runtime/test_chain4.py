"""The README's main job and what a long run needs, on the real chain (examples/chain4.pgc ->
pgc compile -> train.py -> torchrun, 4 CPU workers over gloo): it trains, checkpoints, exports
to the model's own state_dict, resumes exactly after a kill, runs across two torchrun agents
and fails cleanly on a stuck peer."""

from __future__ import annotations

import ast
import contextlib
import hashlib
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from pgc.runtime.checkpoint import newest_checkpoint
from pgc.runtime.files import safe_load
from pgc.runtime.main import check_world
from pgc.runtime.plan import PlanError
from tests.conftest import ROOT, pgc_env, run_pgc
from tests.runtime.reference import load_script, read_log

pytestmark = [pytest.mark.torchrun, pytest.mark.xdist_group("torchrun")]

STEPS = 30
RESUME_TO = 20  # the resumed run stops here (the schedule's horizon stays the spec's)


def torchrun(out: Path, *args: str, nproc: int = 4) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
            str(nproc), str(out / "train.py"), "--quiet", *args]


@pytest.fixture(scope="module")
def main_job(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`bash examples/run_default.sh` as the README runs it, checkpointing every 10 steps."""
    out = tmp_path_factory.mktemp("main") / "chain4"
    r = subprocess.run(
        ["bash", "examples/run_default.sh", "--ckpt-every", "10", "--keep", "2"],
        cwd=ROOT, env={**pgc_env(), "OUT": str(out)}, capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr[-4000:]
    (out / "stdout.txt").write_text(r.stdout)
    return out


def test_main_job_trains(main_job: Path) -> None:
    log = read_log(main_job / "train_log.jsonl")
    assert [rec["step"] for rec in log] == list(range(1, STEPS + 1))
    assert log[-1]["loss"] <= 0.7 * log[0]["loss"], (log[0]["loss"], log[-1]["loss"])
    # the figures the README gives for this job are what it prints (training is deterministic)
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    said = re.search(r"the loss goes from ([\d.]+) to about ([\d.]+) in (\d+) steps", readme)
    assert said is not None, "the README no longer gives the main job's loss"
    assert (f"{log[0]['loss']:.1f}", f"{log[-1]['loss']:.1f}", str(len(log))) == said.groups()


def test_main_job_shows_eta_on_a_terminal_and_clean_lines_in_a_file(main_job: Path,
                                                                     tmp_path: Path) -> None:
    """Piped into a file, the main job prints one plain line per step with its ETA; on a
    terminal (tmux) the line is redrawn in place and every `--log-every`-th step kept."""
    lines = (main_job / "stdout.txt").read_text().splitlines()
    steps = [ln for ln in lines if ln.startswith("step ")]
    assert len(steps) == STEPS and all(" eta " in ln for ln in steps)
    assert not any("\x1b" in ln or "\r" in ln for ln in lines)
    assert sum(ln.startswith("pgc: run ") for ln in lines) == 1
    runs = {rec["run"] for rec in read_log(main_job / "train_log.jsonl")}
    assert len(runs) == 1 and next(iter(runs)) in "".join(lines)
    sock, out = f"pgc-test-{os.getpid()}", tmp_path / "tty"
    tmux = ["tmux", "-L", sock]
    subprocess.run([*tmux, "new-session", "-d", "-x", "160", "-y", "40"], check=True,
                   env={**pgc_env(), "OUT": str(out)})
    try:
        subprocess.run([*tmux, "send-keys", f"cd {ROOT} && bash examples/run_default.sh "
                        "--steps 6 --log-every 3; echo run-ended-$?", "Enter"], check=True)
        deadline, screen = time.monotonic() + 240, ""
        while not re.search(r"run-ended-\d", screen):
            assert time.monotonic() < deadline, screen
            time.sleep(1)
            screen = subprocess.run([*tmux, "capture-pane", "-p"], capture_output=True,
                                    text=True, check=True).stdout
    finally:
        subprocess.run([*tmux, "kill-server"], check=False)
    assert "run-ended-0" in screen, screen
    shown = [ln.split()[1] for ln in screen.splitlines() if ln.startswith("step ")]
    assert shown == ["3/6", "6/6"], screen  # steps 1, 2, 4, 5 were redrawn over
    assert all(" eta " in ln for ln in screen.splitlines() if ln.startswith("step "))


def test_checkpoints_keep_last_and_export_loads(main_job: Path, tmp_path: Path) -> None:
    ckpts = sorted(p.name for p in (main_job / "checkpoints").glob("step_*"))
    assert ckpts == ["step_00000020", "step_00000030"]
    manifest = json.loads((main_job / "checkpoints" / ckpts[-1] / "manifest.json").read_text())
    assert sorted(manifest["files"]) == ["n0.pt", "n1.pt", "n2.pt", "n3.pt"]
    r = run_pgc("export-model", str(main_job / "checkpoints"), "--from", str(main_job), "-o",
                str(tmp_path / "model.pt"))
    assert r.returncode == 0, r.stderr
    from examples.models.llama import build

    model = build(vocab=256, dim=64, layers=8, heads=4, kv_heads=2, max_seq=64)
    state = torch.load(tmp_path / "model.pt", weights_only=True)
    model.load_state_dict(state, strict=True)
    last = torch.load(main_job / "checkpoints" / ckpts[-1] / "n3.pt", weights_only=True)
    torch.testing.assert_close(model.head.weight, last["tensors"]["head.weight"], rtol=0, atol=0)


def test_kill_and_resume_reproduces_losses(main_job: Path) -> None:
    ck = main_job / "kill-ckpt"
    proc = subprocess.Popen(
        torchrun(main_job, "--ckpt-every", "5", "--ckpt-dir", str(ck), "--log-file", "kill.jsonl"),
        cwd=main_job, env=pgc_env(), start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 180
        while not (ck / "step_00000010" / "manifest.json").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint at step 10"
            time.sleep(0.2)
    finally:
        kill_tree(proc.pid)  # a crash: no chance to save anything more
        proc.wait()
    # A newer checkpoint whose manifest never finished writing must be skipped.
    partial = ck / "step_00000099"
    partial.mkdir()
    shutil.copy(ck / "step_00000010" / "n0.pt", partial / "n0.pt")
    (partial / "manifest.json").write_text('{"step": 99, "files": {"n0.pt": ')
    # the resumed run also rehearses (emulated network and compute) and traces: neither may
    # change the numbers
    r = subprocess.run(
        torchrun(main_job, "--resume", "--ckpt-every", "5", "--ckpt-dir", str(ck),
                 "--log-file", "resume.jsonl", "--trace", "trace", "--emulate-network",
                 "--emulate-compute", "--steps", str(RESUME_TO)),
        cwd=main_job, env=pgc_env(), capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr[-4000:]
    assert "skipping incomplete checkpoint" in r.stderr and "step_00000099" in r.stderr
    # the rehearsal ends with predicted against measured step time, at its time scale
    assert "pgc: rehearsal: predicted " in r.stdout and "x time scale 1 = " in r.stdout
    rehearsal = read_log(main_job / "resume.jsonl")[-1]["rehearsal"]
    assert rehearsal["time_scale"] == 1.0 and rehearsal["measured_step_s"] > 0
    # at time scale 1 the plan's actions take microseconds (a STEP 20 us), less than this
    # machine needs: the rehearsal warns which worker's real compute overran its emulated time
    assert re.search(r"warning: worker n\d: real compute exceeded its emulated time in \d+ of "
                     r"\d+ actions \(worst `.+` by \d+ ms\).*raise --time-scale", r.stdout), r.stdout
    assert rehearsal["overruns"] and set(rehearsal["overruns"]) <= {"n0", "n1", "n2", "n3"}
    resumed = [rec for rec in read_log(main_job / "resume.jsonl") if "step" in rec]
    first = resumed[0]["step"]
    assert first in (11, 16), f"resumed at step {first}"
    assert f"resumed from {ck / f'step_{first - 1:08d}'}" in r.stdout
    full = {rec["step"]: rec["loss"] for rec in read_log(main_job / "train_log.jsonl")}
    assert [rec["step"] for rec in resumed] == list(range(first, RESUME_TO + 1))
    assert [rec["loss"] for rec in resumed] == [full[s] for s in range(first, RESUME_TO + 1)]
    for w in ("n0", "n1", "n2", "n3"):
        events = json.loads((main_job / "trace" / f"{w}.json").read_text())["traceEvents"]
        names = {e["name"] for e in events if e.get("ph") == "X"}
        assert f"F s{w[1]} m0" in names and "STEP" in names
        steps = {e["args"]["step"] for e in events if e.get("ph") == "X"}
        assert steps == set(range(first - 1, RESUME_TO))


def test_resume_falls_back_past_a_corrupt_checkpoint(main_job: Path) -> None:
    """The newest checkpoint's file of one worker is damaged: every worker agrees to resume
    from the newest checkpoint that verifies everywhere, says so, and reproduces the losses
    (once the damaged file stopped the resume)."""
    ck = main_job / "corrupt-ckpt"
    shutil.copytree(main_job / "checkpoints", ck)
    with (ck / "step_00000030" / "n2.pt").open("r+b") as f:
        f.seek(200)
        f.write(b"\xff" * 16)
    r = subprocess.run(
        torchrun(main_job, "--resume", "--ckpt-every", "1000", "--ckpt-dir", str(ck),
                 "--log-file", "corrupt.jsonl", "--steps", "22"),
        cwd=main_job, env=pgc_env(), capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr[-4000:]
    assert f"checkpoint {ck / 'step_00000030'} fails its sha256 check" in r.stderr, r.stderr[-2000:]
    assert f"resumed from {ck / 'step_00000020'}" in r.stdout
    full = {rec["step"]: rec["loss"] for rec in read_log(main_job / "train_log.jsonl")}
    resumed = read_log(main_job / "corrupt.jsonl")
    assert [(rec["step"], rec["loss"]) for rec in resumed] == [(s, full[s]) for s in (21, 22)]


def test_sigterm_checkpoints_the_finished_step_and_resumes(main_job: Path) -> None:
    """SIGTERM to the torchrun agent (what a cluster scheduler sends before it takes the
    machine): the workers agree to stop at the end of the step under way, write a complete
    checkpoint of it although checkpointing is off, and a resumed run continues the same
    losses."""
    ck = main_job / "term-ckpt"
    log = main_job / "term.jsonl"
    proc = subprocess.Popen(
        torchrun(main_job, "--ckpt-every", "0", "--ckpt-dir", str(ck), "--log-file", log.name),
        cwd=main_job, env=pgc_env(), start_new_session=True, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 180
        while not log.exists() or len(log.read_text().splitlines()) < 3:
            assert proc.poll() is None and time.monotonic() < deadline, "no step 3 logged"
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            kill_tree(proc.pid)
            proc.wait()
    stopped = read_log(log)[-1]["step"]
    assert stopped < STEPS, "the run ended before the signal"
    assert f"pgc: stopped by SIGTERM after step {stopped}" in out, (out[-2000:], err[-2000:])
    saved = sorted(d.name for d in ck.glob("step_*"))
    assert saved == [f"step_{stopped:08d}"], saved
    manifest = json.loads((ck / saved[0] / "manifest.json").read_text())
    assert manifest["step"] == stopped and sorted(manifest["files"]) == ["n0.pt", "n1.pt", "n2.pt", "n3.pt"]
    until = min(stopped + 3, STEPS)
    r = subprocess.run(
        torchrun(main_job, "--resume", "--ckpt-every", "1000", "--ckpt-dir", str(ck),
                 "--log-file", "term_resume.jsonl", "--steps", str(until)),
        cwd=main_job, env=pgc_env(), capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr[-4000:]
    full = {rec["step"]: rec["loss"] for rec in read_log(main_job / "train_log.jsonl")}
    resumed = read_log(main_job / "term_resume.jsonl")
    assert [rec["step"] for rec in resumed] == list(range(stopped + 1, until + 1))
    assert [rec["loss"] for rec in resumed] == [full[s] for s in range(stopped + 1, until + 1)]


def test_eval_with_stages_removed(main_job: Path) -> None:
    r = subprocess.run(
        torchrun(main_job, "--eval", "--resume", "--skip-stages", "s1,s2", "--eval-batches", "4",
                 "--log-file", "eval.jsonl"),
        cwd=main_job, env=pgc_env(), capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    rec = read_log(main_job / "eval.jsonl")[-1]
    trained = read_log(main_job / "train_log.jsonl")[-1]["loss"]
    assert rec["skip_stages"] == "s1,s2" and rec["batches"] == 4
    # half the trained model removed: worse than the full model, far better than chance
    assert trained < rec["eval_loss"] < 5.545, (trained, rec)
    assert abs(rec["perplexity"] - math.exp(rec["eval_loss"])) < 1e-6 * rec["perplexity"]


def imported_roots(path: Path) -> set[str]:
    """Top-level names of the absolute imports of a Python file."""
    tree = ast.parse(path.read_text())
    roots = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
             for a in n.names}
    return roots | {n.module.split(".")[0] for n in ast.walk(tree)
                    if isinstance(n, ast.ImportFrom) and n.module and n.level == 0}


def test_script_is_standalone_and_refuses_bad_input(main_job: Path, tmp_path: Path) -> None:
    script = main_job / "train.py"
    allowed = {"torch", "__future__", *sys.stdlib_module_names}
    assert imported_roots(script) - allowed == {"pgc_runtime"}  # llama's stages need nothing else
    runtime = sorted((main_job / "pgc_runtime").glob("*.py"))
    assert runtime and all(imported_roots(f) <= allowed for f in runtime
                           if f.name != "files.py"), "runtime imports pgc?"
    # files.py alone may import safetensors, inside the one function that reads such files
    # (--init-from x.safetensors), refusing in one line where it is not installed
    assert imported_roots(main_job / "pgc_runtime" / "files.py") - allowed == {"safetensors"}
    mod = load_script(script)
    with pytest.raises(PlanError, match="the plan has 4 workers but torchrun started 3"):
        check_world(mod.PLAN, 3)
    # a checkpoint file that holds pickled code is refused, not executed
    evil = tmp_path / "n0.pt"
    torch.save({"tensors": {}, "hook": os.system}, evil)
    with pytest.raises(PlanError, match="refused: not a plain tensor file"):
        safe_load(evil)
    step = tmp_path / "ck" / "step_00000040"
    step.mkdir(parents=True)
    for w in ("n0", "n1", "n2", "n3"):
        shutil.copy(evil, step / f"{w}.pt")
    files = {f"{w}.pt": hashlib.sha256((step / f"{w}.pt").read_bytes()).hexdigest()
             for w in ("n0", "n1", "n2", "n3")}
    model = {"target": mod.PLAN.model.target, "args": mod.PLAN.model.args, "import_root": None}
    manifest = {"step": 40, "spec_hash": mod.PLAN.spec_hash, "model": model, "files": files}
    (step / "manifest.json").write_text(json.dumps(manifest))
    r = run_pgc("export-model", str(tmp_path / "ck"), "--from", str(main_job), "-o",
                str(tmp_path / "m.pt"))
    assert r.returncode == 2 and "refused" in r.stderr and "Traceback" not in r.stderr
    # a manifest from another spec is not a checkpoint of this plan
    (step / "manifest.json").write_text(json.dumps({**manifest, "spec_hash": "other"}))
    assert newest_checkpoint(mod.PLAN, tmp_path / "ck") is None


def test_a_stopped_worker_is_named_by_every_live_worker_within_the_timeout(
        main_job: Path) -> None:
    """SIGSTOP one worker mid-run: each live worker reports, within the timeout and a few
    seconds, the stopped one (where every wait chain ends: n3 waits on n2 directly, n0 on n1,
    which waits on n2), never a live worker that merely waits too."""
    timeout = 8
    proc = subprocess.Popen(
        torchrun(main_job, "--timeout", str(timeout), "--log-file", "stuck.jsonl", "--steps", "1000"),
        cwd=main_job, env=pgc_env(), start_new_session=True, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
    )
    errors: list[tuple[float, str]] = []
    reader = threading.Thread(target=_collect, args=(proc, errors), daemon=True)
    reader.start()
    live = ("n0", "n1", "n3")
    try:
        log = main_job / "stuck.jsonl"
        deadline = time.monotonic() + 120
        while not log.exists() or len(log.read_text().splitlines()) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, "never trained"
            time.sleep(0.2)
        os.kill(_worker_pid(proc.pid, rank=2), signal.SIGSTOP)
        stopped = time.monotonic()
        while (len({_reporter(line) for _, line in errors} & set(live)) < len(live)
               and time.monotonic() < stopped + 3 * timeout + 10):
            time.sleep(0.2)
    finally:
        kill_tree(proc.pid)  # the stopped worker would hold torchrun's shutdown for 30 s
    by_worker = {_reporter(line): (when - stopped, line) for when, line in reversed(errors)}
    assert set(by_worker) >= set(live), errors
    for worker in live:
        after, line = by_worker[worker]
        assert "worker n2 is not responding" in line, line
        assert after <= timeout + 10, (worker, after, line)
    # the first report names the action its worker waited in: point-to-point, or a collective
    # when the stop lands while the others reduce
    first = min(by_worker.values())[1]
    assert any(f"in `{a}" in first for a in ("SEND_", "RECV_", "ALLREDUCE", "end-of-step")), first
    assert "wait chain: " in first and first.split("wait chain: ")[1].endswith("-> n2"), first


def _reporter(line: str) -> str:
    """The worker an error line is from."""
    found = re.match(r"pgc: error(?: \(rank \d+\))?: worker (\w+) ", line)
    return found.group(1) if found else ""


def _collect(proc: subprocess.Popen[str], errors: list[tuple[float, str]]) -> None:
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("pgc: ") and ("failed in" in line or "timed out" in line
                                         or " stops: " in line):
            errors.append((time.monotonic(), line.strip()))


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def kill_tree(pid: int) -> None:
    """SIGKILL the torchrun agent and its workers (they run in sessions of their own)."""
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += _children(p)
    for p in seen:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)


def _worker_pid(agent: int, rank: int) -> int:
    """The pid of the torchrun worker with RANK=rank under the agent process."""
    for child in _children(agent):
        environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        if f"RANK={rank}".encode() in environ:
            return int(child)
    raise AssertionError(f"no worker with RANK={rank}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def two_hosts(out: Path, *args: str) -> list[tuple[int, str, str]]:
    """Run the compiled two-host folder as two torchrun agents on loopback (PGC_HOST alpha and
    beta), each with its own checkpoint folder `ck-<host>`; (returncode, stdout, stderr) each."""
    port = _free_port()
    agents = []
    for host in ("beta", "alpha"):  # start `beta` first: rank order must not matter
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2",
               "--nproc-per-node", "2", "--rdzv-backend", "c10d",
               "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "pgc-two-hosts",
               str(out / "train.py"), "--log-file", f"{host}.jsonl", "--ckpt-dir", f"ck-{host}",
               "--timeout", "60", *args]
        agents.append(subprocess.Popen(cmd, cwd=out, env={**pgc_env(), "PGC_HOST": host},
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [a.communicate(timeout=300) for a in agents]
    return [(a.returncode, o, e) for a, (o, e) in zip(agents, outputs)]


def rank0_log(out: Path) -> list[dict[str, object]]:
    logs = [out / f"{h}.jsonl" for h in ("alpha", "beta") if (out / f"{h}.jsonl").exists()]
    assert len(logs) == 1  # rank 0 logs, wherever it landed
    log = read_log(logs[0])
    logs[0].unlink()
    return log


def test_two_hosts_on_loopback_match_single_host(main_job: Path, tmp_path: Path) -> None:
    """Two hosts without a shared filesystem (a checkpoint folder each): each keeps its own
    workers' files and a host manifest; a resume agrees on the newest step both hold, or
    stops naming the host that lacks one; export-model assembles from both folders."""
    spec = Path(__file__).parent / "specs" / "chain4_two_hosts.pgc"
    out = tmp_path / "two"
    r = run_pgc("compile", str(spec), "-o", str(out), timeout=300)
    assert r.returncode == 0, r.stderr
    assert "--nnodes 2" in r.stdout
    runs = two_hosts(out, "--steps", "8", "--ckpt-every", "4")
    for code, _, err in runs:
        assert code == 0, err[-3000:]
    mapping = "".join(o for _, o, _ in runs)
    assert "n0=rank" in mapping and "@alpha" in mapping and "@beta" in mapping
    one = [rec["loss"] for rec in read_log(main_job / "train_log.jsonl")]
    assert [rec["loss"] for rec in rank0_log(out)] == one[:8]
    for host, mine in (("alpha", ["n0.pt", "n1.pt"]), ("beta", ["n2.pt", "n3.pt"])):
        step = out / f"ck-{host}" / "step_00000008"
        assert sorted(f.name for f in step.glob("n*.pt")) == mine
        assert sorted(json.loads((step / f"host-{host}.json").read_text())["files"]) == mine
    # export assembles the model from both hosts' folders
    r = run_pgc("export-model", str(out / "ck-alpha"), str(out / "ck-beta"), "--from", str(out),
                "-o", str(tmp_path / "m.pt"))
    assert r.returncode == 0, r.stderr
    state = torch.load(tmp_path / "m.pt", weights_only=True)
    n3 = torch.load(out / "ck-beta" / "step_00000008" / "n3.pt", weights_only=True)
    torch.testing.assert_close(state["head.weight"], n3["tensors"]["head.weight"], rtol=0, atol=0)
    # beta lost step 8: both resume from step 4, the newest step both hold, exactly
    shutil.rmtree(out / "ck-beta" / "step_00000008")
    runs = two_hosts(out, "--resume", "--steps", "10", "--ckpt-every", "100")
    for code, _, err in runs:
        assert code == 0, err[-3000:]
    assert "(step 4)" in "".join(o for _, o, _ in runs)
    resumed = rank0_log(out)
    assert [rec["step"] for rec in resumed] == list(range(5, 11))
    assert [rec["loss"] for rec in resumed] == one[4:10]
    # beta holds no checkpoint at all: every worker stops, naming the host
    shutil.rmtree(out / "ck-beta")
    runs = two_hosts(out, "--resume", "--steps", "10")
    assert all(code != 0 for code, _, _ in runs)
    err = "".join(e for _, _, e in runs)
    assert "incomplete on host(s) beta (workers n2, n3)" in err, err[-3000:]
