"""The runner's probe: PyAV (the bundled ffmpeg has no ffprobe) and ffprobe, each in ffmpeg's
sandbox and limits, with what a file that is not media gives."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ffmpeg_tasks import ConfigurationError, RunError
from ffmpeg_tasks.runners import ResourceLimits, SubprocessRunner
from ffmpeg_tasks.runners._probe import _media
from tests.fixtures.services import require

pytestmark = pytest.mark.anyio


@pytest.fixture
def workdir(media_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    for name in ("clip.mp4", "still.png", "tone.wav"):
        shutil.copy(media_dir / name, folder / name)
    (folder / "noise.ts").write_bytes(b"\x00not media\xff" * 100)
    return folder


async def test_pyav_reads_what_ffprobe_would(workdir: Path) -> None:
    require(shutil.which("bwrap") is not None, "bubblewrap (bwrap) is not installed")
    runner = SubprocessRunner(probe="pyav", sandbox="bubblewrap")
    clip, still, tone, noise = (
        await runner.probe(["clip.mp4", "still.png", "tone.wav", "noise.ts"], workdir=workdir)
        or [None] * 4
    )
    assert clip is not None
    assert clip.format == "mov,mp4,m4a,3gp,3g2,mj2"
    assert clip.duration == pytest.approx(2.0, abs=0.05)
    assert clip.bit_rate is not None
    video, audio = clip.streams
    assert (video.type, video.codec, video.width, video.height) == ("video", "h264", 160, 120)
    assert video.frame_rate == 25.0
    assert video.duration == pytest.approx(2.0, abs=0.05)
    assert (audio.type, audio.codec, audio.sample_rate, audio.channels) == (
        "audio",
        "aac",
        44100,
        1,
    )
    assert audio.width is None
    assert still is not None
    assert still.streams[0].codec == "png"
    assert tone is not None
    assert tone.format == "wav"
    assert tone.streams[0].codec == "pcm_s16le"
    assert noise is None  # not media: no facts, and no failure


async def test_the_probe_runs_under_the_runners_limits(workdir: Path) -> None:
    runner = SubprocessRunner(probe="pyav", limits=ResourceLimits(memory_bytes=32 * 1024 * 1024))
    with pytest.raises(RunError, match="the pyav probe failed"):
        await runner.probe(["clip.mp4"], workdir=workdir)


FAKE_FFPROBE = """#!/bin/sh
# A stand-in for ffprobe: it says whether it can see the host's /etc, and refuses noise.
for last in "$@"; do :; done
if [ "$last" = noise.ts ]; then echo "$last: Invalid data found" >&2; exit 1; fi
if [ -e /etc/hostname ]; then where=host; else where=sandboxed; fi
printf '{"format": {"format_name": "%s", "duration": "2.000000", "bit_rate": "1000"},' "$where"
printf ' "streams": [{"index": 0, "codec_type": "video", "codec_name": "h264",'
printf ' "width": 160, "height": 120, "avg_frame_rate": "25/1", "bit_rate": "900"},'
printf ' {"index": 1, "codec_type": "audio", "codec_name": "aac", "sample_rate": "44100",'
printf ' "channels": 2, "avg_frame_rate": "0/0"}]}'
"""


async def test_an_ffprobe_next_to_ffmpeg_is_used_in_the_sandbox(
    workdir: Path, ffmpeg_exe: Path, tmp_path: Path
) -> None:
    require(shutil.which("bwrap") is not None, "bubblewrap (bwrap) is not installed")
    tools = tmp_path / "bin"
    tools.mkdir()
    shutil.copy(ffmpeg_exe, tools / "ffmpeg")
    probe = tools / "ffprobe"
    probe.write_text(FAKE_FFPROBE)
    probe.chmod(0o755)
    runner = SubprocessRunner(tools / "ffmpeg", sandbox="bubblewrap")
    clip, noise = await runner.probe(["clip.mp4", "noise.ts"], workdir=workdir) or [None, None]
    assert clip is not None
    assert clip.format == "sandboxed"
    assert [(s.type, s.codec, s.frame_rate, s.channels) for s in clip.streams] == [
        ("video", "h264", 25.0, None),
        ("audio", "aac", None, 2),
    ]
    assert noise is None
    health = await runner.health()
    assert health.details["probe"] == f"ffprobe ({probe})"


async def test_probe_modes(workdir: Path, ffmpeg_exe: Path) -> None:
    assert await SubprocessRunner(probe="none").probe(["clip.mp4"], workdir=workdir) is None
    assert (await SubprocessRunner(probe="none").health()).details["probe"] == (
        "off: outputs are not probed"
    )
    assert await SubprocessRunner().probe([], workdir=workdir) == []
    if shutil.which("ffprobe") is None and not ffmpeg_exe.with_name("ffprobe").exists():
        with pytest.raises(ConfigurationError, match="no ffprobe next to"):
            await SubprocessRunner(probe="ffprobe").probe(["clip.mp4"], workdir=workdir)
    with pytest.raises(ConfigurationError, match="probe must be one of"):
        SubprocessRunner(probe="mediainfo")  # type: ignore[arg-type]


def test_ffprobes_json_becomes_media_facts() -> None:
    """ffprobe's own output shape (``-of json -show_format -show_streams``), N/A included."""
    media = _media(
        {
            "streams": [
                {
                    "index": 0,
                    "codec_name": "mjpeg",
                    "codec_type": "video",
                    "width": 80,
                    "height": 60,
                    "r_frame_rate": "25/1",
                    "avg_frame_rate": "0/0",
                    "bit_rate": "N/A",
                },
                {"index": 1, "codec_type": "data"},
            ],
            "format": {"format_name": "image2", "duration": "0.040000", "bit_rate": "N/A"},
        }
    )
    assert media.format == "image2"
    assert media.duration == 0.04
    assert media.bit_rate is None
    image, data = media.streams
    assert (image.codec, image.width, image.height, image.frame_rate) == ("mjpeg", 80, 60, None)
    assert (data.type, data.codec) == ("data", None)
