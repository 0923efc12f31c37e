"""CommandPolicy: which ffmpeg commands a TaskManager accepts, and the argv it actually runs.

Strict mode (the default) is an allow-list whose accepted commands run with server-placed
guards; trusted mode runs commands as given. The "Security model" page of the documentation
says what this does and does not guarantee.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

import attrs

from .._checks import CONTROL_CHARACTERS
from .._errors import ConfigurationError
from . import tables
from .checking import check_command
from .command import parse_command
from .filters import FILTERS, FilterRule
from .guards import guarded_args
from .options import OptionRule
from .values import ValueCheck, pattern

__all__ = ["CommandPolicy"]

#: The bounds ``strict()`` accepts by name.
BOUNDS = (
    "max_inputs", "max_duration", "max_width", "max_height", "max_frame_rate", "max_threads",
    "max_command_length", "max_output_bytes", "max_output_files", "max_total_output_bytes",
)  # fmt: skip

_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")
_OPTION_NAME = re.compile(r"-?([A-Za-z0-9][A-Za-z0-9_-]{0,63})")


def _any_value(value: str, bounds: object) -> str | None:
    """The check of filter options an application added: printable, at most 1024 chars."""
    if len(value) > 1024 or CONTROL_CHARACTERS.search(value):
        return "must be at most 1024 printable characters"
    return None


def _positive(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigurationError(f"{attribute.name} must be a positive number, got {value!r}")


@attrs.frozen(kw_only=True)
class CommandPolicy:
    """What commands are accepted and which guards are added before ffmpeg runs.

    Build one with :meth:`strict` (the default of ``TaskManager``) or :meth:`trusted`; extend
    a strict policy with :meth:`allowing`; change a bound with ``strict(max_duration=600)``
    or ``attrs.evolve(policy, max_duration=600)``.
    """

    #: True when every command is accepted as given (an application's explicit choice).
    is_trusted: bool = False
    #: Most ``-i`` inputs one command may read.
    max_inputs: int = attrs.field(default=8, validator=_positive)
    #: Longest output, in seconds; also the bound of every ``-t``/``-to`` and trim time.
    max_duration: float = attrs.field(default=4 * 3600.0, validator=_positive)
    #: Widest frame, in pixels, for ``-s``, ``scale``, ``pad``... and the ``-max_pixels`` cap.
    max_width: int = attrs.field(default=7680, validator=_positive)
    #: Tallest frame, in pixels.
    max_height: int = attrs.field(default=7680, validator=_positive)
    #: Highest frame rate ``-r`` and ``fps`` may ask for.
    max_frame_rate: float = attrs.field(default=240.0, validator=_positive)
    #: Most threads per encoder, decoder and filter graph; also the default we place.
    max_threads: int = attrs.field(default=4, validator=_positive)
    #: Longest command, in characters (arguments joined by spaces).
    max_command_length: int = attrs.field(default=8192, validator=_positive)
    #: Largest output file; placed as ``-fs`` (ffmpeg stops near it, not exactly at it).
    max_output_bytes: int = attrs.field(default=4 * 1024**3, validator=_positive)
    #: Most files one task may write (a ladder's playlists and segments, thumbnails); also
    #: placed as ``-frames:v`` on image sequences, which write one file per frame.
    max_output_files: int = attrs.field(default=10_000, validator=_positive)
    #: Most bytes all of one task's outputs may hold together.
    max_total_output_bytes: int = attrs.field(default=16 * 1024**3, validator=_positive)
    #: Allowed filters and, for each, its allowed options.
    filters: Mapping[str, FilterRule] = FILTERS
    #: Allowed codec names for ``-c`` (``copy`` included).
    codecs: frozenset[str] = tables.CODECS
    #: Muxers the output may use (``-f``).
    muxers: frozenset[str] = tables.MUXERS
    #: Demuxers inputs may use: the ``-format_whitelist`` guard and ``-f`` before ``-i``.
    demuxers: frozenset[str] = tables.DEMUXERS
    #: Pixel formats for ``-pix_fmt``.
    pixel_formats: frozenset[str] = tables.PIXEL_FORMATS
    #: Extensions (lower case) an input file name may have.
    input_extensions: frozenset[str] = tables.INPUT_EXTENSIONS
    #: Extensions (lower case) the output file name may have.
    output_extensions: frozenset[str] = tables.OUTPUT_EXTENSIONS
    #: Options an application added with :meth:`allowing`, by name without the dash.
    extra_options: Mapping[str, OptionRule] = MappingProxyType({})

    @classmethod
    def strict(cls, **limits: float) -> CommandPolicy:
        """The default: an allow-list for commands that may come from strangers.

        Args:
            limits: Bounds to change, e.g. ``max_duration=600, max_inputs=2``.

        Raises:
            ConfigurationError: an unknown bound or a value that is not positive.
        """
        unknown = sorted(set(limits) - set(BOUNDS))
        if unknown:
            raise ConfigurationError(
                f"unknown policy bound(s) {', '.join(unknown)}; use {', '.join(BOUNDS)}"
            )
        return cls(**limits)  # type: ignore[arg-type]

    @classmethod
    def trusted(cls) -> CommandPolicy:
        """Accept any command: only for callers the application trusts (a notebook, a script)."""
        return cls(is_trusted=True)

    def allowing(
        self,
        *,
        filters: Mapping[str, Iterable[str]] | None = None,
        options: Mapping[str, str | None] | None = None,
        codecs: Iterable[str] = (),
        muxers: Iterable[str] = (),
        demuxers: Iterable[str] = (),
        pixel_formats: Iterable[str] = (),
        input_extensions: Iterable[str] = (),
        output_extensions: Iterable[str] = (),
    ) -> CommandPolicy:
        """A copy of this policy that also allows the given names.

        Added filter options accept any printable value and must be given by name
        (``unsharp=lx=5``), never positionally: allow only options that cannot name a file.

        Args:
            filters: Filter name -> option names to allow (added to a known filter's own).
            options: Command-line option (``"-x264-params"``) -> a regular expression its
                value must match completely, or None for a flag without value. It may stand
                before an input or the output, with a stream specifier.
            codecs: More names for ``-c``.
            muxers: More output formats for ``-f``.
            demuxers: More input formats (also added to the ``-format_whitelist`` guard).
            pixel_formats: More ``-pix_fmt`` values.
            input_extensions: More input file name extensions.
            output_extensions: More output file name extensions.

        Raises:
            ConfigurationError: a name that could never be safe (``/key``, ``-/opt``).
        """
        merged = dict(self.filters)
        for name, keys in (filters or {}).items():
            if not _KEY.fullmatch(name):
                raise ConfigurationError(f"filter name {name!r} is not a plain name")
            added: dict[str, ValueCheck] = {}
            for key in keys:
                if not _KEY.fullmatch(key):
                    raise ConfigurationError(
                        f"option {key!r} of filter {name!r} is not a plain name"
                    )
                added[key] = _any_value
            known = merged.get(name)
            merged[name] = FilterRule(
                options=MappingProxyType(
                    {**(known.options if known else {"enable": _any_value}), **added}
                ),
                positional=known.positional if known else (),
            )
        extra = dict(self.extra_options)
        for name, regex in (options or {}).items():
            match = _OPTION_NAME.fullmatch(name)
            if match is None:
                raise ConfigurationError(f"option {name!r} is not a plain option name")
            check = None if regex is None else pattern(regex, f"matching {regex!r}")
            extra[match.group(1)] = OptionRule(
                scope=frozenset({"input", "output"}), value=check, specifier="stream"
            )
        return attrs.evolve(
            self,
            filters=MappingProxyType(merged),
            extra_options=MappingProxyType(extra),
            codecs=self.codecs | set(codecs),
            muxers=self.muxers | set(muxers),
            demuxers=self.demuxers | set(demuxers),
            pixel_formats=self.pixel_formats | set(pixel_formats),
            input_extensions=self.input_extensions
            | {e.lower().lstrip(".") for e in input_extensions},
            output_extensions=self.output_extensions
            | {e.lower().lstrip(".") for e in output_extensions},
        )

    def prepare(
        self,
        command: str,
        *,
        input_files: Mapping[str, str],
        output_filename: str,
        outputs: Iterable[str] = (),
    ) -> tuple[str, ...]:
        """Check a command; return the exact argv to run (without ``ffmpeg``), guards included.

        Every policy checks that the file names are plain, that each declared input is used,
        that the command names its main output and that no output pattern matches an input;
        a trusted policy then returns the arguments as given. A strict one also proves that
        every file the command may write is the main output or matches a declared pattern.

        Args:
            command: ffmpeg's arguments, with or without a leading ``ffmpeg``.
            input_files: Each file name the command reads -> its URL (checked by the fetcher).
            output_filename: The main output: the file the command writes (for a ladder, its
                master playlist).
            outputs: The other files it writes: exact names, ``%03d`` sequences and globs
                such as ``*.ts``; declaring them allows the hls, dash and segment muxers,
                image sequences and several output files.

        Raises:
            InvalidTaskError: naming the offending file or token.
        """
        parsed = parse_command(command, input_files, output_filename, outputs)
        if self.is_trusted:
            return parsed.args
        scanned = check_command(
            self, parsed, input_files=input_files, output_filename=output_filename
        )
        return guarded_args(self, parsed, scanned)
