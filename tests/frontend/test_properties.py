"""Property tests (hypothesis) for the parser, printer and lowering.

- random ASTs: parse(print(a)) == a (spans ignored), and printing is idempotent;
- random valid specs in random layouts: lowering the formatted spec gives the same Program;
- random mutations of the examples (token deletions, duplications, swaps, garbage, bad bytes,
  huge numbers): the checker answers with a Program or with located diagnostics, never with
  another exception, and quickly.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import random
import re
import shutil
import tempfile
from pathlib import Path

from conftest import ROOT, run_pgc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pgc.diagnostics import UserError
from pgc.frontend import ast, check_file, format_source, parse_text
from pgc.frontend.load import Sources
from pgc.frontend.lower import lower
from pgc.frontend.printer import format_module

# PGC_PROPERTY_SCALE=10 runs ten times as many examples (for a deeper local hunt).
SCALE = float(os.environ.get("PGC_PROPERTY_SCALE", "1"))
RESERVED = {
    "import", "model", "node", "link", "pipeline", "stages", "stage", "replicas", "place",
    "schedule", "path", "default", "intra", "region", "balanced", "by", "on", "auto",
}  # fmt: skip
UNITS = ["", "", "", "us", "ms", "s", "Mbps", "Gbit/s", "B/s", "GiB/s", "B", "MB", "GiB", "FLOPS", "TFLOP/s", "x", "%"]

names = st.from_regex(r"[a-z_][a-z0-9_]{0,5}", fullmatch=True).filter(lambda s: s not in RESERVED)
small = st.integers(0, 10**6)
digits = st.from_regex(r"[0-9]{1,4}(\.[0-9]{1,3})?([eE][+-]?[0-9]{1,2})?", fullmatch=True)
plain_digits = st.from_regex(r"[0-9]{1,4}", fullmatch=True)
strings = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\n"), max_size=8)

accessors = st.one_of(
    names.map(ast.Field),
    st.just(ast.Glob()),
    st.just(ast.AnyIndex()),
    small.map(ast.Index),
    st.builds(ast.Slice, st.none() | small, st.none() | small),
    st.builds(ast.Range, small, small),
)
refs = st.builds(ast.Ref, names, st.lists(accessors, max_size=3).map(tuple))
numbers = st.builds(ast.Number, digits, st.sampled_from(UNITS), st.booleans())
plain = st.builds(ast.Number, plain_digits)
leaves = st.one_of(numbers, st.builds(ast.Fraction, plain, plain), st.builds(ast.String, strings), refs)


def _compound(children: st.SearchStrategy[ast.Value]) -> st.SearchStrategy[ast.Value]:
    args = st.builds(ast.Arg, st.none() | names, children)
    return st.one_of(
        st.builds(ast.List, st.lists(children, max_size=4).map(tuple)),
        st.builds(ast.Call, names, st.lists(args, max_size=3).map(tuple)),
    )


values = st.recursive(leaves, _compound, max_leaves=8)
hops = st.builds(ast.HopRef, names, st.none() | names)


def _items(depth: int) -> st.SearchStrategy[tuple[ast.Item, ...]]:
    simple = [
        st.builds(ast.Assign, names, values),
        st.builds(ast.StagesStmt, refs, values, st.none() | names),
        st.builds(ast.StageStmt, names, values),
        st.builds(ast.ReplicasStmt, refs, values),
        st.builds(ast.PlaceStmt, refs, st.one_of(refs, st.builds(ast.List, st.lists(refs, max_size=3).map(tuple)), st.just("auto"))),
        st.builds(ast.ScheduleStmt, st.from_regex(r"[a-z0-9_]{1,6}", fullmatch=True)),
        st.builds(ast.PathStmt, names, st.lists(hops, min_size=2, max_size=4).map(tuple)),
    ]
    if depth > 0:
        simple.append(st.builds(ast.Nested, names, _items(depth - 1)))
    return st.lists(st.one_of(simple), max_size=5).map(tuple)


plain_refs = st.builds(ast.Ref, names)
links = st.one_of(
    st.builds(ast.LinkDecl, st.just("default"), st.none(), st.none(), st.just(""), _items(0)),
    st.builds(ast.LinkDecl, st.just("intra"), st.none() | plain_refs, st.none(), st.just(""), _items(0)),
    st.builds(ast.LinkDecl, st.just("region"), plain_refs, plain_refs, st.sampled_from(["->", "<->"]), _items(0)),
    st.builds(ast.LinkDecl, st.just("pair"), refs, refs, st.sampled_from(["->", "<->"]), _items(0)),
)
decls = st.one_of(
    st.builds(ast.Import, strings),
    st.builds(ast.ModelDecl, names, strings, st.none() | _items(1)),
    st.builds(ast.NodeDecl, refs, _items(1)),
    links,
    st.builds(ast.PipelineDecl, names, _items(2)),
)
modules = st.builds(ast.Module, st.just("gen.pgc"), st.lists(decls, max_size=4).map(tuple))


@settings(max_examples=int(100 * SCALE), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(modules)
def test_print_then_parse_gives_the_same_ast(module: ast.Module) -> None:
    text = format_module(module)
    assert parse_text(text, "gen.pgc") == module, text
    assert format_source(text, "gen.pgc") == text


# ---------------------------------------------------------------- lowering is layout-blind


@st.composite
def valid_specs(draw: st.DrawFn) -> str:
    """A valid spec (ring or chain) written with random separators and spacing."""
    ring = draw(st.booleans())
    n_stages = draw(st.integers(2, 6))
    replicas = draw(st.integers(1, 2))
    layers = n_stages * draw(st.integers(1, 3))
    sep = lambda: draw(st.sampled_from(["\n", "; ", ", ", " ", "\n\n  "]))  # noqa: E731
    workers = (n_stages + (1 if ring else 0)) * replicas
    parts = [
        f'model m = "pkg.mod:build" {{ layers = {layers}{sep()}dim = {draw(st.integers(1, 512))} }}',
        f"node n[0..{workers - 1}] {{ rate = {draw(st.integers(1, 999))} GFLOPS{sep()}memory = {draw(st.integers(1, 64))} GiB }}",
        f"link default {{ latency = {draw(st.integers(0, 500))} ms{sep()}bandwidth = {draw(st.integers(1, 100))} Gbps }}",
    ]
    body = []
    if ring:
        body.append(f"origin {{ prologue = [embed]{sep()}epilogue = [norm, head] }}")
        criterion = draw(st.sampled_from(["layers", "flops", "params"]))
        body.append(f"stages s[1..{n_stages}] = layers[0:{layers}] balanced by {criterion}")
        body.append(f"place origin on n[0..{replicas - 1}]")
        auto = draw(st.booleans())
        body.append("place s[*] on auto" if auto else f"place s[1..{n_stages}] on n[{replicas}..{workers - 1}]")
        total = n_stages + 1
    else:
        per = layers // n_stages
        sels = [f"layers[{i * per}:{(i + 1) * per}]" for i in range(n_stages)]
        sels[0] = f"[embed, {sels[0]}]"
        sels[-1] = f"[{sels[-1]}, head]"
        body.append(f"stages s[0..{n_stages - 1}] = [{', '.join(sels)}]")
        body.append(f"place s[0..{n_stages - 1}] on n[0..{workers - 1}]")
        total = n_stages
    skip_ok = [k for k in range(1, total - 1) if total - k >= (1 if ring else 2)]
    if skip_ok and draw(st.booleans()):
        body.append(f"skip {{ ratio = {draw(st.sampled_from(skip_ok))}/{total} }}{sep()}schedule skippipe")
        body.append(f"swap {{ max = {draw(st.integers(0, 2))} }}")
    else:
        body.append(f"schedule {draw(st.sampled_from(['gpipe', '1f1b']))}")
    body.append(f"microbatch {{ size = {draw(st.integers(1, 8))}{sep()}seq = 16{sep()}count = {draw(st.integers(1, 9))} }}")
    body.append(f"train {{ steps = {draw(st.integers(1, 99))}{sep()}optimizer = adamw(lr = {draw(st.sampled_from(['3e-4', '0.001', '1/1000']))}) }}")
    body.append(f"cost {{ backward = {draw(st.sampled_from(['2x', '1.5x', '3']))}{sep()}message_overhead = {draw(st.integers(0, 999))} us }}")
    if ring:
        body.insert(0, "layout = ring")
    draw(st.randoms()).shuffle(body)
    parts.append("pipeline p {" + sep() + sep().join(body) + "\n}")
    return sep().replace(";", "").replace(",", "") .join(parts) + "\n"


def _lower(text: str) -> object:
    module = parse_text(text, "spec.pgc")
    return dataclasses.replace(lower(Sources((module,), "")), span=ast.Span("x", 0, 0, 0, 0))


@settings(max_examples=int(60 * SCALE), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_specs())
def test_lowering_the_formatted_spec_gives_the_same_program(text: str) -> None:
    formatted = format_source(text, "spec.pgc")
    assert _lower(formatted) == _lower(text)
    assert format_source(formatted, "spec.pgc") == formatted


# ---------------------------------------------------------------- mutations never crash

_WORK = Path(tempfile.mkdtemp(prefix="pgc-mutations-"))
atexit.register(shutil.rmtree, _WORK, True)
shutil.copytree(ROOT / "examples", _WORK / "examples", dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
_SOURCES = sorted(p for p in (_WORK / "examples").rglob("*.pgc"))
_TOKEN = re.compile(r'"[^"\n]*"|//[^\n]*|[0-9.]+|[A-Za-z_]+|->|<->|\.\.|\S')
_GARBAGE = ["{", "}", "[", "]", "(", ")", "=", ";", ",", "->", "..", "/", "*", "@", "-", '"', "x", "1e999999", "9" * 5000, "0" * 30 + "1", "$", "\t", "\u00e9", "\u2028"]


@st.composite
def mutated(draw: st.DrawFn) -> tuple[Path, bytes]:
    path = draw(st.sampled_from(_SOURCES))
    tokens = _TOKEN.findall(path.read_text(encoding="utf-8"))
    rng: random.Random = draw(st.randoms())
    for _ in range(draw(st.integers(1, 4))):
        i = rng.randrange(len(tokens))
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "insert"]))
        if op == "delete":
            del tokens[i]
        elif op == "duplicate":
            tokens.insert(i, tokens[i])
        elif op == "swap":
            j = rng.randrange(len(tokens))
            tokens[i], tokens[j] = tokens[j], tokens[i]
        else:
            tokens.insert(i, draw(st.sampled_from(_GARBAGE)))
        if not tokens:
            tokens = [""]
    data = " ".join(tokens).encode("utf-8")
    if draw(st.integers(0, 9)) == 0:
        k = rng.randrange(len(data) + 1)
        data = data[:k] + bytes([draw(st.integers(0x80, 0xFF))]) + data[k:]
    return path, data


@settings(max_examples=int(200 * SCALE), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_specs_answer_with_a_program_or_located_diagnostics(case: tuple[Path, bytes]) -> None:
    original, data = case
    target = original.with_name("mutant_" + original.name)
    target.write_bytes(data)
    try:
        check_file(target)
    except UserError as exc:
        for d in exc.diagnostics:
            assert d.span.line >= 1 and d.span.col >= 1, d.render()
            assert d.render().count("\n") >= 1  # the source line and caret are shown


# ---------------------------------------------------------------- extremes through the CLI


def test_extreme_inputs_never_crash_the_cli(tmp_path: Path) -> None:
    cases = {
        "deep.pgc": "pipeline p { x = " + "[" * 10_000 + "]" * 10_000 + " }\n",
        "deep_calls.pgc": "pipeline p { x = " + "f(" * 10_000 + ")" * 10_000 + " }\n",
        "deep_blocks.pgc": "pipeline p { " + "a { " * 10_000 + "}" * 10_001 + "\n",
        "empty.pgc": "",
        "huge.pgc": "node n0 { rate = 1e999999 FLOPS; memory = " + "9" * 5000 + " B }\n",
        "long_range.pgc": "node n[0..999999999999] { rate = 1 GFLOPS; memory = 1 GiB }\n",
        "wide.pgc": "node n[0..9999] { rate = 1 GFLOPS; memory = 1 GiB; region = \"a\" }\n"
        "node m[0..9999] { rate = 1 GFLOPS; memory = 1 GiB; region = \"b\" }\n"
        "link intra { latency = 1 ms; bandwidth = 1 Gbps }\n",
        "all_pairs.pgc": "node n[0..999] { rate = 1 GFLOPS; memory = 1 GiB }\n"
        "link n[0..999] <-> n[0..999] { latency = 1 ms; bandwidth = 1 Gbps }\n",
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "bytes.pgc").write_bytes(b"\xff\xfe\x00pipeline")
    files = sorted(str(p) for p in tmp_path.iterdir())
    r = run_pgc("check", *files, timeout=120)  # a hang fails here, not a slow machine
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    located = re.findall(r"^(\S+\.pgc):(\d+):(\d+): error: ", r.stderr, re.M)
    assert {Path(f).name for f, _, _ in located} == {p.name for p in tmp_path.iterdir()} - {"empty.pgc"}
    assert "empty.pgc: ok" in r.stdout


# ---------------------------------------------------------------- comments survive formatting


@st.composite
def commented_specs(draw: st.DrawFn) -> tuple[str, list[str]]:
    """An example spec with numbered comments at the ends of random lines and on lines of
    their own between random lines."""
    path = draw(st.sampled_from([p for p in _SOURCES if not p.name.startswith("mutant_")]))
    lines = path.read_text(encoding="utf-8").split("\n")
    out: list[str] = []
    comments: list[str] = []
    for line in lines:
        if draw(st.integers(0, 5)) == 0:
            comments.append(f"// own {len(comments)}")
            out.append(comments[-1])
        if line.strip() and "//" not in line and draw(st.integers(0, 4)) == 0:
            comments.append(f"// end {len(comments)}")
            line += "  " + comments[-1]
        out.append(line)
    return "\n".join(out), comments


@settings(max_examples=int(60 * SCALE), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commented_specs())
def test_formatting_keeps_every_comment_once(case: tuple[str, list[str]]) -> None:
    text, comments = case
    formatted = format_source(text, "c.pgc")
    for c in comments:
        assert formatted.count(c + "\n") + formatted.count(c + "  //") == 1, (c, formatted)
    assert format_source(formatted, "c.pgc") == formatted
    assert parse_text(formatted, "c.pgc") == parse_text(text, "c.pgc")
