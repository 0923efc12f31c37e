"""How ffmpeg runs: a child process by default; progress parsing and binary discovery beside it."""

from ._binary import ffmpeg_version, find_ffmpeg
from .subprocess import SubprocessRunner

__all__ = ["SubprocessRunner", "ffmpeg_version", "find_ffmpeg"]
