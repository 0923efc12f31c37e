"""Parsing ffmpeg's progress output and predicting the output duration, ffmpeg 4 to 9."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ffmpeg_tasks._models import Progress
from ffmpeg_tasks.runners._progress import (
    LineSplitter,
    ProgressTracker,
    parse_out_time,
    parse_size,
    parse_speed,
    progress_from_block,
)
from ffmpeg_tasks.runners._timing import InputDurations, expected_duration, parse_time

# Captured from ffmpeg n9.0.2 (imageio-ffmpeg's build):
#   ffmpeg -nostdin -hide_banner -nostats -progress pipe:1 -readrate 2 -stats_period 0.1 \
#          -i clip.mp4 -t 1.5 -y s.mp4
# Note the block saying N/A between two positions, and frame=0 while x264 buffers.
FFMPEG9_TRANSCODE = """\
frame=0
fps=0.00
stream_0_0_q=0.0
bitrate=   0.6kbits/s
total_size=48
out_time_us=650159
out_time_ms=650159
out_time=00:00:00.650159
dup_frames=0
drop_frames=0
speed=6.48x
progress=continue
frame=0
fps=0.00
stream_0_0_q=0.0
bitrate=   0.4kbits/s
total_size=48
out_time_us=882358
out_time_ms=882358
out_time=00:00:00.882358
dup_frames=0
drop_frames=0
speed= 4.4x
progress=continue
frame=0
fps=0.00
stream_0_0_q=0.0
bitrate=   0.4kbits/s
total_size=48
out_time_us=1091338
out_time_ms=1091338
out_time=00:00:01.091338
dup_frames=0
drop_frames=0
speed=3.63x
progress=continue
frame=0
fps=0.00
stream_0_0_q=0.0
bitrate=   0.3kbits/s
total_size=48
out_time_us=1277098
out_time_ms=1277098
out_time=00:00:01.277098
dup_frames=0
drop_frames=0
speed=3.19x
progress=continue
frame=0
fps=0.00
stream_0_0_q=0.0
bitrate=N/A
total_size=48
out_time_us=N/A
out_time_ms=N/A
out_time=N/A
dup_frames=0
drop_frames=0
speed=N/A
progress=continue
frame=38
fps=0.00
stream_0_0_q=-1.0
bitrate= 208.8kbits/s
total_size=39142
out_time_us=1500000
out_time_ms=1500000
out_time=00:00:01.500000
dup_frames=0
drop_frames=0
speed=2.57x
progress=end
"""

# The stderr ffmpeg n9.0.2 wrote for that run, abridged to the lines that matter, cut at 95.
FFMPEG9_STDERR = """\
ffmpeg stats and -progress period set to 0.1.
Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'clip.mp4':
  Metadata:
    major_brand     : isom
    minor_version   : 512
    compatible_brands: isomiso2avc1mp41
    encoder         : Lavf63.1.102
  Duration: 00:00:02.00, start: 0.000000, bitrate: 205 kb/s
