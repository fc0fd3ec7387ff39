"""The `sync { ... }` block: lowering to SyncConfig, defaults, located errors, `pgc fmt`, and
what `pgc compile` and `pgc plan` make of it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_pgc

from pgc.diagnostics import UserError
from pgc.frontend import format_source, load_program
from pgc.ir.types import SyncConfig

SPEC = """node n[0..3] {{ rate = 50 GFLOPS; memory = 4 GiB }}
link default {{ latency = 1 ms; bandwidth = 1 Gbps }}
model m = "examples.models.llama:build" {{ vocab = 64, dim = 16, layers = 4, heads = 2, kv_heads = 1, max_seq = 16 }}
pipeline p {{
  layout = chain
  stages s[0..1] = [[embed, layers[0:2]], [layers[2:4], norm, head]]
  place s[0..1] on n[0..3]
  microbatch {{ size = 1; seq = 8; count = 4 }}
{sync}}}
"""


def _load(tmp_path: Path, sync: str) -> SyncConfig:
    path = tmp_path / "spec.pgc"
    path.write_text(SPEC.format(sync=sync), encoding="utf-8")
    return load_program(path).sync


def test_no_block_is_synchronous_and_uncompressed(tmp_path: Path) -> None:
    sync = _load(tmp_path, "")
    assert sync == SyncConfig() and sync.synchronous and sync.compress == "none"


def test_values_and_defaults(tmp_path: Path) -> None:
    sync = _load(tmp_path, "  sync { compress = int8; every = 50; outer = nesterov }\n")
    assert (sync.compress, sync.every, sync.outer) == ("int8", 50, "nesterov")
    assert (sync.outer_lr, sync.outer_momentum) == (0.7, 0.9)  # DiLoCo's
    assert not sync.synchronous
    sync = _load(tmp_path, "  sync { outer = nesterov(lr = 0.5, momentum = 0.8); every = 10 }\n")
    assert (sync.outer_lr, sync.outer_momentum, sync.compress) == (0.5, 0.8, "none")
    sync = _load(tmp_path, "  sync { outer = sgd(lr = 1); every = 1; compress = bf16 }\n")
    assert sync.synchronous and sync.compress == "bf16"
    assert not _load(tmp_path, "  sync { outer = sgd(lr = 0.5) }\n").synchronous
    assert sync.amortised(10.0, 30.0) == 30.0
    assert _load(tmp_path, "  sync { every = 4 }\n").amortised(10.0, 30.0) == 15.0
    assert _load(tmp_path, "").exchange == "auto"
    assert _load(tmp_path, "  sync { exchange = direct }\n").exchange == "direct"
    assert _load(tmp_path, "  sync { exchange = ring; every = 5 }\n").exchange == "ring"
    assert _load(tmp_path, "  sync { compress = bf16; exchange = auto }\n").compress == "bf16"


@pytest.mark.parametrize(("sync", "col", "message"), [
    ("compress = int4", 21, "unknown `compress` `int4`"),
    ("compress = 8", 21, "`compress` must be one of none, bf16, int8, not a number"),
    ("every = 0", 18, "`every` must be at least 1"),
    ("every = 2.5", 18, "`every` must be a whole number"),
    ("outer = adam(lr = 1)", 18, "unknown outer optimizer `adam`"),
    ("outer = nesterov(lr = 0)", 32, "`lr` of `nesterov` must be positive"),
    ("outer = nesterov(momentum = 1)", 38, "`momentum` of `nesterov` must be in [0, 1)"),
    ("outer = sgd(momentum = 0.9)", 22, "`sgd` has no argument `momentum`"),
    ("evry = 3", 10, "unknown setting `evry` in `sync`"),
    ("exchange = tree", 21, "unknown `exchange` `tree`"),
    ("exchange = 2", 21, "`exchange` must be one of auto, ring, direct, not a number"),
    ("compress = int8; exchange = direct", 38, "`exchange` chooses how an uncompressed sum "
     "travels; with `compress = int8` values always travel in a direct exchange of equal "
     "shares"),
])
def test_bad_values_are_located(tmp_path: Path, sync: str, col: int, message: str) -> None:
    with pytest.raises(UserError) as err:
        _load(tmp_path, f"  sync {{ {sync} }}\n")
    d = err.value.diagnostics[0]
    assert (d.span.line, d.span.col, d.message) == (9, col, message)


def test_fmt_keeps_the_block_canonical() -> None:
    messy = SPEC.format(sync="  sync {compress=int8,every=50\n outer=nesterov(lr=0.7,momentum=0.9)}\n")
    out = format_source(messy)
    assert "  sync { compress = int8; every = 50; outer = nesterov(lr = 0.7, momentum = 0.9) }\n" in out
    assert format_source(out) == out


def test_compile_writes_the_sync_mode_and_plan_predicts_it(tmp_path: Path) -> None:
    spec = tmp_path / "spec.pgc"
    spec.write_text(SPEC.format(sync="  sync { every = 10; compress = int8 }\n"), encoding="utf-8")
    done = run_pgc("compile", str(spec), "-o", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    sync = json.loads((tmp_path / "out" / "plan.json").read_text())["sync"]
    assert sync == {"compress": "int8", "int8_chunk": 4096, "every": 10, "outer": "sgd",
                    "outer_lr": 1.0, "outer_momentum": 0.0, "synchronous": False}
    plan = run_pgc("plan", str(spec))
    assert plan.returncode == 0, plan.stderr
    assert "sync: every 10 steps, compress int8, outer sgd(lr = 1)" in plan.stdout
