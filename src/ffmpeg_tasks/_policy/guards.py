"""The argv a strict policy runs: the caller's checked arguments with the server's guards placed
where ffmpeg gives them precedence (see "The server-placed guards" in the security model)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from .command import ParsedCommand
from .muxers import muxer_of
from .options import Occurrence, OutputGroup, ScannedArgs

if TYPE_CHECKING:
    from .policy import CommandPolicy

__all__ = ["INPUT_PROTOCOLS", "guarded_args"]

#: The only protocol an input needs: the fetched file in the task's folder.
INPUT_PROTOCOLS = "file"


def guarded_args(
    policy: CommandPolicy, parsed: ParsedCommand, scanned: ScannedArgs
) -> tuple[str, ...]:
    """The exact arguments to run (without the program name), guards included.

    Before each ``-i`` (after the caller's own options for that input, so ours win):
    ``-threads`` (unless given), ``-max_pixels``, ``-protocol_whitelist file`` and
    ``-format_whitelist`` of the policy's demuxers. Before the output name: ``-threads``
    (unless given), ``-max_pixels``, ``-t max_duration`` (unless ``-t``/``-to`` is given,
    which the check bounded) and ``-fs max_output_bytes``; before each numbered image
    sequence also ``-frames:v max_output_files`` (unless ``-frames`` is given, which the
    check bounded). First of all: ``-filter_threads`` and ``-filter_complex_threads``
    unless given.
    """
    threads = str(policy.max_threads)
    pixels = str(policy.max_width * policy.max_height)
    given = {option.name for option in scanned.globals}
    args: list[str] = []
    for name in ("filter_threads", "filter_complex_threads"):
        if name not in given:
            args += [f"-{name}", threads]
    inserts: defaultdict[int, list[str]] = defaultdict(list)
    whitelist = ",".join(sorted(policy.demuxers))
    for group in scanned.inputs:
        _guard_threads(inserts, group.options, group.index, threads)
        inserts[group.index] += ["-max_pixels", pixels, "-protocol_whitelist", INPUT_PROTOCOLS]
        inserts[group.index] += ["-format_whitelist", whitelist]
    for out in scanned.outputs:
        output = out.options
        _guard_threads(inserts, output, out.index, threads)
        guard = ["-max_pixels", pixels]
        if not (_has(output, "t") or _has(output, "to")):
            guard += ["-t", f"{policy.max_duration:g}"]
        if _numbered_images(out) and not any(o.name == "frames" for o in output):
            # one file per frame: the frame count is the file count (a caller's own
            # -frames is bounded by the check instead)
            guard += ["-frames:v", str(policy.max_output_files)]
        inserts[out.index] += [*guard, "-fs", str(policy.max_output_bytes)]
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

    Placed before the caller's options, so a per-stream ``-threads:a 1`` (bounded by the
    check) still wins for its streams while ours covers every other stream.
    """
    if any(option.name == "threads" and not option.specifier for option in options):
        return
    start = min((option.index for option in options), default=end)
    inserts[start] += ["-threads", threads]


def _numbered_images(group: OutputGroup) -> bool:
    return (
        muxer_of(group) == "image2"
        and "%" in group.name
        and not any(option.name == "update" and option.value == "1" for option in group.options)
    )


def _has(options: Iterable[Occurrence], name: str) -> bool:
    return any(option.name == name for option in options)