Stream mapping:
Output #0, mp4, to 's.mp4':
[out#0/mp4 @ 0x55a3c12c1600] video:23KiB audio:13KiB subtitle:0KiB other streams:0KiB global he
frame=   38 fps=0.0 q=-1.0 Lsize=      38KiB time=00:00:01.50 bitrate= 208.8kbits/s speed=2.57x
"""

# Captured from ffmpeg n9.0.2: a still image, where total_size is N/A and speed is padded.
FFMPEG9_STILL = """\
frame=1
fps=0.00
stream_0_0_q=-0.0
bitrate=N/A
total_size=N/A
out_time_us=40000
out_time_ms=40000
out_time=00:00:00.040000
dup_frames=0
drop_frames=0
speed= 8.4x
progress=end
"""

# Written by hand in ffmpeg 5.1's format (fftools/ffmpeg.c print_report): N/A before the first
# packet, a slightly negative time from AAC priming, speed formatted with %4.3g.
FFMPEG5_AUDIO = """\
bitrate=N/A
total_size=N/A
out_time_us=N/A
out_time_ms=N/A
out_time=N/A
dup_frames=0
drop_frames=0
speed=N/A
progress=continue
bitrate=  -0.0kbits/s
total_size=44
out_time_us=-23220
out_time_ms=-23220
out_time=-00:00:00.023220
dup_frames=0
drop_frames=0
speed=N/A
progress=continue
bitrate= 128.4kbits/s
total_size=16428
out_time_us=1000000
out_time_ms=1000000
out_time=00:00:01.000000
dup_frames=0
drop_frames=0
speed=   1x
progress=end
"""

# Written by hand in ffmpeg 4.1's format: no out_time_us yet, and AV_NOPTS_VALUE printed as is.
FFMPEG4_NOPTS = """\
frame=0
fps=0.0
stream_0_0_q=0.0
bitrate=N/A
total_size=48
out_time_ms=-9223372036854775807
out_time=-2562047:47:16.854775
dup_frames=0
drop_frames=0
speed=N/A
progress=continue
frame=25
fps=0.0
stream_0_0_q=-1.0
bitrate= 105.1kbits/s
total_size=13135
out_time_ms=1000000
out_time=00:00:01.000000
dup_frames=0
drop_frames=0
speed=1.95e+03x
progress=end
"""


class Capture(NamedTuple):
    """One real run, from a file in ``progress_captures/`` (see its header)."""

    version: str  # as in the file name: "6.0", "8.0", ...
    scenario: str  # "transcode", "cut", ...
    version_line: str  # what ``ffmpeg -version`` printed first
    args: list[str]  # what the runner would pass: the command without the fixed prefix
    stderr: str
    stdout: str


CAPTURES = Path(__file__).parent / "progress_captures"
#: What the runner puts before the caller's arguments, and the captures ran with.
PREFIX = ["-nostdin", "-hide_banner", "-nostats", "-progress", "pipe:1"]
CAPTURED_VERSIONS = ["5.1.9", "6.0", "7.0.2", "7.1", "8.0", "9.0.2"]
#: Scenario -> (expected output duration, the inputs' durations as stderr tells them).
SCENARIOS: dict[str, tuple[float | None, dict[int, float | None]]] = {
    "lavfi": (3.0, {0: None, 1: None}),  # two endless lavfi sources, -t 3 on the output
    "transcode": (3.0, {0: 3.0}),
    "cut": (1.5, {0: 3.0}),  # -ss 1 -i clip.mp4 -t 1.5
    "to": (1.5, {0: 3.0}),  # -i clip.mp4 -ss 0.5 -to 2
    "audio": (3.0, {0: 3.0}),  # -vn
    "pipe": (None, {0: None}),  # raw H.264 on stdin: the length is unknown until the end
}


def load_capture(path: Path) -> Capture:
    """Split a capture file: ``#`` header, then ``[stderr]`` and ``[stdout]`` sections."""
    version, scenario = path.stem.removeprefix("ffmpeg-").rsplit("-", 1)
    header, _, rest = path.read_text(encoding="utf-8").partition("\n[stderr]\n")
    stderr, _, stdout = rest.partition("\n[stdout]\n")
    comments = [line.removeprefix("# ") for line in header.splitlines()]
    version_line = next(line for line in comments if line.startswith("ffmpeg version "))
    command = next(line for line in comments if line.startswith("Command: "))
    words = shlex.split(command.removeprefix("Command: ").partition(" < ")[0])
    assert words[: len(PREFIX) + 1] == ["ffmpeg", *PREFIX], command
    # Where blocks were left out the file says so in a comment line, which is not ffmpeg's.
    kept = [line for line in stdout.splitlines() if not line.startswith("# (")]
    return Capture(
        version=version,
        scenario=scenario,
        version_line=version_line,
        args=words[len(PREFIX) + 1 :],
        stderr=stderr,
        stdout="\n".join(kept) + "\n",
    )


CAPTURE_FILES = sorted(CAPTURES.glob("ffmpeg-*.txt"))
captured = pytest.mark.parametrize(
    "capture", [load_capture(path) for path in CAPTURE_FILES], ids=[p.stem for p in CAPTURE_FILES]
)


def blocks(stdout: str) -> list[dict[str, str]]:
    """The ``-progress`` blocks as ffmpeg wrote them, each ending at its ``progress=`` line."""
    result: list[dict[str, str]] = [{}]
    for line in stdout.splitlines():
        key, _, value = line.partition("=")
        result[-1][key] = value
        if key == "progress":
            result.append({})
    assert result.pop() == {}, "the capture ends inside a block"
    return result


def final_stats(stderr: str) -> dict[str, str]:
    """The values of the statistics line ffmpeg prints on stderr when it is done."""
    (line,) = (line for line in stderr.splitlines() if re.match(r"(frame|size)=", line))
    return dict(re.findall(r"(\w+)=\s*(\S+)", line))


def track(stdout: str, *, args: list[str], stderr: str = "") -> list[Progress]:
    tracker = ProgressTracker(args)
    for line in stderr.splitlines():
        tracker.stderr_line(line)
    reports = [tracker.stdout_line(line) for line in stdout.splitlines()]
    return [report for report in reports if report is not None]


# -- time, size and speed values ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("00:00:05.00", 5.0),
        ("01:02:03.5", 3723.5),
        ("02:03", 123.0),
        ("0:00:00.040000", 0.04),
        ("-00:00:00.023220", -0.02322),
        ("5", 5.0),
        ("1.5", 1.5),
        ("7.", 7.0),
        ("1500ms", 1.5),
        ("250000us", 0.25),
        ("2s", 2.0),
        ("-3", -3.0),
        (" 12 ", 12.0),
    ],
)
def test_parse_time_reads_both_ffmpeg_syntaxes(text: str, seconds: float) -> None:
    assert parse_time(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["N/A", "", "abc", "1.5.2", "1:2:3:4", "5min", "1e3", ".5", "--1"])
