"""The server-placed guards, checked against the real ffmpeg: each one does what we claim.

Every attack here is first shown to work without the guards (trusted mode runs the same argv
unguarded), so a passing test proves the guard, not some other obstacle, is what stops it.
"""

from __future__ import annotations

import base64
import io
import shutil
import wave
from collections.abc import Sequence
from pathlib import Path

import anyio
import pytest

from ffmpeg_tasks import CommandPolicy, RunError
from ffmpeg_tasks.runners import SubprocessRunner
from tests.fixtures.media import DecodedDuration

from ._support import accepts

WHITELIST_OPTIONS = ("-protocol_whitelist", "-format_whitelist")


def _run(args: Sequence[str], workdir: Path) -> str:
    """Run ffmpeg with ``args`` in ``workdir`` (as the manager would); return stderr's tail."""

    async def main() -> str:
        return await SubprocessRunner().run(args, workdir=workdir)

    return anyio.run(main)


def _workdir(tmp_path: Path, media_dir: Path, *names: str) -> Path:
    folder = tmp_path / "work"
    folder.mkdir(exist_ok=True)
    for name in names:
        shutil.copy(media_dir / name, folder / name)
    return folder


# -- where the guards go ----------------------------------------------------------------------


def test_input_guards_come_right_before_each_i_after_the_callers_options() -> None:
    policy = CommandPolicy.strict()
    args = accepts(
        policy,
        "-ss 1 -threads 2 -i a.mp4 -t 3 -i b.mp4 -c copy -map 0 -map 1 out.mkv",
        ["a.mp4", "b.mp4"],
        "out.mkv",
    )
    whitelist = ",".join(sorted(policy.demuxers))
    first = args.index("a.mp4")
    assert args[first - 7 : first + 1] == (
        *("-max_pixels", "58982400", "-protocol_whitelist", "file"),
        *("-format_whitelist", whitelist, "-i", "a.mp4"),
    )
    assert args[first - 11 : first - 7] == ("-ss", "1", "-threads", "2")  # theirs, then ours
    second = args.index("b.mp4")
    # No -threads of theirs: ours, before their options for that input.
    assert args[second - 11 : second - 7] == ("-threads", "4", "-t", "3")


def test_a_per_stream_threads_does_not_lift_the_cap_for_the_other_streams() -> None:
    args = accepts(
        CommandPolicy.strict(),
        "-threads:a 1 -i a.mp4 -threads:a 1 -c:v libx264 out.mp4",
        ["a.mp4"],
        "out.mp4",
    )
    # Ours first, for every stream; the caller's (bounded) per-stream value after it wins.
    first = args.index("-threads:a")
    assert args[first - 2 : first + 2] == ("-threads", "4", "-threads:a", "1")
    second = args.index("-threads:a", first + 1)
    assert args[second - 2 : second + 2] == ("-threads", "4", "-threads:a", "1")


def test_output_caps_come_right_before_the_output_name() -> None:
    policy = CommandPolicy.strict(max_duration=60, max_output_bytes=1000)
    args = accepts(policy, "-i a.mp4 -c copy out.mp4", ["a.mp4"], "out.mp4")
    assert args[-11:] == (
        *("-threads", "4", "-c", "copy", "-max_pixels", "58982400"),
        *("-t", "60", "-fs", "1000"),
        "out.mp4",
    )
    assert args[:4] == ("-filter_threads", "4", "-filter_complex_threads", "4")


def test_a_callers_bounded_t_or_to_replaces_the_duration_cap() -> None:
    # Our -t after theirs would override a shorter -t, and any -t disables -to: check()
    # bounds theirs instead, and the cap is placed only when neither is given.
    policy = CommandPolicy.strict(max_duration=60)
    with_t = accepts(policy, "-i a.mp4 -t 5 out.mp4", ["a.mp4"], "out.mp4")
    with_to = accepts(policy, "-i a.mp4 -to 5 out.mp4", ["a.mp4"], "out.mp4")
    assert with_t.count("-t") == 1
    assert with_t[with_t.index("-t") + 1] == "5"
    assert "-t" not in with_to
    assert with_to.count("-fs") == 1


