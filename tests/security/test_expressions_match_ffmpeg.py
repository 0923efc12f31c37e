"""Differential test: a constant expression has the value the real ffmpeg gives it.

The policy bounds numbers (sizes, counts, durations) by evaluating constant expressions. If
it read a number differently from ffmpeg's ``av_strtod`` (a signed hex float, an SI prefix,
``dB``, ``B``), a caller could write a value that passes the bound and means something else to
ffmpeg. ``scale`` prints the width it computed at verbose level; the expression is clipped
into a range ``scale`` accepts, so any value can be compared.
"""

from __future__ import annotations

import math
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from ffmpeg_tasks._policy.expressions import ExpressionError, evaluate

_WIDTH = re.compile(r"-> w:(\d+) h:16\b")
_SIGNS = st.sampled_from(["", "+", "-", "++", "--", "+-", "-+"])
_DIGITS = st.text("0123456789", min_size=1, max_size=3)
_HEX = st.text("0123456789abcdefABCDEF", min_size=1, max_size=3)
_BODIES = st.one_of(
    st.builds(
        lambda i, f, e: i + f + e,
        _DIGITS,
        st.sampled_from(["", ".", ".5"]),
        st.sampled_from(["", "e2", "e-1", "E+1"]),
    ),
    st.builds(
        lambda x, h, f, p: x + h + f + p,
        st.sampled_from(["0x", "0X"]),
        _HEX,
        st.sampled_from(["", ".", ".8"]),
        st.sampled_from(["", "p", "p3", "p+5", "P-1"]),
    ),
    st.sampled_from(["inf", "INF", "infinity", "nan", ".5"]),
)
_SUFFIXES = st.sampled_from(["", "k", "Ki", "M", "Mi", "m", "u", "p", "c", "dB", "B", "KiB"])
_NUMBERS = st.builds(lambda s, b, x: s + b + x, _SIGNS, _BODIES, _SUFFIXES)
_OPERATIONS = st.builds(
    lambda a, op, b: a + op + b, _NUMBERS, st.sampled_from(["+", "-", "*", "/", "^"]), _NUMBERS
)
_CALLS = st.builds(
    lambda name, args: f"{name}({','.join(args)})",
    st.sampled_from(["abs", "ceil", "floor", "trunc", "round", "sqrt", "max", "min", "pow",
                     "hypot", "if", "ifnot", "clip", "mod"]),
    st.lists(st.one_of(_NUMBERS, _OPERATIONS), min_size=1, max_size=3),
)  # fmt: skip
_EXPRESSIONS = st.one_of(_NUMBERS, _OPERATIONS, _CALLS)


def _clipped(expression: str) -> str:
    return f"2*trunc(clip({expression},1,500))"


def _ffmpeg_width(ffmpeg: Path, expression: str) -> int | None:
    """The width ffmpeg computes for ``scale=w=<expression>``, or None when it refuses it."""
    escaped = _clipped(expression).replace(",", "\\,")
    result = subprocess.run(
        [
            *(str(ffmpeg), "-hide_banner", "-nostdin", "-loglevel", "verbose"),
            *("-f", "lavfi", "-i", "nullsrc=s=16x16:d=0.04"),
            *("-vf", f"scale=w='{escaped}':h=16", "-f", "null", "-"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    found = _WIDTH.search(result.stderr)
    return int(found.group(1)) if result.returncode == 0 and found else None


def test_constant_expressions_have_ffmpegs_value(ffmpeg_exe: Path) -> None:
    compared = 0

    @settings(max_examples=300, deadline=None)
    @example("++0x0p+5")  # a signed hex float: 0, not 0x0 * pico + 5
    @example("--0x1p4")
    @example("0x10")
    @example("1Ki")
    @example("3B")
    @example(".5k")
    @example("2dB*100")
    @example("inf*-0dB")  # "-0dB" is 10^(-0/20) = +1: the sign stays with a dB number
    @example("2^-6dB*100")
    @example("--0^-0.5E+1")  # C's pow(-0, -5) is -inf; Python's raises
    @example("max(sqrt(-1),5)")  # eval.c's max(nan, 5) is 5
    @example("mod(-7,3)*10")  # floor-based, not fmod
    @example("round(2.5)*10")  # half away from zero, not to even
    @given(_EXPRESSIONS)
    def check(expression: str) -> None:
        nonlocal compared
        try:
            ours = evaluate(_clipped(expression))
        except ExpressionError:
            return  # refused by the policy: nothing reaches ffmpeg
        assume(ours is not None and math.isfinite(ours))
        theirs = _ffmpeg_width(ffmpeg_exe, expression)
        if theirs is None:
            return  # accepted here, refused by ffmpeg: the task fails, nothing runs
        compared += 1
        assert theirs == ours, f"{expression!r}: ffmpeg {theirs}, policy {ours}"

    check()
    assert compared >= 50, "too few expressions reached the comparison"


def test_ffmpeg_calls_a_function_named_without_parentheses(ffmpeg_exe: Path) -> None:
    """Why a bare function name is refused: ffmpeg reads ``abs*trunc(-50)`` as ``abs(-50)``,
    taking the arguments from the next ``(``; ``while*abs(1,1)`` is therefore an endless loop."""
    assert _ffmpeg_width(ffmpeg_exe, "trunc(-50)") == 2  # 2*trunc(clip(-50,1,500))
    assert _ffmpeg_width(ffmpeg_exe, "abs*trunc(-50)") == 100  # 2*trunc(clip(abs(-50),1,500))
    for name in ("abs", "while", "root", "print", "time"):
        with pytest.raises(ExpressionError, match=f"'{name}' is the name of a function"):
            evaluate(f"{name}*trunc(-50)")
