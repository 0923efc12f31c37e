"""Probing media files as ffmpeg runs: in the same sandbox, with the same limits.

Two probes read the same facts (ffprobe's ``-show_format -show_streams``):

- ``ffprobe``, when one sits next to the ffmpeg binary or on ``PATH`` (Debian's ``ffmpeg``
  package has it): one process per file.
- PyAV (the ``av`` package, in the ``ffmpeg`` extra), for ffmpeg builds without ffprobe such
  as imageio-ffmpeg's: a short ``python -I -S`` that opens each file with PyAV's own FFmpeg
  libraries and prints ffprobe's fields as JSON, one process for many files. The sandbox
  shows it the interpreter's installation and PyAV's folders, read-only, besides what it
  shows ffmpeg.

Both open files with ``protocol_whitelist=file`` and a list of demuxers (a playlist may only
name files in the work folder); a file neither can read as media gets no facts (fragmented
segments without their init section, a DASH manifest for PyAV, whose build lacks libxml2).
A probe that crashes, hangs or reaches a limit fails the run: the file is hostile input.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import signal
import subprocess
import sys
from collections import deque
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import anyio
import anyio.abc
import attrs

from .._errors import ConfigurationError, RunError
from .._media import MediaInfo, StreamInfo
from ._launcher import launcher_argv
from ._limits import ResourceLimits, rlimits
from ._sandbox import SandboxStatus, bwrap_args, started_from_worker_threads

__all__ = ["PROBE_MODES", "ProbeMode", "Prober", "find_prober", "probe_files"]

#: How outputs are probed: ffprobe if found, else PyAV; one of them or fail; never.
ProbeMode = Literal["auto", "ffprobe", "pyav", "none"]
PROBE_MODES: tuple[ProbeMode, ...] = ("auto", "ffprobe", "pyav", "none")
#: Demuxers a probe may use: those of the files strict mode reads and writes.
PROBE_FORMATS = (
    "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,mp3,wav,flac,ogg,aac,mpegts,avi,flv,gif,image2,"
    "png_pipe,jpeg_pipe,bmp_pipe,webp_pipe,apng,aiff,hls,dash,mjpeg,srt,webvtt,ass"
)
#: Files one PyAV process probes; a longer list takes several.
BATCH = 256
#: Seconds a probe process may take, plus a little per file.
TIMEOUT = 30.0
PER_FILE_TIMEOUT = 0.5
#: Most bytes of JSON a probe may print.
MAX_OUTPUT = 16 * 1024 * 1024

# Run as ``python -I -S -c _PYAV SITE NAME...``: SITE is where ``av`` is installed.
_PYAV = """\
import json, sys
sys.path.insert(0, sys.argv[1])
import av
OPTIONS = {"protocol_whitelist": "file", "format_whitelist": sys.argv[2]}
def rate(value):
    return None if not value else f"{value.numerator}/{value.denominator}"
for name in sys.argv[3:]:
    try:
        with av.open(name, options=OPTIONS) as container:
            streams = []
            for stream in container.streams:
                context = stream.codec_context
                duration = None
                if stream.duration is not None and stream.time_base is not None:
                    duration = float(stream.duration * stream.time_base)
                streams.append({
                    "index": stream.index, "codec_type": stream.type,
                    "codec_name": context.name if context is not None else None,
                    "width": getattr(context, "width", None) if stream.type == "video" else None,
                    "height": getattr(context, "height", None) if stream.type == "video" else None,
                    "avg_frame_rate": rate(getattr(stream, "average_rate", None)),
                    "sample_rate": getattr(context, "sample_rate", None),
                    "channels": getattr(context, "channels", None),
                    "bit_rate": getattr(context, "bit_rate", None) or None,
                    "duration": duration,
                })
            duration = None if container.duration is None else container.duration / 1e6
            fmt = {"format_name": container.format.name, "duration": duration,
                   "bit_rate": container.bit_rate or None}
            print(json.dumps({"name": name, "format": fmt, "streams": streams}), flush=True)
    except av.FFmpegError as exc:
        print(json.dumps({"name": name, "error": str(exc.strerror or exc)}), flush=True)
