"""Outputs that write several files: which muxer each output uses, the options of the hls,
dash, segment and image2 muxers, and every file name an output can make ffmpeg write.

Each option that names a file is read the way its muxer expands it (``%v`` by variant,
``%03d`` by number, dash's ``$RepresentationID$`` and ``$Number%05d$``), and the defaults a
muxer falls back to are named too (hls writes ``out0.ts`` for ``out.m3u8`` when no segment
name is given). The checker then proves each of these names is a declared output.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal

import attrs

from . import values as v
from .rules import OptionRule, Special

if TYPE_CHECKING:
    from .options import Occurrence, OutputGroup

__all__ = [
    "IMAGE_EXTENSIONS",
    "MULTI_FILE_EXTENSIONS",
    "MULTI_FILE_MUXERS",
    "MUXER_OPTIONS",
    "Written",
    "muxer_of",
    "written_files",
]

#: Muxers that write more than one file; allowed only for tasks that declare their outputs.
MULTI_FILE_MUXERS = frozenset({"hls", "dash", "segment"})
#: Extensions only multi-file tasks may write: playlists, manifests, fragmented segments.
MULTI_FILE_EXTENSIONS = frozenset({"m3u8", "mpd", "m4s"})
#: Extensions ffmpeg writes with the image2 muxer unless ``-f`` says otherwise.
IMAGE_EXTENSIONS = frozenset({"jpg", "jpeg", "png", "bmp"})
#: Muxers ffmpeg picks from an output name's extension where it matters here.
_GUESSED = {"m3u8": "hls", "mpd": "dash", **dict.fromkeys(IMAGE_EXTENSIONS, "image2")}

_OUT: frozenset[Literal["output"]] = frozenset({"output"})
_HLS = frozenset({"hls"})
_DASH = frozenset({"dash"})
_SEGMENT = frozenset({"segment"})


def _rule(value: v.ValueCheck | Special, muxers: frozenset[str]) -> OptionRule:
    return OptionRule(scope=_OUT, value=value, muxers=muxers)


def _at_least(low: float, high: float, *, integer: bool = False) -> v.ValueCheck:
    return v.number(low, high, integer=integer)


def _segment_seconds(value: str, bounds: v.Bounds) -> str | None:
    seconds = v.parse_duration(value)
    if seconds is None or not 0.5 <= seconds <= bounds.max_duration:
        return f"must be a duration from 0.5 to {bounds.max_duration:g} seconds"
    return None


_VARIANT_NAME = r"[A-Za-z0-9_-]{1,32}"
_VARIANT_KEY = rf"(?:[vas]:\d{{1,3}}|agroup:{_VARIANT_NAME}|name:{_VARIANT_NAME}|default:(?:yes|no|YES|NO)|language:[a-z]{{2,3}})"
_VARIANT = re.compile(rf"{_VARIANT_KEY}(?:,{_VARIANT_KEY}){{0,7}}")
_HLS_FLAGS = (
    "independent_segments", "program_date_time", "round_durations", "split_by_time",
    "temp_file", "omit_endlist", "discont_start", "single_file", "iframes_only",
)  # fmt: skip
_ADAPTATION = r"id=\d{1,2},streams=(?:v|a|s|\d{1,3}(?:,\d{1,3}){0,15})"


def _var_stream_map(value: str, bounds: v.Bounds) -> str | None:
    groups = value.split()
    if not 1 <= len(groups) <= 16 or not all(_VARIANT.fullmatch(g) for g in groups):
        return (
            "must be up to 16 space-separated variants like 'v:0,a:0,name:hi v:1,name:lo' "
            "(v:, a:, s:, agroup:, name:, default:, language:)"
        )
    return None


#: Options of the multi-file muxers and image2, by name; each only for its muxers.
MUXER_OPTIONS: Mapping[str, OptionRule] = {
    # hls
    "hls_time": _rule(_at_least(0.5, 3600), _HLS),
    "hls_init_time": _rule(_at_least(0.5, 3600), _HLS),
    "hls_list_size": _rule(_at_least(0, 100_000, integer=True), _HLS),
    "hls_playlist_type": _rule(v.choice("vod", "event"), _HLS),
    "hls_segment_type": _rule(v.choice("mpegts", "fmp4"), _HLS),
    "hls_segment_filename": _rule("output_name", _HLS),
    "hls_fmp4_init_filename": _rule("output_name", _HLS),
    "master_pl_name": _rule("output_name", _HLS),
    "var_stream_map": _rule(_var_stream_map, _HLS),
    "hls_flags": _rule(
        v.pattern(rf"(?:[+-]?(?:{'|'.join(_HLS_FLAGS)}))+", f"flags from {', '.join(_HLS_FLAGS)}"),
        _HLS,
    ),
    "start_number": _rule(_at_least(0, 1e9, integer=True), frozenset({"hls", "image2"})),
    # dash
    "seg_duration": _rule(_at_least(0.5, 3600), _DASH),
    "use_template": _rule(v.choice("0", "1"), _DASH),
    "use_timeline": _rule(v.choice("0", "1"), _DASH),
    "init_seg_name": _rule("output_name", _DASH),
    "media_seg_name": _rule("output_name", _DASH),
    "adaptation_sets": _rule(
        v.pattern(
            rf"{_ADAPTATION}(?: {_ADAPTATION}){{0,15}}",
            "sets like 'id=0,streams=v id=1,streams=a'",
        ),
        _DASH,
    ),
    "dash_segment_type": _rule(v.choice("auto", "mp4", "webm"), _DASH),
    "window_size": _rule(_at_least(0, 100_000, integer=True), _DASH),
    "extra_window_size": _rule(_at_least(0, 100_000, integer=True), _DASH),
    # segment
    "segment_time": _rule(_segment_seconds, _SEGMENT),
    "segment_format": _rule("segment_format", _SEGMENT),
    "segment_list": _rule("output_name", _SEGMENT),
    "segment_list_type": _rule(v.choice("m3u8"), _SEGMENT),
    "segment_list_size": _rule(_at_least(0, 100_000, integer=True), _SEGMENT),
    "segment_start_number": _rule(_at_least(0, 1e9, integer=True), _SEGMENT),
    "reset_timestamps": _rule(v.choice("0", "1"), _SEGMENT),
    # image2
    "frame_pts": _rule(v.choice("0", "1"), frozenset({"image2"})),
}


@attrs.frozen
class Written:
    """One name an output makes ffmpeg write, before its placeholders are expanded."""

    #: ffmpeg's name template: ``%d``/``%0Nd`` numbers, ``%v`` variants already replaced.
    template: str
    #: Where it comes from, for messages: ``"the output name"``, ``"-hls_segment_filename"``.
    origin: str


def muxer_of(group: OutputGroup) -> str:
    """The muxer ffmpeg uses for an output: its ``-f``, else the one its extension picks
    among those that matter here, else ``""`` (a single-file muxer)."""
    for option in group.options:
        if option.name == "f" and option.value is not None:
            return option.value
    extension = group.name.rpartition(".")[2].lower() if "." in group.name else ""
    return _GUESSED.get(extension, "")


def _value(options: Sequence[Occurrence], name: str) -> str | None:
    found = None
    for option in options:
        if option.name == name:
            found = option.value
    return found


def _stem(name: str) -> str:
    return name.rpartition(".")[0] if "." in name else name


def written_files(group: OutputGroup, muxer: str) -> list[Written]:
    """Every name this output can make ffmpeg write (templates, placeholders unexpanded
    except ``%v``, which becomes each variant's name).

    Raises:
        ValueError: a ``%v`` or dash identifier used where it cannot be expanded; the
            message is for the caller.
    """
    options = group.options
    if muxer == "hls":
        return _hls(group, options)
    if muxer == "dash":
        return _dash(group, options)
    if muxer == "segment":
        found = [Written(group.name, "the output name")]
        listed = _value(options, "segment_list")
        if listed is not None:
            found.append(Written(listed, "-segment_list"))
        return found
    if muxer == "image2" and _value(options, "update") == "1":
        return [Written(group.name.replace("%", "%%"), "the output name")]
    return [Written(group.name, "the output name")]


def _variants(options: Sequence[Occurrence]) -> list[str]:
    """Each variant's name for ``%v``: its ``name:``, else its index."""
    value = _value(options, "var_stream_map")
    if value is None:
        return []
    names = []
    for index, variant in enumerate(value.split()):
        named = [part[5:] for part in variant.split(",") if part.startswith("name:")]
        names.append(named[0] if named else str(index))
    return names


def _expand(written: Written, variants: list[str]) -> list[Written]:
    if "%v" not in written.template:
        return [written]
    if not variants:
        raise ValueError(f"{written.origin} {written.template!r} uses %v without -var_stream_map")
    return [Written(written.template.replace("%v", name), written.origin) for name in variants]


def _hls(group: OutputGroup, options: Sequence[Occurrence]) -> list[Written]:
    variants = _variants(options)
    fmp4 = _value(options, "hls_segment_type") == "fmp4"
    single = "single_file" in (_value(options, "hls_flags") or "")
    extension = ".m4s" if fmp4 else ".ts"
    playlist = group.name
    if variants and "%v" not in playlist and len(variants) > 1:
        raise ValueError(f"the playlist name {playlist!r} needs %v for each variant")
    found = [Written(playlist, "the output name")]
    segment = _value(options, "hls_segment_filename")
    if segment is None:
        segment = _stem(playlist) + ("" if single else "%d") + extension
        found.append(Written(segment, "the default segment name"))
    else:
        found.append(Written(segment, "-hls_segment_filename"))
    if fmp4:
        init = _value(options, "hls_fmp4_init_filename")
        origin = "-hls_fmp4_init_filename" if init is not None else "the default init name"
        init = init or "init.mp4"
        if len(variants) > 1 and "%v" not in init:
            init = f"{_stem(init)}_%d.{init.rpartition('.')[2]}" if "." in init else init + "_%d"
        found.append(Written(init, origin))
    master = _value(options, "master_pl_name")
    if master is not None:
        if "%" in master:
            raise ValueError(f"-master_pl_name {master!r} must be a plain name")
        found.append(Written(master, "-master_pl_name"))
    return [expanded for written in found for expanded in _expand(written, variants)]


#: dash's ``$Identifier$`` and ``$Identifier%0Nd$``, with what they stand for.
_DASH_IDENTIFIER = re.compile(r"\$(RepresentationID|Number|Bandwidth|Time|ext)(%0[1-9]d)?\$")


def _dash(group: OutputGroup, options: Sequence[Occurrence]) -> list[Written]:
    kind = _value(options, "dash_segment_type") or "auto"
    extensions = {"mp4": ["m4s"], "webm": ["webm"]}.get(kind, ["m4s", "webm"])
    found = [Written(group.name, "the output name")]
    for option, default in (
        ("init_seg_name", "init-stream$RepresentationID$.$ext$"),
        ("media_seg_name", "chunk-stream$RepresentationID$-$Number%05d$.$ext$"),
    ):
        given = _value(options, option)
        origin = f"-{option}" if given is not None else f"the default {option}"
        found.extend(
            Written(_dash_template(given or default, extension, origin), origin)
            for extension in extensions
        )
    return found


def _dash_template(text: str, extension: str, origin: str) -> str:
    def replace(match: re.Match[str]) -> str:
        name, width = match.groups()
        if name == "ext":
            return extension
        return width or "%d"

    if "%" in _DASH_IDENTIFIER.sub("", text):
        raise ValueError(f"{origin} {text!r} may use '%' only inside $Number%05d$")
    expanded = _DASH_IDENTIFIER.sub(replace, text)
    if "$" in expanded:
        raise ValueError(
            f"{origin} {text!r} may use only $RepresentationID$, $Number$, $Bandwidth$, "
            "$Time$ and $ext$"
        )
    return expanded
