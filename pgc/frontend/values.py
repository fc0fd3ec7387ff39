"""Turning AST values into checked Python values: units, integers, fractions, names.

Units are normalised to seconds, bytes, bytes/s and FLOP/s. Each function raises UserError
located at the value when it does not fit.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction as Frac

from pgc.diagnostics import did_you_mean, error
from pgc.frontend import ast
from pgc.ir.types import Value

TIME = {"us": 1e-6, "ms": 1e-3, "s": 1.0}
BANDWIDTH = {
    "bps": 1 / 8, "Kbps": 1e3 / 8, "Mbps": 1e6 / 8, "Gbps": 1e9 / 8, "Tbps": 1e12 / 8,
    "B/s": 1.0, "KB/s": 1e3, "MB/s": 1e6, "GB/s": 1e9, "TB/s": 1e12,
    "KiB/s": 2.0**10, "MiB/s": 2.0**20, "GiB/s": 2.0**30, "TiB/s": 2.0**40,
}  # fmt: skip
SIZE = {
    "B": 1.0, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
    "KiB": 2.0**10, "MiB": 2.0**20, "GiB": 2.0**30, "TiB": 2.0**40,
}  # fmt: skip
RATE = {"FLOPS": 1.0, "KFLOPS": 1e3, "MFLOPS": 1e6, "GFLOPS": 1e9, "TFLOPS": 1e12, "PFLOPS": 1e15}
# the same rates and bit rates in the `per second` spelling
RATE.update({f"{prefix}FLOP/s": factor for prefix, factor in (("", 1.0), ("K", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12), ("P", 1e15))})
BANDWIDTH.update({f"{prefix}bit/s": factor / 8 for prefix, factor in (("", 1.0), ("K", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12))})
RATIO = {"x": 1.0, "%": 0.01}

KINDS: dict[str, dict[str, float]] = {
    "time": TIME,
    "bandwidth": BANDWIDTH,
    "size": SIZE,
    "rate": RATE,
    "ratio": RATIO,
}
_EXAMPLE = {"time": "50 ms", "bandwidth": "1 Gbps", "size": "16 GiB", "rate": "125 TFLOPS", "ratio": "2x"}
ALL_UNITS = {u: f for table in KINDS.values() for u, f in table.items()}


def describe(v: ast.Value) -> str:
    """A short name for what a value is, for messages."""
    return {
        ast.Number: "a number",
        ast.Fraction: "a fraction",
        ast.String: "a string",
        ast.Ref: "a name",
        ast.List: "a list",
        ast.Call: "a call",
    }[type(v)]


def _finite(n: ast.Number) -> float:
    if len(n.text) > 40:
        raise error(n.span, f"number `{n.text[:20]}...` is too large")
    x = float(n.text)
    if not math.isfinite(x):
        raise error(n.span, f"number `{n.text}` is too large")
    return -x if n.negative else x


def number(v: ast.Value, what: str, kind: str | None = None, *, unit_required: bool = True) -> float:
    """A number, converted to base units of `kind` (time, bandwidth, size, rate, ratio).

    A bare number is accepted for `ratio` and when `unit_required` is False (then it is taken
    in base units). A fraction is accepted for `ratio`.
    """
    if isinstance(v, ast.Fraction) and kind == "ratio":
        return float(fraction(v, what))
    if not isinstance(v, ast.Number):
        raise error(v.span, f"`{what}` must be a number, not {describe(v)}")
    x = _finite(v)
    if not v.unit:
        if kind is not None and kind != "ratio" and unit_required:
            units = ", ".join(KINDS[kind])
            raise error(v.span, f"`{what}` needs a unit", hint=f"write e.g. `{_EXAMPLE[kind]}` (units: {units})")
        return x
    table = KINDS.get(kind or "", {})
    if v.unit not in table:
        if kind is None:
            raise error(v.span, f"`{what}` takes a plain number, not one in `{v.unit}`")
        units = ", ".join(table)
        hint = did_you_mean(v.unit, table) or f"units for `{what}`: {units}"
        raise error(v.span, f"`{v.unit}` is not a unit of {kind} (for `{what}`)", hint=hint)
    return _in_range(v, what, kind, scaled(v, table[v.unit]))


# The magnitudes a physical setting may take, in base units (seconds, bytes/s, bytes, FLOP/s):
# far beyond any machine, yet small and large enough that sums and quotients of them over a
# whole plan stay finite. Zero is left to each setting's own check.
LIMITS = {
    "time": (1e-9, 1e7),  # 1 ns .. about 115 days
    "bandwidth": (0.125, 1e16),  # 1 bit/s .. 80 Pbit/s
    "size": (1.0, 2.0**70),  # 1 B .. 1 ZiB
    "rate": (1.0, 1e22),  # 1 FLOP/s .. 10 ZFLOPS
    "ratio": (1e-9, 1e6),
}


def _in_range(v: ast.Number, what: str, kind: str | None, x: float) -> float:
    low, high = LIMITS.get(kind or "", (0.0, math.inf))
    if x != 0 and not low <= abs(x) <= high:
        raise error(v.span, f"`{what}` = {v.text} {v.unit} is out of range for a {kind}",
                    hint=f"between {low:g} and {high:g} in base units ({_BASE[kind or '']})")
    return x


_BASE = {"time": "s", "bandwidth": "B/s", "size": "B", "rate": "FLOP/s", "ratio": "x"}


def scaled(n: ast.Number, factor: float) -> float:
    """`n` times a unit factor, computed exactly in decimal then rounded once (so `50 us` is
    5e-05, not 4.9999999999999996e-05)."""
    x = _finite(n)
    exact = Decimal(n.text) * _DECIMAL_FACTORS.setdefault(factor, Decimal(repr(factor)))
    if not exact.is_finite() or abs(exact.adjusted()) > 300:
        return x * factor
    return float(-exact if n.negative else exact)


_DECIMAL_FACTORS: dict[float, Decimal] = {}


def positive(v: ast.Value, what: str, kind: str | None = None) -> float:
    x = number(v, what, kind)
    if x <= 0:
        raise error(v.span, f"`{what}` must be positive")
    return x


def integer(v: ast.Value, what: str, minimum: int = 0) -> int:
    """A whole number without a unit, at least `minimum`."""
    if not isinstance(v, ast.Number) or v.unit or not v.text.isdigit():
        raise error(v.span, f"`{what}` must be a whole number")
    if len(v.text) > 18:
        raise error(v.span, f"`{what}` is too large")
    n = -int(v.text) if v.negative else int(v.text)
    if n < minimum:
        raise error(v.span, f"`{what}` must be at least {minimum}")
    return n


def fraction(v: ast.Value, what: str) -> Frac:
    """An exact fraction: `1/3`, `0.25`, `25%`, `0`, `1`."""
    if isinstance(v, ast.Fraction):
        if v.num.unit or v.den.unit:
            raise error(v.span, f"`{what}`: a fraction takes plain numbers")
        num, den = Frac(_exact(v.num)), Frac(_exact(v.den))
        if den == 0:
            raise error(v.den.span, f"`{what}`: division by zero")
        return num / den
    if isinstance(v, ast.Number):
        if v.unit not in ("", "%"):
            raise error(v.span, f"`{what}` must be a fraction like `1/3` or `25%`, not in `{v.unit}`")
        x = Frac(_exact(v))
        return x / 100 if v.unit == "%" else x
    raise error(v.span, f"`{what}` must be a fraction like `1/3`, not {describe(v)}")


def _exact(n: ast.Number) -> str:
    _finite(n)
    if "e" in n.text.lower():
        raise error(n.span, "write an exact fraction like `1/3` (no exponent)")
    return ("-" if n.negative else "") + n.text


def string(v: ast.Value, what: str) -> str:
    if not isinstance(v, ast.String):
        raise error(v.span, f"`{what}` must be a quoted string, not {describe(v)}")
    return v.value


def name(v: ast.Value, what: str) -> str:
    """A bare name (a string is accepted too: `region = "east"`)."""
    if isinstance(v, ast.String) and v.value:
        return v.value
    if isinstance(v, ast.Ref) and not v.accessors:
        return v.name
    raise error(v.span, f"`{what}` must be a name, not {describe(v)}")


def names(v: ast.Value, what: str) -> list[ast.Ref]:
    """A name or a list of names (each may carry selectors), in order."""
    if isinstance(v, ast.Ref):
        return [v]
    if isinstance(v, ast.List):
        out: list[ast.Ref] = []
        for item in v.items:
            if not isinstance(item, ast.Ref):
                raise error(item.span, f"`{what}` lists names, not {describe(item)}")
            out.append(item)
        return out
    raise error(v.span, f"`{what}` must be a name or a list of names, not {describe(v)}")


def literal(v: ast.Value, what: str) -> Value:
    """Any value as plain data (call and model arguments): numbers in base units, fractions
    as floats, names as strings, `true`/`false` as bools, lists as tuples."""
    if isinstance(v, ast.Number):
        if v.unit:
            if v.unit not in ALL_UNITS:
                raise error(v.span, f"unknown unit `{v.unit}`", hint=did_you_mean(v.unit, ALL_UNITS))
            return scaled(v, ALL_UNITS[v.unit])
        if v.text.isdigit():
            return integer(v, what, minimum=-(10**18))
        return _finite(v)
    if isinstance(v, ast.Fraction):
        return float(fraction(v, what))
    if isinstance(v, ast.String):
        return v.value
    if isinstance(v, ast.Ref):
        if v.name in ("true", "false") and not v.accessors:
            return v.name == "true"
        return selector_text(v)
    if isinstance(v, ast.List):
        return tuple(literal(x, what) for x in v.items)
    raise error(v.span, f"`{what}`: a call is not allowed here")


def selector_text(r: ast.Ref) -> str:
    """Canonical text of a name with selectors: `layers[2:6]`, `n[0..3]`, `layers.*`."""
    out = [r.name]
    for a in r.accessors:
        if isinstance(a, ast.Field):
            out.append("." + a.name)
        elif isinstance(a, ast.Glob):
            out.append(".*")
        elif isinstance(a, ast.AnyIndex):
            out.append("[*]")
        elif isinstance(a, ast.Index):
            out.append(f"[{a.index}]")
        elif isinstance(a, ast.Slice):
            lo = "" if a.lo is None else str(a.lo)
            hi = "" if a.hi is None else str(a.hi)
            out.append(f"[{lo}:{hi}]")
        else:
            out.append(f"[{a.lo}..{a.hi}]")
    return "".join(out)


MAX_RANGE = 10_000  # names one range may expand to (10k workers is far beyond any cluster pgc plans)


def expand_names(r: ast.Ref, what: str) -> list[str]:
    """`n[0..3]` -> n0..n3; `n5` -> n5. Other selectors are an error here."""
    if not r.accessors:
        return [r.name]
    if len(r.accessors) == 1 and isinstance(r.accessors[0], ast.Range):
        lo, hi = r.accessors[0].lo, r.accessors[0].hi
        if lo > hi:
            raise error(r.span, f"empty range `{selector_text(r)}`", hint=f"write `{r.name}[{hi}..{lo}]`")
        if hi - lo >= MAX_RANGE:
            raise error(r.span, f"range `{selector_text(r)}` is too large (at most {MAX_RANGE} names)")
        return [f"{r.name}{i}" for i in range(lo, hi + 1)]
    if len(r.accessors) == 1 and isinstance(r.accessors[0], ast.Index):
        return [f"{r.name}{r.accessors[0].index}"]
    raise error(r.span, f"{what} must be a name or a range like `{r.name}[0..3]`, not `{selector_text(r)}`")