def test_parse_time_refuses_what_ffmpeg_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="not an ffmpeg time"):
        parse_time(text)


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_parse_time_reads_what_progress_writes(micros: int) -> None:
    sign = "-" if micros < 0 else ""
    seconds, us = divmod(abs(micros), 1_000_000)
    text = f"{sign}{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.{us:06d}"
    assert parse_time(text) == pytest.approx(micros / 1e6, abs=1e-6)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("51345", 51345),
        ("256KiB", 262144),
        ("256kB", 262144),  # ffmpeg before 7.0 wrote kB for 1024 bytes
        ("   50KiB", 51200),
        ("1.5MiB", 1572864),
        ("2GiB", 2 * 1024**3),
        ("100B", 100),
        ("N/A", None),
        ("", None),
        ("12 apples", None),
    ],
)
def test_parse_size(text: str, size: int | None) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    ("text", "speed"),
    [
        ("29.1x", 29.1),
        (" 8.4x", 8.4),
        ("   1x", 1.0),
        ("1.95e+03x", 1950.0),
        ("N/A", None),
        ("fast", None),
    ],
)
def test_parse_speed(text: str, speed: float | None) -> None:
    assert parse_speed(text) == speed


# -- one block --------------------------------------------------------------------------------


def test_out_time_prefers_microseconds_then_the_misnamed_ms_key_then_the_clock() -> None:
    assert parse_out_time({"out_time_us": "2500000", "out_time_ms": "1", "out_time": "1"}) == 2.5
    # out_time_ms holds microseconds in every ffmpeg: 2000000 means 2 s, not 2000 s.
    assert parse_out_time({"out_time_us": "N/A", "out_time_ms": "2000000"}) == 2.0
    assert parse_out_time({"out_time": "00:01:00.250000"}) == 60.25