def test_trusted_mode_runs_the_command_unchanged() -> None:
    command = "-protocol_whitelist file,http -i a.mp4 -vf movie=b.mp4 -t 99999 out.mp4"
    args = accepts(CommandPolicy.trusted(), command, ["a.mp4", "b.mp4"], "out.mp4")
    assert args == tuple(command.split())


# -- what they do, with the real ffmpeg -----------------------------------------------------------


def test_a_concat_list_disguised_as_mp4_is_refused_by_the_format_whitelist(
    tmp_path: Path, media_dir: Path
) -> None:
    # Another tenant's file in the same folder; the "mp4" the caller sent is an ffconcat list.
    workdir = _workdir(tmp_path, media_dir, "clip2.mp4")
    (workdir / "a.mp4").write_text("ffconcat version 1.0\nfile clip2.mp4\n")
    command = "-i a.mp4 -c copy out.mkv"
    # Without the guard, ffmpeg reads the other file through the list:
    _run(accepts(CommandPolicy.trusted(), command, ["a.mp4"], "out.mkv"), workdir)
    assert (workdir / "out.mkv").stat().st_size > 0
    (workdir / "out.mkv").unlink()
    # With it, the concat demuxer is not on the whitelist:
    with pytest.raises(RunError) as info:
        _run(accepts(CommandPolicy.strict(), command, ["a.mp4"], "out.mkv"), workdir)
    assert "not on whitelist" in (info.value.stderr_tail or "")
    assert not (workdir / "out.mkv").exists()


def test_a_playlist_disguised_as_mp4_is_refused(tmp_path: Path, media_dir: Path) -> None:
    # ffmpeg 5.1 follows an HLS playlist whatever its name; 7+ ignores one named .mp4. Either
    # way the guarded run must not read the segment.
    workdir = _workdir(tmp_path, media_dir, "clip2.mp4")
    playlist = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:1,\nclip2.mp4\n#EXT-X-ENDLIST\n"
    (workdir / "a.mp4").write_text(playlist)
    with pytest.raises(RunError):
        _run(
            accepts(CommandPolicy.strict(), "-i a.mp4 -c copy out.mkv", ["a.mp4"], "out.mkv"),
            workdir,
        )
    assert not (workdir / "out.mkv").exists()


def test_our_format_whitelist_wins_over_a_callers_copy(tmp_path: Path, media_dir: Path) -> None:
    # Even an application that lets callers pass -format_whitelist keeps ours: it comes later.
    policy = CommandPolicy.strict().allowing(options={"-format_whitelist": r"[a-z0-9_,]+"})
    workdir = _workdir(tmp_path, media_dir, "clip2.mp4")
    (workdir / "a.mp4").write_text("ffconcat version 1.0\nfile clip2.mp4\n")
    args = accepts(
        policy, "-format_whitelist concat,mov -i a.mp4 -c copy out.mkv", ["a.mp4"], "out.mkv"
    )
    assert args.index("concat,mov") < args.index("-format_whitelist", args.index("concat,mov"))
    with pytest.raises(RunError) as info:
        _run(args, workdir)
    assert "not on whitelist" in (info.value.stderr_tail or "")


