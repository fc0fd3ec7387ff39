"""The GPU check (README.md, "GPU check"): run by bench/gpu/run.sh; `--cpu` shrinks it.

(a) one pgc worker against a plain PyTorch loop with the same model, microbatches and optimizer
    (AdamW, fused on a GPU), fp32 and bf16 (and bf16 + torch.compile on a GPU): tokens/s ratio,
    side by side in one run;
(b) the bf16 one-worker run's model-FLOPs utilisation against a measured bf16 matmul peak;
(c) 4 workers sharing the device (on a GPU: gloo, messages staged through pinned host memory)
    against the same plan on CPU processes: losses, at the shrunk sizes (CPU processes could
    not run the full model's steps in the time the check has);
(d) each worker's peak memory above its baseline (`train.py --memory-report`; GPU: the
    4-worker plan at the full sizes, torch.cuda.max_memory_allocated above the tensors
    allocated when the process group is up; CPU: the run of (c), its peak resident set above
    its baseline, with the shrunk sizes dominated by fixed costs, so only a check that the
    report works; bench/memory.py is the CPU measurement) against the plan's per-worker
    prediction, with their ratio;
(e) where two or more GPUs exist, pgc's 1f1b plan on N = min(4, GPUs) workers (one GPU each,
    nccl) against torch.distributed.pipelining's Schedule1F1B (bench/pipelining_1f1b.py) with the
    same model split, microbatches, AdamW, steps, initial weights and data, fp32: tokens/s of
    both, their ratio, and the largest relative difference of their step losses. With fewer
    GPUs it is skipped and the report says why; `--cpu` runs it at the shrunk sizes on 2 CPU
    processes over gloo. On GPUs it uses the sizes of (a), one run per side, which should
    take well under a minute and a half of the 8; that is an estimate: part (e) has never run
    on a GPU, only its `--cpu` form has been run.
Figures go to OUT/gpu_check.json and OUT/gpu_check.md, with the wall seconds of each part
(the whole check should take under 8 minutes on one GPU).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[2]
SPEC = """model llama = "examples.models.llama:build" {{
  vocab = {vocab}, dim = {dim}, layers = {layers}, heads = {heads}, kv_heads = {heads}, max_seq = {seq}
}}
node n[0..{last}] {{ rate = 100 TFLOPS; memory = 80 GiB; region = "local" }}
link default {{ latency = 10 us; bandwidth = 10 GiB/s }}
pipeline check {{
  model = llama
  layout = chain
  stages s[0..{last}] = layers[0:{layers}] balanced by layers
  place s[*] on n[0..{last}]
  microbatch {{ size = {mb}; seq = {seq}; count = {count} }}
  schedule 1f1b
  train {{
    steps = {steps}
    optimizer = adamw(lr = 1e-4, weight_decay = 0.0)
    data = synthetic(seed = 0)
    precision = {precision}
    compile = {compile}
  }}
}}
"""


def sizes(cpu: bool) -> dict[str, int]:
    if cpu:
        return {"vocab": 256, "dim": 64, "layers": 2, "heads": 4, "seq": 32, "mb": 2,
                "count": 4, "steps": 4}
    return {"vocab": 32000, "dim": 2048, "layers": 8, "heads": 16, "seq": 512, "mb": 8,
            "count": 8, "steps": 12}


def compile_plan(out: Path, workers: int, precision: str, compiled: bool,
                 size: dict[str, int]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    layers = max(size["layers"], workers)
    text = SPEC.format(last=workers - 1, precision=precision,
                       compile="true" if compiled else "false", **(size | {"layers": layers}))
    # the first and last stages hold the embedding and the head
    text = text.replace(f"stages s[0..{workers - 1}] = layers[0:{layers}] balanced by layers",
                        _stages(workers, layers))
    (out / "check.pgc").write_text(text, encoding="utf-8")
    subprocess.run([sys.executable, "-m", "pgc", "compile", str(out / "check.pgc"), "-o",
                    str(out / "build")], check=True, capture_output=True, text=True, cwd=ROOT)
    return out / "build"


def cuts(workers: int, layers: int) -> list[tuple[int, int]]:
    """The blocks of each stage: equal runs, the last stage taking the remainder."""
    per = layers // workers
    return [(k * per, layers if k == workers - 1 else (k + 1) * per) for k in range(workers)]


def _stages(workers: int, layers: int) -> str:
    parts = []
    for k, (lo, hi) in enumerate(cuts(workers, layers)):
        items = (["embed"] if k == 0 else []) + [f"layers[{lo}:{hi}]"] + (
            ["norm", "head"] if k == workers - 1 else [])
        parts.append("[" + ", ".join(items) + "]")
    return f"stages s[0..{workers - 1}] = [" + ", ".join(parts) + "]"


def launch(script: Path, workers: int, *args: str) -> str:
    """`torchrun --standalone --nproc-per-node WORKERS SCRIPT ARGS` in the script's folder;
    its stdout."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
           str(workers), str(script), *args]
    r = subprocess.run(cmd, cwd=script.parent, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stderr[-3000:]}")
    return r.stdout


