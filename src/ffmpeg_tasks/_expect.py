"""What a task's outputs must look like once probed: a duration, stream counts, codecs, a size.

A caller states expectations at register (``expect={"duration": ("input.mp4", 0.5),
"video": 1}``); the run checks them after probing, and a mismatch fails the task with an
error naming the output and what differed. The how-to page on outputs documents the shape.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from ._errors import InvalidTaskError, OutputError
from ._media import MediaInfo
from ._patterns import Pattern

__all__ = [
    "DEFAULT_TOLERANCE",
    "Expect",
    "Expectation",
    "check_expectations",
    "expectations_from",
]

#: Seconds a duration may be off when the expectation does not say.
DEFAULT_TOLERANCE = 0.5
#: Stream counts an expectation may state, by stream type.
_COUNTS = ("video", "audio", "subtitle")
_CODECS = {"video_codec": "video", "audio_codec": "audio"}
_SIZES = ("width", "height")
_KEYS = ("output", "duration", "tolerance", *_COUNTS, *_CODECS, *_SIZES)


@attrs.frozen(kw_only=True)
class Expectation:
    """What one output (or each output matching a pattern) must be like; unset fields are
    not checked."""

    #: The declared output name or pattern it is about; None for the main output.
    output: str | None = None
    #: Seconds, or the name of an input whose probed duration the output must have.
    duration: float | str | None = None
    #: How many seconds the duration may be off.
    tolerance: float = DEFAULT_TOLERANCE
    #: How many video, audio and subtitle streams there must be.
    video: int | None = None
    audio: int | None = None
    subtitle: int | None = None
    #: The codec every video (audio) stream must have, as ffprobe names it (``"h264"``).
    video_codec: str | None = None
    audio_codec: str | None = None
    #: The size of the first video stream, in pixels.
    width: int | None = None
    height: int | None = None

    @property
    def input_reference(self) -> str | None:
        """The input whose duration is the reference, when one is."""
        return self.duration if isinstance(self.duration, str) else None

    def to_dict(self) -> dict[str, Any]:
        """The fields that are set (``tolerance`` only with a duration)."""
        data = {k: v for k, v in attrs.asdict(self).items() if v is not None}
        if self.duration is None:
            data.pop("tolerance", None)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Expectation:
        return cls(**{key: data[key] for key in _KEYS if key in data})


#: What ``register(expect=...)`` takes: checks for the main output, or a list of them.
Expect = Mapping[str, Any] | Expectation | Sequence[Mapping[str, Any] | Expectation] | None


def expectations_from(
    value: object, *, inputs: Iterable[str], outputs: Iterable[str]
) -> tuple[Expectation, ...]:
    """Read a caller's ``expect=``: None, an :class:`Expectation`, a mapping of checks (for
    the main output unless it names ``"output"``), or a list of those.

    Raises:
        InvalidTaskError: the message names the key or value to change.
    """
    if value is None:
        return ()
    items = value if isinstance(value, list | tuple) else [value]
    if not items:
        return ()
    if len(items) > 32:
        raise InvalidTaskError(f"expect lists {len(items)} expectations; the limit is 32")
    known_inputs = set(inputs)
    declared = set(outputs)
    return tuple(_one(item, known_inputs, declared) for item in items)


def _one(item: object, inputs: set[str], declared: set[str]) -> Expectation:
    if isinstance(item, Expectation):
        item = item.to_dict()
    if not isinstance(item, Mapping):
        raise InvalidTaskError(
            f"each expectation must be a mapping such as {{'video': 1}}, got {_shown(item)}"
        )
    unknown = sorted(str(key) for key in item if key not in _KEYS)
    if unknown:
        raise InvalidTaskError(
            f"unknown expectation {', '.join(map(repr, unknown))}; use {', '.join(_KEYS)}"
        )
    data = dict(item)
    output = data.get("output")
    if output is not None and output not in declared:
        raise InvalidTaskError(
            f"expectation for output {_shown(output)}: name the main output or one of the "
            f"declared outputs ({', '.join(sorted(declared))})"
        )
    duration = data.get("duration")
    if isinstance(duration, list | tuple):
        if len(duration) != 2:
            raise InvalidTaskError(
                "expected duration must be seconds, an input name, or (either, tolerance); "
                f"got {_shown(duration)}"
            )
        duration, data["tolerance"] = duration
        data["duration"] = duration
    if isinstance(duration, str):
        if duration not in inputs:
            raise InvalidTaskError(
                f"expected duration names input {_shown(duration)}, which is not declared in "
                "input_files"
            )
    elif duration is not None and not _is_seconds(duration):
        raise InvalidTaskError(
            f"expected duration must be a positive number of seconds or an input name, "
            f"got {_shown(duration)}"
        )
    if "tolerance" in data and not (_is_seconds(data["tolerance"]) or data["tolerance"] == 0):
        raise InvalidTaskError(
            f"duration tolerance must be a number of seconds, got {_shown(data['tolerance'])}"
        )
    for key in (*_COUNTS, *_SIZES):
        number = data.get(key)
        limit = 64 if key in _COUNTS else 100_000
        if number is not None and (
            isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= limit
        ):
            raise InvalidTaskError(
                f"expected {key} must be a whole number from 0 to {limit}, got {_shown(number)}"
            )
    for key in _CODECS:
        codec = data.get(key)
        if codec is not None and not (
            isinstance(codec, str) and codec.isascii() and codec.replace("_", "").isalnum()
        ):
            raise InvalidTaskError(
                f"expected {key} must be a codec name like h264 or aac, got {_shown(codec)}"
            )
    if not any(data.get(key) is not None for key in _KEYS if key not in ("output", "tolerance")):
        raise InvalidTaskError(f"expectation {_shown(item)} checks nothing")
    return Expectation.from_dict(data)


def _is_seconds(value: object) -> bool:
    return (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and 0 < value <= 1e6
    )


def check_expectations(
    expectations: Sequence[Expectation],
    *,
    main: str,
    outputs: Mapping[str, MediaInfo | None],
    patterns: Sequence[Pattern],
    inputs: Mapping[str, MediaInfo | None],
) -> None:
    """Check each expectation against the probed outputs it is about.

    Raises:
        OutputError: the first mismatch, naming the output and the difference.
    """
    by_text = {pattern.text: pattern for pattern in patterns}
    for expectation in expectations:
        target = expectation.output
        if target is None or target == main:
            names = [main]
        else:
            pattern = by_text[target]
            names = [name for name in outputs if pattern.matches(name)]
            if not names:
                raise OutputError(f"no output matches {target!r}, which an expectation is about")
        for name in names:
            _check(expectation, name, outputs.get(name), inputs)


def _check(
    expectation: Expectation,
    name: str,
    media: MediaInfo | None,
    inputs: Mapping[str, MediaInfo | None],
) -> None:
    if media is None:
        raise OutputError(f"output {name!r} was not probed, so its expectations cannot be met")
    problems: list[str] = []
    if expectation.duration is not None:
        reference = expectation.input_reference
        if reference is None:
            wanted, source = float(expectation.duration), ""
        else:
            probed = inputs.get(reference)
            if probed is None or probed.duration is None:
                raise OutputError(f"input {reference!r} has no duration to compare {name!r} with")
            wanted, source = probed.duration, f" (the duration of input {reference!r})"
        got = media.duration
        if got is None or abs(got - wanted) > expectation.tolerance:
            shown = "no duration" if got is None else f"{got:.3f} s"
            problems.append(
                f"lasts {shown}, expected {wanted:.3f} s ± {expectation.tolerance:g} s{source}"
            )
    for kind in _COUNTS:
        count = getattr(expectation, kind)
        if count is not None and len(media.of_type(kind)) != count:
            problems.append(f"has {len(media.of_type(kind))} {kind} stream(s), expected {count}")
    for key, kind in _CODECS.items():
        codec = getattr(expectation, key)
        others = sorted({str(s.codec) for s in media.of_type(kind) if s.codec != codec})
        if codec is not None and (others or not media.of_type(kind)):
            found = ", ".join(others) if others else f"no {kind} stream"
            problems.append(f"has {kind} codec {found}, expected {codec}")
    video = media.of_type("video")
    for key in _SIZES:
        size = getattr(expectation, key)
        got_size = getattr(video[0], key) if video else None
        if size is not None and got_size != size:
            problems.append(f"has {key} {got_size}, expected {size}")
    if problems:
        raise OutputError(f"output {name!r} {'; '.join(problems)}")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:80] + "..."
