"""Checks of single option values (times, sizes, rates, numbers, words, expressions) that
follow ffmpeg's own parsers, so a value that passes means the same number to ffmpeg."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection
from typing import Protocol

from .expressions import ExpressionError, evaluate

__all__ = [
    "Bounds",
    "ValueCheck",
    "bitrate",
    "choice",
    "color",
    "dimension",
    "duration",
    "expression",
    "frame_rate",
    "frame_size",
    "number",
    "parse_duration",
    "pattern",
    "tile_layout",
]


class Bounds(Protocol):
    """The limits value checks read (``CommandPolicy`` provides them)."""

    @property
    def max_duration(self) -> float: ...
    @property
    def max_width(self) -> int: ...
    @property
    def max_height(self) -> int: ...
    @property
    def max_frame_rate(self) -> float: ...
    @property
    def max_threads(self) -> int: ...


#: ``check(value, bounds)`` returns None when the value is fine, else what is wrong with it.
ValueCheck = Callable[[str, Bounds], str | None]

#: ``-ss``/``-t`` syntax (av_parse_time, duration form): [-][HH:]MM:SS[.m] or [-]S[.m][s|ms|us].
_CLOCK = re.compile(r"(-?)(?:(\d{1,9}):)?(\d{1,2}):(\d{1,2}(?:\.\d{1,9})?)")
_SECONDS = re.compile(r"(-?)(\d{1,12}(?:\.\d{0,9})?|\.\d{1,9})(s|ms|us)?")
#: Abbreviations av_parse_video_size knows that we accept, with their sizes.
SIZE_ABBREVIATIONS = {
    "sqcif": (128, 96), "qcif": (176, 144), "cif": (352, 288), "4cif": (704, 576),
    "qqvga": (160, 120), "qvga": (320, 240), "vga": (640, 480), "svga": (800, 600),
    "xga": (1024, 768), "hd480": (852, 480), "hd720": (1280, 720), "hd1080": (1920, 1080),
    "ntsc": (720, 480), "pal": (720, 576), "nhd": (640, 360), "qhd": (960, 540),
    "2k": (2048, 1080), "4k": (4096, 2160), "uhd2160": (3840, 2160), "uhd4320": (7680, 4320),
}  # fmt: skip
#: Abbreviations av_parse_video_rate knows.
RATE_ABBREVIATIONS = {
    "ntsc": 30000 / 1001, "pal": 25.0, "qntsc": 30000 / 1001, "qpal": 25.0,
    "sntsc": 30000 / 1001, "spal": 25.0, "film": 24.0, "ntsc-film": 24000 / 1001,
}  # fmt: skip
_SIZE = re.compile(r"(\d{1,6})x(\d{1,6})")
_RATE = re.compile(r"(\d{1,7}(?:\.\d{1,6})?)(?:/(\d{1,7}(?:\.\d{1,6})?))?")
_BITRATE = re.compile(r"(\d{1,10}(?:\.\d{1,6})?)([kKMG]?)")
_COLOR = re.compile(r"[A-Za-z0-9#]{1,32}(?:@[0-9.]{1,8})?")


def parse_duration(value: str) -> float | None:
    """Seconds of an ffmpeg duration (``90``, ``1.5``, ``500ms``, ``01:30``, ``1:02:03.5``).

    Returns:
        The seconds, or None when ffmpeg's duration syntax does not match.
    """
    clock = _CLOCK.fullmatch(value)
    if clock:
        sign, hours, minutes, seconds = clock.groups()
        total = int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)
        return -total if sign else total
    plain = _SECONDS.fullmatch(value)
    if plain:
        sign, number, unit = plain.groups()
        scale = {"ms": 1e-3, "us": 1e-6}.get(unit or "s", 1.0)
        total = float(number) * scale
        return -total if sign else total
    return None


def duration(*, signed: bool = False, limit: float | None = None) -> ValueCheck:
    """A time in ffmpeg's duration syntax, at most ``limit`` (default: ``max_duration``)."""

    def check(value: str, bounds: Bounds) -> str | None:
        seconds = parse_duration(value)
        most = bounds.max_duration if limit is None else limit
        if seconds is None:
            return "must be a duration like 90, 1.5, 500ms or 00:01:30"
        if seconds < 0 and not signed:
            return "must not be negative"
        if abs(seconds) > most:
            return f"must be at most {most:g} seconds"
        return None

    return check