@pytest.mark.parametrize(
    ("block", "seconds"),
    [
        ({"out_time_us": "N/A", "out_time_ms": "N/A", "out_time": "N/A"}, None),
        ({}, None),
        ({"out_time_us": "-23220"}, 0.0),
        ({"out_time_ms": "-9223372036854775807", "out_time": "-2562047:47:16.854775"}, None),
        ({"out_time": "-2562047:47:16.854775"}, None),
    ],
)
def test_out_time_unknown_or_negative(block: dict[str, str], seconds: float | None) -> None:
    assert parse_out_time(block) == seconds


def test_a_real_block_becomes_a_progress_value() -> None:
    block = dict(line.split("=", 1) for line in FFMPEG9_TRANSCODE.splitlines()[-12:])
    assert progress_from_block(block, duration=2.0) == Progress(
        out_time=1.5, duration=2.0, speed=2.57, frame=38, total_size=39142, done=True
    )


def test_a_block_of_not_applicable_values_is_all_unknown() -> None:
    block = {"frame": "N/A", "total_size": "N/A", "speed": "N/A", "progress": "continue"}
    assert progress_from_block(block) == Progress()


# -- whole runs -------------------------------------------------------------------------------


def test_ffmpeg9_transcode_with_duration_from_stderr() -> None:
    reports = track(
        FFMPEG9_TRANSCODE, args=["-i", "clip.mp4", "-y", "s.mp4"], stderr=FFMPEG9_STDERR
    )
    positions = [0.650159, 0.882358, 1.091338, 1.277098, 1.277098, 1.5]
    assert [r.out_time for r in reports] == pytest.approx(positions)
    assert {r.duration for r in reports} == {2.0}
    assert [r.done for r in reports] == [False] * 5 + [True]
    assert [r.speed for r in reports] == [6.48, 4.4, 3.63, 3.19, None, 2.57]
    assert reports[-1].fraction == 1.0
    # The N/A block does not move the position back: the bar never jumps backwards.
    assert reports[4].fraction == reports[3].fraction


def test_ffmpeg9_transcode_with_duration_from_a_cut() -> None:
    reports = track(
        FFMPEG9_TRANSCODE, args=["-i", "clip.mp4", "-t", "1.5", "s.mp4"], stderr=FFMPEG9_STDERR
    )
    fractions = [r.fraction for r in reports]
    positions = [0.650159, 0.882358, 1.091338, 1.277098, 1.277098]
    assert fractions == pytest.approx([p / 1.5 for p in positions] + [1.0])


def test_ffmpeg9_still_image() -> None:
    (report,) = track(FFMPEG9_STILL, args=["-i", "clip.mp4", "-frames:v", "1", "still.png"])
    assert report == Progress(out_time=0.04, speed=8.4, frame=1, done=True)


def test_ffmpeg5_audio_with_priming_and_padding() -> None:
    reports = track(FFMPEG5_AUDIO, args=["-i", "tone.wav", "-t", "1", "out.m4a"])
    assert [r.out_time for r in reports] == [None, 0.0, 1.0]
    assert [r.fraction for r in reports] == [None, 0.0, 1.0]
    assert [r.total_size for r in reports] == [None, 44, 16428]
    assert [r.speed for r in reports] == [None, None, 1.0]
    assert all(r.frame is None for r in reports)


def test_ffmpeg4_without_out_time_us_and_with_no_timestamp() -> None:
    reports = track(FFMPEG4_NOPTS, args=["-i", "a.mp4", "-t", "1", "b.mp4"])
    assert [r.out_time for r in reports] == [None, 1.0]
    assert reports[1].speed == 1950.0


def test_tracker_ignores_noise_and_keeps_the_last_value_of_a_key() -> None:
    tracker = ProgressTracker(["-i", "a.mp4", "-t", "4", "b.mp4"])
    for line in ["garbage", "out_time_us=1000000", "", "out_time_us = 2000000 "]:
        assert tracker.stdout_line(line) is None
    report = tracker.stdout_line("progress=continue")
    assert report is not None
    assert report.fraction == 0.5


