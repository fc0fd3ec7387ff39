"""`pgc compile`: IR dumps after any pass, printing between passes with verification, and the
files and launch line it writes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pgc.runtime.schema import validate_plan
from tests.conftest import ROOT, pgc_env, run_pgc

CHAIN4 = str(ROOT / "examples" / "chain4.pgc")


def test_emit_prints_ir_after_a_pass_and_between_passes() -> None:
    r = run_pgc("compile", CHAIN4, "--emit=routed", "--print-between-passes")
    assert r.returncode == 0, r.stderr
    heads = [line for line in r.stdout.splitlines() if line.startswith("// ----- after")]
    assert heads == [f"// ----- after {p} -----" for p in
                     ("ir", "traced", "partitioned", "placed", "routed")]
    ir = run_pgc("compile", CHAIN4, "--emit=ir")
    assert ir.returncode == 0 and "chain4" in ir.stdout
    assert ir.stdout.splitlines()[0] == "// ----- after ir -----"


def test_compile_writes_script_plan_runtime_and_command(tmp_path: Path) -> None:
    r = run_pgc("compile", CHAIN4, "-o", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    assert f"torchrun --nproc-per-node 4 {tmp_path / 'out' / 'train.py'}" in r.stdout
    plan = json.loads((tmp_path / "out" / "plan.json").read_text())
    validate_plan(plan)
    assert plan["world_size"] == 4 and plan["runtime"]["init"]["mode"] == "replay"
    script = (tmp_path / "out" / "train.py").read_text()
    assert "class Stage_s0(Stage):" in script
    shipped = sorted(p.name for p in (tmp_path / "out" / "pgc_runtime").glob("*.py"))
    assert shipped == sorted(p.name for p in (ROOT / "pgc" / "runtime").glob("*.py"))
    for name in shipped:  # verbatim
        assert (tmp_path / "out" / "pgc_runtime" / name).read_bytes() == \
            (ROOT / "pgc" / "runtime" / name).read_bytes()


def test_script_refuses_a_plan_that_does_not_match(tmp_path: Path) -> None:
    """train.py validates plan.json before anything else: a plan of another schema version or
    a damaged one ends the run with the field named, exit 2, no traceback."""
    out = tmp_path / "out"
    assert run_pgc("compile", CHAIN4, "-o", str(out)).returncode == 0
    plan = json.loads((out / "plan.json").read_text())
    for edit, message in ((dict(version=999), "this pgc reads schema version 2, got 999"),
                          (dict(world_size=3), "world_size is 3 but the worker table has 4")):
        (out / "plan.json").write_text(json.dumps({**plan, **edit}))
        r = subprocess.run([sys.executable, str(out / "train.py")], capture_output=True,
                           text=True, timeout=60, env=pgc_env())
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_bad_spec_is_a_diagnostic(tmp_path: Path) -> None:
    spec = tmp_path / "bad.pgc"
    spec.write_text(Path(CHAIN4).read_text().replace("place s3 on n3", "place s3 on n9"))
    r = run_pgc("compile", str(spec), "-o", str(tmp_path / "out"))
    assert r.returncode == 2 and "bad.pgc:" in r.stderr and "Traceback" not in r.stderr


def test_spare_nodes_cost_the_compiled_plan_nothing(tmp_path: Path) -> None:
    """Twenty thousand declared nodes that hold no stage get no process: the script runs the
    four placed workers, and plan.json prices the links between them only (all pairs would
    be 400 million entries)."""
    spec = tmp_path / "spare.pgc"
    text = Path(CHAIN4).read_text()
    spare = "".join(f'node spare{k}[0..9999] {{ rate = 50 GFLOPS; memory = 4 GiB; '
                    f'region = "far" }}\n' for k in range(2))
    spec.write_text(text.replace("link default", spare + "link default", 1))
    r = run_pgc("compile", str(spec), "-o", str(tmp_path / "out"), timeout=240)
    assert r.returncode == 0, r.stderr
    assert "20000 declared nodes hold no stage and get no process; 4 workers run the plan" \
        in r.stdout
    assert f"torchrun --nproc-per-node 4 {tmp_path / 'out' / 'train.py'}" in r.stdout
    plan = json.loads((tmp_path / "out" / "plan.json").read_text())
    assert plan["world_size"] == 4 and [w["name"] for w in plan["workers"]] == \
        [f"n{k}" for k in range(4)]
    links = plan["runtime"]["links"]
    assert sorted(links) == sorted(f"n{a}->n{b}" for a in range(4) for b in range(4) if a != b)


HELPER_OPS = '''import torch
import torch.fx


def scale(x):
    return x * 1.0


halve = lambda x: x * 0.5  # noqa: E731


torch.fx.wrap("scale")
'''

HELPER_MODEL = '''import torch
import torch.fx
from torch import nn

from mypkg.ops import {name}

torch.fx.wrap("{name}")


class Model(nn.Module):
    def __init__(self, vocab=64, dim=16, layers=4):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.layers = nn.ModuleList(nn.Linear(dim, dim) for _ in range(layers))
        self.head = nn.Linear(dim, vocab)

    def forward(self, ids):
        x = self.embed(ids)
        for layer in self.layers:
            x = {name}(layer(x))
        return self.head(x)


def build(**kw):
    return Model(**kw)
'''


@pytest.mark.parametrize("name", ["scale", "halve"])
def test_a_helper_from_another_module_is_imported_by_the_script(tmp_path: Path,
                                                                name: str) -> None:
    """A model whose forward calls a (torch.fx.wrap-ed) function of another module compiles:
    train.py imports it by name; a function no script can import by name (a lambda) is a
    located error at the model, not an internal error."""
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "ops.py").write_text(HELPER_OPS)
    (pkg / "model.py").write_text(HELPER_MODEL.format(name=name))
    spec = tmp_path / "spec.pgc"
    spec.write_text(
        'model m = "mypkg.model:build" { vocab = 64; dim = 16; layers = 4 }\n'
        'node n[0..1] { rate = 50 GFLOPS; memory = 4 GiB }\n'
        "link default { latency = 50 us; bandwidth = 1 GiB/s }\n"
        "pipeline p {\n  model = m\n  layout = chain\n"
        "  stages s[0..1] = [[embed, layers[0:2]], [layers[2:4], head]]\n"
        "  place s0 on n0\n  place s1 on n1\n"
        "  microbatch { size = 2; seq = 8; count = 2 }\n}\n")
    r = run_pgc("compile", str(spec), "-o", str(tmp_path / "out"), cwd=tmp_path)
    if name == "scale":
        assert r.returncode == 0, r.stderr
        script = (tmp_path / "out" / "train.py").read_text()
        assert "from mypkg.ops import scale as mypkg_ops_scale" in script
    else:
        assert r.returncode == 2, r.stderr
        assert "spec.pgc:1:1: error: cannot compile model `m`: the stage code calls `<lambda>`" \
            in r.stderr and "internal error" not in r.stderr
