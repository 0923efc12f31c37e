"""Reading what ffmpeg writes while it works: ``-progress`` blocks on stdout, lines on stderr.

``-progress pipe:1`` writes blocks of ``key=value`` lines, each ending with
``progress=continue`` or, once, ``progress=end``. The format has been stable from ffmpeg 4 to 9,
with quirks handled here: any value may be ``N/A``; ``out_time_ms`` holds microseconds, not
milliseconds; before the first packet ffmpeg 4 and 6 print "no timestamp" as a huge negative
time, 8 prints ``N/A``; audio encoders' priming makes early times slightly negative; ``speed``
is padded (``speed= 8.4x``). Everything here is pure: bytes and lines in, values out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import attrs

from .._models import Progress
from ._timing import InputDurations, expected_duration, parse_time

__all__ = [
    "LineSplitter",
    "ProgressTracker",
    "parse_out_time",
    "parse_size",
    "parse_speed",
    "progress_from_block",
]

#: Times beyond this many seconds (about 31 years) are ffmpeg's "no timestamp", not a position.
_ABSURD_SECONDS = 1e9
_SIZE = re.compile(r"(?P<number>\d+(?:\.\d*)?)\s*(?P<unit>[kKMGT]?i?B|[kKMGT])?")
#: ffmpeg's sizes are binary whatever the spelling: its ``kB`` (before 7.0) meant 1024 bytes.
_UNIT_POWERS = {"": 0, "k": 1, "K": 1, "M": 2, "G": 3, "T": 4}
_SPEED = re.compile(r"(?P<number>\d+(?:\.\d*)?(?:e[-+]?\d+)?)\s*x")


class LineSplitter:
    """Turns a byte stream into text lines, ending a line at ``\\n`` or ``\\r``.

    ffmpeg ends its statistics line with ``\\r``; both count as line ends. Memory stays bounded
    whatever the stream holds: each line keeps at most ``max_chars`` characters and the rest of
    an over-long line is dropped. Blank lines are skipped, trailing spaces stripped.
    """

    def __init__(self, max_chars: int = 1000) -> None:
        self._max_chars = max_chars
        self._max_bytes = max_chars * 4  # the most one UTF-8 character takes
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[str]:
        """Take the next chunk; return the lines it completed."""
        *complete, rest = re.split(rb"[\r\n]", data)
        lines = []
        for part in complete:
            self._append(part)
            if (line := self._take()) is not None:
                lines.append(line)
        self._append(rest)
        return lines

    def flush(self) -> list[str]:
        """The last line, when the stream ended without a line break."""
        line = self._take()
        return [] if line is None else [line]

    def _append(self, part: bytes) -> None:
        room = self._max_bytes - len(self._buffer)
        if room > 0:
            self._buffer += part[:room]

    def _take(self) -> str | None:
        text = self._buffer.decode("utf-8", "replace")[: self._max_chars].rstrip()
        self._buffer.clear()
        return text if text.strip() else None


def parse_size(text: str) -> int | None:
    """Bytes from ``51345``, ``256kB``, ``256KiB`` or ``1.5MiB``; None for ``N/A`` or junk."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        return None
    unit = match["unit"] or ""
    return int(float(match["number"]) * 1024 ** _UNIT_POWERS.get(unit[:1], 0))


def parse_speed(text: str) -> float | None:
    """``1.23`` from ``1.23x`` or `` 8.4x``; None for ``N/A``."""
    match = _SPEED.fullmatch(text.strip())
    return None if match is None else float(match["number"])


def parse_out_time(block: Mapping[str, str]) -> float | None:
    """Seconds of output written, from the most precise key present; None when unknown.

    ``out_time_us`` (ffmpeg 4.2+) is preferred, then ``out_time_ms`` (microseconds too, a
    long-standing misnomer), then ``out_time`` (``HH:MM:SS.micro``). Negative times (audio
    priming) count as 0; ffmpeg's "no timestamp" value counts as unknown.
    """
    seconds: float | None = None
    for key, scale in (("out_time_us", 1e-6), ("out_time_ms", 1e-6)):
        value = block.get(key, "N/A").strip()
        try:
            seconds = int(value) * scale
        except ValueError:
            continue
        break
    else:
        try:
            seconds = parse_time(block.get("out_time", "N/A"))
        except ValueError:
            return None
    if abs(seconds) > _ABSURD_SECONDS:
        return None
    return max(0.0, seconds)


def _int(text: str | None) -> int | None:
    try:
        return None if text is None else int(text.strip())
    except ValueError:
        return None


def progress_from_block(block: Mapping[str, str], *, duration: float | None = None) -> Progress:
    """One :class:`~ffmpeg_tasks.Progress` from one block of ``key=value`` pairs."""
    return Progress(
        out_time=parse_out_time(block),
        duration=duration,
        speed=parse_speed(block.get("speed", "N/A")),
        frame=_int(block.get("frame")),
        total_size=parse_size(block.get("total_size", "N/A")),
        done=block.get("progress", "").strip() == "end",
    )


class ProgressTracker:
    """Follows one ffmpeg run: stderr lines tell the inputs' durations, stdout blocks the position.

    Args:
        args: The run's arguments (without the program name), for the cutting options.
    """

    def __init__(self, args: Sequence[str]) -> None:
        self._args = tuple(args)
        self._inputs = InputDurations()
        self._block: dict[str, str] = {}
        self._furthest: float | None = None
        #: Expected output duration in seconds, once known.
        self.duration: float | None = expected_duration(self._args, {})

    def stderr_line(self, line: str) -> None:
        """Take one line of stderr; ``Duration`` lines refine the expected output duration."""
        if self._inputs.feed(line):
            self.duration = expected_duration(self._args, self._inputs.durations)

    def stdout_line(self, line: str) -> Progress | None:
        """Take one line of ``-progress`` output; return a report when it ends a block."""
        key, sep, value = line.partition("=")
        if not sep:
            return None
        key = key.strip()
        self._block[key] = value.strip()
        if key != "progress":
            return None
        block, self._block = self._block, {}
        progress = progress_from_block(block, duration=self.duration)
        # Streams are muxed in turn and ffmpeg 9 may say N/A between two positions: a report
        # never goes back behind the furthest position already reported.
        if progress.out_time is not None:
            self._furthest = max(self._furthest or 0.0, progress.out_time)
        if self._furthest is not None:
            progress = attrs.evolve(progress, out_time=self._furthest)
        return progress