# -- real captures, ffmpeg 5.1 to 9 -----------------------------------------------------------
# Each file in progress_captures/ is one real run: its header says which binary and command.


def test_every_version_was_captured_in_every_scenario() -> None:
    names = {path.stem for path in CAPTURE_FILES}
    assert names == {f"ffmpeg-{v}-{s}" for v in CAPTURED_VERSIONS for s in SCENARIOS}


@captured
def test_capture_is_what_its_name_says(capture: Capture) -> None:
    assert re.match(rf"ffmpeg version n?{re.escape(capture.version)}\b", capture.version_line)
    assert capture.scenario in SCENARIOS


@captured
def test_capture_total_duration_from_stderr_and_cuts(capture: Capture) -> None:
    expected, inputs = SCENARIOS[capture.scenario]
    durations = InputDurations()
    for line in capture.stderr.splitlines():
        durations.feed(line)
    assert durations.durations == inputs
    tracker = ProgressTracker(capture.args)
    for line in capture.stderr.splitlines():
        tracker.stderr_line(line)
    assert tracker.duration == expected


@captured
def test_capture_reports_end_at_one_and_never_go_back(capture: Capture) -> None:
    expected, _ = SCENARIOS[capture.scenario]
    raw = blocks(capture.stdout)
    reports = track(capture.stdout, args=capture.args, stderr=capture.stderr)
    assert len(reports) == len(raw)
    assert [r.done for r in reports] == [False] * (len(raw) - 1) + [True]
    assert reports[-1].fraction == 1.0
    # What ffmpeg wrote moves forward, and so do the reports made of it.
    written = [t for t in (parse_out_time(block) for block in raw) if t is not None]
    assert written == sorted(written)
    positions = [r.out_time for r in reports if r.out_time is not None]
    assert positions == sorted(positions)
    fractions = [r.fraction for r in reports]
    if expected is None:  # nothing to divide by until ffmpeg is done
        assert fractions == [None] * (len(raw) - 1) + [1.0]
    else:
        known = [f for f in fractions if f is not None]
        assert known == sorted(known)
        assert all(0.0 <= f <= 1.0 for f in known)
    # The end lands on the expected duration, give or take a frame of video or audio.
    end = reports[-1].out_time
    assert end == pytest.approx(3.0 if expected is None else expected, abs=0.05)
    # ... and agrees with the time= of the statistics line (which is cut to centiseconds).
    assert end == pytest.approx(parse_time(final_stats(capture.stderr)["time"]), abs=0.01)


@captured
def test_capture_not_applicable_and_no_timestamp_values(capture: Capture) -> None:
    reports = track(capture.stdout, args=capture.args, stderr=capture.stderr)
    furthest: float | None = None
    for block, report in zip(blocks(capture.stdout), reports, strict=True):
        stamp = block["out_time_us"]
        unknown = stamp == "N/A" or int(stamp) == -(2**63 - 1)  # N/A, or AV_NOPTS_VALUE + 1
        assert (parse_out_time(block) is None) == unknown
        if not unknown:
            furthest = max(furthest or 0.0, int(stamp) / 1e6)
        assert report.out_time == (None if furthest is None else pytest.approx(furthest))
        assert (report.speed is None) == (block["speed"] == "N/A")
        if report.speed is not None:
            assert report.speed == float(block["speed"].strip().removesuffix("x"))