def _data_uri_wav() -> str:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x00" * 800)
    return "data:audio/wav;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_our_protocol_whitelist_wins_over_a_callers_copy(tmp_path: Path) -> None:
    # An application allowing the concat demuxer (and -safe 0) still keeps nested protocols
    # to 'file': a list entry using another protocol is refused. Local files alone would
    # also allow 'crypto' and 'data' by default.
    policy = CommandPolicy.strict().allowing(
        demuxers={"concat"},
        options={"-safe": "0", "-protocol_whitelist": r"[a-z,]+"},
    )
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "a.mp4").write_text(f"ffconcat version 1.0\nfile '{_data_uri_wav()}'\n")
    command = "-safe 0 -protocol_whitelist file,data -i a.mp4 out.wav"
    unguarded = accepts(CommandPolicy.trusted(), command, ["a.mp4"], "out.wav")
    _run(unguarded, workdir)
    assert (workdir / "out.wav").stat().st_size > 0
    (workdir / "out.wav").unlink()
    with pytest.raises(RunError) as info:
        _run(accepts(policy, command, ["a.mp4"], "out.wav"), workdir)
    assert "Protocol 'data' not on whitelist 'file'" in (info.value.stderr_tail or "")


def test_the_duration_cap_applies(
    tmp_path: Path, media_dir: Path, decoded_duration: DecodedDuration
) -> None:
    workdir = _workdir(tmp_path, media_dir, "clip.mp4")
    policy = CommandPolicy.strict(max_duration=1)
    _run(
        accepts(
            policy, "-i clip.mp4 -c:v libx264 -preset ultrafast out.mp4", ["clip.mp4"], "out.mp4"
        ),
        workdir,
    )
    assert decoded_duration(workdir / "out.mp4") == pytest.approx(1.0, abs=0.1)  # of 2 s


def test_the_size_cap_applies(tmp_path: Path, media_dir: Path) -> None:
    workdir = _workdir(tmp_path, media_dir, "clip.mp4")
    command = "-i clip.mp4 -c:v libx264 -preset ultrafast -b:v 2M -c:a copy out.ts"
    _run(accepts(CommandPolicy.trusted(), command, ["clip.mp4"], "out.ts"), workdir)
    full = (workdir / "out.ts").stat().st_size
    (workdir / "out.ts").unlink()
    _run(
        accepts(CommandPolicy.strict(max_output_bytes=60_000), command, ["clip.mp4"], "out.ts"),
        workdir,
    )
    capped = (workdir / "out.ts").stat().st_size
    # ffmpeg checks -fs between packets, so it stops near the cap, not exactly at it.
    assert capped < 180_000 < full


def test_huge_input_frames_are_refused_by_max_pixels(tmp_path: Path, ffmpeg_exe: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    # A tiny file that decodes to 3000x3000: a decompression bomb in miniature.
    make = ["-f", "lavfi", "-i", "color=c=red:s=3000x3000", "-frames:v", "1", "big.png"]
    _run(make, workdir)
    assert (workdir / "big.png").stat().st_size < 100_000
    command = "-i big.png -vf scale=100:100 small.png"
    _run(accepts(CommandPolicy.strict(), command, ["big.png"], "small.png"), workdir)
    (workdir / "small.png").unlink()
    small_frames = CommandPolicy.strict(max_width=1000, max_height=1000)
    with pytest.raises(RunError) as info:
        _run(accepts(small_frames, command, ["big.png"], "small.png"), workdir)
    assert "exceeds specified max pixel count" in (info.value.stderr_tail or "")


def test_huge_output_frames_are_refused_by_max_pixels(tmp_path: Path, media_dir: Path) -> None:
    # An expression the policy cannot bound (it depends on the input) still meets the cap.
    workdir = _workdir(tmp_path, media_dir, "clip.mp4")
    command = "-i clip.mp4 -vf scale=iw*4:ih*4 -frames:v 1 out.png"  # 640x480
    _run(accepts(CommandPolicy.strict(), command, ["clip.mp4"], "out.png"), workdir)
    (workdir / "out.png").unlink()
    policy = CommandPolicy.strict(max_width=400, max_height=400)
    with pytest.raises(RunError) as info:
        _run(accepts(policy, command, ["clip.mp4"], "out.png"), workdir)
    assert "exceeds specified max pixel count" in (info.value.stderr_tail or "")
