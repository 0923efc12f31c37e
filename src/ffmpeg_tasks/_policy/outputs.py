"""The strict check of what a command writes: every file each output can make ffmpeg write
is a declared output, the main output is written by name, and muxer options stay with their
muxer."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .._errors import InvalidTaskError
from .._patterns import Pattern, Template, covered, covers_name, parse_template
from .muxers import MULTI_FILE_MUXERS, muxer_of, written_files
from .options import OPTIONS, OutputGroup, ScannedArgs

if TYPE_CHECKING:
    from .policy import CommandPolicy

__all__ = ["check_outputs"]

#: Muxers that expand ``%d`` in the output name itself.
_NUMBERED = frozenset({"image2", "segment"})
_NUMBER = re.compile(r"%(?:0[1-9])?d")


def check_outputs(policy: CommandPolicy, scanned: ScannedArgs, patterns: Sequence[Pattern]) -> None:
    """Refuse a command that may write a file no declared pattern covers.

    Raises:
        InvalidTaskError: naming the output, the option that names the file, and the
            pattern to declare.
    """
    main = patterns[0].text
    several = len(patterns) > 1
    templates: list[Template] = []
    for group in scanned.outputs:
        muxer = muxer_of(group)
        _check_muxer_options(policy, group, muxer)
        if muxer in MULTI_FILE_MUXERS and not several:  # pragma: no cover - refused before
            raise InvalidTaskError(f"output {group.name!r} writes several files; declare them")
        try:
            written = written_files(group, muxer)
        except ValueError as exc:
            raise InvalidTaskError(f"output {group.name!r}: {exc}") from None
        if muxer == "image2" and "%" in group.name:
            _check_frames(policy, group)
        for item in written:
            template = _template(item.template, item.origin, group.name)
            _check_numbering(template, item.origin, group.name, muxer)
            if covered(template, patterns) is None:
                suggestion = _NUMBER.sub("*", item.template)
                raise InvalidTaskError(
                    f"output {group.name!r} writes {item.template!r} ({item.origin}), which "
                    f"is not a declared output; declare it, e.g. outputs=[{suggestion!r}]"
                )
            templates.append(template)
    # A numbered sequence may hold the main output (thumb_001.jpg of thumb_%03d.jpg).
    if not any(covers_name(template, main) for template in templates):
        raise InvalidTaskError(
            f"the command never writes the main output {main!r}; make it an output name "
            "(the last argument), the value of -master_pl_name, or a name of a sequence "
            "it writes"
        )


def _template(text: str, origin: str, output: str) -> Template:
    try:
        return parse_template(text)
    except ValueError:
        raise InvalidTaskError(
            f"{origin} {text!r} of output {output!r} must be a plain file name in the work "
            "folder (letters, digits, '.', '_', '-', and %d or %03d for numbers): no folders, "
            "no protocols"
        ) from None


def _check_numbering(template: Template, origin: str, output: str, muxer: str) -> None:
    numbered = not template.is_exact
    if origin == "the output name":
        if muxer == "segment" and not numbered:
            raise InvalidTaskError(
                f"the segment muxer numbers its files: name output {output!r} with %d or "
                "%03d, e.g. 'seg_%03d.ts'"
            )
        if numbered and muxer not in _NUMBERED:
            raise InvalidTaskError(
                f"output {output!r} has a %d that only the image2 and segment muxers expand; "
                "give -f image2 or -f segment, or a plain name"
            )
    elif origin in {"-master_pl_name", "-segment_list"} and numbered:
        raise InvalidTaskError(f"{origin} {template.text!r} must be a plain file name")


def _check_frames(policy: CommandPolicy, group: OutputGroup) -> None:
    """An image sequence writes one file per frame: its ``-frames`` bounds the file count."""
    for option in group.options:
        value = option.value
        if (
            option.name == "frames"
            and value is not None
            and (not value.isdigit() or int(value) > policy.max_output_files)
        ):
            raise InvalidTaskError(
                f"value {option.value!r} of {option.token} makes more files than the "
                f"{policy.max_output_files} a task may write"
            )


def _check_muxer_options(policy: CommandPolicy, group: OutputGroup, muxer: str) -> None:
    for option in group.options:
        if option.name in policy.extra_options:
            continue
        muxers = OPTIONS[option.name].muxers
        if muxers and muxer not in muxers:
            uses = f"uses the {muxer} muxer" if muxer else "uses a single-file muxer"
            raise InvalidTaskError(
                f"option {option.token!r} is for the {' or '.join(sorted(muxers))} muxer, but "
                f"output {group.name!r} {uses} (give -f {min(muxers)})"
            )
