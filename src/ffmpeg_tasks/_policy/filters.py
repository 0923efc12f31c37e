"""The filters strict mode allows and, for each, the options it may set and their checks.

Only filters and options that neither read nor write files are listed (``loudnorm``'s
``stats_file`` is left out); applications add more with ``CommandPolicy.allowing``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import attrs

from . import values as v

__all__ = ["FILTERS", "FilterRule"]


@attrs.frozen(kw_only=True)
class FilterRule:
    """Which options of one filter may be set, and how positional values map to them."""

    #: Option name (and each alias) -> the check of its value.
    options: Mapping[str, v.ValueCheck]
    #: The option each positional value sets, in ffmpeg's declaration order. Only a prefix
    #: that is the same in ffmpeg 5.1 and 9 is listed; more positional values are refused.
    positional: tuple[str, ...] = ()


_W, _H = v.dimension("width"), v.dimension("height")
_EXPR = v.expression
_BOOL = v.number(0, 1, integer=True, names=("true", "false"))
_COUNT16 = v.number(1, 16, integer=True)
_TIME = v.duration(signed=True)
_WORD = v.pattern(r"[A-Za-z0-9_.+|-]{1,128}", "a word made of letters, digits and _.+|-")
_EVAL = v.choice("init", "frame")
_EOF = v.choice("repeat", "endall", "pass", "round", "0", "1", "2")

# Options every filter that supports timeline editing accepts.
_TIMELINE = {"enable": _EXPR}


def _rule(positional: tuple[str, ...] = (), **options: v.ValueCheck) -> FilterRule:
    return FilterRule(options=MappingProxyType({**_TIMELINE, **options}), positional=positional)


_SCALE = _rule(
    ("w", "h", "flags"),
    w=_W,
    width=_W,
    h=_H,
    height=_H,
    size=v.frame_size,
    s=v.frame_size,
    flags=_WORD,
    interl=v.number(-1, 1, integer=True),
    force_original_aspect_ratio=v.choice("disable", "decrease", "increase", "0", "1", "2"),
    force_divisible_by=v.number(1, 256, integer=True),
    in_range=_WORD,
    out_range=_WORD,
    in_color_matrix=_WORD,
    out_color_matrix=_WORD,
    reset_sar=_BOOL,
    eval=_EVAL,
    param0=v.number(-1e6, 1e6),
    param1=v.number(-1e6, 1e6),
)
_TRIM_COMMON = {
    "start": _TIME,
    "end": _TIME,
    "duration": _TIME,
    "start_pts": v.number(-(2**62), 2**62, integer=True),
    "end_pts": v.number(-(2**62), 2**62, integer=True),
}
_FADE_COMMON = {
    "type": v.choice("in", "out", "0", "1"),
    "t": v.choice("in", "out", "0", "1"),
    "start_time": _TIME,
    "st": _TIME,
    "duration": _TIME,
    "d": _TIME,
}
_PASS = v.number(-1e6, 1e6)
_BIQUAD = _rule(
    ("frequency",),
    frequency=v.number(0, 1e6),
    f=v.number(0, 1e6),
    width_type=v.choice("h", "q", "o", "s", "k"),
    t=v.choice("h", "q", "o", "s", "k"),
    width=_PASS,
    w=_PASS,
    poles=v.number(1, 2, integer=True),
    p=v.number(1, 2, integer=True),
    mix=v.number(0, 1),
    m=v.number(0, 1),
)
_STACK = _rule(("inputs", "shortest"), inputs=_COUNT16, shortest=_BOOL)

#: The filters strict mode allows, by name.
FILTERS: Mapping[str, FilterRule] = MappingProxyType(
    {
        "scale": _SCALE,
        "crop": _rule(
            ("w", "h", "x", "y", "keep_aspect", "exact"),
            out_w=_W,
            w=_W,
            out_h=_H,
            h=_H,
            x=_EXPR,
            y=_EXPR,
            keep_aspect=_BOOL,
            exact=_BOOL,
        ),
        "pad": _rule(
            ("w", "h", "x", "y", "color"),
            width=_W,
            w=_W,
            height=_H,
            h=_H,
            x=_EXPR,
            y=_EXPR,
            color=v.color,
            eval=_EVAL,
            aspect=v.pattern(r"\d{1,5}(?:[:/.]\d{1,5})?", "a ratio like 16:9"),
        ),
        "fps": _rule(
            ("fps",),
            fps=v.frame_rate,
            start_time=v.number(-1e7, 1e7),
            round=v.choice("zero", "inf", "down", "up", "near"),
            eof_action=v.choice("round", "pass"),
        ),
        "format": _rule(("pix_fmts",), pix_fmts=_WORD),
        "setsar": _rule(("sar", "max"), sar=_EXPR, ratio=_EXPR, r=_EXPR, max=v.number(1, 1e6)),
        "setdar": _rule(("dar", "max"), dar=_EXPR, ratio=_EXPR, r=_EXPR, max=v.number(1, 1e6)),
        "trim": _rule(
            ("start",),
            **_TRIM_COMMON,
            start_frame=v.number(0, 2**62, integer=True),
            end_frame=v.number(0, 2**62, integer=True),
        ),
        "atrim": _rule(
            ("start",),
            **_TRIM_COMMON,
            start_sample=v.number(0, 2**62, integer=True),
            end_sample=v.number(0, 2**62, integer=True),
        ),
        "setpts": _rule(("expr",), expr=_EXPR),
        "asetpts": _rule(("expr",), expr=_EXPR),
        "overlay": _rule(
            ("x", "y"),
            x=_EXPR,
            y=_EXPR,
            eof_action=_EOF,
            eval=_EVAL,
            shortest=_BOOL,
            format=_WORD,
            repeatlast=_BOOL,
            alpha=v.choice("straight", "premultiplied"),
        ),
        "concat": _rule(
            ("n", "v", "a"),
            n=v.number(1, 64, integer=True),
            v=v.number(0, 4, integer=True),
            a=v.number(0, 4, integer=True),
            unsafe=_BOOL,
        ),
        "split": _rule(("outputs",), outputs=_COUNT16),
        "asplit": _rule(("outputs",), outputs=_COUNT16),
        "hflip": _rule(),
        "vflip": _rule(),
        "null": _rule(),
        "anull": _rule(),
        "transpose": _rule(
            ("dir", "passthrough"),
            dir=v.choice("cclock_flip", "clock", "cclock", "clock_flip", "0", "1", "2", "3"),
            passthrough=v.choice("none", "portrait", "landscape"),
        ),
        "rotate": _rule(
            ("angle", "out_w", "out_h", "fillcolor"),
            angle=_EXPR,
            a=_EXPR,
            out_w=_W,
            ow=_W,
            out_h=_H,
            oh=_H,
            fillcolor=v.color,
            c=v.color,
            bilinear=_BOOL,
        ),
        "drawbox": _rule(
            ("x", "y", "width", "height", "color", "thickness"),
            x=_EXPR,
            y=_EXPR,
            width=_EXPR,
            w=_EXPR,
            height=_EXPR,
            h=_EXPR,
            color=v.color,
            c=v.color,
            thickness=_EXPR,
            t=_EXPR,
            replace=_BOOL,
        ),
        "fade": _rule(
            ("type", "start_frame", "nb_frames"),
            **_FADE_COMMON,
            start_frame=v.number(0, 2**31, integer=True),
            s=v.number(0, 2**31, integer=True),
            nb_frames=v.number(0, 2**31, integer=True),
            n=v.number(0, 2**31, integer=True),
            alpha=_BOOL,
            color=v.color,
            c=v.color,
        ),
        "afade": _rule(
            ("type", "start_sample", "nb_samples"),
            **_FADE_COMMON,
            start_sample=v.number(0, 2**62, integer=True),
            ss=v.number(0, 2**62, integer=True),
            nb_samples=v.number(1, 2**62, integer=True),
            ns=v.number(1, 2**62, integer=True),
            curve=_WORD,
            c=_WORD,
        ),
        "select": _rule(("expr", "outputs"), expr=_EXPR, e=_EXPR, outputs=_COUNT16, n=_COUNT16),
        "aselect": _rule(("expr", "outputs"), expr=_EXPR, e=_EXPR, outputs=_COUNT16, n=_COUNT16),
        # thumbnail keeps n frames in memory: bounded.
        "thumbnail": _rule(("n",), n=v.number(1, 500, integer=True)),
        "tile": _rule(
            ("layout", "nb_frames", "margin", "padding", "color"),
            layout=v.tile_layout,
            nb_frames=v.number(0, 100, integer=True),
            margin=v.number(0, 1024, integer=True),
            padding=v.number(0, 1024, integer=True),
            color=v.color,
        ),
        "palettegen": _rule(
            ("max_colors",),
            max_colors=v.number(2, 256, integer=True),
            reserve_transparent=_BOOL,
            transparency_color=v.color,
            stats_mode=v.choice("full", "diff", "single"),
        ),
        "paletteuse": _rule(
            ("dither", "bayer_scale", "diff_mode"),
            dither=_WORD,
            bayer_scale=v.number(0, 5, integer=True),
            diff_mode=v.choice("none", "rectangle"),
            new=_BOOL,
            alpha_threshold=v.number(0, 255, integer=True),
        ),
        "hstack": _STACK,
        "vstack": _STACK,
        "yadif": _rule(("mode", "parity", "deint"), mode=_WORD, parity=_WORD, deint=_WORD),
        "eq": _rule(
            ("contrast", "brightness", "saturation", "gamma"),
            contrast=_EXPR,
            brightness=_EXPR,
            saturation=_EXPR,
            gamma=_EXPR,
            eval=_EVAL,
        ),
        "xfade": _rule(
            ("transition", "duration", "offset"),
            transition=_WORD,
            duration=_TIME,
            offset=_TIME,
        ),
        "volume": _rule(
            ("volume",),
            volume=_EXPR,
            precision=v.choice("fixed", "float", "double"),
            eval=v.choice("once", "frame"),
        ),
        "aresample": _rule(("sample_rate",), sample_rate=v.number(1000, 384000, integer=True)),
        "aformat": _rule(
            ("sample_fmts", "sample_rates", "channel_layouts"),
            sample_fmts=_WORD,
            f=_WORD,
            sample_rates=v.pattern(r"\d{4,6}(?:\|\d{4,6}){0,15}", "sample rates like 44100|48000"),
            r=v.pattern(r"\d{4,6}(?:\|\d{4,6}){0,15}", "sample rates like 44100|48000"),
            channel_layouts=_WORD,
            cl=_WORD,
        ),
        "amix": _rule(
            ("inputs", "duration", "dropout_transition"),
            inputs=_COUNT16,
            duration=v.choice("longest", "shortest", "first"),
            dropout_transition=v.number(0, 3600),
            weights=v.pattern(r"[0-9. ]{1,128}", "weights like '1 0.5'"),
            normalize=_BOOL,
        ),
        "amerge": _rule(("inputs",), inputs=_COUNT16),
        "pan": _rule(
            ("args",),
            args=v.pattern(r"[A-Za-z0-9_.|<=+*/ -]{1,512}", "a pan layout like stereo|c0=c0|c1=c1"),
        ),
        "loudnorm": _rule(
            (),
            I=v.number(-70, -5),
            i=v.number(-70, -5),
            LRA=v.number(1, 50),
            lra=v.number(1, 50),
            TP=v.number(-9, 0),
            tp=v.number(-9, 0),
            measured_I=v.number(-99, 0),
            measured_i=v.number(-99, 0),
            measured_LRA=v.number(0, 99),
            measured_lra=v.number(0, 99),
            measured_TP=v.number(-99, 99),
            measured_tp=v.number(-99, 99),
            measured_thresh=v.number(-99, 0),
            offset=v.number(-99, 99),
            linear=_BOOL,
            dual_mono=_BOOL,
            print_format=v.choice("none", "json", "summary"),
        ),
        "atempo": _rule(("tempo",), tempo=v.number(0.5, 100)),
        "highpass": _BIQUAD,
        "lowpass": _BIQUAD,
        "silencedetect": _rule(
            ("noise", "duration"),
            noise=_PASS,
            n=_PASS,
            duration=_TIME,
            d=_TIME,
            mono=_BOOL,
            m=_BOOL,
        ),
        "volumedetect": _rule(),
        "boxblur": _rule(
            ("luma_radius", "luma_power"),
            luma_radius=_EXPR,
            lr=_EXPR,
            luma_power=v.number(0, 100, integer=True),
            lp=v.number(0, 100, integer=True),
        ),
    }
)
