"""Compressed group sums (pgc.runtime.sync) over real gloo under torchrun, 3 workers: int8 with
error feedback applies, over K syncs, exactly the uncompressed sum minus the final residuals;
every worker gets the same bytes; bf16 stays within bf16 rounding."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pgc.runtime.sync import dequantize, quantize
from tests.conftest import pgc_env

pytestmark = [pytest.mark.torchrun, pytest.mark.xdist_group("torchrun")]

K, SIZE, CHUNK = 6, 10_001, 64  # sizes that split unevenly into shards and chunks

SCRIPT = f"""
import sys, torch, torch.distributed as dist
from pgc.runtime.sync import Codec, compressed_sum
dist.init_process_group("gloo")
rank, out = dist.get_rank(), sys.argv[1]
group = dist.new_group([0, 1, 2])
for compress in ("int8", "bf16"):
    codec, state = Codec(compress, {CHUNK}), {{}}
    applied, exact = torch.zeros({SIZE}), torch.zeros({SIZE})
    outs = []
    for k in range({K}):
        g = torch.randn({SIZE}, generator=torch.Generator().manual_seed(100 * rank + k))
        g[: {SIZE} // 3] *= 1e-3  # values of very different sizes share chunks
        got = compressed_sum(g.clone(), group, codec, state, "b")
        applied += got
        outs.append(got)
        total = g.clone()
        dist.all_reduce(total, group=group)
        exact += total
    torch.save({{"applied": applied, "exact": exact, "outs": outs,
                 "state": state}}, f"{{out}}/{{compress}}.{{rank}}.pt")
dist.destroy_process_group()
"""


def test_quantize_round_trip_is_within_half_a_step() -> None:
    x = torch.randn(1000) * torch.logspace(-3, 1, 1000)
    parts = quantize(x, CHUNK)
    assert parts[0].dtype == torch.int8 and parts[1].numel() == -(-1000 // CHUNK)
    back = dequantize(parts, 1000, CHUNK)
    step = parts[1].repeat_interleave(CHUNK)[:1000]
    assert ((back - x).abs() <= step / 2 + 1e-7).all()
    assert torch.equal(dequantize(quantize(torch.zeros(10), CHUNK), 10, CHUNK), torch.zeros(10))


def test_error_feedback_keeps_the_sum_over_syncs(tmp_path: Path) -> None:
    script = tmp_path / "exchange.py"
    script.write_text(SCRIPT, encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "3",
                        "--standalone", str(script), str(tmp_path)], capture_output=True,
                       text=True, timeout=240, env=pgc_env())
    assert r.returncode == 0, r.stderr[-3000:]
    runs = [torch.load(tmp_path / f"int8.{i}.pt", weights_only=True) for i in range(3)]
    for run in runs[1:]:  # every worker applies the same bytes
        for a, b in zip(run["outs"], runs[0]["outs"]):
            assert torch.equal(a, b)
    exact, applied = runs[0]["exact"], runs[0]["applied"]
    # the final residuals: each member's own, and each shard owner's for its shard
    members = sum(run["state"]["b/member"] for run in runs)
    owners = torch.cat([run["state"]["b/owner"] for run in runs])[:SIZE]
    residual = members + owners
    assert float(residual.abs().max()) > 1e-4  # int8 did lose something each sync
    torch.testing.assert_close(applied, exact - residual, rtol=0, atol=1e-5)
    bf16 = [torch.load(tmp_path / f"bf16.{i}.pt", weights_only=True) for i in range(3)]
    rel = (bf16[0]["applied"] - bf16[0]["exact"]).norm() / bf16[0]["exact"].norm()
    assert 0 < float(rel) < 1e-2  # bf16 rounding (8 bits), twice a sync
    assert bf16[0]["state"] == {}
