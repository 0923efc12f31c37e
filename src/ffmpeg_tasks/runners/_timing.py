"""How long ffmpeg's output will be: time syntax, input durations and the cutting options.

ffmpeg reports how far it got (``out_time``) but not where it will stop. We work that out from
what it prints about each input (``Duration: 00:00:05.00, start: ...``) and from the options
that cut or repeat: ``-ss``, ``-t``, ``-to``, ``-sseof``, ``-stream_loop`` and ``-loop`` before
an ``-i`` apply to that input; ``-ss``, ``-t``, ``-to`` and ``-shortest`` after the last ``-i``
apply to the output. The estimate assumes every input feeds the output, which holds for the
jobs this library runs (one output, inputs declared because they are used).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

__all__ = ["InputDurations", "expected_duration", "parse_time", "split_options"]

_CLOCK = re.compile(r"(?P<sign>-)?(?:(?P<h>\d+):)?(?P<m>\d+):(?P<s>\d+(?:\.\d*)?)")
_SECONDS = re.compile(r"(?P<sign>-)?(?P<s>\d+(?:\.\d*)?)(?P<unit>s|ms|us)?")
_UNITS = {None: 1.0, "s": 1.0, "ms": 1e-3, "us": 1e-6}
_DURATION_LINE = re.compile(r"^\s+Duration: (?P<value>N/A|[-\d:.]+)")
_INPUT_LINE = re.compile(r"^Input #(?P<index>\d+),")

#: Options that take a value and matter to the duration; every other token is skipped over.
_VALUED = frozenset({"-ss", "-t", "-to", "-sseof", "-stream_loop", "-loop"})


def parse_time(text: str) -> float:
    """Seconds from ffmpeg's time syntax: ``[-][HH:]MM:SS[.m...]`` or ``[-]S+[.m...][s|ms|us]``.

    Raises:
        ValueError: the text is not an ffmpeg duration.
    """
    value = text.strip()
    if match := _CLOCK.fullmatch(value):
        hours = int(match["h"] or 0)
        seconds = hours * 3600 + int(match["m"]) * 60 + float(match["s"])
    elif match := _SECONDS.fullmatch(value):
        seconds = float(match["s"]) * _UNITS[match["unit"]]
    else:
        raise ValueError(f"{text!r} is not an ffmpeg time ([-][HH:]MM:SS[.m] or S[.m][s|ms|us])")
    return -seconds if match["sign"] else seconds


class InputDurations:
    """Collects the ``Duration`` ffmpeg prints on stderr for each input, line by line.

    ffmpeg prints ``Input #N, ...`` and then, indented, ``Duration: HH:MM:SS.cc, start: ...``
    or ``Duration: N/A`` (live sources, lavfi). Output sections never carry a duration, and
    ``-hide_banner`` does not hide these lines.
    """

    def __init__(self) -> None:
        #: Input index -> seconds, or None when ffmpeg said ``N/A``.
        self.durations: dict[int, float | None] = {}
        self._current: int | None = None

    def feed(self, line: str) -> bool:
        """Take one stderr line; True when it recorded a duration."""
        if match := _INPUT_LINE.match(line):
            self._current = int(match["index"])
            return False
        if self._current is None or not (match := _DURATION_LINE.match(line)):
            return False
        try:
            value: float | None = parse_time(match["value"])
        except ValueError:
            value = None
        self.durations[self._current] = value
        self._current = None
        return True


def split_options(args: Sequence[str]) -> tuple[list[dict[str, str]], dict[str, str]]:
    """The duration-relevant options of each input, and those of the output.

    Options before an ``-i`` belong to that input; those after the last ``-i`` to the output.
    The last occurrence of an option wins, as in ffmpeg. ``-shortest`` is a flag and is
    reported as ``{"-shortest": ""}``.
    """
    inputs: list[dict[str, str]] = []
    pending: dict[str, str] = {}
    index = 0
    while index < len(args):
        token = args[index]
        if token == "-i" and index + 1 < len(args):
            inputs.append(pending)
            pending = {}
            index += 2
        elif token in _VALUED and index + 1 < len(args):
            pending[token] = args[index + 1]
            index += 2
        else:
            if token == "-shortest":
                pending[token] = ""
            index += 1
    return inputs, pending


def _seconds(options: Mapping[str, str], name: str) -> float | None:
    value = options.get(name)
    return None if value is None else parse_time(value)


def _input_length(options: Mapping[str, str], duration: float | None) -> float | None:
    """What one input contributes after its own seeking, looping and cutting."""
    length = duration
    loops = options.get("-stream_loop")
    if options.get("-loop", "0") != "0" or (loops is not None and int(loops) < 0):
        length = math.inf
    elif loops is not None and length is not None:
        length *= int(loops) + 1
    start = _seconds(options, "-ss") or 0.0
    from_end = _seconds(options, "-sseof")
    if from_end is not None and length is not None:
        length = min(length, -from_end)
    elif length is not None:
        length = max(0.0, length - start)
    limit = _seconds(options, "-t")
    if limit is None and (stop := _seconds(options, "-to")) is not None:
        limit = stop - start
    if limit is not None:
        length = max(0.0, limit) if length is None else min(length, max(0.0, limit))
    return length


def expected_duration(
    args: Sequence[str], input_durations: Mapping[int, float | None]
) -> float | None:
    """Seconds of output ffmpeg will write, or None when that cannot be known.

    Args:
        args: ffmpeg's arguments, without the program name.
        input_durations: Input index -> the ``Duration`` ffmpeg printed for it (None for N/A).
    """
    try:
        inputs, output = split_options(args)
        lengths = [
            _input_length(options, input_durations.get(index))
            for index, options in enumerate(inputs)
        ]
        known = [length for length in lengths if length is not None]
        if "-shortest" in output:
            base = min(known) if known else None
        else:
            base = max(known) if known and len(known) == len(lengths) else None
        start = _seconds(output, "-ss") or 0.0
        limit = _seconds(output, "-t")
        stop = _seconds(output, "-to")
    except ValueError:
        return None  # ffmpeg itself will refuse the malformed value
    if base is not None and stop is not None and limit is None:
        base = min(base, stop)
    elif base is None and stop is not None and limit is None:
        base = stop
    if base is not None:
        base = max(0.0, base - start)
    if limit is not None:
        base = max(0.0, limit) if base is None else min(base, max(0.0, limit))
    if base is None or math.isinf(base):
        return None
    return base
