"""Turning a caller's ffmpeg argument string into an argv, and the checks every command passes,
trusted or strict: declared inputs and the output agree with the command."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping

import attrs

from .._errors import InvalidTaskError
from .._names import check_file_name
from .._patterns import Pattern, declared_patterns

__all__ = ["ParsedCommand", "parse_command", "split_command"]

_PROGRAM_NAMES = frozenset({"ffmpeg", "ffmpeg.exe"})
#: What separates a file name from its neighbours inside an argument (``movie=a.mp4``,
#: ``concat:a.mp4|b.mp4``, ``[0:v][logo.png]``): a name is used only if it is a whole piece.
_PIECE_SEPARATORS = re.compile(r"[=:,;|'\"\[\]\s]+")


@attrs.frozen(kw_only=True)
class ParsedCommand:
    """The argv of a command, without the program name, and the file names it reads."""

    #: Arguments exactly as they will be passed to ffmpeg.
    args: tuple[str, ...]
    #: Values of every ``-i``, in order.
    inputs: tuple[str, ...]
    #: The files the command may write: the main output (an exact name) first, then the
    #: declared output patterns.
    patterns: tuple[Pattern, ...]

    @property
    def several(self) -> bool:
        """Whether the task declared outputs beside the main one."""
        return len(self.patterns) > 1


def split_command(command: object) -> tuple[str, ...]:
    """Split like a POSIX shell (quotes, backslashes) without running one.

    Raises:
        InvalidTaskError: empty command or unbalanced quotes.
    """
    if not isinstance(command, str):
        raise InvalidTaskError(f"command must be a string, got {type(command).__name__}")
    if "\x00" in command:
        raise InvalidTaskError("command must not contain NUL characters")
    try:
        args = shlex.split(command, comments=False, posix=True)
    except ValueError as exc:
        raise InvalidTaskError(f"command cannot be parsed: {exc} (check its quotes)") from exc
    if args and args[0] in _PROGRAM_NAMES:
        args = args[1:]
    if not args:
        raise InvalidTaskError(
            "command is empty: give ffmpeg's arguments, e.g. '-i in.mp4 out.mp4'"
        )
    return tuple(args)


def parse_command(
    command: object,
    input_files: Mapping[str, str],
    output_filename: object,
    outputs: Iterable[str] = (),
) -> ParsedCommand:
    """Check that the command, its declared inputs and its outputs agree.

    Raises:
        InvalidTaskError: the message names the offending file or token.
    """
    if not isinstance(input_files, Mapping):
        raise InvalidTaskError(
            f"input_files must map file names to URLs, got {type(input_files).__name__}"
        )
    for name, url in input_files.items():
        check_file_name(name, "input", error=InvalidTaskError)
        if not isinstance(url, str) or not url.strip():
            raise InvalidTaskError(f"input {name!r} needs a URL string, got {url!r}")
    output = check_file_name(output_filename, "output", error=InvalidTaskError)
    if output in input_files:
        raise InvalidTaskError(f"output {output!r} is also declared as an input; pick another name")
    patterns = declared_patterns(output, outputs, input_files)

    args = split_command(command)
    inputs: list[str] = []
    for index, token in enumerate(args):
        if token != "-i":
            continue
        if index + 1 >= len(args):
            raise InvalidTaskError("'-i' at the end of the command needs a file name after it")
        value = args[index + 1]
        if value not in input_files:
            raise InvalidTaskError(
                f"input {value!r} is used by the command but not declared in input_files"
            )
        inputs.append(value)
    if not inputs:
        raise InvalidTaskError("command has no '-i' input; name a declared input with '-i NAME'")
    mentioned = {piece for token in args for piece in _PIECE_SEPARATORS.split(token)}
    for name in input_files:
        if name not in inputs and name not in mentioned:
            raise InvalidTaskError(
                f"input {name!r} is declared in input_files but the command never uses it"
            )
    # With several outputs the main one may be a name a sequence or a variant expands to
    # (thumb_001.jpg, out_hi.m3u8): a strict policy proves the command writes it.
    if output not in args and len(patterns) == 1:
        raise InvalidTaskError(
            f"output {output!r} does not appear in the command; end it with the output name"
        )
    if output in inputs:
        raise InvalidTaskError(f"output {output!r} is also read with '-i'; pick another name")
    return ParsedCommand(args=args, inputs=tuple(inputs), patterns=patterns)
