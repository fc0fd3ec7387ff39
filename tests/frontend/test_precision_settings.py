"""`train { precision; recompute; compile }`: lowering, defaults, located errors, `pgc fmt`,
plan.json, and what the cost and memory models make of them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_pgc

from pgc.diagnostics import UserError
from pgc.frontend import format_source, load_program
from pgc.ir.types import TrainConfig

SPEC = """node n[0..3] {{ rate = 50 GFLOPS; memory = 4 GiB }}
link default {{ latency = 1 ms; bandwidth = 1 Gbps }}
model m = "examples.models.llama:build" {{ vocab = 64, dim = 16, layers = 4, heads = 2, kv_heads = 1, max_seq = 16 }}
pipeline p {{
  layout = chain
  stages s[0..1] = [[embed, layers[0:2]], [layers[2:4], norm, head]]
  place s[0..1] on n[0..3]
  microbatch {{ size = 1; seq = 8; count = 4 }}
  train {{ {train} }}
}}
"""


def _load(tmp_path: Path, train: str) -> TrainConfig:
    path = tmp_path / "spec.pgc"
    path.write_text(SPEC.format(train=train), encoding="utf-8")
    return load_program(path).train


def test_values_and_defaults(tmp_path: Path) -> None:
    t = _load(tmp_path, "steps = 2")
    assert (t.precision, t.recompute, t.recompute_stages, t.compile) == ("fp32", "none", (), False)
    t = _load(tmp_path, "precision = bf16; recompute = blocks; compile = true")
    assert (t.precision, t.recompute_of("s0"), t.recompute_of("s1"), t.compile) == \
        ("bf16", "blocks", "blocks", True)
    t = _load(tmp_path, "precision = fp16; recompute { pipeline = stage; s1 = none }")
    assert (t.precision, t.recompute_of("s0"), t.recompute_of("s1")) == ("fp16", "stage", "none")
    t = _load(tmp_path, "recompute { s0 = blocks }")
    assert (t.recompute_of("s0"), t.recompute_of("s1")) == ("blocks", "none")


@pytest.mark.parametrize(("train", "col", "message"), [
    ("precision = fp8", 23, "unknown `precision` `fp8`"),
    ("precision = 16", 23, "`precision` must be one of fp32 | bf16 | fp16, not a number"),
    ("recompute = layers", 23, "unknown `recompute` `layers`"),
    ("recompute { s7 = stage }", 23, "`recompute`: unknown stage `s7`"),
    ("recompute { s0 = all }", 28, "unknown `recompute` `all`"),
    ("recompute = blocks; recompute { s0 = stage }", 31, "`recompute` is set twice in `train`"),
    ("compile = yes", 21, "`compile` must be true or false, not a name"),
])
def test_bad_values_are_located(tmp_path: Path, train: str, col: int, message: str) -> None:
    with pytest.raises(UserError) as err:
        _load(tmp_path, train)
    d = err.value.diagnostics[0]
    assert (d.span.line, d.span.col, d.message) == (9, col, message)


def test_fmt_keeps_the_settings_canonical() -> None:
    messy = SPEC.format(train="precision=bf16,recompute{pipeline=blocks,s1=stage}\ncompile=true")
    out = format_source(messy)
    assert "precision = bf16" in out and "recompute { pipeline = blocks; s1 = stage }" in out
    assert "compile = true" in out
    assert format_source(out) == out


def test_plan_json_carries_the_settings_per_stage(tmp_path: Path) -> None:
    spec = tmp_path / "spec.pgc"
    spec.write_text(SPEC.format(train="precision = bf16; recompute { pipeline = blocks; "
                                      "s1 = stage }"), encoding="utf-8")
    done = run_pgc("compile", str(spec), "-o", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    train = json.loads((tmp_path / "out" / "plan.json").read_text())["train"]
    assert (train["precision"], train["recompute"], train["compile"]) == \
        ("bf16", {"s0": "blocks", "s1": "stage"}, False)


def test_plan_shows_recomputation_and_precision(tmp_path: Path) -> None:
    """Recomputation: less activation memory, a longer step (one more forward per backward);
    bf16: boundary messages and kept activations at half the bytes."""
    def plan(train: str) -> dict[str, object]:
        spec = tmp_path / "spec.pgc"
        spec.write_text(SPEC.format(train=train), encoding="utf-8")
        done = run_pgc("plan", str(spec), "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)  # type: ignore[no-any-return]

    base, blocks = plan("steps = 1"), plan("recompute = blocks")
    stage, bf16 = plan("recompute = stage"), plan("precision = bf16")
    acts = {name: {w: m["activations"] for w, m in r["per_worker"].items()}  # type: ignore[attr-defined]
            for name, r in (("base", base), ("blocks", blocks), ("stage", stage), ("bf16", bf16))}
    for w, a in acts["base"].items():  # the last stage holds one microbatch: nothing saved
        assert acts["stage"][w] <= a and acts["blocks"][w] <= a, (w, acts)
        assert acts["bf16"][w] == pytest.approx(a / 2)
    assert acts["stage"]["n0"] < acts["base"]["n0"] / 1.5  # 4 inflight on the first stage
    assert acts["blocks"]["n0"] < acts["base"]["n0"] / 1.5
    time = {name: r["schedules"][0]["iteration_time"]  # type: ignore[index]
            for name, r in (("base", base), ("blocks", blocks), ("bf16", bf16))}
    assert time["blocks"] > time["base"] and time["bf16"] < time["base"]
    for w, m in base["per_worker"].items():  # type: ignore[attr-defined]
        # backward 2x forward plus one forward: compute time up by a third, at least
        assert blocks["per_worker"][w]["busy"] > m["busy"] * 1.3  # type: ignore[index]
    training = blocks["training"]
    assert training["without_recompute"]["iteration_time"] == pytest.approx(  # type: ignore[index]
        time["base"])
    spec = tmp_path / "spec.pgc"
    spec.write_text(SPEC.format(train="recompute { s1 = stage }"), encoding="utf-8")
    text = run_pgc("plan", str(spec)).stdout
    assert "training: precision fp32; recompute s1 stage" in text
    assert "without recompute); a step that syncs" in text


def test_plan_memory_follows_the_optimizer(tmp_path: Path) -> None:
    """Optimizer state per worker: two moments for AdamW, one momentum for SGD with momentum,
    none for plain SGD (fp32, the size of the weights)."""
    def optimizer_bytes(train: str) -> dict[str, tuple[float, float]]:
        spec = tmp_path / "spec.pgc"
        spec.write_text(SPEC.format(train=train), encoding="utf-8")
        done = run_pgc("plan", str(spec), "--json")
        assert done.returncode == 0, done.stderr
        workers = json.loads(done.stdout)["per_worker"]
        return {w: (m["optimizer"], m["weights"]) for w, m in workers.items()}

    for train, factor in (("steps = 1", 2.0), ("optimizer = sgd(lr = 0.1)", 0.0),
                          ("optimizer = sgd(lr = 0.1, momentum = 0.9)", 1.0)):
        got = optimizer_bytes(train)
        assert all(w > 0 and opt == factor * w for opt, w in got.values()), (train, got)
