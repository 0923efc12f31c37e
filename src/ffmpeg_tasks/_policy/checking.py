"""Checking a parsed command against a strict policy: names, options, values, filtergraphs."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from .._checks import CONTROL_CHARACTERS
from .._errors import InvalidTaskError
from .command import ParsedCommand
from .filtergraph import FilterArg, FiltergraphError, FilterSpec, parse_filtergraph
from .filters import FilterRule
from .muxers import MULTI_FILE_EXTENSIONS, MULTI_FILE_MUXERS
from .options import OPTIONS, Occurrence, OptionRule, ScanError, ScannedArgs, scan_args
from .outputs import check_outputs

if TYPE_CHECKING:
    from .policy import CommandPolicy

__all__ = ["SAFE_NAME", "SERVER_OPTIONS", "check_command"]

#: A file name strict mode accepts: a letter or digit first, then letters, digits, ``._-``.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
#: Options the server places itself; a caller's copy is refused with this explanation.
SERVER_OPTIONS = frozenset(
    {"protocol_whitelist", "format_whitelist", "codec_whitelist", "fs", "max_pixels"}
)

_LABEL = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_INPUT_LABEL = re.compile(r"(\d{1,3})(?::.*)?")
_MAP = re.compile(
    r"-?(?P<file>\d{1,3})(?::(?:[vVasdt](?::\d{1,3})?|\d{1,3}|m:[A-Za-z0-9_]{1,32}"
    r"(?::[A-Za-z0-9_-]{1,64})?))?\??"
)
#: ``key=value``; the value is also checked for control characters.
_METADATA = re.compile(r"[A-Za-z0-9_-]{1,64}=.{0,1024}", re.DOTALL)
_BITSTREAM_FILTERS = frozenset(
    {"h264_mp4toannexb", "hevc_mp4toannexb", "aac_adtstoasc", "vp9_superframe", "null"}
)


def check_command(
    policy: CommandPolicy,
    parsed: ParsedCommand,
    *,
    input_files: Mapping[str, str],
    output_filename: str,
) -> ScannedArgs:
    """Refuse a command a strict ``policy`` does not allow; return its scan for the guards.

    Raises:
        InvalidTaskError: naming the offending token.
    """
    length = len(" ".join(parsed.args))
    if length > policy.max_command_length:
        raise InvalidTaskError(
            f"command is {length} characters long; the limit is {policy.max_command_length}"
        )
    for name in input_files:
        _check_name(name, "input", policy.input_extensions)
    extensions = policy.output_extensions
    if parsed.several:
        extensions = extensions | MULTI_FILE_EXTENSIONS
    _check_name(output_filename, "output", extensions)
    for pattern in parsed.patterns[1:]:
        if pattern.extension not in extensions:
            raise InvalidTaskError(
                f"output pattern {pattern.text!r} must end with one of "
                f"{', '.join('.' + e for e in sorted(extensions))}"
            )
    scanned = _scan(policy, parsed.args, output_filename, several=parsed.several)
    names = [group.name for group in scanned.inputs]
    if names != list(parsed.inputs):  # pragma: no cover - parse_command agrees by design
        raise InvalidTaskError(f"inputs {names} do not match the command's -i {parsed.inputs}")
    if len(names) > policy.max_inputs:
        raise InvalidTaskError(
            f"command reads {len(names)} inputs; the limit is {policy.max_inputs}"
        )
    labels = _check_options(policy, scanned, len(names), several=parsed.several)
    for option in scanned.output_options:
        if option.name == "map" and option.value is not None:
            _check_map(option, len(names), labels)
    check_outputs(policy, scanned, parsed.patterns)
    for name in input_files:
        if name not in names:
            raise InvalidTaskError(
                f"input {name!r} is declared but never read with '-i {name}'; "
                "strict mode reads inputs only through -i"
            )
    return scanned


def _check_name(name: str, role: str, extensions: frozenset[str]) -> None:
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


def _scan(
    policy: CommandPolicy, args: tuple[str, ...], output: str, *, several: bool
) -> ScannedArgs:
    try:
        return scan_args(args, output=output, extra=policy.extra_options, several=several)
    except ScanError as exc:
        message = str(exc)
        for name in SERVER_OPTIONS:
            if f"'-{name}" in message:
                message += " (the server sets it itself)"
        raise InvalidTaskError(message) from None


def _check_options(
    policy: CommandPolicy, scanned: ScannedArgs, inputs: int, *, several: bool
) -> set[str]:
    """Check every option's value; return the output labels of ``-filter_complex``."""
    labels: set[str] = set()
    for option in scanned.all_options():
        if option.value is None:
            continue
        rule = policy.extra_options.get(option.name) or OPTIONS[option.name]
        is_input = any(option in group.options for group in scanned.inputs)
        problem = _problem(
            policy, option, rule, is_input=is_input, inputs=inputs, labels=labels, several=several
        )
        if problem:
            raise InvalidTaskError(f"value {_shown(option.value)} of {option.token} {problem}")
    return labels


