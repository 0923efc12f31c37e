"""The one rule for file names that end up in a task's folder or an output's place: the
command policy applies it to a task's names, the uploaders to the names they store under."""

from __future__ import annotations

from ._checks import CONTROL_CHARACTERS
from ._errors import FfmpegTasksError

__all__ = ["MAX_NAME_LENGTH", "check_file_name"]

#: The longest file name we accept, as most file systems do.
MAX_NAME_LENGTH = 255


def check_file_name(name: object, role: str, *, error: type[FfmpegTasksError]) -> str:
    """Accept only plain file names: the task's folder is the only place a name can point to.

    Args:
        name: The name to check.
        role: What the name is ("input", "output", "task id"), for the message.
        error: What to raise: ``InvalidTaskError`` for a caller's task, ``UploadError`` in an
            uploader.

    Raises:
        FfmpegTasksError: ``error``, naming ``role`` and what is wrong with the name.
    """
    if not isinstance(name, str) or not name.strip():
        raise error(f"{role} file name must be a non-empty string, got {name!r}")
    problem = None
    if "/" in name or "\\" in name:
        problem = "must be a plain file name without '/' or '\\'"
    elif name in {".", ".."}:
        problem = "must be a file name, not '.' or '..'"
    elif name.startswith("-"):
        problem = "must not start with '-' (ffmpeg would read it as an option)"
    elif ":" in name:
        problem = "must not contain ':' (ffmpeg would read 'scheme:' as a protocol)"
    elif CONTROL_CHARACTERS.search(name):
        problem = "must not contain control characters"
    elif len(name) > MAX_NAME_LENGTH:
        problem = f"must be at most {MAX_NAME_LENGTH} characters long"
    if problem:
        raise error(f"{role} file name {name!r} {problem}")
    return name