def torchrun(build: Path, workers: int, *flags: str) -> list[dict[str, Any]]:
    log = build / f"log-{time.monotonic_ns()}.jsonl"
    launch(build / "train.py", workers, "--quiet", "--log-file", str(log), *flags)
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def schedule1f1b(work: Path, size: dict[str, int], cpu: bool) -> dict[str, Any]:
    """(e): pgc's 1f1b plan against torch's Schedule1F1B, same split, microbatches, AdamW,
    steps, initial weights (`torch.manual_seed(0)` and the model's own init on both sides) and
    synthetic data (pgc's data order, reproduced by the torch side), fp32. One run per side:
    tokens/s from the median step time after the first third of the steps."""
    gpus = 0 if cpu else torch.cuda.device_count()
    if not cpu and gpus < 2:
        return {"skipped": f"this machine has {gpus} GPU{'' if gpus == 1 else 's'}; the "
                           "comparison needs two or more (one worker per GPU, nccl)"}
    workers = 2 if cpu else min(4, gpus)
    layers = max(size["layers"], workers)
    build = compile_plan(work / "e-pgc", workers, "fp32", False, size)
    flags = ("--device", "cpu", "--backend", "gloo") if cpu else ("--device", "cuda",
                                                                  "--backend", "nccl")
    pgc = [r for r in torchrun(build, workers, *flags) if "step" in r]
    model = {"vocab": size["vocab"], "dim": size["dim"], "layers": layers,
             "heads": size["heads"], "kv_heads": size["heads"], "max_seq": size["seq"]}
    out = launch(ROOT / "bench" / "pipelining_1f1b.py", workers, str(size["steps"]),
                 "--model-args", json.dumps(model),
                 "--cuts", ",".join(f"{lo}:{hi}" for lo, hi in cuts(workers, layers)),
                 "--batch", str(size["mb"]), "--seq", str(size["seq"]),
                 "--microbatches", str(size["count"]), "--optimizer", "adamw", "--lr", "1e-4",
                 "--data", "synthetic", "--seed", "0", "--device", "cpu" if cpu else "cuda")
    ref = json.loads(out.strip().splitlines()[-1])
    tokens = size["count"] * size["mb"] * size["seq"]
    keep = len(pgc) // 3
    pgc_tps = tokens / statistics.median(r["time"] for r in pgc[keep:])
    ref_tps = tokens / statistics.median(ref["times"][keep:])
    pgc_losses = [r["loss"] for r in pgc]
    return {"workers": workers, "backend": "gloo" if cpu else "nccl", "precision": "fp32",
            "cuts": cuts(workers, layers), "pgc_tokens_per_s": pgc_tps,
            "schedule1f1b_tokens_per_s": ref_tps, "ratio": pgc_tps / ref_tps,
            "losses_pgc": pgc_losses, "losses_schedule1f1b": ref["losses"],
            "max_rel_loss_diff": max(abs(a - b) / abs(b) for a, b in zip(pgc_losses,
                                                                         ref["losses"]))}