@captured
def test_capture_sizes_and_frames(capture: Capture) -> None:
    reports = track(capture.stdout, args=capture.args, stderr=capture.stderr)
    raw = blocks(capture.stdout)
    assert [r.total_size for r in reports] == [int(b["total_size"]) for b in raw]
    stats = final_stats(capture.stderr)
    # The statistics line rounds to whole KiB, spelt kB before ffmpeg 7 and KiB since.
    written = stats.get("Lsize", stats.get("size", ""))
    unit = "kB" if int(capture.version.split(".")[0]) < 7 else "KiB"
    assert written.endswith(unit)
    size = parse_size(written)
    assert size is not None
    assert reports[-1].total_size == pytest.approx(size, abs=512)
    if capture.scenario == "audio":
        assert "frame" not in stats
        assert all(r.frame is None for r in reports)
    else:
        assert reports[-1].frame == int(stats["frame"])
        frames = [int(block["frame"]) for block in raw]
        assert [r.frame for r in reports] == frames == sorted(frames)
    assert reports[-1].speed == parse_speed(stats["speed"])


def test_ffmpeg6_writes_no_timestamp_before_the_first_packet() -> None:
    capture = load_capture(CAPTURES / "ffmpeg-6.0-audio.txt")
    assert "out_time_us=-9223372036854775807\n" in capture.stdout
    first, second, *_ = track(capture.stdout, args=capture.args, stderr=capture.stderr)
    assert first == Progress(duration=3.0, total_size=0)
    assert first.fraction is None
    assert second.out_time == pytest.approx(0.362667)


def test_ffmpeg8_writes_not_applicable_before_the_first_packet() -> None:
    capture = load_capture(CAPTURES / "ffmpeg-8.0-cut.txt")
    first, second, *_ = track(capture.stdout, args=capture.args, stderr=capture.stderr)
    assert first == Progress(duration=1.5, frame=0, total_size=48)
    assert second.fraction == pytest.approx(0.44 / 1.5)


# -- lines ------------------------------------------------------------------------------------


def test_line_splitter_ends_lines_at_cr_and_lf_and_skips_blank_ones() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"one\r\ntwo\rthree\n\n  \nfo") == ["one", "two", "three"]
    assert splitter.feed(b"ur   ") == []
    assert splitter.flush() == ["four"]
    assert splitter.flush() == []


def test_line_splitter_keeps_a_bounded_part_of_endless_lines() -> None:
    splitter = LineSplitter(max_chars=10)
    for _ in range(1000):
        assert splitter.feed(b"x" * 10_000) == []
    assert splitter.feed(b"yy\nnext\n") == ["x" * 10, "next"]


def test_line_splitter_replaces_invalid_utf8_and_keeps_split_characters() -> None:
    splitter = LineSplitter()
    snowman = "\N{SNOWMAN}".encode()
    assert splitter.feed(b"bad \xff " + snowman[:1]) == []
    assert splitter.feed(snowman[1:] + b"\n") == ["bad \N{REPLACEMENT CHARACTER} \N{SNOWMAN}"]


@given(st.lists(st.binary(max_size=40), max_size=20), st.integers(min_value=1, max_value=7))
def test_line_splitter_does_not_depend_on_chunking(parts: list[bytes], step: int) -> None:
    data = b"\n".join(parts).replace(b"\x00", b"")
    whole = LineSplitter(max_chars=30)
    expected = whole.feed(data) + whole.flush()
    chunked = LineSplitter(max_chars=30)
    lines: list[str] = []
    for start in range(0, len(data), step):
        lines += chunked.feed(data[start : start + step])
    assert lines + chunked.flush() == expected


# -- durations --------------------------------------------------------------------------------


def test_input_durations_from_stderr() -> None:
    inputs = InputDurations()
    lines = [
        "  Duration: 00:00:09.00, start: 0.000000",  # before any input header: not ours
        "Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'clip.mp4':",
        "      DURATION        : 00:00:07.000000000",  # a Matroska tag, not the duration
        "  Duration: 00:00:02.00, start: 0.000000, bitrate: 205 kb/s",
        "Input #1, lavfi, from 'sine':",
        "  Duration: N/A, start: 0.000000, bitrate: 705 kb/s",
        "Output #0, mp4, to 'out.mp4':",
        "  Duration: 00:00:05.00",  # never printed for outputs; ignored if it were
    ]
    recorded = [inputs.feed(line) for line in lines]
    assert recorded == [False, False, False, True, False, True, False, False]
    assert inputs.durations == {0: 2.0, 1: None}


