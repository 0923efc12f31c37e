"""The command-line options strict mode allows, and :func:`scan_args`, which walks an argv as
ffmpeg does so each option is checked for the place (input, output, global) it has there."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType

import attrs

from . import values as v
from .muxers import MUXER_OPTIONS
from .rules import OptionRule, Scope, Special

__all__ = [
    "ALIASES",
    "OPTIONS",
    "InputGroup",
    "Occurrence",
    "OptionRule",
    "OutputGroup",
    "ScanError",
    "ScannedArgs",
    "scan_args",
]

#: What may follow ``-opt:`` for a stream: ``v``, ``a:0``, ``1``, ``V``...
STREAM_SPECIFIER = re.compile(r"(?:[vVasdt](?::\d{1,3})?|\d{1,3})")
#: What may follow ``-metadata:``: global, a stream, a chapter or a program.
METADATA_SPECIFIER = re.compile(r"g|s(?::(?:[vVasdt](?::\d{1,3})?|\d{1,3}))?|[cp]:\d{1,3}")

_IN: frozenset[Scope] = frozenset({"input"})
_OUT: frozenset[Scope] = frozenset({"output"})
_BOTH: frozenset[Scope] = frozenset({"input", "output"})
_GLOBAL: frozenset[Scope] = frozenset({"global"})


class ScanError(ValueError):
    """The argv is not a command strict mode understands; the message names the token."""


def _out(value: v.ValueCheck | Special | None, spec: bool = True) -> OptionRule:
    return OptionRule(scope=_OUT, value=value, specifier="stream" if spec else "none")


#: Encoder presets: x264/x265 names, and SVT-AV1's numbers.
PRESETS = (
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
    "veryslow", "placebo", *(str(n) for n in range(14)),
)  # fmt: skip
#: Encoder tunings (x264, x265).
TUNES = (
    "film", "animation", "grain", "stillimage", "fastdecode", "zerolatency", "psnr", "ssim",
)  # fmt: skip

_FLAG_OUT = OptionRule(scope=_OUT, value=None)
_FLAG_BOTH = OptionRule(scope=_BOTH, value=None)
_FLAG_GLOBAL = OptionRule(scope=_GLOBAL, value=None)
_INT = v.number

#: The options strict mode allows, by name (without the dash and the specifier).
OPTIONS: Mapping[str, OptionRule] = {
    # global
    "y": _FLAG_GLOBAL,
    "n": _FLAG_GLOBAL,
    "hide_banner": _FLAG_GLOBAL,
    "copyts": _FLAG_GLOBAL,
    "start_at_zero": _FLAG_GLOBAL,
    "xerror": _FLAG_GLOBAL,
    "loglevel": OptionRule(
        scope=_GLOBAL,
        value=v.pattern(
            r"(?:(?:repeat|level)\+){0,2}(?:quiet|panic|fatal|error|warning|info|verbose|-?\d{1,2})",
            "a log level: quiet, panic, fatal, error, warning, info or verbose",
        ),
    ),
    "filter_complex": OptionRule(scope=_GLOBAL, value="filter_complex"),
    "filter_threads": OptionRule(scope=_GLOBAL, value="threads"),
    "filter_complex_threads": OptionRule(scope=_GLOBAL, value="threads"),
    # input or output
    "f": OptionRule(scope=_BOTH, value="format"),
    "ss": OptionRule(scope=_BOTH, value=v.duration(limit=1e6)),
    "t": OptionRule(scope=_BOTH, value=v.duration()),
    "to": OptionRule(scope=_BOTH, value=v.duration()),
    "c": OptionRule(scope=_BOTH, value="codec", specifier="stream"),
    "r": OptionRule(scope=_BOTH, value=v.frame_rate, specifier="stream"),
    "s": OptionRule(scope=_BOTH, value=v.frame_size, specifier="stream"),
    "ar": OptionRule(scope=_BOTH, value=_INT(1000, 384000, integer=True), specifier="stream"),
    "ac": OptionRule(scope=_BOTH, value=_INT(1, 8, integer=True), specifier="stream"),
    "threads": OptionRule(scope=_BOTH, value="threads", specifier="stream"),
    "an": _FLAG_BOTH,
    "vn": _FLAG_BOTH,
    "sn": _FLAG_BOTH,
    "dn": _FLAG_BOTH,
    "fflags": OptionRule(
        scope=_BOTH,
        value=v.pattern(
            r"(?:[+-]?(?:genpts|igndts|ignidx|discardcorrupt|nofillin|sortdts|bitexact))+",
            "flags from +genpts, +igndts, +ignidx, +discardcorrupt, +nofillin, +sortdts, +bitexact",
        ),
    ),
    "loop": OptionRule(scope=_BOTH, value=_INT(-1, 65535, integer=True)),
    # input only
    "sseof": OptionRule(scope=_IN, value=v.duration(signed=True, limit=1e6)),
    "itsoffset": OptionRule(scope=_IN, value=v.duration(signed=True, limit=1e6)),
    "framerate": OptionRule(scope=_IN, value=v.frame_rate),
    "noautorotate": OptionRule(scope=_IN, value=None),
    "accurate_seek": OptionRule(scope=_IN, value=None),
    "noaccurate_seek": OptionRule(scope=_IN, value=None),
    # output only
    "map": _out("map", spec=False),
    "map_metadata": _out(
        v.pattern(r"-1|\d{1,2}(?::(?:g|s(?::[vVasdt](?::\d{1,3})?)?|[cp]:\d{1,3}))?", "-1 or 0"),
        spec=False,
    ),
    "map_chapters": _out(v.pattern(r"-1|\d{1,2}", "-1 or an input index"), spec=False),
    "metadata": OptionRule(scope=_OUT, value="metadata", specifier="metadata"),
    "filter": _out("filtergraph"),
    "pix_fmt": _out("pixel_format"),
    "b": _out(v.bitrate),
    "maxrate": _out(v.bitrate),
    "minrate": _out(v.bitrate),
    "bufsize": _out(v.bitrate),
    "crf": _out(_INT(0, 63)),
    "qp": _out(_INT(0, 69, integer=True)),
    "q": _out(_INT(-1, 100)),
    "preset": _out(v.choice(*PRESETS)),
    "tune": _out(v.choice(*TUNES)),
    "profile": _out(v.pattern(r"[A-Za-z0-9_]{1,24}", "a profile name like high or main")),
    "level": _out(v.pattern(r"\d{1,2}(?:\.\d)?", "a level like 4.1")),
    "g": _out(_INT(0, 100000, integer=True)),
    "keyint_min": _out(_INT(0, 100000, integer=True)),
    "bf": _out(_INT(-1, 16, integer=True)),
    "refs": _out(_INT(0, 16, integer=True)),
    "sc_threshold": _out(_INT(-1000, 1000, integer=True)),
    "force_key_frames": _out(v.pattern(r"[0-9.:,]{1,256}", "comma-separated times like 0,2,4")),
    "aspect": _out(v.pattern(r"\d{1,5}(?::\d{1,5}|\.\d{1,6})?", "a ratio like 16:9 or 1.7777")),
    "tag": _out(v.pattern(r"[A-Za-z0-9]{4}", "a four-character code like hvc1")),
    "sample_fmt": _out(
        v.choice(
            "u8", "s16", "s32", "s64", "flt", "dbl", "u8p", "s16p", "s32p", "s64p", "fltp", "dblp"
        )
    ),
    "ch_layout": _out(v.pattern(r"[A-Za-z0-9.()+]{1,32}", "a channel layout like stereo or 5.1")),
    "channel_layout": _out(
        v.pattern(r"[A-Za-z0-9.()+]{1,32}", "a channel layout like stereo or 5.1")
    ),
    "frames": _out(_INT(0, 10_000_000, integer=True)),
    "disposition": _out(
        v.pattern(r"0|[+-]?[a-z_]{1,24}(?:[+-][a-z_]{1,24}){0,8}", "flags like default")
    ),
    "fps_mode": _out(v.choice("passthrough", "cfr", "vfr", "drop", "auto", "0", "1", "2", "-1")),
    "vsync": _out(
        v.choice("passthrough", "cfr", "vfr", "drop", "auto", "0", "1", "2", "-1"), spec=False
    ),
    "strict": _out(
        v.choice(
            "very", "strict", "normal", "unofficial", "experimental", "-2", "-1", "0", "1", "2"
        )
    ),
    "bsf": _out("bsf"),
    "compression_level": _out(_INT(-1, 12, integer=True)),
    "cpu-used": _out(_INT(-16, 16, integer=True)),
    "deadline": _out(v.choice("good", "best", "realtime")),
    "row-mt": _out(_INT(0, 1, integer=True)),
    "tile-columns": _out(_INT(0, 6, integer=True)),
    "movflags": _out(
        v.pattern(
            r"(?:[+-]?(?:faststart|frag_keyframe|empty_moov|default_base_moof|separate_moof|"
            r"omit_tfhd_offset|disable_chpl|cmaf|dash|delay_moov|global_sidx|write_colr|"
            r"use_metadata_tags|negative_cts_offsets))+",
            "flags like +faststart or +frag_keyframe+empty_moov",
        ),
        spec=False,
    ),
    "avoid_negative_ts": _out(
        v.choice("auto", "disabled", "make_non_negative", "make_zero", "-1", "0", "1", "2"),
        spec=False,
    ),
    "max_muxing_queue_size": _out(_INT(1, 16384, integer=True)),
    "id3v2_version": _out(v.choice("0", "3", "4"), spec=False),
    "update": _out(_INT(0, 1, integer=True), spec=False),
    "shortest": _FLAG_OUT,
    # the options of the hls, dash, segment and image2 muxers, each only for its own
    **MUXER_OPTIONS,
}

#: Old spellings -> (option, the stream specifier they imply).
ALIASES: Mapping[str, tuple[str, str]] = {
    "codec": ("c", ""),
    "vcodec": ("c", "v"),
    "acodec": ("c", "a"),
    "scodec": ("c", "s"),
    "vf": ("filter", "v"),
    "af": ("filter", "a"),
    "lavfi": ("filter_complex", ""),
    "v": ("loglevel", ""),
    "ab": ("b", "a"),
    "vframes": ("frames", "v"),
    "aframes": ("frames", "a"),
    "qscale": ("q", ""),
    "vtag": ("tag", "v"),
    "atag": ("tag", "a"),
}


@attrs.frozen(kw_only=True)
class Occurrence:
    """One option as it appears in the argv."""

    #: The token as written, e.g. ``-c:v`` or ``-vcodec``.
    token: str
    #: The option's canonical name (``c`` for ``-vcodec``).
    name: str
    #: Its stream or metadata specifier, "" when none (``v`` for ``-vcodec``).
    specifier: str
    #: Its value, None for a flag.
    value: str | None
    #: Index of the option's token in the argv.
    index: int


@attrs.frozen(kw_only=True)
class InputGroup:
    """One ``-i NAME`` and the options before it."""

    name: str
    #: Index of the ``-i`` token in the argv.
    index: int
    options: tuple[Occurrence, ...]


@attrs.frozen(kw_only=True)
class OutputGroup:
    """One output name and the options before it (after the previous output or input)."""

    name: str
    #: Index of the name in the argv.
    index: int
    options: tuple[Occurrence, ...]


@attrs.frozen(kw_only=True)
class ScannedArgs:
    """An argv split the way ffmpeg splits it."""

    globals: tuple[Occurrence, ...]
    inputs: tuple[InputGroup, ...]
    #: Every output, in order; the last one ends the argv.
    outputs: tuple[OutputGroup, ...]

    @property
    def output_options(self) -> tuple[Occurrence, ...]:
        """The options of every output, in argv order."""
        return tuple(option for group in self.outputs for option in group.options)

    def all_options(self) -> tuple[Occurrence, ...]:
        """Every option occurrence, in argv order."""
        found = [*self.globals, *self.output_options]
        for group in self.inputs:
            found.extend(group.options)
        return tuple(sorted(found, key=lambda o: o.index))


def _resolve(token: str) -> tuple[str, str, OptionRule]:
    """``-c:v`` -> (``c``, ``v``, rule); unknown options and bad specifiers raise."""
    if token.startswith("-/"):
        raise ScanError(
            f"option {token!r} is not allowed: a '-/' option loads its value from a file"
        )
    name, _, specifier = token[1:].partition(":")
    alias = ALIASES.get(name)
    if alias is not None:
        if specifier and alias[1]:
            raise ScanError(f"option {token!r} cannot take a specifier; write -{alias[0]}:...")
        name, specifier = alias[0], alias[1] or specifier
    rule = OPTIONS.get(name)
    if rule is None:
        raise ScanError(f"option {token!r} is not allowed")
    if specifier:
        shape = {"stream": STREAM_SPECIFIER, "metadata": METADATA_SPECIFIER}.get(rule.specifier)
        if shape is None:
            raise ScanError(f"option {token!r} does not take a ':' specifier")
        if not shape.fullmatch(specifier):
            raise ScanError(f"option {token!r} has an unsupported specifier {specifier!r}")
    return name, specifier, rule


def scan_args(
    args: Sequence[str],
    *,
    output: str,
    extra: Mapping[str, OptionRule] = MappingProxyType({}),
    several: bool = False,
) -> ScannedArgs:
    """Walk an argv the way ffmpeg does, with only the allowed options.

    Args:
        args: The argv without the program name.
        output: The declared main output name; with ``several`` False it must be the last
            token and the only bare one.
        extra: Options added by the application (see ``CommandPolicy.allowing``).
        several: Every bare token is an output (checked afterwards against the declared
            output patterns); the last one must end the argv.

    Raises:
        ScanError: naming the first token that is not allowed or out of place.
    """
    globals_: list[Occurrence] = []
    inputs: list[InputGroup] = []
    outputs: list[OutputGroup] = []
    pending: list[Occurrence] = []
    index = 0
    while index < len(args):
        token = args[index]
        if token == "-i":
            name = args[index + 1] if index + 1 < len(args) else ""
            for option in pending:
                if "input" not in _rule_of(option, extra).scope:
                    raise ScanError(f"option {option.token!r} cannot be used on an input")
            inputs.append(InputGroup(name=name, index=index, options=tuple(pending)))
            pending = []
            index += 2
            continue
        if not token.startswith("-") or token == "-":
            if token == "-" or (token != output and not several):
                raise ScanError(
                    f"unexpected {token!r}: only the output {output!r} may stand without an "
                    "option before it"
                )
            for option in pending:
                if "output" not in _rule_of(option, extra).scope:
                    raise ScanError(f"option {option.token!r} cannot be used on the output")
            outputs.append(OutputGroup(name=token, index=index, options=tuple(pending)))
            pending = []
            index += 1
            continue
        name, specifier, rule = _resolve_with(token, extra)
        value = None
        if rule.value is not None:
            if index + 1 >= len(args):
                raise ScanError(f"option {token!r} needs a value after it")
            value = args[index + 1]
        occurrence = Occurrence(
            token=token, name=name, specifier=specifier, value=value, index=index
        )
        (globals_ if rule.scope == _GLOBAL else pending).append(occurrence)
        index += 1 if rule.value is None else 2
    if not outputs:
        raise ScanError(f"the command must end with the output name {output!r}")
    if pending or outputs[-1].index != len(args) - 1:
        last = outputs[-1].name
        what = "the output" if len(outputs) == 1 else "the last output"
        raise ScanError(f"{what} {last!r} must be the last argument")
    return ScannedArgs(globals=tuple(globals_), inputs=tuple(inputs), outputs=tuple(outputs))


def _resolve_with(token: str, extra: Mapping[str, OptionRule]) -> tuple[str, str, OptionRule]:
    name, _, specifier = token[1:].partition(":")
    rule = extra.get(name)
    if rule is not None and not token.startswith("-/"):
        if specifier and not STREAM_SPECIFIER.fullmatch(specifier):
            raise ScanError(f"option {token!r} has an unsupported specifier {specifier!r}")
        return name, specifier, rule
    return _resolve(token)


def _rule_of(option: Occurrence, extra: Mapping[str, OptionRule]) -> OptionRule:
    return extra.get(option.name) or OPTIONS[option.name]
