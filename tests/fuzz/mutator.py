"""A seeded, deterministic spec mutator and the harness that feeds mutants to pgc.

`mutants(seeds, count, seed)` yields `Mutant`s: a seed spec (its text and the folder its
imports are relative to) with one to three mutations applied, the same sequence for the same
arguments on every machine. Mutations act as a user or an attacker would: delete, duplicate,
swap or truncate lines; replace numbers with extremes, names with other names or keywords,
units with other units; insert stray characters (brackets, quotes, NUL, CR, BOM, bidi marks),
hostile settings (huge swap bounds, ranges, replica counts; zero sizes; impossible ratios),
imports of devices, pipes, missing or NUL-holding paths, and deep nesting.

`run_one(fn, mutant, limit_s)` runs one command function on a mutant written to a file. The
outcome is "ok", "error" (the project's located diagnostics, `UserError`), "crash" (any other
exception, with its traceback) or "hang" (the per-call limit passed: SIGPROF after that much CPU
time, or SIGALRM after ten times it in wall time, interrupts the call in the main thread).
"""

from __future__ import annotations

import random
import re
import signal
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pgc.diagnostics import UserError

NUMBERS = ("0", "-1", "1", "3", "1000000", "1e308", "99999999999999999999999", "0.0000001",
           "-0", "1/0", "7/3", "0/0", "2.5", "1e-320", "4096", "65537")
STRAYS = ("{", "}", "[", "]", "(", ")", '"', "\0", "\r", "\t", ";", ",", "=", "..", "->",
          "//", "/*", "\ufeff", "\u202e", "é", "\\", "@", "*", "-", ":", "1/", "%", "x")
UNITS = ("us", "ms", "s", "bps", "Mbps", "Gbps", "B/s", "GiB/s", "B", "KiB", "GiB", "TB",
         "FLOPS", "TFLOPS", "x", "%", "")
KEYWORDS = ("import", "model", "node", "link", "pipeline", "stages", "stage", "replicas",
            "place", "schedule", "path", "default", "intra", "region", "balanced", "by", "on",
            "auto", "origin", "s1", "n0", "layers", "embed", "head", "true", "ring", "chain")
SETTINGS = (
    "swap { max = 1000000 }", "swap { max = 1000 }", "inflight = 0", "inflight = 1000000",
    "microbatch { size = 0; count = 4 }", "microbatch { size = 2; per_origin = 1000 }",
    "microbatch { size = 2; seq = 0; count = 2 }", "skip { ratio = 7/3 }",
    "skip { ratio = 1/2; never = [origin, s1, s2, s3, s4, s5] }", "skip { balance = 1000% }",
    "replicas s[1..5] = 100000", "schedule explicit", "schedule gpipe", "layout = chain",
    "objective = pipeline", "path mb0 = n0 -> n0", "path mb0 = n0 -> s2@n3 -> s1@n4 -> n0",
    "stages s[1..100000] = layers[0:1]", "stage s9 = layers[99]",
    "cost { backward = 0x; message_overhead = -1 s }", "cost { profile = \"/dev/zero\" }",
    "cost { profile = \"nowhere.json\" }", "cost { efficiency = 0% }",
    "train { steps = -1; optimizer = adamw(lr = 1e308) }", "train { checkpoint { keep = 0 } }",
    "eval { every = 0; skip = [2] }", "place s1 on n[0..99999]", "place origin on []",
)
TOP_LEVEL = (
    'import "/dev/zero"', 'import "/dev/null"', 'import "nowhere.pgc"', 'import "x\0y.pgc"',
    'import "."', 'import "/"', 'import "../../../../../../etc/passwd"',
    'node q[0..99999] { rate = 1 GFLOPS; memory = 1 GiB }',
    'node q[0..3] { rate = 0 GFLOPS; memory = 0 GiB }',
    'link n0 -> n0 { latency = 0 s; bandwidth = 0 bps }',
    'link region a <-> b { latency = 1e308 s; bandwidth = 1 bps }',
    'model m2 = "builtins:print" { }', 'model m3 = "os:system" { command = "true" }',
    'pipeline other { }',
)


@dataclass(frozen=True)
class Seed:
    name: str
    text: str
    folder: Path  # imports in `text` are relative to this folder


@dataclass(frozen=True)
class Mutant:
    index: int
    seed: str
    text: str
    folder: Path
    steps: tuple[str, ...]  # what was done, for the failure message

    def describe(self) -> str:
        return f"mutant {self.index} of {self.seed} ({'; '.join(self.steps)})"


def _lines(text: str) -> list[str]:
    return text.split("\n")


def _delete_line(rng: random.Random, text: str) -> tuple[str, str]:
    lines = _lines(text)
    i = rng.randrange(len(lines))
    return "\n".join(lines[:i] + lines[i + 1:]), f"delete line {i + 1}"


def _duplicate_line(rng: random.Random, text: str) -> tuple[str, str]:
    lines = _lines(text)
    i = rng.randrange(len(lines))
    return "\n".join(lines[:i + 1] + lines[i:]), f"duplicate line {i + 1}"


def _swap_lines(rng: random.Random, text: str) -> tuple[str, str]:
    lines = _lines(text)
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines), f"swap lines {i + 1} and {j + 1}"


