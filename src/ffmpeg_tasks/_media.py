"""What a probe of a media file found: its container, duration and streams.

A runner's ``probe`` reads these facts from each output (and from inputs an expectation
names) in the same sandbox and limits as the encode; ``Output.media`` carries them. The
fields are ffprobe's ``-show_format -show_streams`` facts, with the same names where they
exist, so that both of the runner's probes (ffprobe, PyAV) give the same values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

__all__ = ["MediaInfo", "StreamInfo"]


def _streams(value: Iterable[StreamInfo]) -> tuple[StreamInfo, ...]:
    return tuple(value)


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


@attrs.frozen(kw_only=True)
class StreamInfo:
    """One stream of a probed file."""

    #: Its index in the file.
    index: int
    #: ``"video"``, ``"audio"``, ``"subtitle"``, ``"data"`` or ``"attachment"``.
    type: str
    #: The codec's short name (``"h264"``, ``"aac"``, ``"mjpeg"``), None when unknown.
    codec: str | None = None
    #: Frame width and height in pixels (video).
    width: int | None = attrs.field(default=None, converter=_optional_int)
    height: int | None = attrs.field(default=None, converter=_optional_int)
    #: Average frames per second (video), None when the file does not say.
    frame_rate: float | None = attrs.field(default=None, converter=_optional_float)
    #: Samples per second and channel count (audio).
    sample_rate: int | None = attrs.field(default=None, converter=_optional_int)
    channels: int | None = attrs.field(default=None, converter=_optional_int)
    #: Bits per second, when the container or codec states it.
    bit_rate: int | None = attrs.field(default=None, converter=_optional_int)
    #: Seconds, when the stream states its own duration.
    duration: float | None = attrs.field(default=None, converter=_optional_float)

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StreamInfo:
        names = {field.name for field in attrs.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})


@attrs.frozen(kw_only=True)
class MediaInfo:
    """The facts a probe read from one file."""

    #: The demuxer that read it, as ffprobe names it (``"mov,mp4,m4a,3gp,3g2,mj2"``,
    #: ``"hls"``, ``"image2"``, ``"mpegts"``).
    format: str
    #: Seconds, None when the file has no duration (a still image may have 0.04).
    duration: float | None = attrs.field(default=None, converter=_optional_float)
    #: Overall bits per second, when known.
    bit_rate: int | None = attrs.field(default=None, converter=_optional_int)
    #: Every stream, by index.
    streams: tuple[StreamInfo, ...] = attrs.field(default=(), converter=_streams)

    def of_type(self, kind: str) -> tuple[StreamInfo, ...]:
        """The streams of one type (``"video"``, ``"audio"``...), in index order."""
        return tuple(stream for stream in self.streams if stream.type == kind)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "duration": self.duration,
            "bit_rate": self.bit_rate,
            "streams": [stream.to_dict() for stream in self.streams],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MediaInfo:
        return cls(
            format=data["format"],
            duration=data.get("duration"),
            bit_rate=data.get("bit_rate"),
            streams=tuple(StreamInfo.from_dict(s) for s in data.get("streams", ())),
        )