TWO = {0: 2.0}


@pytest.mark.parametrize(
    ("args", "durations", "expected"),
    [
        ("-i a.mp4 o.mp4", TWO, 2.0),
        ("-i a.mp4 -t 1 o.mp4", TWO, 1.0),
        ("-i a.mp4 -t 1500ms o.mp4", TWO, 1.5),
        ("-i a.mp4 -t 5 o.mp4", TWO, 2.0),
        ("-t 5 -i a.mp4 o.mp4", TWO, 2.0),
        ("-ss 0.5 -i a.mp4 o.mp4", TWO, 1.5),
        ("-i a.mp4 -ss 0.5 o.mp4", TWO, 1.5),
        ("-i a.mp4 -ss 3 o.mp4", TWO, 0.0),
        # The next seven were checked against ffmpeg 9's final out_time.
        ("-i a.mp4 -ss 0.5 -to 1.5 o.mp4", TWO, 1.0),
        ("-ss 0.5 -to 1.5 -i a.mp4 o.mp4", TWO, 1.0),
        ("-ss 0.5 -i a.mp4 -to 1 o.mp4", TWO, 1.0),
        ("-ss 0.5 -i a.mp4 -t 1 o.mp4", TWO, 1.0),
        ("-sseof -0.5 -i a.mp4 o.mp4", TWO, 0.5),
        ("-i a.mp4 -to 0.5 -t 1 o.mp4", TWO, 1.0),
        ("-stream_loop 1 -i a.mp4 o.mp4", TWO, 4.0),
        ("-stream_loop -1 -i a.mp4 o.mp4", TWO, None),
        ("-stream_loop -1 -i a.mp4 -t 3 o.mp4", TWO, 3.0),
        ("-loop 1 -i s.png o.mp4", {0: 0.04}, None),
        ("-loop 1 -i s.png -t 2 o.mp4", {0: 0.04}, 2.0),
        ("-i a.gif -loop 0 o.gif", {0: 2.0}, 2.0),
        ("-i a.mp4 -i b.wav o.mp4", {0: 2.0, 1: 1.0}, 2.0),
        ("-i a.mp4 -i b.wav -shortest o.mp4", {0: 2.0, 1: 1.0}, 1.0),
        ("-i a.mp4 -ss 1.5 -i b.mp4 o.mp4", {0: 2.0, 1: 2.0}, 2.0),
        ("-i a.mp4 -ss 1.5 -i b.mp4 -shortest o.mp4", {0: 2.0, 1: 2.0}, 0.5),
        ("-i a.mp4 -i b.wav o.mp4", {0: 2.0}, None),
        ("-i a.mp4 -i b.wav -shortest o.mp4", {0: 2.0, 1: None}, 2.0),
        ("-f lavfi -i testsrc2 -t 60 o.mp4", {0: None}, 60.0),
        ("-f lavfi -i testsrc2 -ss 1 -to 3 o.mp4", {0: None}, 2.0),
        ("-f lavfi -i testsrc2 o.mp4", {0: None}, None),
        ("-i a.mp4 o.mp4", {}, None),
        ("-i a.mp4 -t abc o.mp4", TWO, None),
        ("-i a.mp4 -t -1 o.mp4", TWO, 0.0),
        ("-i a.mp4 o.mp4 -t", TWO, 2.0),
        ("-an -i a.mp4 -map 0 -c:v libx264 -t 00:00:01.25 o.mp4", TWO, 1.25),
    ],
)
def test_expected_duration(
    args: str, durations: dict[int, float | None], expected: float | None
) -> None:
    result = expected_duration(args.split(), durations)
    assert result == (None if expected is None else pytest.approx(expected))
