"""Value checks of the strict policy: ffmpeg expressions, times, sizes, rates, bit rates."""

from __future__ import annotations

import math

import pytest

from ffmpeg_tasks import CommandPolicy
from ffmpeg_tasks._policy.expressions import ExpressionError, evaluate
from ffmpeg_tasks._policy.values import (
    bitrate,
    color,
    dimension,
    duration,
    frame_rate,
    frame_size,
    number,
    parse_duration,
    tile_layout,
)

BOUNDS = CommandPolicy.strict()


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("640", 640.0),
        ("-2", -2.0),
        ("100000*100000", 1e10),
        ("2M", 2e6),  # av_strtod's SI prefixes
        ("1k", 1000.0),
        ("1Ki", 1024.0),  # ... binary with 'i'
        ("1B", 8.0),  # ... and bytes with 'B'
        ("0x10", 16.0),
        ("1e3", 1000.0),
        ("2*-3", -6.0),
        ("-2^2", -4.0),  # the sign applies after '^', as in eval.c
        ("2^3^2", 64.0),  # '^' is left-associative
        ("(1+2)*3", 9.0),
        (" 1 + 2 ", 3.0),  # white space is removed first
        ("max(1280,640)", 1280.0),
        ("trunc(1281/2)*2", 1280.0),
        ("if(1,2,3)", 2.0),
        ("ifnot(0,2,3)", 2.0),
        ("PI*0", 0.0),
        ("1;2", 2.0),  # ';' sequences: the last value counts
        ("iw/2", None),  # a variable: unknown here
        ("min(1280,iw)", None),
        ("trunc(iw/2)*2", None),
    ],
)
def test_expressions_fold_when_constant(text: str, value: float | None) -> None:
    assert evaluate(text) == value


def test_special_values() -> None:
    assert evaluate("1/0") == math.inf
    assert math.isnan(evaluate("0/0") or 0.0)
    assert evaluate("inf") == math.inf


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("while(1,1)", "function 'while' is not allowed"),
        ("root(x,1)", "function 'root' is not allowed"),
        ("taylor(1,1)", "function 'taylor'"),
        ("print(1)", "function 'print'"),
        ("", "empty"),
        ("1+", "unexpected"),
        ("(1", "expected '\\)'"),
        ("1 $ 2", "unexpected '\\$2'"),  # white space was removed first
        ("(" * 150 + "1" + ")" * 150, "nests too deeply"),
        ("1+" * 300 + "1", "longer than 512"),
    ],
)
def test_bad_expressions(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        evaluate(text)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90.0),
        ("1.5", 1.5),
        ("500ms", 0.5),
        ("250us", 0.00025),
        ("2s", 2.0),
        ("01:30", 90.0),
        ("1:02:03.5", 3723.5),
        ("-5", -5.0),
        ("abc", None),
        ("1:2:3:4", None),
        ("1e3", None),
    ],
)
def test_durations(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == seconds


def test_value_checks_name_the_bound() -> None:
    assert duration()("14400", BOUNDS) is None
    assert duration()("14401", BOUNDS) == "must be at most 14400 seconds"
    assert duration()("-1", BOUNDS) == "must not be negative"
    assert duration(signed=True)("-1", BOUNDS) is None
    assert frame_size("hd1080", BOUNDS) is None
    assert frame_size("7680x7680", BOUNDS) is None
    assert frame_size("7681x10", BOUNDS) == "must be at most 7680x7680"
    assert frame_size("0x10", BOUNDS) == "must be at most 7680x7680"
    assert frame_size("big", BOUNDS) == "must be a size like 1280x720 or hd720"
    assert frame_rate("30000/1001", BOUNDS) is None
    assert frame_rate("ntsc", BOUNDS) is None
    assert frame_rate("241", BOUNDS) == "must be a frame rate above 0 and at most 240"
    assert frame_rate("1/0", BOUNDS) is not None
    assert bitrate("2.5M", BOUNDS) is None
    assert bitrate("501M", BOUNDS) == "must be at most 500M"
    assert bitrate("fast", BOUNDS) is not None
    assert color("red@0.5", BOUNDS) is None
    assert color("#202020", BOUNDS) is None
    assert color("/etc/passwd", BOUNDS) is not None
    assert tile_layout("10x10", BOUNDS) is None
    assert tile_layout("11x10", BOUNDS) is not None


def test_dimensions_bound_constants_and_allow_expressions() -> None:
    width = dimension("width")
    assert width("iw*100", BOUNDS) is None  # unbounded here: the -max_pixels guard caps it
    assert width("-2", BOUNDS) is None
    assert width("7680", BOUNDS) is None
    assert width("7681", BOUNDS) == "must be a width of at most 7680 pixels"
    assert width("1e9", BOUNDS) is not None
    assert width("0/0", BOUNDS) is not None
    assert width("while(1,1)", BOUNDS) is not None


def test_numbers_accept_constant_expressions_and_names() -> None:
    check = number(1, 16, integer=True, names=("auto",))
    assert check("2*4", BOUNDS) is None
    assert check("auto", BOUNDS) is None
    assert check("17", BOUNDS) == "must be an integer from 1 to 16 or one of auto"
    assert check("1.5", BOUNDS) is not None
    assert check("n", BOUNDS) is not None  # a variable cannot be bounded