"""


@attrs.frozen(kw_only=True)
class Prober:
    """The probe found for a runner, and what its sandbox must show."""

    kind: Literal["ffprobe", "pyav"]
    #: The program run: ffprobe, or the Python interpreter (its real path).
    program: Path
    #: More paths bound read-only in the sandbox (the interpreter's installation, PyAV).
    read_only: tuple[Path, ...] = ()
    #: Where ``av`` is importable from (PyAV only).
    site: Path | None = None

    def describe(self) -> str:
        if self.kind == "ffprobe":
            return f"ffprobe ({self.program})"
        return "PyAV, in the sandbox and limits of ffmpeg"


def find_prober(mode: ProbeMode, ffmpeg: Path) -> Prober | None:
    """The probe ``mode`` asks for; None when there is none (``"auto"``) or it is off.

    Raises:
        ConfigurationError: ``"ffprobe"`` or ``"pyav"`` was asked for and is missing.
    """
    if mode == "none":
        return None
    if mode in ("auto", "ffprobe"):
        beside = ffmpeg.with_name("ffprobe")
        found = beside if _executable(beside) else shutil.which("ffprobe")
        if found is not None:
            return Prober(kind="ffprobe", program=Path(os.path.abspath(found)))
        if mode == "ffprobe":
            raise ConfigurationError(
                f"probe='ffprobe' but there is no ffprobe next to {ffmpeg} or on PATH; "
                "install one, or use probe='pyav' (pip install av)"
            )
    spec = importlib.util.find_spec("av")
    if spec is None or spec.origin is None:
        if mode == "pyav":
            raise ConfigurationError(
                "probe='pyav' but PyAV is not installed; run `pip install av` or "
                '`pip install "ffmpeg-tasks[ffmpeg]"`'
            )
        return None
    package = Path(spec.origin).parent
    site = package.parent
    bound = [Path(os.path.realpath(sys.base_prefix)), package]
    libraries = site / "av.libs"  # the wheel's own FFmpeg libraries
    if libraries.is_dir():
        bound.append(libraries)
    bound = [path for path in bound if not _under(path, Path("/usr"))]
    return Prober(
        kind="pyav",
        program=Path(os.path.realpath(sys.executable)),
        read_only=tuple(bound),
        site=site,
    )


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _under(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


async def probe_files(
    prober: Prober,
    names: Sequence[str],
    *,
    workdir: Path,
    sandbox: SandboxStatus,
    read_only: Sequence[Path],
    limits: ResourceLimits | None,
    nice: int,
    env: Mapping[str, str],
) -> list[MediaInfo | None]:
    """Probe ``names`` in ``workdir``; None for a file that is not media the probe reads.

    Raises:
        RunError: the probe crashed, hung, printed too much or reached a limit.
    """
    results: dict[str, MediaInfo | None] = {}
    if prober.kind == "pyav":
        assert prober.site is not None
        for start in range(0, len(names), BATCH):
            batch = list(names[start : start + BATCH])
            argv = [os.fspath(prober.program), "-I", "-S", "-c", _PYAV]
            argv += [os.fspath(prober.site), PROBE_FORMATS, *batch]
            output = await _run(
                prober, argv, len(batch), workdir, sandbox, read_only, limits, nice, env
            )
            for line in output.splitlines():
                data = json.loads(line)
                results[data["name"]] = None if "error" in data else _media(data)
    else:
        for name in names:
            argv = [os.fspath(prober.program), "-v", "error", "-hide_banner", "-of", "json"]
            argv += ["-show_format", "-show_streams", "-protocol_whitelist", "file"]
            argv += ["-format_whitelist", PROBE_FORMATS, "-i", name]
            try:
                output = await _run(prober, argv, 1, workdir, sandbox, read_only, limits, nice, env)
            except _NotMedia:
                results[name] = None
                continue
            results[name] = _media(json.loads(output))
    missing = [name for name in names if name not in results]
    if missing:
        raise RunError(f"the probe stopped before it read {missing[0]!r}")
    return [results[name] for name in names]


class _NotMedia(Exception):
    """ffprobe exited with an error of its own: the file is not media it reads."""


async def _run(
    prober: Prober,
    argv: list[str],
    files: int,
    workdir: Path,
    sandbox: SandboxStatus,
    read_only: Sequence[Path],
    limits: ResourceLimits | None,
    nice: int,
    env: Mapping[str, str],
) -> str:
    die_with_parent = not started_from_worker_threads()
    command = argv
    if sandbox.bwrap is not None:
        prefix = bwrap_args(
            sandbox.bwrap,
            ffmpeg=prober.program,
            workdir=workdir,
            read_only=[*read_only, *prober.read_only],
            die_with_parent=die_with_parent,
        )
        command = [*prefix, *argv]
    if limits is not None or nice or die_with_parent:
        command = launcher_argv(
            command,
            rlimits=() if limits is None else rlimits(limits),
            env_keys=env,
            nice=nice,
            die_with_parent=die_with_parent,
        )
    stdout = bytearray()
    stderr: deque[bytes] = deque(maxlen=20)
    process = await anyio.open_process(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=workdir,
        env=dict(env),
        start_new_session=True,
    )
    try:
        with anyio.fail_after(TIMEOUT + PER_FILE_TIMEOUT * files):
            async with anyio.create_task_group() as group:
                group.start_soon(_read_lines, process.stderr, stderr)
                assert process.stdout is not None
                async for chunk in process.stdout:
                    stdout += chunk
                    if len(stdout) > MAX_OUTPUT:
                        group.cancel_scope.cancel()
                        break
            if len(stdout) > MAX_OUTPUT:
                raise RunError(f"the probe printed more than {MAX_OUTPUT} bytes")
            await process.wait()
    except TimeoutError:
        raise RunError(f"the probe of {files} file(s) did not finish in time") from None
    finally:
        with anyio.CancelScope(shield=True):
            if process.returncode is None:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            await process.wait()
            await process.aclose()
    if process.returncode != 0:
        last = b"".join(stderr).decode("utf-8", "replace").strip().splitlines()
        line = last[-1][:300] if last else f"exit status {process.returncode}"
        if prober.kind == "ffprobe" and process.returncode == 1:
            raise _NotMedia(line)
        raise RunError(f"the {prober.kind} probe failed ({line})", returncode=process.returncode)
    return stdout.decode("utf-8", "replace")


async def _read_lines(stream: anyio.abc.ByteReceiveStream | None, tail: deque[bytes]) -> None:
    assert stream is not None
    async for chunk in stream:
        tail.append(chunk[-4096:])


def _media(data: Mapping[str, Any]) -> MediaInfo:
    """ffprobe's JSON (``format``, ``streams``), or the PyAV probe's copy of it."""
    fmt = data.get("format") or {}
    return MediaInfo(
        format=str(fmt.get("format_name") or "unknown"),
        duration=_number(fmt.get("duration")),
        bit_rate=_integer(fmt.get("bit_rate")),
        streams=tuple(_stream(stream) for stream in data.get("streams") or ()),
    )


def _stream(data: Mapping[str, Any]) -> StreamInfo:
    video = data.get("codec_type") == "video"
    audio = data.get("codec_type") == "audio"
    return StreamInfo(
        index=int(data.get("index", 0)),
        type=str(data.get("codec_type") or "unknown"),
        codec=data.get("codec_name"),
        width=_integer(data.get("width")) if video else None,
        height=_integer(data.get("height")) if video else None,
        frame_rate=_rate(data.get("avg_frame_rate")) if video else None,
        sample_rate=_integer(data.get("sample_rate")) if audio else None,
        channels=_integer(data.get("channels")) if audio else None,
        bit_rate=_integer(data.get("bit_rate")),
        duration=_number(data.get("duration")),
    )


def _number(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _integer(value: object) -> int | None:
    number = _number(value)
    return None if number is None or number <= 0 else int(number)


def _rate(value: object) -> float | None:
    """``"25/1"`` -> 25.0; ffprobe's ``"0/0"`` (unknown) -> None."""
    try:
        fraction = Fraction(str(value))
    except (ValueError, ZeroDivisionError):
        return None
    return float(fraction) if fraction > 0 else None
