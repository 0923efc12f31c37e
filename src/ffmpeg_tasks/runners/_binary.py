"""Finding the ffmpeg binary, asking its version, and the environment it runs in."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import anyio

from .._errors import ConfigurationError

__all__ = [
    "ENV_VAR",
    "INSTALL_HINT",
    "ffmpeg_version",
    "find_ffmpeg",
    "parse_version",
    "scrubbed_env",
]

#: The environment variable that names the ffmpeg binary to use.
ENV_VAR = "FFMPEG_BINARY"
#: How to get an ffmpeg without touching the system.
INSTALL_HINT = 'pip install "ffmpeg-tasks[ffmpeg]"'

#: Seconds ``ffmpeg -version`` may take; a binary that hangs there is not usable.
VERSION_TIMEOUT = 15.0

_VERSION_LINE = re.compile(r"^\S+ version (\S+)")


def find_ffmpeg(
    explicit: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> Path:
    """Locate the ffmpeg to run, trying the places an operator would expect in order.

    The order is ``explicit``, then ``$FFMPEG_BINARY``, then ``ffmpeg`` on ``PATH``, then the
    binary shipped by the optional ``imageio-ffmpeg`` package. A path given explicitly or in
    ``FFMPEG_BINARY`` that is unusable is an error rather than a reason to look elsewhere:
    silently running another ffmpeg than the one configured would hide the mistake.

    Args:
        explicit: A path, or a bare command name looked up on ``PATH``.
        environ: Where ``FFMPEG_BINARY`` and ``PATH`` are read; ``os.environ`` by default.

    Returns:
        The absolute path of an executable file.

    Raises:
        ConfigurationError: the configured binary is unusable, or none was found anywhere.
    """
    env = os.environ if environ is None else environ
    search_path = env.get("PATH", os.defpath)
    if explicit is not None:
        return _check(os.fspath(explicit), "the ffmpeg= argument", search_path)
    configured = env.get(ENV_VAR, "").strip()
    if configured:
        return _check(configured, f"${ENV_VAR}", search_path)
    on_path = shutil.which("ffmpeg", path=search_path)
    if on_path is not None:
        return Path(os.path.abspath(on_path))
    extra, why_not = _from_imageio(search_path)
    if extra is not None:
        return extra
    raise ConfigurationError(
        "ffmpeg was not found. Pass ffmpeg='/path/to/ffmpeg' to the runner, set "
        f"{ENV_VAR}=/path/to/ffmpeg, put an 'ffmpeg' executable on PATH, or run "
        f"`{INSTALL_HINT}` to get a bundled binary ({why_not})."
    )


def _check(value: str, origin: str, search_path: str) -> Path:
    """Accept a configured binary only when it is an executable file."""
    if os.sep not in value and not os.path.exists(value):
        found = shutil.which(value, path=search_path)
        if found is None:
            raise ConfigurationError(
                f"ffmpeg {value!r} from {origin} is neither a file nor a command on PATH; "
                "give the full path of an ffmpeg executable"
            )
        value = found
    path = Path(os.path.abspath(os.path.expanduser(value)))
    if not path.exists():
        raise ConfigurationError(
            f"ffmpeg {str(path)!r} from {origin} does not exist; fix the path or unset it"
        )
    if not path.is_file():
        raise ConfigurationError(
            f"ffmpeg {str(path)!r} from {origin} is not a file; give the path of the binary"
        )
    if not os.access(path, os.X_OK):
        raise ConfigurationError(
            f"ffmpeg {str(path)!r} from {origin} is not executable; run `chmod +x` on it"
        )
    return path


def _from_imageio(search_path: str) -> tuple[Path | None, str]:
    """The extra's binary, or None and the reason for the error message."""
    try:
        import imageio_ffmpeg
    except ImportError:
        return None, "imageio-ffmpeg is not installed"
    try:
        exe = str(imageio_ffmpeg.get_ffmpeg_exe())
    except RuntimeError:
        return None, "imageio-ffmpeg has no binary for this platform"
    if os.sep not in exe:
        exe = shutil.which(exe, path=search_path) or exe
    path = Path(os.path.abspath(exe))
    if path.is_file() and os.access(path, os.X_OK):
        return path, ""
    return None, f"imageio-ffmpeg points to {exe!r}, which is not an executable file"


def scrubbed_env(home: Path | None = None) -> dict[str, str]:
    """The whole environment ffmpeg gets: ``PATH``, a neutral locale and a private home.

    Nothing else leaks through: no cloud credentials (``AWS_*``), no proxies (``*_PROXY``, which
    ffmpeg's HTTP client honours) and no ``FFREPORT`` (which makes ffmpeg write log files).
    """
    env = {"PATH": os.environ.get("PATH", os.defpath), "LANG": "C.UTF-8"}
    if home is not None:
        env["HOME"] = str(home)
    return env


def parse_version(output: str) -> str:
    """The version token of ``ffmpeg -version``'s first line, e.g. ``5.1.6-0+deb12u1``.

    Raises:
        ValueError: the output does not start like ffmpeg's.
    """
    first = output.lstrip().partition("\n")[0]
    match = _VERSION_LINE.match(first)
    if match is None:
        raise ValueError(f"unexpected first line {first[:200]!r}")
    return match.group(1)


async def ffmpeg_version(path: str | os.PathLike[str]) -> str:
    """Run ``ffmpeg -version`` and return its version token.

    Raises:
        ConfigurationError: the binary cannot run, fails, hangs or is not ffmpeg.
    """
    command = [os.fspath(path), "-version"]
    try:
        with anyio.fail_after(VERSION_TIMEOUT):
            result = await anyio.run_process(
                command,
                stdin=subprocess.DEVNULL,
                env=scrubbed_env(),
                check=False,
            )
    except TimeoutError:
        raise ConfigurationError(
            f"{command[0]} -version did not answer within {VERSION_TIMEOUT:g} s"
        ) from None
    except OSError as exc:
        raise ConfigurationError(
            f"could not run {command[0]}: {exc.strerror or exc}; point {ENV_VAR} at a working ffmpeg"
        ) from exc
    text = result.stdout.decode("utf-8", "replace")
    if result.returncode != 0:
        raise ConfigurationError(
            f"{command[0]} -version exited with status {result.returncode}; is it ffmpeg?"
        )
    try:
        return parse_version(text)
    except ValueError as exc:
        raise ConfigurationError(f"{command[0]} -version: {exc}; is it ffmpeg?") from exc
