"""The direct weighted exchange (`pgc.runtime.sync.direct_sum`) against the all-reduce it
replaces, over real gloo on this machine: 3 processes sum a flat fp32 tensor, each way in turn
in one run; per call the median wall time over the members' barrier-aligned calls and the CPU
seconds of all members, each as a ratio to the all-reduce's. On loopback there is no slow link
to spare, so this records what the exchange itself costs (its extra copies and its two
collectives); the time it saves on unequal links is the planner's prediction.

    PYTHONPATH=. OMP_NUM_THREADS=1 python bench/direct_exchange.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.rt_common import LOAD_NOTE, machine, median, run, torchrun_cmd, write_results  # noqa: E402

SIZES = (1 << 20, 1 << 23)  # fp32 values: 4 MiB and 32 MiB
REPS = 15
WAYS = {"all-reduce": None, "direct, equal shares": (1 / 3, 1 / 3, 1 / 3),
        "direct, 0.26 / 0.20 / 0.54": (0.26, 0.20, 0.54),
        "direct, 0 / 0.35 / 0.65": (0.0, 0.35, 0.65)}

WORKER = f"""
import json, sys, time, torch, torch.distributed as dist
from pgc.runtime.sync import direct_sum
dist.init_process_group("gloo")
group = dist.new_group([0, 1, 2])
out = {{}}
for size in {SIZES}:
    x = torch.randn(size, generator=torch.Generator().manual_seed(dist.get_rank()))
    for rep in range({REPS} + 2):  # two warm-up rounds; the ways take turns in each
        for name, shares in {WAYS!r}.items():
            y = x.clone()
            dist.barrier()
            t0, c0 = time.perf_counter(), time.process_time()
            if shares is None:
                dist.all_reduce(y, group=group)
            else:
                direct_sum(y, group, shares)
            if rep >= 2:
                got = out.setdefault(f"{{size}} {{name}}", {{"walls": [], "cpu": 0.0}})
                got["walls"].append(time.perf_counter() - t0)
                got["cpu"] += (time.process_time() - c0) / {REPS}
json.dump(out, open(sys.argv[1] + f".{{dist.get_rank()}}.json", "w"))
dist.destroy_process_group()
"""


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "worker.py"
        script.write_text(WORKER, encoding="utf-8")
        run(torchrun_cmd(script, 3, str(Path(tmp) / "t")))
        members = [json.loads((Path(tmp) / f"t.{r}.json").read_text()) for r in range(3)]
    rows = []
    for size in SIZES:
        base_wall = base_cpu = 0.0
        for name in WAYS:
            key = f"{size} {name}"
            # a call ends when its slowest member is done
            wall = median([max(m[key]["walls"][i] for m in members) for i in range(REPS)])
            cpu = sum(m[key]["cpu"] for m in members)
            if name == "all-reduce":
                base_wall, base_cpu = wall, cpu
            rows.append({"values": size, "way": name, "wall_s": wall, "cpu_s": cpu,
                         "wall_ratio": wall / base_wall, "cpu_ratio": cpu / base_cpu})
    lines = ["# Direct weighted exchange against the all-reduce (gloo, 3 CPU processes)", "",
             (__doc__ or "").split("\n\n")[0].replace("\n", " "), "",
             f"{REPS} rounds after 2 warm-up rounds, the ways taking turns in each round. "
             + LOAD_NOTE, "",
             "| fp32 values | way | wall ms / call | x all-reduce | CPU s / call (3 members) "
             "| x all-reduce |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['values']:,} | {r['way']} | {1e3 * r['wall_s']:.1f} | "
              f"{r['wall_ratio']:.2f} | {r['cpu_s']:.4f} | {r['cpu_ratio']:.2f} |" for r in rows]
    before = machine()
    write_results("direct_exchange", {"reps": REPS, "rows": rows, "machine": before},
                  lines + ["", f"Machine: {json.dumps(before)}"])


if __name__ == "__main__":
    main()
