"""How an allowed option is described: where it may stand and what its value must be."""

from __future__ import annotations

from typing import Literal

import attrs

from . import values as v

__all__ = ["OptionRule", "Scope", "Special"]

Scope = Literal["input", "output", "global"]
#: A value checked by the policy itself because it needs its lists (codecs, filters...) or
#: the declared outputs (a file name an output option writes).
Special = Literal[
    "codec", "format", "filtergraph", "filter_complex", "map", "pixel_format", "threads",
    "metadata", "bsf", "output_name", "segment_format",
]  # fmt: skip


@attrs.frozen(kw_only=True)
class OptionRule:
    """Where an option may stand and what its value must look like."""

    #: Where it may stand: before an input, before the output, or anywhere (global).
    scope: frozenset[Scope]
    #: The check of its value; None for a flag that takes no value.
    value: v.ValueCheck | Special | None
    #: Which ``:specifier`` it accepts: none, a stream specifier, or a metadata specifier.
    specifier: Literal["none", "stream", "metadata"] = "none"
    #: The muxers whose option it is (``-hls_time`` is the hls muxer's); empty for any.
    muxers: frozenset[str] = frozenset()