def _replace_match(rng: random.Random, text: str, pattern: str, choices: tuple[str, ...],
                   what: str) -> tuple[str, str]:
    found = list(re.finditer(pattern, text))
    if not found:
        return text, f"no {what} to replace"
    m = rng.choice(found)
    new = rng.choice(choices)
    return text[:m.start()] + new + text[m.end():], f"{what} at {m.start()} -> {new!r}"


def _number(rng: random.Random, text: str) -> tuple[str, str]:
    return _replace_match(rng, text, r"(?<![\w.])\d+(?:\.\d+)?(?:e-?\d+)?", NUMBERS, "number")


def _name(rng: random.Random, text: str) -> tuple[str, str]:
    names = tuple(sorted(set(re.findall(r"[A-Za-z_]\w*", text)))) or KEYWORDS
    return _replace_match(rng, text, r"[A-Za-z_]\w*", names + KEYWORDS + ("",), "name")


def _unit(rng: random.Random, text: str) -> tuple[str, str]:
    return _replace_match(rng, text, r"(?<=\d )[A-Za-z/%]+", UNITS, "unit")


def _stray(rng: random.Random, text: str) -> tuple[str, str]:
    i = rng.randrange(len(text) + 1)
    s = rng.choice(STRAYS)
    return text[:i] + s + text[i:], f"insert {s!r} at {i}"


def _cut(rng: random.Random, text: str) -> tuple[str, str]:
    i = rng.randrange(len(text) + 1)
    j = min(len(text), i + rng.randrange(1, 40))
    return text[:i] + text[j:], f"delete characters {i}..{j}"


def _truncate(rng: random.Random, text: str) -> tuple[str, str]:
    i = rng.randrange(len(text) + 1)
    return text[:i], f"truncate at {i}"


def _setting(rng: random.Random, text: str) -> tuple[str, str]:
    at = text.rfind("}")
    line = rng.choice(SETTINGS)
    if at < 0:
        return text + "\n" + line + "\n", f"append {line!r}"
    return text[:at] + "  " + line + "\n" + text[at:], f"add {line!r} to the pipeline"


def _top_level(rng: random.Random, text: str) -> tuple[str, str]:
    line = rng.choice(TOP_LEVEL)
    return line + "\n" + text, f"prepend {line!r}"


def _line_endings(rng: random.Random, text: str) -> tuple[str, str]:
    ending = rng.choice(("\r", "\r\n", "\n\n"))
    return text.replace("\n", ending), f"line endings {ending!r}"


def _nest(rng: random.Random, text: str) -> tuple[str, str]:
    depth = rng.choice((10, 70, 500))
    m = list(re.finditer(r"=\s*(\S+)", text))
    if not m:
        return text, "nothing to nest"
    pick = rng.choice(m)
    value = "[" * depth + pick.group(1) + "]" * depth
    return text[:pick.start(1)] + value + text[pick.end(1):], f"nest a value {depth} deep"


MUTATIONS: tuple[Callable[[random.Random, str], tuple[str, str]], ...] = (
    _delete_line, _duplicate_line, _swap_lines, _number, _number, _name, _unit, _stray, _stray,
    _cut, _truncate, _setting, _setting, _top_level, _line_endings, _nest,
)


def mutants(seeds: list[Seed], count: int, seed: int = 0) -> Iterator[Mutant]:
    """`count` mutants, one to three mutations each, deterministic in `seed`."""
    rng = random.Random(seed)
    for index in range(count):
        base = seeds[rng.randrange(len(seeds))]
        text, steps = base.text, []
        for _ in range(rng.choice((1, 1, 2, 3))):
            text, step = rng.choice(MUTATIONS)(rng, text)
            steps.append(step)
        yield Mutant(index, base.name, text, base.folder, tuple(steps))


def seeds_from(paths: list[Path]) -> list[Seed]:
    return [Seed(p.name, p.read_text(encoding="utf-8"), p.parent) for p in paths]


class Hang(Exception):
    """The per-call time limit passed."""


def _alarm(_signum: int, _frame: object) -> None:
    raise Hang


WALL_FACTOR = 10  # a call blocked without using CPU (a read that never returns) hangs too


def run_one(fn: Callable[[str], object], mutant: Mutant, limit_s: float) -> tuple[str, str]:
    """Write `mutant` next to its seed's imports (in the seed's folder copy) and call
    `fn(path)`; returns (outcome, detail). The limit is CPU time of this process (SIGPROF), so
    a loaded machine does not turn slow into "hang"; a call that blocks without computing is
    caught after WALL_FACTOR times the limit in wall time (SIGALRM). Import torch before
    calling this: an import the limit interrupts leaves torch unusable in this process."""
    path = mutant.folder / f"_mutant_{mutant.index}.pgc"
    path.write_bytes(mutant.text.encode("utf-8", errors="surrogatepass"))
    previous = {sig: signal.signal(sig, _alarm) for sig in (signal.SIGPROF, signal.SIGALRM)}
    signal.setitimer(signal.ITIMER_PROF, limit_s)
    signal.setitimer(signal.ITIMER_REAL, limit_s * WALL_FACTOR)
    try:
        fn(str(path))
        outcome, detail = "ok", ""
    except UserError as exc:
        outcome, detail = "error", exc.render()
    except Hang:
        outcome, detail = "hang", (f"no answer within {limit_s} CPU seconds "
                                   f"({limit_s * WALL_FACTOR} s of wall time)")
    except Exception:  # anything else is a crash: a bug in pgc
        outcome, detail = "crash", traceback.format_exc()
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        path.unlink(missing_ok=True)
    return outcome, detail
