"""Finding ffmpeg (explicit path, FFMPEG_BINARY, PATH, the imageio-ffmpeg extra, in that order)
and bubblewrap (explicit path, then PATH)."""

from __future__ import annotations

import os
import stat
from collections.abc import MutableMapping
from pathlib import Path

import imageio_ffmpeg
import pytest

from ffmpeg_tasks import ConfigurationError
from ffmpeg_tasks.runners import ffmpeg_version, find_ffmpeg
from ffmpeg_tasks.runners._binary import parse_version, scrubbed_env
from ffmpeg_tasks.runners._sandbox import find_bwrap


def script(folder: Path, name: str, body: str = "exit 0", *, mode: int = 0o755) -> Path:
    """A small shell program standing in for a binary."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(mode)
    return path


@pytest.fixture
def no_imageio(clean_env: MutableMapping[str, str], tmp_path: Path) -> Path:
    """Make the extra point somewhere that does not exist (imageio-ffmpeg's own setting)."""
    missing = tmp_path / "imageio" / "ffmpeg"
    clean_env["IMAGEIO_FFMPEG_EXE"] = str(missing)
    return missing


def test_explicit_path_wins_over_everything(tmp_path: Path) -> None:
    explicit = script(tmp_path / "explicit", "ffmpeg")
    env_binary = script(tmp_path / "env", "ffmpeg")
    on_path = script(tmp_path / "bin", "ffmpeg")
    environ = {"FFMPEG_BINARY": str(env_binary), "PATH": str(on_path.parent)}
    assert find_ffmpeg(explicit, environ=environ) == explicit


def test_ffmpeg_binary_wins_over_path(tmp_path: Path) -> None:
    env_binary = script(tmp_path / "env", "my-ffmpeg")
    on_path = script(tmp_path / "bin", "ffmpeg")
    environ = {"FFMPEG_BINARY": str(env_binary), "PATH": str(on_path.parent)}
    assert find_ffmpeg(environ=environ) == env_binary


def test_path_is_searched_when_nothing_is_configured(tmp_path: Path) -> None:
    script(tmp_path / "first", "other")
    on_path = script(tmp_path / "second", "ffmpeg")
    path = os.pathsep.join([str(tmp_path / "first"), str(on_path.parent)])
    assert find_ffmpeg(environ={"PATH": path, "FFMPEG_BINARY": "  "}) == on_path


def test_os_environ_is_the_default(clean_env: MutableMapping[str, str], tmp_path: Path) -> None:
    env_binary = script(tmp_path / "env", "ffmpeg")
    clean_env["FFMPEG_BINARY"] = str(env_binary)
    assert find_ffmpeg() == env_binary


def test_a_bare_name_is_looked_up_on_path(tmp_path: Path) -> None:
    on_path = script(tmp_path / "bin", "ffmpeg7")
    environ = {"PATH": str(on_path.parent)}
    assert find_ffmpeg("ffmpeg7", environ=environ) == on_path
    assert find_ffmpeg(environ={**environ, "FFMPEG_BINARY": "ffmpeg7"}) == on_path


def test_the_extra_is_the_last_resort(clean_env: MutableMapping[str, str], tmp_path: Path) -> None:
    clean_env.pop("IMAGEIO_FFMPEG_EXE", None)
    found = find_ffmpeg(environ={"PATH": str(tmp_path)})  # nothing on PATH, nothing configured
    assert found == Path(imageio_ffmpeg.get_ffmpeg_exe())


def test_nothing_found_names_every_way_to_fix_it(no_imageio: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigurationError) as caught:
        find_ffmpeg(environ={"PATH": str(empty)})
    message = str(caught.value)
    for hint in ["ffmpeg=", "FFMPEG_BINARY", "PATH", 'pip install "ffmpeg-tasks[ffmpeg]"']:
        assert hint in message
    assert str(no_imageio) in message  # and why the extra did not help


@pytest.mark.parametrize("origin", ["explicit", "FFMPEG_BINARY"])
@pytest.mark.parametrize("problem", ["missing", "directory", "not executable", "unknown name"])
def test_a_configured_binary_that_is_unusable_is_an_error(
    tmp_path: Path, origin: str, problem: str
) -> None:
    fallback = script(tmp_path / "bin", "ffmpeg")  # would be found on PATH: must not be used
    if problem == "missing":
        configured, expected = str(tmp_path / "nope" / "ffmpeg"), "does not exist"
    elif problem == "directory":
        configured, expected = str(tmp_path), "is not a file"
    elif problem == "not executable":
        configured = str(script(tmp_path / "plain", "ffmpeg", mode=stat.S_IRUSR | stat.S_IWUSR))
        expected = "not executable"
    else:
        configured, expected = "ffmpeg-that-does-not-exist", "neither a file nor a command"
    environ = {"PATH": str(fallback.parent)}
    explicit = configured if origin == "explicit" else None
    if origin == "FFMPEG_BINARY":
        environ["FFMPEG_BINARY"] = configured
    with pytest.raises(ConfigurationError, match=expected) as caught:
        find_ffmpeg(explicit, environ=environ)
    assert configured in str(caught.value)
    assert ("FFMPEG_BINARY" in str(caught.value)) == (origin == "FFMPEG_BINARY")


@pytest.mark.parametrize(
    ("first_line", "version"),
    [
        (
            "ffmpeg version n9.0.2-17-g2a571b6068-20260930 Copyright (c) 2000-2026",
            "n9.0.2-17-g2a571b6068-20260930",
        ),
        (
            "ffmpeg version 5.1.6-0+deb12u1 Copyright (c) 2000-2024 the FFmpeg developers",
            "5.1.6-0+deb12u1",
        ),
        ("ffmpeg version 7.1 Copyright (c) 2000-2024 the FFmpeg developers", "7.1"),
        ("ffmpeg version N-117000-g1234abcd Copyright", "N-117000-g1234abcd"),
    ],
)
def test_parse_version(first_line: str, version: str) -> None:
    assert parse_version(f"{first_line}\nbuilt with gcc\n") == version


def test_parse_version_refuses_other_programs() -> None:
    with pytest.raises(ValueError, match="unexpected first line"):
        parse_version("Usage: sox [options]\n")


@pytest.mark.anyio
async def test_version_of_the_real_ffmpeg(ffmpeg_exe: Path) -> None:
    version = await ffmpeg_version(ffmpeg_exe)
    assert version
    assert " " not in version
    assert any(char.isdigit() for char in version)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("echo 'ffmpeg version 6.1.1 Copyright'", None),
        ("echo nope >&2; exit 3", "exited with status 3"),
        ("echo 'Usage: something else'", "is it ffmpeg"),
    ],
)
async def test_version_of_other_programs(tmp_path: Path, body: str, expected: str | None) -> None:
    fake = script(tmp_path, "ffmpeg", body)
    if expected is None:
        assert await ffmpeg_version(fake) == "6.1.1"
    else:
        with pytest.raises(ConfigurationError, match=expected):
            await ffmpeg_version(fake)


