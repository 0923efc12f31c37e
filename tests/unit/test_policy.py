"""CommandPolicy's API: strict and trusted modes, bounds, extending the allow-lists, wiring."""

from __future__ import annotations

import attrs
import pytest

from ffmpeg_tasks import CommandPolicy, ConfigurationError, InvalidTaskError, TaskManager
from ffmpeg_tasks.storage import MemoryStore
from ffmpeg_tasks.testing import FakeFetcher, FakeRunner, FakeUploader
from tests.security._support import accepts, url


def test_strict_is_the_default_with_documented_bounds() -> None:
    policy = CommandPolicy.strict()
    assert not policy.is_trusted
    assert (policy.max_inputs, policy.max_duration, policy.max_threads) == (8, 14400.0, 4)
    assert (policy.max_width, policy.max_height, policy.max_frame_rate) == (7680, 7680, 240.0)
    assert (policy.max_command_length, policy.max_output_bytes) == (8192, 4 * 1024**3)
    assert TaskManager(MemoryStore(), FakeFetcher(), FakeRunner(), FakeUploader()).policy == policy


def test_trusted_accepts_anything_and_says_so() -> None:
    policy = CommandPolicy.trusted()
    assert policy.is_trusted
    args = accepts(
        policy, "-i a.mp4 -vf movie=/etc/passwd -threads 512 out.mp4", ["a.mp4"], "out.mp4"
    )
    assert "movie=/etc/passwd" in args


def test_bounds_are_set_by_name() -> None:
    policy = CommandPolicy.strict(max_duration=10, max_inputs=1)
    assert policy.max_duration == 10
    with pytest.raises(InvalidTaskError, match="value '11' of -t must be at most 10 seconds"):
        accepts(policy, "-i a.mp4 -t 11 out.mp4", ["a.mp4"], "out.mp4")
    with pytest.raises(InvalidTaskError, match="reads 2 inputs; the limit is 1"):
        accepts(policy, "-i a.mp4 -i b.mp4 out.mp4", ["a.mp4", "b.mp4"], "out.mp4")
    assert attrs.evolve(policy, max_duration=20).max_duration == 20


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"max_duraton": 5}, "unknown policy bound"),
        ({"max_duration": 0}, "max_duration must be a positive number"),
        ({"max_inputs": -1}, "max_inputs must be a positive number"),
        ({"max_threads": True}, "max_threads must be a positive number"),
    ],
)
def test_bad_bounds_are_configuration_errors(limits: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        CommandPolicy.strict(**limits)


def test_allowing_a_filter_with_its_options() -> None:
    strict = CommandPolicy.strict()
    command = "-i a.mp4 -vf unsharp=lx=5:ly=5:la=1.0 out.mp4"
    with pytest.raises(InvalidTaskError, match="filter 'unsharp' is not allowed"):
        accepts(strict, command, ["a.mp4"], "out.mp4")
    policy = strict.allowing(filters={"unsharp": {"lx", "ly", "la"}})
    assert "unsharp=lx=5:ly=5:la=1.0" in accepts(policy, command, ["a.mp4"], "out.mp4")
    with pytest.raises(InvalidTaskError, match="option 'cx' of filter 'unsharp' is not allowed"):
        accepts(policy, "-i a.mp4 -vf unsharp=cx=5 out.mp4", ["a.mp4"], "out.mp4")
    with pytest.raises(InvalidTaskError, match="takes at most 0 positional"):
        accepts(policy, "-i a.mp4 -vf unsharp=5:5 out.mp4", ["a.mp4"], "out.mp4")
    assert "unsharp" not in strict.filters  # the original is unchanged


def test_allowing_more_options_of_a_known_filter_keeps_its_own() -> None:
    policy = CommandPolicy.strict().allowing(filters={"scale": {"in_chroma_loc"}})
    args = accepts(
        policy, "-i a.mp4 -vf scale=640:-2:in_chroma_loc=left out.mp4", ["a.mp4"], "out.mp4"
    )
    assert "scale=640:-2:in_chroma_loc=left" in args
    with pytest.raises(InvalidTaskError, match="width of at most 7680"):
        accepts(policy, "-i a.mp4 -vf scale=99999:-2 out.mp4", ["a.mp4"], "out.mp4")


def test_allowing_an_option_with_a_value_pattern() -> None:
    policy = CommandPolicy.strict().allowing(
        options={"-x264-params": r"keyint=\d{1,4}", "-bitexact": None}
    )
    args = accepts(
        policy, "-i a.mp4 -x264-params keyint=50 -bitexact out.mp4", ["a.mp4"], "out.mp4"
    )
    assert ("-x264-params", "keyint=50", "-bitexact") == args[args.index("-x264-params") :][:3]
    with pytest.raises(InvalidTaskError, match="value 'stats=/tmp/x' of -x264-params must be"):
        accepts(policy, "-i a.mp4 -x264-params stats=/tmp/x out.mp4", ["a.mp4"], "out.mp4")


def test_allowing_codecs_formats_and_extensions() -> None:
    policy = CommandPolicy.strict().allowing(
        codecs={"dnxhd"},
        muxers={"mxf"},
        demuxers={"mxf"},
        pixel_formats={"yuv422p10"},
        input_extensions={".MXF"},
        output_extensions={"mxf"},
    )
    command = "-f mxf -i a.mxf -c:v dnxhd -pix_fmt yuv422p10 -f mxf out.mxf"
    args = accepts(policy, command, ["a.mxf"], "out.mxf")
    assert "mxf" in args[args.index("-format_whitelist") + 1].split(",")
    with pytest.raises(InvalidTaskError, match=r"'a\.mxf' must end with one of"):
        accepts(CommandPolicy.strict(), command, ["a.mxf"], "out.mxf")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"filters": {"drawbox": {"/color"}}}, "is not a plain name"),
        ({"filters": {"mo vie": {"x"}}}, "is not a plain name"),
        ({"options": {"-/filter_complex": ".*"}}, "is not a plain option name"),
        ({"options": {"": None}}, "is not a plain option name"),
    ],
)
def test_allowing_refuses_names_that_cannot_be_safe(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        CommandPolicy.strict().allowing(**kwargs)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_the_manager_runs_the_guarded_argv() -> None:
    runner = FakeRunner()
    fetcher = FakeFetcher({url("a.mp4"): b"video"})
    manager = TaskManager(MemoryStore(), fetcher, runner, FakeUploader())
    task = await manager.register("-i a.mp4 -c copy out.mp4", {"a.mp4": url("a.mp4")}, "out.mp4")
    await manager.execute(task.id)
    (args,) = runner.calls
    index = args.index("-i")
    assert args[index - 6 : index] == (
        *("-max_pixels", str(7680 * 7680), "-protocol_whitelist", "file"),
        *("-format_whitelist", ",".join(sorted(manager.policy.demuxers))),
    )
    assert args[-3:] == ("-fs", str(4 * 1024**3), "out.mp4")


@pytest.mark.anyio
async def test_trusted_managers_run_commands_as_given() -> None:
    runner = FakeRunner()
    fetcher = FakeFetcher({url("a.mp4"): b"video"})
    manager = TaskManager(
        MemoryStore(), fetcher, runner, FakeUploader(), policy=CommandPolicy.trusted()
    )
    task = await manager.register(
        "-i a.mp4 -threads 64 out.mp4", {"a.mp4": url("a.mp4")}, "out.mp4"
    )
    await manager.execute(task.id)
    assert runner.calls == [("-i", "a.mp4", "-threads", "64", "out.mp4")]
    assert (await manager.health()).details["policy"] == "trusted"
