"""Property: whatever strict mode accepts, the argv it runs contains nothing forbidden.

Commands are generated from a small grammar that mixes allowed pieces with forbidden ones
(file-reading filters in several spellings, ``/key=`` loads, ``-/opt``, playlists, devices,
server options, oversized values). Whenever the policy accepts one, an independent checker
(written here from the threat list, sharing no code with the policy) inspects the exact argv
``CommandPolicy.prepare`` returns.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from typing import TypeVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ffmpeg_tasks import CommandPolicy, InvalidTaskError

from ._support import accepts

T = TypeVar("T")

# -- the grammar ------------------------------------------------------------------------------

INPUT_OPTIONS_OK = [[], ["-ss", "1"], ["-t", "2"], ["-noautorotate"], ["-loop", "1"], ["-f", "mov"]]
INPUT_OPTIONS_BAD = [
    ["-f", "lavfi"], ["-f", "concat"], ["-f", "hls"], ["-stream_loop", "-1"], ["-re"],
    ["-protocol_whitelist", "file,http,tcp"], ["-format_whitelist", "hls,concat"], ["-safe", "0"],
    ["-/i", "x"], ["-threads", "99"], ["-dump_attachment:t", "x"], ["-enable_drefs", "1"],
]  # fmt: skip
INPUT_NAMES_OK = ["a.mp4", "b.mkv", "c.wav"]
INPUT_NAMES_BAD = [
    "x.m3u8", "list.txt", "a.sdp", "concat:a.mp4|b.mp4", "pipe:0", "../a.mp4", ".a.mp4",
    "/etc/passwd", "a%d.png",
]  # fmt: skip
OUTPUT_OPTIONS_OK = [
    ["-c:v", "libx264"], ["-c", "copy"], ["-crf", "23"], ["-t", "5"], ["-map", "0:v:0"],
    ["-an"], ["-movflags", "+faststart"], ["-metadata", "title=x"], ["-s", "640x360"],
    ["-r", "30"], ["-threads", "2"],
]  # fmt: skip
OUTPUT_OPTIONS_BAD = [
    ["-vstats_file", "/tmp/x"], ["-report"], ["-f", "tee"], ["-f", "segment"],
    ["-s", "100000x100000"], ["-t", "99999"], ["-threads", "512"], ["-/vf", "/etc/passwd"],
    ["-fs", "1"], ["-attach", "/etc/passwd"], ["-c:v", "h264_vaapi"], ["-progress", "x"],
    ["-filter_complex_script", "/etc/passwd"], ["-passlogfile", "/tmp/x"],
]  # fmt: skip
FILTER_NAMES_OK = ["scale", "'scale'", "sc\\ale", "scale@s", "hflip", "crop", "fps", "null"]
FILTER_NAMES_BAD = [
    "movie", "m\\ovie", "'movie'", "'mo''vie'", "movie@x", "amovie", "drawtext", "subtitles",
    "sendcmd", "lut3d", "testsrc", "color", "anullsrc", "frei0r",
]  # fmt: skip
FILTER_ARGS_OK = ["", "640:-2", "w=iw/2:h=ih/2", "'iw/2':-1", "30", "w='abs(iw)':h=-2"]
FILTER_ARGS_BAD = [
    "/w=/etc/passwd", "'/w'=/etc/passwd", "\\/w=/etc/passwd", "100000:100000", "w=2M",
    "fontfile=/etc/passwd", "textfile=/etc/passwd", "filename=/etc/passwd", "w=1:/h=x",
    "w='while*abs(1\\,1)':h=-2", "w='root+abs(iw)':h=-2",
]  # fmt: skip
OUTPUT_NAMES_OK = ["out.mp4", "out.mkv"]
OUTPUT_NAMES_BAD = ["out.m3u8", "x%d.png", "/tmp/out.mp4", "out.txt"]


def _mixed(good: Sequence[T], bad: Sequence[T]) -> st.SearchStrategy[T]:
    """Mostly allowed pieces, often enough a forbidden one."""
    return st.one_of(st.sampled_from(good), st.sampled_from(good), st.sampled_from(bad))


@st.composite
def filtergraphs(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        name = draw(_mixed(FILTER_NAMES_OK, FILTER_NAMES_BAD))
        args = draw(_mixed(FILTER_ARGS_OK, FILTER_ARGS_BAD))
        parts.append(f"{name}={args}" if args else name)
    return ",".join(parts)


@st.composite
def commands(draw: st.DrawFn) -> tuple[str, list[str], str]:
    tokens: list[str] = []
    inputs: list[str] = []
    for _ in range(draw(st.integers(1, 2))):
        tokens += draw(_mixed(INPUT_OPTIONS_OK, INPUT_OPTIONS_BAD))
        name = draw(_mixed(INPUT_NAMES_OK, INPUT_NAMES_BAD))
        if name not in inputs:
            inputs.append(name)
        tokens += ["-i", name]
    for _ in range(draw(st.integers(0, 3))):
        tokens += draw(_mixed(OUTPUT_OPTIONS_OK, OUTPUT_OPTIONS_BAD))
    if draw(st.booleans()):
        tokens += [
            draw(st.sampled_from(["-vf", "-filter:v", "-filter_complex"])),
            draw(filtergraphs()),
        ]
    output = draw(_mixed(OUTPUT_NAMES_OK, OUTPUT_NAMES_BAD))
    return shlex.join([*tokens, output]), inputs, output


# -- the independent checker ------------------------------------------------------------------

SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\.(mp4|mkv|wav)")
FORBIDDEN_OPTIONS = {
    "-stream_loop", "-re", "-safe", "-enable_drefs", "-report", "-vstats_file", "-attach",
    "-progress", "-filter_complex_script", "-passlogfile", "-dump_attachment:t", "-i:x",
}  # fmt: skip
FORBIDDEN_FORMATS = {"lavfi", "concat", "hls", "tee", "segment"}
FORBIDDEN_FILTERS = {
    "movie", "amovie", "drawtext", "subtitles", "sendcmd", "lut3d", "testsrc", "color",
    "anullsrc", "frei0r",
}  # fmt: skip
FILTER_OPTIONS = {"-vf", "-af", "-filter:v", "-filter:a", "-filter_complex", "-lavfi"}
#: ffmpeg runs a function named at the start of an expression's primary whether or not '('
#: follows it, so the name alone is the construct to look for.
LOOPING = re.compile(r"(?<![A-Za-z0-9_])(while|root|taylor|print)(?![A-Za-z0-9_])")
NAME_POSITION = re.compile(r"(?:^|[,;\]])\s*(?:\[[^\]]*\]\s*)*([A-Za-z0-9_]+)")


def graph_level(value: str) -> str:
    """The filtergraph with quotes and escapes resolved as its first tokeniser does: a
    separator inside quotes (an unterminated quote runs to the end) or after a backslash is
    part of a name, not a boundary (``null'@,movie`` is one filter, ``null``, named
    ``,movie``). Quoted letters stay, so ``'mo''vie'`` still reads ``movie``."""
    out, quoted, escaped = [], False, False
    for char in value:
        literal = quoted or escaped
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
            continue
        elif char == "'":
            quoted = not quoted
            continue
        out.append("_" if literal and char in ",;[]" else char)
    return "".join(out)


def violations(args: tuple[str, ...], inputs: list[str], output: str) -> list[str]:
    """What in this argv would let ffmpeg read, write or burn what it should not."""
    found = []
    whitelist_values = {args[i + 1] for i, a in enumerate(args) if a == "-format_whitelist"}
    if len(whitelist_values) > 1:
        found.append("two different -format_whitelist values")
    for index, token in enumerate(args):
        value = args[index + 1] if index + 1 < len(args) else ""
        if token.startswith("-/") or token in FORBIDDEN_OPTIONS:
            found.append(f"option {token}")
        if token == "-i":
            if args[index - 4 : index] != (
                "-protocol_whitelist",
                "file",
                "-format_whitelist",
                args[index - 1],
            ):
                found.append(f"-i {value} without our whitelists right before it")
            if "concat" in args[index - 1] or "hls" in args[index - 1]:
                found.append("a playlist demuxer on the whitelist")
            if value not in inputs or not SAFE_NAME.fullmatch(value):
                found.append(f"input {value}")
        if token == "-protocol_whitelist" and value != "file":
            found.append(f"protocol whitelist {value}")
        if token == "-f" and value in FORBIDDEN_FORMATS:
            found.append(f"format {value}")
        if token == "-fs" and value != str(CommandPolicy.strict().max_output_bytes):
            found.append(f"-fs {value}")
        if token.startswith("-threads") and int(value) > 4:
            found.append(f"threads {value}")
        if token == "-t" and float(value) > 14400:
            found.append(f"-t {value}")
        if token == "-s" and max(int(side) for side in value.split("x")) > 7680:
            found.append(f"-s {value}")
        if token.startswith("-c") and "vaapi" in value:
            found.append(f"codec {value}")
        if token in FILTER_OPTIONS:
            plain = value.replace("'", "").replace("\\", "")
            names = {name.lower() for name in NAME_POSITION.findall(graph_level(value))}
            found += [f"filter {name}" for name in names & FORBIDDEN_FILTERS]
            if re.search(r"(^|[=:,])\s*/\w+\s*=", plain):
                found.append("a /key= option")
            # av_expr_parse drops av_isspace's characters first: "while while" is one name.
            if LOOPING.search(re.sub(r"[ \t\n\v\f\r]", "", plain)):
                found.append(f"a looping expression function in {value!r}")
            if re.search(r"\d{6}|\d[kKMG]\b|(file|filename)=", plain):
                found.append(f"an oversized value or a file in {value!r}")
    if args[-1] != output or not SAFE_NAME.fullmatch(output):
        found.append(f"output {args[-1]}")
    # Every input and the output get a -threads for all streams (a per-stream one is not enough).
    segments, start = [], 0
    for index, token in enumerate(args):
        if token == "-i":
            segments.append(args[start:index])
            start = index + 2
    segments.append(args[start:-1])
    if any("-threads" not in segment for segment in segments):
        found.append("an input or the output without a -threads for all its streams")
    return found


def test_the_checker_sees_what_it_must() -> None:
    # The checker itself must not be blind: unguarded argv of bad commands trip it.
    trusted = CommandPolicy.trusted()
    bad = [
        ("-i a.mp4 -vf \"'mo''vie'=x\" out.mp4", ["a.mp4"], "out.mp4"),
        ("-i a.mp4 -vf 'drawbox=\\/color=/etc/passwd' out.mp4", ["a.mp4"], "out.mp4"),
        ("-f lavfi -i a.mp4 out.mp4", ["a.mp4"], "out.mp4"),
        ("-i a.mp4 -threads 512 out.mp4", ["a.mp4"], "out.mp4"),
        ("-threads:a 1 -i a.mp4 -threads:a 1 out.mp4", ["a.mp4"], "out.mp4"),
    ]
    for command, inputs, output in bad:
        assert violations(accepts(trusted, command, inputs, output), inputs, output), command
    good = accepts(
        CommandPolicy.strict(), "-i a.mp4 -vf scale=640:-2 out.mp4", ["a.mp4"], "out.mp4"
    )
    assert violations(good, ["a.mp4"], "out.mp4") == []


def test_nothing_accepted_contains_a_forbidden_construct() -> None:
    policy = CommandPolicy.strict()
    outcomes = {"accepted": 0, "refused": 0}

    @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(commands())
    def check(case: tuple[str, list[str], str]) -> None:
        command, inputs, output = case
        try:
            args = accepts(policy, command, inputs, output)
        except InvalidTaskError:
            outcomes["refused"] += 1
            return
        outcomes["accepted"] += 1
        assert violations(args, inputs, output) == [], command

    check()
    # Both outcomes happened often: the property was not vacuous.
    assert outcomes["accepted"] >= 20, outcomes
    assert outcomes["refused"] >= 20, outcomes


def check_filtergraph(policy: CommandPolicy, graph: str, outcomes: dict[str, int]) -> None:
    """Run ``-vf graph`` past the policy; if accepted, nothing forbidden may be in its argv."""
    command = shlex.join(["-i", "a.mp4", "-vf", graph, "out.mp4"])
    try:
        args = accepts(policy, command, ["a.mp4"], "out.mp4")
    except InvalidTaskError:
        outcomes["refused"] += 1
        return
    outcomes["accepted"] += 1
    assert violations(args, ["a.mp4"], "out.mp4") == [], graph


GRAPH_PIECES = [
    "scale", "hflip", "movie", "drawbox", "color", "null", "'", "\\", "=", ":", ",", ";", "/",
    "w", "h", "1", "@", "[a]", " ", "iw",
]  # fmt: skip


def test_no_accepted_filtergraph_hides_a_forbidden_filter_or_file_key() -> None:
    # Character soup from the pieces that matter to ffmpeg's tokeniser: quotes, escapes,
    # separators, '@' and '/'.
    policy = CommandPolicy.strict()
    outcomes = {"accepted": 0, "refused": 0}

    @settings(max_examples=500, deadline=None)
    @given(
        st.sampled_from(["scale=", "drawbox=", "hflip,", "null", "'scale'=", "sc\\ale=", ""]),
        st.lists(st.sampled_from(GRAPH_PIECES), max_size=10),
    )
    def check(start: str, pieces: list[str]) -> None:
        check_filtergraph(policy, start + "".join(pieces), outcomes)

    check()
    assert outcomes["accepted"] >= 10, outcomes
    assert outcomes["refused"] >= 10, outcomes


EXPRESSION_PIECES = [
    "while", "root", "abs", "iw", "(", ")", "*", "+", "1", "\\,", "'", "t", " ",
    "\u00a0", "\x1c", "\u3000",  # white space to Python, not to ffmpeg's av_isspace
]  # fmt: skip


def test_no_accepted_expression_hides_a_looping_function() -> None:
    policy = CommandPolicy.strict()
    outcomes = {"accepted": 0, "refused": 0}

    @settings(max_examples=400, deadline=None)
    @given(st.lists(st.sampled_from(EXPRESSION_PIECES), min_size=1, max_size=8))
    def check(pieces: list[str]) -> None:
        check_filtergraph(policy, f"select='{''.join(pieces)}'", outcomes)

    check()
    assert outcomes["accepted"] >= 10, outcomes
    assert outcomes["refused"] >= 10, outcomes