def _problem(
    policy: CommandPolicy,
    option: Occurrence,
    rule: OptionRule,
    *,
    is_input: bool,
    inputs: int,
    labels: set[str],
    several: bool,
) -> str | None:
    value = option.value
    assert value is not None
    check = rule.value
    if check == "codec":
        return None if value in policy.codecs else _one_of(policy.codecs)
    if check == "format":
        if is_input:
            return None if value in policy.demuxers else _one_of(policy.demuxers)
        return _muxer_problem(policy, value, several=several)
    if check == "segment_format":
        if value in policy.muxers and value not in {"image2", "webp", "gif", "apng"}:
            return None
        return _one_of(policy.muxers - {"image2", "webp", "gif", "apng"})
    if check == "output_name":
        return None  # a name the output writes: checked with the declared outputs
    if check == "pixel_format":
        return None if value in policy.pixel_formats else _one_of(policy.pixel_formats)
    if check == "threads":
        return _threads(policy, value)
    if check == "metadata":
        if _METADATA.fullmatch(value) and not CONTROL_CHARACTERS.search(value):
            return None
        return "must be key=value (printable text)"
    if check == "bsf":
        names = value.split(",")
        return None if set(names) <= _BITSTREAM_FILTERS else _one_of(_BITSTREAM_FILTERS)
    if check == "map":
        return None  # checked once every filter_complex label is known
    if check in ("filtergraph", "filter_complex"):
        labels |= _check_graph(
            policy, value, option.token, complex_=check == "filter_complex", inputs=inputs
        )
        return None
    assert callable(check)
    return check(value, policy)


def _muxer_problem(policy: CommandPolicy, value: str, *, several: bool) -> str | None:
    if value == "tee":
        return (
            "is not allowed: tee names its files and protocols inside one argument, where "
            "they cannot be checked; write several outputs instead, each with its own -map "
            "and name (declare them with outputs=)"
        )
    allowed = policy.muxers | MULTI_FILE_MUXERS if several else policy.muxers
    if value in allowed:
        return None
    if value in MULTI_FILE_MUXERS:
        return (
            f"{_one_of(allowed)} ({value} writes several files: declare them with outputs=, "
            "e.g. outputs=['*.ts'])"
        )
    return _one_of(allowed)


def _threads(policy: CommandPolicy, value: str) -> str | None:
    if value.isdigit() and 1 <= int(value) <= policy.max_threads:
        return None
    return f"must be an integer from 1 to {policy.max_threads}"


def _check_map(option: Occurrence, inputs: int, labels: set[str]) -> None:
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


# -- filtergraphs -----------------------------------------------------------------------------


def _check_graph(
    policy: CommandPolicy, text: str, token: str, *, complex_: bool, inputs: int
) -> set[str]:
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
            _check_filter(policy, spec, where)
    return outputs


def _check_filter(policy: CommandPolicy, spec: FilterSpec, where: str) -> None:
    rule = policy.filters.get(spec.name)
    if rule is None:
        raise InvalidTaskError(f"filter {spec.name!r} is not allowed ({where})")
    for position, arg in enumerate(spec.args):
        key = _filter_key(spec, rule, position, arg, where)
        check = rule.options[key]
        problem = check(arg.value, policy)
        if problem:
            raise InvalidTaskError(
                f"value {_shown(arg.value)} of {spec.name} option {key!r} {problem} ({where})"
            )


def _filter_key(
    spec: FilterSpec, rule: FilterRule, position: int, arg: FilterArg, where: str
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


def _shown(value: str, limit: int = 80) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "...")


def _one_of(names: Iterable[str]) -> str:
    listed = sorted(names)
    shown = ", ".join(listed[:40]) + (", ..." if len(listed) > 40 else "")
    return f"is not allowed; use one of {shown}"
