"""How ffmpeg runs: a child process by default, sandboxed by bubblewrap and under resource limits;
progress parsing and binary discovery beside it."""

from ._binary import ffmpeg_version, find_ffmpeg
from ._limits import ResourceLimits
from ._sandbox import SandboxMode
from .subprocess import SubprocessRunner

__all__ = ["ResourceLimits", "SandboxMode", "SubprocessRunner", "ffmpeg_version", "find_ffmpeg"]
