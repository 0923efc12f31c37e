"""Making ffmpeg's stderr safe to show to whoever registered the task.

ffmpeg's messages echo what it read: a filtergraph loaded from a file, the line of a playlist
it could not open, an option value it could not parse. In strict mode the policy keeps other
files out of reach, but the stderr tail still goes to API callers, so it is cut down to the
diagnostic lines and scrubbed before it leaves the library.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["sanitize_line", "sanitize_stderr"]

#: A line is kept only when it says something went wrong (or may go wrong).
DIAGNOSTIC = re.compile(
    r"error|invalid|unable|cannot|can't|could not|no such|not found|unknown|unrecognized|"
    r"denied|failed|does not|not supported|too many|out of|not allowed|not permitted|"
    r"whitelist|exceeds|mismatch|missing|warning|deprecated|must|conversion failed|no option|"
    r"impossible|unsupported|too large|overflow|incorrect|illegal|refused|forbidden",
    re.IGNORECASE,
)
#: Quoted values kept as they are: names of filters, options, codecs, files, formats.
NAME_LIKE = re.compile(r"[A-Za-z0-9_.@+-]{1,32}|\d{1,3}(?::[A-Za-z0-9]{1,8}){1,3}")

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_ADDRESS = re.compile(r"\s*@\s*0x[0-9a-fA-F]+")
_POINTER = re.compile(r"\b0x[0-9a-fA-F]{8,}\b")
_ECHO = re.compile(r"\b(around|near)\b:?\s*(?![\'\"])\S.*$", re.IGNORECASE)
_ABSOLUTE = re.compile(r"(?<![\w.~])/[^\s'\",;:]*")


def sanitize_stderr(
    text: str,
    *,
    workdir: Path | None = None,
    max_lines: int = 12,
    max_line_chars: int = 200,
) -> str:
    """Reduce ffmpeg's stderr to its last few diagnostic lines, with nothing it read echoed.

    The contract, applied in this order:

    1. ANSI escapes go; the work folder's absolute path becomes ``.``
       (``/tmp/x/task/a.mp4`` -> ``a.mp4``).
    2. A quoted value is kept only when it looks like a name (letters, digits, ``_.@+-``, at
       most 32 characters): filter, option, codec and file names survive, anything read
       from a file (``'root:x:0:0:...'``, even over several lines) becomes ``'…'``.
    3. Lines end at ``\\n`` or ``\\r``; control characters are removed. Only diagnostic
       lines are kept: those naming an error, a failure, a refusal or a warning
       (:data:`DIAGNOSTIC`). Banners, stream listings, metadata dumps (which repeat the
       input's tags) and statistics lines are dropped.
    4. ``@ 0x55d0c0ffee00`` context addresses and other long hex pointers are removed; text
       after ``around``/``near`` (where ffmpeg echoes the rest of what it was parsing)
       becomes ``…``; any absolute path left becomes ``<path>``.
    5. Each line is cut to ``max_line_chars``; only the last ``max_lines`` lines are kept.

    Pass the stderr tail as ffmpeg wrote it: a tail cut inside a quoted value starts with
    text whose opening quote is gone, which rule 2 cannot recognise (rule 3 still drops
    those lines unless they contain a diagnostic word).

    Args:
        text: ffmpeg's stderr, or its tail.
        workdir: The task's work folder, whose path must not be shown.
        max_lines: Most lines returned.
        max_line_chars: Longest line returned, in characters.

    Returns:
        The cleaned lines joined by ``\\n``; empty when no diagnostic line remains.
    """
    text = _redact_quotes(_strip_workdir(_ANSI.sub("", text), workdir))
    kept: list[str] = []
    for raw in re.split(r"[\r\n]+", text):
        line = _CONTROL.sub("", raw).strip()
        if line and DIAGNOSTIC.search(line):
            kept.append(_scrub(line, max_line_chars))
    return "\n".join(kept[-max_lines:]) if max_lines > 0 else ""


def sanitize_line(line: str, *, workdir: Path | None = None, max_chars: int = 200) -> str:
    """Rules 1, 2, 4 and 5 of :func:`sanitize_stderr` for one message that must stay whole.

    For a failure message that quotes one of ffmpeg's lines (``ffmpeg exited with status 1:
    ...``): it is kept even without a diagnostic word, its line breaks become spaces.
    """
    text = _redact_quotes(_strip_workdir(_ANSI.sub("", line), workdir))
    return _scrub(" ".join(_CONTROL.sub("", text).split()), max_chars)


def _strip_workdir(text: str, workdir: Path | None) -> str:
    for folder in _folder_spellings(workdir):
        text = text.replace(folder + "/", "").replace(folder, ".")
    return text


def _scrub(line: str, max_chars: int) -> str:
    line = _POINTER.sub("0x…", _ADDRESS.sub("", line))
    line = _ECHO.sub(lambda m: f"{m.group(1)} …", line)
    line = _ABSOLUTE.sub("<path>", line)
    return line if len(line) <= max_chars else line[: max_chars - 1] + "…"


def _folder_spellings(workdir: Path | None) -> list[str]:
    """The folder as given and as resolved (``/tmp`` may be a symlink), longest first."""
    if workdir is None:
        return []
    spellings = {str(workdir).rstrip("/")}
    try:
        spellings.add(str(workdir.resolve()).rstrip("/"))
    except OSError:  # pragma: no cover - resolve() does not fail for absent paths on POSIX
        pass
    return sorted((s for s in spellings if s), key=len, reverse=True)


def _redact_quotes(text: str) -> str:
    """Replace every quoted value that is not name-like by ``'…'``, across line breaks.

    ffmpeg quotes what it echoes, and an echoed file keeps its line breaks, so a quote may
    close lines later. A quote opens where the character before it is not a letter or
    digit (so ``can't`` opens nothing) and closes at the next same quote not followed by a
    letter or digit; an unclosed quote hides everything after it.
    """
    out: list[str] = []
    pos = 0
    while True:
        start = _next_quote(text, pos, opening=True)
        if start < 0:
            out.append(text[pos:])
            return "".join(out)
        quote = text[start]
        end = _next_quote(text, start + 1, opening=False, quote=quote)
        out.append(text[pos:start])
        if end < 0:
            out.append(f"{quote}…")
            return "".join(out)
        value = text[start + 1 : end]
        out.append(text[start : end + 1] if NAME_LIKE.fullmatch(value) else f"{quote}…{quote}")
        pos = end + 1


def _next_quote(text: str, pos: int, *, opening: bool, quote: str = "'\"") -> int:
    """Index of the next opening (or closing) quote from ``pos``, or -1."""
    for index in range(pos, len(text)):
        if text[index] not in quote:
            continue
        neighbour = text[index - 1 : index] if opening else text[index + 1 : index + 2]
        if not neighbour.isalnum():
            return index
    return -1
