"""sanitize_stderr: only diagnostic lines, no addresses, no paths, nothing a file contained."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from ffmpeg_tasks._sanitize import sanitize_stderr

WORKDIR = Path("/tmp/ffmpeg-tasks-1234abcd-xyz")

# What ffmpeg 9 printed for `-/filter_complex /etc/passwd`, `-vf drawbox=/color=secret.txt`
# and an input that is not media, banner and stream listing included.
REAL_STDERR = f"""\
Input #0, mov,mp4,m4a,3gp,3g2,mj2, from '{WORKDIR}/clip.mp4':
  Metadata:
    title           : My secret title
  Duration: 00:00:02.00, start: 0.000000, bitrate: 214 kb/s
[AVFilterGraph @ 0x55f499813d40] No such filter: 'root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
list:x:38:38:Mailing List Manager invalid:/var/list:/usr/sbin/nologin
postgres:x:101:104:PostgreSQL administrator'
Error : Filter not found
[Parsed_drawbox_0 @ 0x5594506d9700] Cannot find color 'secret-token-AKIA1234
'
[AVFilterGraph @ 0x5594506da4c0] Error initializing filters
[in#0 @ 0x55ff62d94d00] Error opening input: Invalid data found when processing input
Error opening input file {WORKDIR}/secret.txt.
frame=   50 fps=0.0 q=-0.0 Lsize=N/A time=00:00:02.04 bitrate=N/A speed= 229x
Conversion failed!
"""


def test_real_stderr_is_reduced_to_safe_diagnostics() -> None:
    cleaned = sanitize_stderr(REAL_STDERR, workdir=WORKDIR)
    assert cleaned.splitlines() == [
        "[AVFilterGraph] No such filter: '…'",
        "Error : Filter not found",
        "[Parsed_drawbox_0] Cannot find color '…'",
        "[AVFilterGraph] Error initializing filters",
        "[in#0] Error opening input: Invalid data found when processing input",
        "Error opening input file secret.txt.",
        "Conversion failed!",
    ]
    for secret in ("root:x", "nologin", "AKIA", "My secret title", "0x55", str(WORKDIR)):
        assert secret not in cleaned


def test_names_in_quotes_survive() -> None:
    line = "[vist#0:0/h264 @ 0x55d0c0ffee00] Unknown encoder 'libx265x' for 'out.mp4'"
    assert sanitize_stderr(line) == "[vist#0:0/h264] Unknown encoder 'libx265x' for 'out.mp4'"


def test_echoed_parse_positions_and_paths_are_hidden() -> None:
    text = (
        "[AVFilterGraph @ 0x1] Error parsing filterchain 'scale=1:2:x' around: root:x:0\n"
        "[fc#0 @ 0x2] No option name near '/etc/shadow'\n"
        "Error opening /etc/ssl/private/key.pem: Permission denied\n"
        'Unrecognized option "/opt/secret"\n'
    )
    assert sanitize_stderr(text).splitlines() == [
        "[AVFilterGraph] Error parsing filterchain '…' around …",
        "[fc#0] No option name near '…'",
        "Error opening <path>: Permission denied",
        'Unrecognized option "…"',
    ]


def test_an_unclosed_quote_hides_the_rest() -> None:
    text = "[x @ 0x1] Invalid value 'root:x:0:0\nanother error line\nand one more error"
    assert sanitize_stderr(text) == "[x] Invalid value '…"


def test_apostrophes_are_not_quotes() -> None:
    text = "[x @ 0x1] Can't open 'a.mp4'; it doesn't exist (error)"
    assert sanitize_stderr(text) == "[x] Can't open 'a.mp4'; it doesn't exist (error)"


def test_the_work_folder_as_resolved_is_hidden_too(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    text = f"Error opening {real}/a.mp4 and {link}/b.mp4"
    assert sanitize_stderr(text, workdir=link) == "Error opening a.mp4 and b.mp4"


def test_control_characters_and_escapes_go() -> None:
    text = "\x1b[31mError\x1b[0m in \x07stream\x00 #0\r\nwarning: x\tsplit"
    assert sanitize_stderr(text).splitlines() == ["Error in stream #0", "warning: x\tsplit"]


def test_lines_and_line_length_are_clamped() -> None:
    text = "\n".join(f"error number {n} " + "x" * 500 for n in range(50))
    cleaned = sanitize_stderr(text, max_lines=5, max_line_chars=80)
    lines = cleaned.splitlines()
    assert len(lines) == 5
    assert lines[0].startswith("error number 45 ")
    assert all(len(line) == 80 and line.endswith("…") for line in lines)
    assert sanitize_stderr(text, max_lines=0) == ""


def test_nothing_diagnostic_gives_an_empty_string() -> None:
    assert sanitize_stderr("Input #0, wav, from 'a.wav':\n  Duration: 00:00:01.00\n") == ""


@given(st.text(max_size=300))
def test_any_text_comes_out_bounded_and_clean(text: str) -> None:
    cleaned = sanitize_stderr(text, workdir=WORKDIR, max_lines=4, max_line_chars=50)
    lines = cleaned.splitlines()
    assert len(lines) <= 4
    assert all(len(line) <= 50 for line in lines)
    assert not any(ord(char) < 32 and char != "\t" for char in cleaned.replace("\n", ""))
    assert str(WORKDIR) not in cleaned
