"""Finding a run's outputs in its work folder: the files that match the task's declared names
and patterns, regular files only (never a symlink, never an input), within the policy's caps
on their number and total size, each hashed while it is read."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path

import attrs

from ._errors import OutputError, RunError
from ._patterns import Pattern

__all__ = ["OutputFile", "collect_outputs", "sha256_of"]

_CHUNK = 1024 * 1024


@attrs.frozen(kw_only=True)
class OutputFile:
    """One file of the outputs, as found after the run."""

    name: str
    path: Path
    size: int
    sha256: str


def collect_outputs(
    workdir: Path,
    *,
    patterns: Sequence[Pattern],
    inputs: Iterable[str],
    max_files: int,
    max_total_bytes: int,
) -> list[OutputFile]:
    """The outputs in ``workdir``: the main output (``patterns[0]``) first, then the others by
    name. Blocking: run it in a worker thread.

    Raises:
        RunError: the main output is missing.
        OutputError: more files or more bytes than the caps allow, or an output that is not a
            regular file.
    """
    main = patterns[0].text
    skipped = set(inputs)
    found: dict[str, int] = {}
    total = 0
    with os.scandir(workdir) as entries:
        for entry in entries:
            name = entry.name
            if name in skipped or not any(pattern.matches(name) for pattern in patterns):
                continue
            status = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(status.st_mode):
                raise OutputError(
                    f"output {name!r} is not a regular file (a link or a folder); refusing it"
                )
            found[name] = status.st_size
            total += status.st_size
            if len(found) > max_files:
                raise OutputError(
                    f"ffmpeg wrote more than {max_files} output files, the most a task may "
                    "write (max_output_files); write fewer segments or frames"
                )
    if main not in found:
        raise RunError(f"ffmpeg finished but wrote no {main!r}")
    if total > max_total_bytes:
        raise OutputError(
            f"the outputs hold {total} bytes together, more than the {max_total_bytes} a task "
            "may write (max_total_output_bytes)"
        )
    names = [main, *sorted(name for name in found if name != main)]
    return [
        OutputFile(
            name=name, path=workdir / name, size=found[name], sha256=sha256_of(workdir / name)
        )
        for name in names
    ]


def sha256_of(path: Path) -> str:
    """SHA-256 of a file, read in chunks (never whole into memory), never through a link."""
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
