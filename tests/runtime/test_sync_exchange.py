"""Group sums (pgc.runtime.sync) over real gloo under torchrun, 3 workers: int8 with error
feedback applies, over K syncs, exactly the uncompressed sum minus the final residuals; every
worker gets the same bytes; bf16 stays within bf16 rounding. The direct weighted sum (uneven
shares, one of them zero, a length no share divides) is bit for bit the fp32 sum in group-rank
order on every member, in fp32 and in bf16, also over a group whose ranks are not the world's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pgc.runtime.rules import slice_bounds
from pgc.runtime.sync import dequantize, quantize
from tests.conftest import pgc_env

pytestmark = [pytest.mark.torchrun, pytest.mark.xdist_group("torchrun")]

K, SIZE, CHUNK = 6, 10_001, 64  # sizes that split unevenly into shards and chunks
SHARES = (0.61, 0.0, 0.39)  # member 1 owns nothing, members 0 and 2 uneven slices

SCRIPT = f"""
import sys, torch, torch.distributed as dist
from pgc.runtime.sync import Codec, compressed_sum, direct_sum
dist.init_process_group("gloo")
rank, out = dist.get_rank(), sys.argv[1]
group = dist.new_group([0, 1, 2])
pair = dist.new_group([1, 2])  # group ranks 0, 1 are world ranks 1, 2
direct = {{}}
for dtype in (torch.float32, torch.bfloat16):
    g = torch.randn({SIZE}, generator=torch.Generator().manual_seed(7 + rank)).to(dtype)
    direct[str(dtype)] = direct_sum(g.clone(), group, {SHARES})
    if rank > 0:
        direct["pair " + str(dtype)] = direct_sum(g.clone(), pair, (0.0, 1.0))
torch.save(direct, f"{{out}}/direct.{{rank}}.pt")
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


@pytest.fixture(scope="module")
def exchanged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One torchrun launch of SCRIPT; its results' folder."""
    out = tmp_path_factory.mktemp("exchange")
    script = out / "exchange.py"
    script.write_text(SCRIPT, encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "3",
                        "--standalone", str(script), str(out)], capture_output=True,
                       text=True, timeout=240, env=pgc_env())
    assert r.returncode == 0, r.stderr[-3000:]
    return out


def test_error_feedback_keeps_the_sum_over_syncs(exchanged: Path) -> None:
    tmp_path = exchanged
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


def test_slices_follow_the_shares_and_cover_the_tensor() -> None:
    assert slice_bounds(10, (0.5, 0.0, 0.5)) == [(0, 5), (5, 5), (5, 10)]
    assert slice_bounds(SIZE, SHARES) == [(0, 6101), (6101, 6101), (6101, SIZE)]
    assert slice_bounds(0, SHARES) == [(0, 0)] * 3
    # shares that sum to 1 only within rounding still cover the tensor exactly, in order
    for size in (1, 7, 1000, 999_999_937):
        cuts = slice_bounds(size, (0.26, 0.2, 0.54 + 4e-7))
        assert cuts[0][0] == 0 and cuts[-1][1] == size
        assert all(a[1] == b[0] and a[0] <= a[1] for a, b in zip(cuts, cuts[1:]))
    assert [b - a for a, b in slice_bounds(100, (0.26, 0.2, 0.54))] == [26, 20, 54]


def test_direct_weighted_sum_is_the_ordered_fp32_sum_on_every_member(exchanged: Path) -> None:
    runs = [torch.load(exchanged / f"direct.{i}.pt", weights_only=True) for i in range(3)]
    for dtype in (torch.float32, torch.bfloat16):
        inputs = [torch.randn(SIZE, generator=torch.Generator().manual_seed(7 + r)).to(dtype)
                  for r in range(3)]
        for members, key in (((0, 1, 2), str(dtype)), ((1, 2), "pair " + str(dtype))):
            ordered = torch.zeros(SIZE)
            for r in members:  # group-rank order, in fp32
                ordered += inputs[r].float()
            exact = sum(inputs[r].double() for r in members)
            for r in members:
                got = runs[r][key]
                assert got.dtype == dtype and got.shape == (SIZE,)
                assert torch.equal(got, ordered.to(dtype)), (key, r)
            if dtype == torch.float32:  # within fp32 rounding of the exact sum
                bound = 2 * torch.finfo(torch.float32).eps * sum(inputs[r].double().abs()
                                                                  for r in members)
                assert ((runs[members[0]][key].double() - exact).abs() <= bound).all()