def plain_loop(size: dict[str, int], precision: str, compiled: bool, device: torch.device,
               steps: int) -> float:
    """Tokens/s of a plain PyTorch loop: the same model, microbatches and optimizer."""
    from examples.models.llama import build

    torch.manual_seed(0)
    model = build(vocab=size["vocab"], dim=size["dim"], layers=size["layers"],
                  heads=size["heads"], kv_heads=size["heads"], max_seq=size["seq"]).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.0,
                            fused=device.type == "cuda" or None, foreach=False)
    step_fn = torch.compile(model) if compiled else model
    dtype = {"fp32": None, "bf16": torch.bfloat16}[precision]
    g = torch.Generator().manual_seed(0)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=False)
        for _ in range(size["count"]):
            ids = torch.randint(0, size["vocab"], (size["mb"], size["seq"] + 1), generator=g)
            x, y = ids[:, :-1].to(device), ids[:, 1:].to(device)
            with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=bool(dtype)):
                logits = step_fn(x)
            loss = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), y.flatten())
            (loss / size["count"]).backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    tokens = size["count"] * size["mb"] * size["seq"]
    return tokens / statistics.median(times[len(times) // 3:])


def matmul_peak(device: torch.device, n: int) -> float:
    """Measured bf16 matmul FLOP/s (n x n x n, best of a few)."""
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    best = float("inf")
    for _ in range(5):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(4):
            a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, (time.perf_counter() - t0) / 4)
    return 2 * n ** 3 / best


def model_flops_per_token(size: dict[str, int]) -> float:
    """6 x parameters of the blocks and head (embedding lookups are free) plus attention's
    12 x layers x dim x seq (PaLM's accounting, Chowdhery et al. 2022, appendix B)."""
    from examples.models.llama import build

    with torch.device("meta"):
        model = build(vocab=size["vocab"], dim=size["dim"], layers=size["layers"],
                      heads=size["heads"], kv_heads=size["heads"], max_seq=size["seq"])
    params = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("embed"))
    return 6 * params + 12 * size["layers"] * size["dim"] * size["seq"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--cpu", action="store_true", help="shrunk sizes, on the CPU")
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    cpu = args.cpu or not torch.cuda.is_available()
    out = args.out or ROOT / "bench" / "results" / ("gpu_check_cpu" if cpu else "gpu")
    out.mkdir(parents=True, exist_ok=True)
    work = out / "work"
    size = sizes(cpu)
    device = torch.device("cpu" if cpu else "cuda", 0)
    dev_flags = ("--device", device.type)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    report: dict[str, Any] = {"device": "cpu" if cpu else torch.cuda.get_device_name(0),
                              "torch": torch.__version__, "sizes": size, "measured": True}
    runs = [("fp32", False), ("bf16", False)] + ([] if cpu else [("bf16", True)])
    seconds: dict[str, float] = {}
    began = part = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal part
        seconds[name] = time.perf_counter() - part
        part = time.perf_counter()

    one = {}
    for precision, compiled in runs:
        build = compile_plan(work / f"one-{precision}-{compiled}", 1, precision, compiled, size)
        log = torchrun(build, 1, *dev_flags)
        pgc_tps = statistics.median(r["tokens_per_s"] for r in log[len(log) // 3:])
        plain = plain_loop(size, precision, compiled, device, size["steps"])
        one[f"{precision}{' + compile' if compiled else ''}"] = {
            "pgc_tokens_per_s": pgc_tps, "plain_tokens_per_s": plain, "ratio": pgc_tps / plain}
    report["one_worker"] = one
    lap("a_one_worker")
    peak = matmul_peak(device, 512 if cpu else 8192)
    per_token = model_flops_per_token(size)
    report["mfu"] = {k: v["pgc_tokens_per_s"] * per_token / peak for k, v in one.items()
                     if k.startswith("bf16")} | {"matmul_peak_flops": peak}
    lap("b_mfu")
    # (c) at sizes CPU processes run in seconds; on the CPU that run also gives (d)
    shared = compile_plan(work / "four", 4, "fp32", False, sizes(True))
    on_device = torchrun(shared, 4, *dev_flags, "--backend", "gloo",
                         *(("--memory-report",) if cpu else ()))
    on_cpu = torchrun(shared, 4, "--device", "cpu")
    lap("c_four_workers")
    if not cpu:  # (d) the full sizes, 4 workers on the device
        full = compile_plan(work / "four-full", 4, "fp32", False, size)
        memory = next(r for r in torchrun(full, 4, *dev_flags, "--backend", "gloo",
                                          "--memory-report") if "memory_report" in r)
    else:
        memory = next(r for r in on_device if "memory_report" in r)
    lap("d_memory")
    on_device = [r for r in on_device if "step" in r]
    torch_losses = [r["loss"] for r in on_device]
    report["four_workers"] = {
        "losses_device": torch_losses, "losses_cpu": [r["loss"] for r in on_cpu],
        "max_rel_diff": max(abs(a - b["loss"]) / abs(b["loss"]) for a, b in zip(torch_losses,
                                                                                on_cpu))}
    report["memory"] = {
        "workers": {w: {"predicted_bytes": m["predicted"], "measured_bytes": m["above_baseline"],
                        "ratio": m["ratio"]} for w, m in memory["memory_report"].items()},
        "note": "each worker's peak above its baseline (train.py --memory-report): on a GPU "
                "torch.cuda.max_memory_allocated, on the CPU the peak resident set"}
    report["schedule1f1b"] = schedule1f1b(work, size, cpu)
    lap("e_schedule1f1b")
    report["seconds"] = seconds | {"total": time.perf_counter() - began}
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    lines = [f"# GPU check on {report['device']} (torch {report['torch']})", "",
             "| one worker | pgc tokens/s | plain loop tokens/s | ratio |", "|---|---|---|---|"]
    lines += [f"| {k} | {v['pgc_tokens_per_s']:,.0f} | {v['plain_tokens_per_s']:,.0f} | "
              f"{v['ratio']:.3f} |" for k, v in one.items()]
    lines += ["", f"bf16 MFU against the measured matmul peak "
              f"({peak / 1e12:.2f} TFLOP/s): " + ", ".join(
                  f"{k} {v:.1%}" for k, v in report["mfu"].items() if k != "matmul_peak_flops"),
              "", f"4 workers on one device vs CPU processes: largest relative loss difference "
              f"{report['four_workers']['max_rel_diff']:.2e}", "",
              "| worker | predicted MiB | measured MiB (peak above baseline) | ratio |",
              "|---|---|---|---|"]
    lines += [f"| {w} | {m['predicted_bytes'] / 2**20:.1f} | {m['measured_bytes'] / 2**20:.1f} | "
              f"{m['ratio']:.2f} |" for w, m in report["memory"]["workers"].items()]
    e = report["schedule1f1b"]
    if "skipped" in e:
        lines += ["", f"pgc 1f1b vs Schedule1F1B: skipped: {e['skipped']}"]
    else:
        lines += ["", f"pgc 1f1b vs Schedule1F1B ({e['workers']} workers, {e['backend']}, "
                  f"{e['precision']}, blocks per stage "
                  f"{', '.join(f'{lo}:{hi}' for lo, hi in e['cuts'])}):", "",
                  "| side | tokens/s |", "|---|---|",
                  f"| pgc 1f1b | {e['pgc_tokens_per_s']:,.0f} |",
                  f"| Schedule1F1B | {e['schedule1f1b_tokens_per_s']:,.0f} |", "",
                  f"Ratio pgc / Schedule1F1B: {e['ratio']:.3f}; largest relative difference of "
                  f"the step losses: {e['max_rel_loss_diff']:.2e}"]
    lines += ["",
              "Wall seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in report["seconds"].items()),
              ""]
    (out / "gpu_check.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