def number(
    low: float, high: float, *, integer: bool = False, names: Collection[str] = ()
) -> ValueCheck:
    """A number in ``[low, high]``, or a constant expression with such a value, or a name."""

    def check(value: str, bounds: Bounds) -> str | None:
        if value in names:
            return None
        try:
            folded = evaluate(value)
        except ExpressionError:
            folded = None
        kind = "an integer" if integer else "a number"
        extra = f" or one of {', '.join(sorted(names))}" if names else ""
        if folded is None or math.isnan(folded):
            return f"must be {kind} from {low:g} to {high:g}{extra}"
        if not low <= folded <= high or (integer and folded != int(folded)):
            return f"must be {kind} from {low:g} to {high:g}{extra}"
        return None

    return check


def choice(*allowed: str) -> ValueCheck:
    """One of a fixed set of words."""
    names = frozenset(allowed)

    def check(value: str, bounds: Bounds) -> str | None:
        if value in names:
            return None
        return f"must be one of {', '.join(sorted(names))}"

    return check


def pattern(regex: str, description: str) -> ValueCheck:
    """A value matching ``regex`` completely."""
    compiled = re.compile(regex)

    def check(value: str, bounds: Bounds) -> str | None:
        return None if compiled.fullmatch(value) else f"must be {description}"

    return check


def expression(value: str, bounds: Bounds) -> str | None:
    """Any ffmpeg expression built from allowed functions (its value is not bounded)."""
    try:
        evaluate(value)
    except ExpressionError as exc:
        return f"is not an allowed expression ({exc})"
    return None


def dimension(axis: str) -> ValueCheck:
    """A width or height expression: when constant, at most ``max_width``/``max_height``.

    Negative constants keep their meaning (``-1``, ``-2``: keep the aspect ratio).
    """

    def check(value: str, bounds: Bounds) -> str | None:
        most = bounds.max_width if axis == "width" else bounds.max_height
        try:
            folded = evaluate(value)
        except ExpressionError as exc:
            return f"is not an allowed expression ({exc})"
        if folded is not None and (math.isnan(folded) or not -most <= folded <= most):
            return f"must be a {axis} of at most {most} pixels"
        return None

    return check


def frame_size(value: str, bounds: Bounds) -> str | None:
    """``WxH`` or an abbreviation (``hd720``), within ``max_width`` x ``max_height``."""
    size = SIZE_ABBREVIATIONS.get(value)
    match = _SIZE.fullmatch(value)
    if match:
        size = (int(match.group(1)), int(match.group(2)))
    if size is None:
        return "must be a size like 1280x720 or hd720"
    if not (1 <= size[0] <= bounds.max_width and 1 <= size[1] <= bounds.max_height):
        return f"must be at most {bounds.max_width}x{bounds.max_height}"
    return None


def tile_layout(value: str, bounds: Bounds) -> str | None:
    """A ``COLSxROWS`` grid of at most 100 tiles."""
    match = _SIZE.fullmatch(value)
    if not match or not 1 <= int(match.group(1)) * int(match.group(2)) <= 100:
        return "must be a grid like 3x3 of at most 100 tiles"
    return None


def frame_rate(value: str, bounds: Bounds) -> str | None:
    """A rate (``25``, ``29.97``, ``30000/1001``, ``ntsc``), at most ``max_frame_rate``."""
    rate = RATE_ABBREVIATIONS.get(value)
    match = _RATE.fullmatch(value)
    if match:
        top = float(match.group(1))
        bottom = float(match.group(2)) if match.group(2) else 1.0
        rate = top / bottom if bottom else math.inf
    if rate is None:
        return "must be a frame rate like 25, 29.97, 30000/1001 or ntsc"
    if not 0 < rate <= bounds.max_frame_rate:
        return f"must be a frame rate above 0 and at most {bounds.max_frame_rate:g}"
    return None


def bitrate(value: str, bounds: Bounds) -> str | None:
    """Bits per second with an optional k/M/G suffix, at most 500M."""
    match = _BITRATE.fullmatch(value)
    if not match:
        return "must be a bit rate like 800k or 2.5M"
    scale = {"": 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9}[match.group(2)]
    if float(match.group(1)) * scale > 500e6:
        return "must be at most 500M"
    return None


def color(value: str, bounds: Bounds) -> str | None:
    """A color name or hex value, with an optional ``@alpha``."""
    return None if _COLOR.fullmatch(value) else "must be a color like black, #202020 or red@0.5"