@pytest.mark.anyio
async def test_version_of_a_file_that_cannot_run(tmp_path: Path) -> None:
    garbage = tmp_path / "ffmpeg"
    garbage.write_bytes(b"\x00\x01 not a program")
    garbage.chmod(0o755)
    with pytest.raises(ConfigurationError, match="could not run"):
        await ffmpeg_version(garbage)


def test_scrubbed_env_has_only_path_locale_and_home(
    clean_env: MutableMapping[str, str], tmp_path: Path
) -> None:
    clean_env.update(
        {"AWS_SECRET_ACCESS_KEY": "s3cr3t", "HTTPS_PROXY": "http://p", "FFREPORT": "1"}
    )
    env = scrubbed_env(tmp_path)
    assert env == {"PATH": clean_env["PATH"], "LANG": "C.UTF-8", "HOME": str(tmp_path)}
    assert "HOME" not in scrubbed_env()


def test_bwrap_is_looked_up_on_path(tmp_path: Path) -> None:
    on_path = script(tmp_path / "bin", "bwrap")
    assert find_bwrap(None, {"PATH": str(on_path.parent)}) == (on_path, "")


def test_an_explicit_bwrap_wins_over_path(tmp_path: Path) -> None:
    explicit = script(tmp_path / "explicit", "my-bwrap")
    on_path = script(tmp_path / "bin", "bwrap")
    assert find_bwrap(explicit, {"PATH": str(on_path.parent)}) == (explicit, "")
    assert find_bwrap("my-bwrap", {"PATH": str(explicit.parent)}) == (explicit, "")


def test_no_bwrap_names_the_package(tmp_path: Path) -> None:
    assert find_bwrap(None, {"PATH": str(tmp_path)}) == (
        None,
        "bwrap was not found on PATH; install bubblewrap: apt-get install bubblewrap",
    )


@pytest.mark.parametrize("problem", ["missing", "directory", "not executable"])
def test_an_unusable_explicit_bwrap_is_not_replaced_by_another(
    tmp_path: Path, problem: str
) -> None:
    on_path = script(tmp_path / "bin", "bwrap")  # would be found on PATH: must not be used
    if problem == "missing":
        explicit = tmp_path / "nope" / "bwrap"
    elif problem == "directory":
        explicit = tmp_path
    else:
        explicit = script(tmp_path / "plain", "bwrap", mode=stat.S_IRUSR | stat.S_IWUSR)
    path, reason = find_bwrap(explicit, {"PATH": str(on_path.parent)})
    assert path is None
    assert reason == (
        f"bwrap {str(explicit)!r} (the bwrap= argument) is not an executable file; fix the "
        "path or install bubblewrap: apt-get install bubblewrap"
    )
