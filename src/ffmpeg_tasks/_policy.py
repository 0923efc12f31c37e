"""CommandPolicy: which ffmpeg commands a TaskManager accepts, and the argv it actually runs.

Strict mode (the default) is an allow-list: every option, codec, format, filter and filter
option must be listed, every value must pass its check, and file names must be plain media
names. The argv that passed is then run with server-placed guards (``build_args``): input
whitelists placed after the caller's own input options so ours win, and caps on duration,
size, frame dimensions and threads. Trusted mode runs commands as given. See the "Security
model" page of the documentation for what this does and does not guarantee.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import attrs

from . import _policy_tables as tables
from ._command import ParsedCommand, parse_command
from ._errors import ConfigurationError, InvalidTaskError
from ._filtergraph import FilterArg, FiltergraphError, FilterSpec, parse_filtergraph
from ._options import OPTIONS, Occurrence, OptionRule, ScanError, ScannedArgs, scan_args
from ._policy_tables import FilterRule
from ._values import ValueCheck, pattern

__all__ = ["CommandPolicy"]

#: A file name strict mode accepts: a letter or digit first, then letters, digits, ``._-``.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
#: The only protocol an input needs: the fetched file in the task's folder.
INPUT_PROTOCOLS = "file"
#: Options the server places itself; a caller's copy is refused with this explanation.
SERVER_OPTIONS = frozenset(
    {"protocol_whitelist", "format_whitelist", "codec_whitelist", "fs", "max_pixels"}
)

#: The bounds ``strict()`` accepts by name.
BOUNDS = (
    "max_inputs", "max_duration", "max_width", "max_height", "max_frame_rate", "max_threads",
    "max_command_length", "max_output_bytes",
)  # fmt: skip

_LABEL = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_INPUT_LABEL = re.compile(r"(\d{1,3})(?::.*)?")
_MAP = re.compile(
    r"-?(?P<file>\d{1,3})(?::(?:[vVasdt](?::\d{1,3})?|\d{1,3}|m:[A-Za-z0-9_]{1,32}"
    r"(?::[A-Za-z0-9_-]{1,64})?))?\??"
)
_METADATA = re.compile(r"[A-Za-z0-9_-]{1,64}=[^\x00-\x1f\x7f]{0,1024}")
_BITSTREAM_FILTERS = frozenset(
    {"h264_mp4toannexb", "hevc_mp4toannexb", "aac_adtstoasc", "vp9_superframe", "null"}
)
_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")
_OPTION_NAME = re.compile(r"-?([A-Za-z0-9][A-Za-z0-9_-]{0,63})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _any_value(value: str, bounds: object) -> str | None:
    """The check of filter options an application added: printable, at most 1024 chars."""
    if len(value) > 1024 or _CONTROL.search(value):
        return "must be at most 1024 printable characters"
    return None


def _positive(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigurationError(f"{attribute.name} must be a positive number, got {value!r}")


def _shown(value: str, limit: int = 80) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "...")


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
    #: Allowed filters and, for each, its allowed options.
    filters: Mapping[str, FilterRule] = tables.FILTERS
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
        self, command: str, *, input_files: Mapping[str, str], output_filename: str
    ) -> tuple[str, ...]:
        """Parse and check a task's command; return the exact argv to run, guards included.

        Raises:
            InvalidTaskError: naming the offending token or file.
        """
        parsed = parse_command(command, input_files, output_filename)
        self.check(parsed, input_files=input_files, output_filename=output_filename)
        return self.build_args(parsed, output_filename=output_filename)

    # -- checking -----------------------------------------------------------------------------

    def check(
        self, parsed: ParsedCommand, *, input_files: Mapping[str, str], output_filename: str
    ) -> None:
        """Refuse a command this policy does not allow.

        Raises:
            InvalidTaskError: naming the offending token.
        """
        if self.is_trusted:
            return
        length = len(" ".join(parsed.args))
        if length > self.max_command_length:
            raise InvalidTaskError(
                f"command is {length} characters long; the limit is {self.max_command_length}"
            )
        for name in input_files:
            self._check_name(name, "input", self.input_extensions)
        self._check_name(output_filename, "output", self.output_extensions)
        scanned = self._scan(parsed.args, output_filename)
        names = [group.name for group in scanned.inputs]
        if names != list(parsed.inputs):  # pragma: no cover - parse_command agrees by design
            raise InvalidTaskError(f"inputs {names} do not match the command's -i {parsed.inputs}")
        if len(names) > self.max_inputs:
            raise InvalidTaskError(
                f"command reads {len(names)} inputs; the limit is {self.max_inputs}"
            )
        labels = self._check_options(scanned, len(names))
        for option in scanned.output_options:
            if option.name == "map" and option.value is not None:
                self._check_map(option, len(names), labels)
        for name in input_files:
            if name not in names:
                raise InvalidTaskError(
                    f"input {name!r} is declared but never read with '-i {name}'; "
                    "strict mode reads inputs only through -i"
                )

    def _check_name(self, name: str, role: str, extensions: frozenset[str]) -> None:
        if not SAFE_NAME.fullmatch(name):
            raise InvalidTaskError(
                f"{role} file name {name!r} must start with a letter or digit and use only "
                "letters, digits, '.', '_' and '-' (at most 128 characters)"
            )
        extension = name.rpartition(".")[2].lower() if "." in name else ""
        if extension not in extensions:
            raise InvalidTaskError(
                f"{role} file name {name!r} must end with one of "
                f"{', '.join('.' + e for e in sorted(extensions))}"
            )

    def _scan(self, args: tuple[str, ...], output: str) -> ScannedArgs:
        try:
            return scan_args(args, output=output, extra=self.extra_options)
        except ScanError as exc:
            message = str(exc)
            for name in SERVER_OPTIONS:
                if f"'-{name}" in message:
                    message += " (the server sets it itself)"
            raise InvalidTaskError(message) from None

    def _check_options(self, scanned: ScannedArgs, inputs: int) -> set[str]:
        """Check every option's value; return the output labels of ``-filter_complex``."""
        labels: set[str] = set()
        for option in scanned.all_options():
            if option.value is None:
                continue
            rule = self.extra_options.get(option.name) or OPTIONS[option.name]
            is_input = any(option in group.options for group in scanned.inputs)
            problem = self._problem(option, rule, is_input=is_input, inputs=inputs, labels=labels)
            if problem:
                raise InvalidTaskError(f"value {_shown(option.value)} of {option.token} {problem}")
        return labels

    def _problem(
        self, option: Occurrence, rule: OptionRule, *, is_input: bool, inputs: int, labels: set[str]
    ) -> str | None:
        value = option.value
        assert value is not None
        check = rule.value
        if check == "codec":
            return None if value in self.codecs else _one_of(self.codecs)
        if check == "format":
            allowed = self.demuxers if is_input else self.muxers
            return None if value in allowed else _one_of(allowed)
        if check == "pixel_format":
            return None if value in self.pixel_formats else _one_of(self.pixel_formats)
        if check == "threads":
            return self._threads(value)
        if check == "metadata":
            return None if _METADATA.fullmatch(value) else "must be key=value (printable text)"
        if check == "bsf":
            names = value.split(",")
            return None if set(names) <= _BITSTREAM_FILTERS else _one_of(_BITSTREAM_FILTERS)
        if check == "map":
            return None  # checked once every filter_complex label is known
        if check in ("filtergraph", "filter_complex"):
            labels |= self._check_graph(
                value, option.token, complex_=check == "filter_complex", inputs=inputs
            )
            return None
        assert callable(check)
        return check(value, self)

    def _threads(self, value: str) -> str | None:
        if value.isdigit() and 1 <= int(value) <= self.max_threads:
            return None
        return f"must be an integer from 1 to {self.max_threads}"

    def _check_map(self, option: Occurrence, inputs: int, labels: set[str]) -> None:
        value = option.value or ""
        if value.startswith("["):
            if value.endswith("]") and value[1:-1] in labels:
                return
            raise InvalidTaskError(f"-map {_shown(value)} names no output label of -filter_complex")
        match = _MAP.fullmatch(value)
        if match is None:
            raise InvalidTaskError(
                f"-map {_shown(value)} must look like 0, 0:v, 0:a:1, 1:v:0?, -0:s or [label]"
            )
        if int(match.group("file")) >= inputs:
            raise InvalidTaskError(
                f"-map {_shown(value)} names input {match.group('file')}, "
                f"but the command has {inputs} input(s)"
            )

    # -- filtergraphs -------------------------------------------------------------------------

    def _check_graph(self, text: str, token: str, *, complex_: bool, inputs: int) -> set[str]:
        """Check a filtergraph; return the output labels it defines."""
        where = f"in {token} {_shown(text)}"
        try:
            chains = parse_filtergraph(text)
        except FiltergraphError as exc:
            raise InvalidTaskError(f"filtergraph cannot be parsed: {exc} ({where})") from None
        outputs: set[str] = set()
        for chain in chains:
            for spec in chain:
                for label in (*spec.inputs, *spec.outputs):
                    if not _LABEL.fullmatch(label):
                        raise InvalidTaskError(
                            f"link label {_shown(label)} must use letters, digits and _.:- ({where})"
                        )
                for label in spec.inputs:
                    reference = _INPUT_LABEL.fullmatch(label)
                    if complex_ and reference and int(reference.group(1)) >= inputs:
                        raise InvalidTaskError(
                            f"link label [{label}] names input {reference.group(1)}, but the "
                            f"command has {inputs} input(s) ({where})"
                        )
                outputs.update(spec.outputs)
                self._check_filter(spec, where)
        return outputs

    def _check_filter(self, spec: FilterSpec, where: str) -> None:
        rule = self.filters.get(spec.name)
        if rule is None:
            raise InvalidTaskError(f"filter {spec.name!r} is not allowed ({where})")
        for position, arg in enumerate(spec.args):
            key = self._filter_key(spec, rule, position, arg, where)
            check = rule.options[key]
            problem = check(arg.value, self)
            if problem:
                raise InvalidTaskError(
                    f"value {_shown(arg.value)} of {spec.name} option {key!r} {problem} ({where})"
                )

    def _filter_key(
        self, spec: FilterSpec, rule: FilterRule, position: int, arg: FilterArg, where: str
    ) -> str:
        if arg.key is None:
            if position >= len(rule.positional):
                raise InvalidTaskError(
                    f"filter {spec.name!r} takes at most {len(rule.positional)} positional "
                    f"value(s); give {_shown(arg.value)} as key=value ({where})"
                )
            return rule.positional[position]
        if arg.key.startswith("/"):
            raise InvalidTaskError(
                f"filter option {arg.key!r} of {spec.name!r} is not allowed: a key starting "
                f"with '/' loads its value from a file ({where})"
            )
        if arg.key not in rule.options:
            raise InvalidTaskError(
                f"option {arg.key!r} of filter {spec.name!r} is not allowed ({where})"
            )
        return arg.key

    # -- the argv to run ----------------------------------------------------------------------

    def build_args(self, parsed: ParsedCommand, *, output_filename: str) -> tuple[str, ...]:
        """The exact arguments to run (without the program name), guards included.

        In strict mode, before each ``-i`` (after the caller's own options for that input, so
        ours win): ``-threads`` (unless given), ``-max_pixels``, ``-protocol_whitelist file``
        and ``-format_whitelist`` of :attr:`demuxers`. Before the output name: ``-threads``
        (unless given), ``-max_pixels``, ``-t max_duration`` (unless ``-t``/``-to`` is
        given, which ``check`` bounded) and ``-fs max_output_bytes``. First of all:
        ``-filter_threads`` and ``-filter_complex_threads`` unless given.

        Raises:
            InvalidTaskError: the command does not pass this policy's scan.
        """
        if self.is_trusted:
            return parsed.args
        scanned = self._scan(parsed.args, output_filename)
        threads = str(self.max_threads)
        pixels = str(self.max_width * self.max_height)
        given = {option.name for option in scanned.globals}
        args: list[str] = []
        for name in ("filter_threads", "filter_complex_threads"):
            if name not in given:
                args += [f"-{name}", threads]
        inserts: defaultdict[int, list[str]] = defaultdict(list)
        whitelist = ",".join(sorted(self.demuxers))
        for group in scanned.inputs:
            _guard_threads(inserts, group.options, group.index, threads)
            inserts[group.index] += ["-max_pixels", pixels, "-protocol_whitelist", INPUT_PROTOCOLS]
            inserts[group.index] += ["-format_whitelist", whitelist]
        output = scanned.output_options
        _guard_threads(inserts, output, scanned.output_index, threads)
        guard = ["-max_pixels", pixels]
        if not (_has(output, "t") or _has(output, "to")):
            guard += ["-t", f"{self.max_duration:g}"]
        inserts[scanned.output_index] += [*guard, "-fs", str(self.max_output_bytes)]
        for index, token in enumerate(parsed.args):
            args += inserts.get(index, [])
            args.append(token)
        return tuple(args)


def _guard_threads(
    inserts: defaultdict[int, list[str]],
    options: Sequence[Occurrence],
    end: int,
    threads: str,
) -> None:
    """Our ``-threads`` for one input or the output, unless the caller set one for all streams.

    Placed before the caller's options, so a per-stream ``-threads:a 1`` (bounded by
    ``check``) still wins for its streams while ours covers every other stream.
    """
    if any(option.name == "threads" and not option.specifier for option in options):
        return
    start = min((option.index for option in options), default=end)
    inserts[start] += ["-threads", threads]


def _has(options: Iterable[Occurrence], name: str) -> bool:
    return any(option.name == name for option in options)


def _one_of(names: Iterable[str]) -> str:
    listed = sorted(names)
    shown = ", ".join(listed[:40]) + (", ..." if len(listed) > 40 else "")
    return f"is not allowed; use one of {shown}"
