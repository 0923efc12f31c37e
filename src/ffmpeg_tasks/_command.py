"""Turning a caller's ffmpeg argument string into the exact argv we run, and the checks every
command passes at registration. The allow-list policy (``_policy.py``) builds on this.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping

import attrs

from ._errors import InvalidTaskError

__all__ = ["ParsedCommand", "check_file_name", "parse_command", "split_command"]

#: The longest file name we accept, as most file systems do.
MAX_NAME_LENGTH = 255

_PROGRAM_NAMES = frozenset({"ffmpeg", "ffmpeg.exe"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
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


def check_file_name(name: object, role: str) -> str:
    """Accept only plain file names: the task's folder is the only place a name can point to.

    Raises:
        InvalidTaskError: naming ``role`` ("input", "output") and what is wrong with the name.
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidTaskError(f"{role} file name must be a non-empty string, got {name!r}")
    problem = None
    if "/" in name or "\\" in name:
        problem = "must be a plain file name without '/' or '\\'"
    elif name in {".", ".."}:
        problem = "must be a file name, not '.' or '..'"
    elif name.startswith("-"):
        problem = "must not start with '-' (ffmpeg would read it as an option)"
    elif ":" in name:
        problem = "must not contain ':' (ffmpeg would read 'scheme:' as a protocol)"
    elif _CONTROL.search(name):
        problem = "must not contain control characters"
    elif len(name) > MAX_NAME_LENGTH:
        problem = f"must be at most {MAX_NAME_LENGTH} characters long"
    if problem:
        raise InvalidTaskError(f"{role} file name {name!r} {problem}")
    return name


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
    command: object, input_files: Mapping[str, str], output_filename: object
) -> ParsedCommand:
    """Check that the command, its declared inputs and its output agree.

    Raises:
        InvalidTaskError: the message names the offending file or token.
    """
    if not isinstance(input_files, Mapping):
        raise InvalidTaskError(
            f"input_files must map file names to URLs, got {type(input_files).__name__}"
        )
    for name, url in input_files.items():
        check_file_name(name, "input")
        if not isinstance(url, str) or not url.strip():
            raise InvalidTaskError(f"input {name!r} needs a URL string, got {url!r}")
    output = check_file_name(output_filename, "output")
    if output in input_files:
        raise InvalidTaskError(f"output {output!r} is also declared as an input; pick another name")

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
    if output not in args:
        raise InvalidTaskError(
            f"output {output!r} does not appear in the command; end it with the output name"
        )
    if output in inputs:
        raise InvalidTaskError(f"output {output!r} is also read with '-i'; pick another name")
    return ParsedCommand(args=args, inputs=tuple(inputs))
