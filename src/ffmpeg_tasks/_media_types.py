"""The media type each output is stored and reported with, from its name."""

from __future__ import annotations

import mimetypes
from pathlib import PurePath

__all__ = ["content_type"]

#: Media types of the containers ffmpeg writes most, so they do not depend on the machine's
#: ``/etc/mime.types`` (which maps ``.ts`` to Qt translations on some systems).
_MEDIA_TYPES = {
    ".aac": "audio/aac",
    ".avi": "video/x-msvideo",
    ".flac": "audio/flac",
    ".gif": "image/gif",
    ".jpeg": "image/jpeg",
    ".jpg": "image/jpeg",
    ".m3u8": "application/vnd.apple.mpegurl",
    ".m4a": "audio/mp4",
    ".m4s": "video/iso.segment",
    ".m4v": "video/mp4",
    ".mkv": "video/x-matroska",
    ".mov": "video/quicktime",
    ".mp3": "audio/mpeg",
    ".mp4": "video/mp4",
    ".mpd": "application/dash+xml",
    ".oga": "audio/ogg",
    ".ogg": "audio/ogg",
    ".ogv": "video/ogg",
    ".opus": "audio/ogg",
    ".png": "image/png",
    ".srt": "application/x-subrip",
    ".ts": "video/mp2t",
    ".vtt": "text/vtt",
    ".wav": "audio/wav",
    ".webm": "video/webm",
    ".webp": "image/webp",
}
#: Python's built-in table only: the same answer on every machine.
_BUILTIN_TYPES = mimetypes.MimeTypes()


def content_type(name: str) -> str:
    """The ``Content-Type`` an output named ``name`` is stored with."""
    suffix = PurePath(name).suffix.lower()
    guessed = _MEDIA_TYPES.get(suffix) or _BUILTIN_TYPES.guess_type(name, strict=False)[0]
    return guessed or "application/octet-stream"
