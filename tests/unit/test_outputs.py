"""Output patterns, expectations, the stored form of outputs, and a run's outputs on fakes:
collected, hashed, probed, checked and uploaded a few at once, all or nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import anyio
import pytest

from ffmpeg_tasks import (
    Expectation,
    InvalidTaskError,
    MediaInfo,
    Output,
    OutputError,
    StreamInfo,
    Task,
    TaskManager,
    TaskStatus,
    UploadError,
)
from ffmpeg_tasks._expect import Expect, check_expectations, expectations_from
from ffmpeg_tasks._patterns import (
    covered,
    covers_name,
    declared_patterns,
    parse_pattern,
    parse_template,
)
from ffmpeg_tasks.storage import MemoryStore
from ffmpeg_tasks.testing import FAKE_MEDIA, FakeFetcher, FakeRunner, FakeUploader

URL = "https://media.example/a.mp4"

# -- patterns ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("thumb_%03d.jpg", "thumb_001.jpg", True),
        ("thumb_%03d.jpg", "thumb_1000.jpg", True),
        ("thumb_%03d.jpg", "thumb_01.jpg", False),
        ("thumb_%03d.jpg", "thumb_abc.jpg", False),
        ("*.ts", "seg_0_001.ts", True),
        ("*.ts", ".hidden.ts", False),
        ("*.ts", "seg.ts.tmp", False),
        ("seg_?.ts", "seg_a.ts", True),
        ("seg_?.ts", "seg_ab.ts", False),
        ("poster.jpg", "poster.jpg", True),
        ("poster.jpg", "poster.jpeg", False),
    ],
)
def test_patterns_match_names(pattern: str, name: str, matches: bool) -> None:
    assert parse_pattern(pattern).matches(name) is matches


@pytest.mark.parametrize(
    ("template", "pattern", "covers"),
    [
        ("seg_0_%03d.ts", "seg_*.ts", True),
        ("seg_0_%03d.ts", "*.ts", True),
        ("seg_0_%03d.ts", "seg_0_%03d.ts", True),
        ("seg_0_%03d.ts", "seg_0_%d.ts", True),  # at least 3 digits are at least 1
        ("seg_0_%d.ts", "seg_0_%03d.ts", False),  # seg_0_1.ts has fewer than 3
        ("seg_0_%03d.ts", "seg_0_???.ts", False),  # seg_0_1000.ts has four
        ("seg_0_%03d.ts", "seg_0_0*.ts", False),  # seg_0_100.ts
        ("thumb_1%02d.jpg", "thumb_%03d.jpg", True),
        ("out%d.ts", "out*.ts", True),
        ("out%d.ts", "seg*.ts", False),
        ("poster.jpg", "*.jpg", True),
        ("poster.jpg", "p?ster.jpg", True),
        ("_x.ts", "*.ts", False),  # never collected: not a plain name
    ],
)
def test_a_template_is_covered_only_when_every_name_it_makes_matches(
    template: str, pattern: str, covers: bool
) -> None:
    assert (covered(parse_template(template), [parse_pattern(pattern)]) is not None) is covers


def test_a_name_of_a_sequence() -> None:
    assert covers_name(parse_template("thumb_%03d.jpg"), "thumb_001.jpg")
    assert not covers_name(parse_template("thumb_%03d.jpg"), "thumb_1.jpg")


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("", "non-empty string"),
        ("a/b.ts", "no folders"),
        ("*", "must end with a plain extension"),
        ("seg.*", "must end with a plain extension"),
        ("-x.ts", "must start with a letter"),
        ("x%s.ts", "may use only"),
        ("x" * 130 + ".ts", "longer than 128"),
    ],
)
def test_bad_patterns(pattern: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_pattern(pattern)


def test_declared_patterns_put_the_main_output_first_once() -> None:
    patterns = declared_patterns("master.m3u8", ["*.ts", "master.m3u8", "*.ts"], {"a.mp4": URL})
    assert [p.text for p in patterns] == ["master.m3u8", "*.ts"]
    with pytest.raises(InvalidTaskError, match="must be a list"):
        declared_patterns("out.mp4", "*.ts", {})


# -- expectations ------------------------------------------------------------------------------


def test_the_shapes_expect_takes() -> None:
    inputs, outputs = ["in.mp4"], ["out.mp4", "*.jpg"]
    assert expectations_from(None, inputs=inputs, outputs=outputs) == ()
    (one,) = expectations_from(
        {"duration": ("in.mp4", 0.25), "video": 1}, inputs=inputs, outputs=outputs
    )
    assert one == Expectation(duration="in.mp4", tolerance=0.25, video=1)
    assert one.to_dict() == {"duration": "in.mp4", "tolerance": 0.25, "video": 1}
    assert Expectation.from_dict(one.to_dict()) == one
    two = expectations_from(
        [Expectation(duration=2.0), {"output": "*.jpg", "width": 80}],
        inputs=inputs,
        outputs=outputs,
    )
    assert two == (Expectation(duration=2.0), Expectation(output="*.jpg", width=80))


@pytest.mark.parametrize(
    ("expect", "message"),
    [
        ({"frames": 1}, "unknown expectation 'frames'"),
        ({"duration": "other.mp4"}, "names input 'other.mp4', which is not declared"),
        ({"duration": -1}, "must be a positive number of seconds"),
        ({"duration": (1, 2, 3)}, "or (either, tolerance)"),
        ({"duration": 2, "tolerance": "x"}, "tolerance must be a number"),
        ({"video": True}, "expected video must be a whole number"),
        ({"audio": 100}, "from 0 to 64"),
        ({"video_codec": "h264;rm"}, "must be a codec name"),
        ({"output": "other.mp4", "video": 1}, "name the main output or one of"),
        ({"output": "out.mp4"}, "checks nothing"),
        ("video", "must be a mapping"),
        ([{"video": 1}] * 33, "the limit is 32"),
    ],
)
def test_bad_expectations_are_refused(expect: object, message: str) -> None:
    with pytest.raises(InvalidTaskError, match=message.replace("(", r"\(").replace(")", r"\)")):
        expectations_from(expect, inputs=["in.mp4"], outputs=["out.mp4"])


def test_expectations_name_what_differs() -> None:
    media = MediaInfo(
        format="mp4",
        duration=1.0,
        streams=(StreamInfo(index=0, type="video", codec="h264", width=320, height=240),),
    )
    patterns = declared_patterns("out.mp4", [], {})
    expectation = Expectation(duration=2.0, audio=1, video_codec="vp9", width=320, height=180)
    with pytest.raises(OutputError) as info:
        check_expectations(
            [expectation], main="out.mp4", outputs={"out.mp4": media}, patterns=patterns, inputs={}
        )
    assert str(info.value) == (
        "output 'out.mp4' lasts 1.000 s, expected 2.000 s ± 0.5 s; has 0 audio stream(s), "
        "expected 1; has video codec h264, expected vp9; has height 240, expected 180"
    )
    with pytest.raises(OutputError, match="was not probed"):
        check_expectations(
            [Expectation(video=1)], main="out.mp4", outputs={"out.mp4": None}, patterns=patterns,
            inputs={},
        )  # fmt: skip


# -- the stored form ---------------------------------------------------------------------------


def test_outputs_and_tasks_round_trip_and_old_rows_still_load() -> None:
    output = Output(
        name="master.m3u8",
        url="file:///x/master.m3u8",
        size=3,
        content_type="application/vnd.apple.mpegurl",
        sha256="ab" * 32,
        media=FAKE_MEDIA,
    )
    assert Output.from_dict(output.to_dict()) == output
    task = Task(
        command="-i a.mp4 out.mp4",
        input_files={"a.mp4": URL},
        output_filename="master.m3u8",
        output_patterns=("*.ts",),
        expect=(Expectation(video=3),),
        outputs=(output,),
    )
    assert Task.from_dict(task.to_dict()) == task
    old = task.to_dict()
    for key in ("output_patterns", "expect"):
        del old[key]
    for item in old["outputs"]:
        for key in ("content_type", "sha256", "media"):
            del item[key]
    loaded = Task.from_dict(old)
    assert loaded.output_patterns == ()
    assert loaded.expect == ()
    assert loaded.outputs[0].media is None


# -- runs on fakes -----------------------------------------------------------------------------


class SegmentingRunner(FakeRunner):
    """Writes the main output and ``count`` segments, as an HLS muxer would."""

    def __init__(self, count: int, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.count = count

    async def run(self, args: Sequence[str], *, workdir: Path, on_progress: object = None) -> str:
        await anyio.Path(workdir / args[-1]).write_text("#EXTM3U\n")
        for index in range(self.count):
            await anyio.Path(workdir / f"seg{index}.ts").write_bytes(b"ts%d" % index)
        await anyio.Path(workdir / "stray.txt").write_text("not declared")
        return "done"


class CountingUploader(FakeUploader):
    """Records how many uploads run at once; fails the one named ``fail``."""

    def __init__(self, fail: str | None = None) -> None:
        super().__init__()
        self.fail = fail
        self.running = 0
        self.most = 0
        self.deleted: list[str] = []

    async def upload(self, path: Path, *, task_id: str, name: str) -> Output:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await anyio.sleep(0.01)
            if name == self.fail:
                raise UploadError(f"refused {name}")
            return await super().upload(path, task_id=task_id, name=name)
        finally:
            self.running -= 1

    async def delete(self, *, task_id: str, name: str) -> None:
        self.deleted.append(name)
        await super().delete(task_id=task_id, name=name)


HLS_COMMAND = "-i a.mp4 -c copy -f hls out.m3u8"


async def run_ladder(uploader: FakeUploader, runner: FakeRunner, expect: Expect = None) -> Task:
    manager = TaskManager(MemoryStore(), FakeFetcher({URL: b"A"}), runner, uploader)
    async with manager:
        task = await manager.register(
            HLS_COMMAND, {"a.mp4": URL}, "out.m3u8", outputs=["seg*.ts", "out*.ts"], expect=expect
        )
        return await manager.execute(task.id)


@pytest.mark.anyio
async def test_outputs_are_uploaded_a_few_at_once_with_their_facts() -> None:
    uploader = CountingUploader()
    done = await run_ladder(uploader, SegmentingRunner(20))
    assert done.status is TaskStatus.COMPLETED, done.error
    assert [o.name for o in done.outputs] == ["out.m3u8", *sorted(f"seg{i}.ts" for i in range(20))]
    assert 1 < uploader.most <= 8
    seg = next(o for o in done.outputs if o.name == "seg3.ts")
    assert seg.sha256 == hashlib.sha256(b"ts3").hexdigest()
    assert seg.content_type == "video/mp2t"
    assert seg.media == FAKE_MEDIA
    assert "stray.txt" not in {o.name for o in done.outputs}


@pytest.mark.anyio
async def test_one_failed_upload_deletes_the_others() -> None:
    uploader = CountingUploader(fail="seg7.ts")
    done = await run_ladder(uploader, SegmentingRunner(20))
    assert done.status is TaskStatus.FAILED
    assert done.error == "upload failed: refused seg7.ts"
    assert done.outputs == ()
    assert uploader.objects == {}
    assert "seg7.ts" not in uploader.deleted


@pytest.mark.anyio
async def test_expectations_need_a_runner_that_probes() -> None:
    done = await run_ladder(
        CountingUploader(), SegmentingRunner(2, media=None), expect={"video": 1}
    )
    assert done.status is TaskStatus.FAILED
    assert done.error is not None
    assert "cannot probe outputs" in done.error
    unprobed = await run_ladder(CountingUploader(), SegmentingRunner(2, media=None))
    assert unprobed.status is TaskStatus.COMPLETED
    assert all(o.media is None for o in unprobed.outputs)


@pytest.mark.anyio
async def test_expectations_against_an_input_probe_the_input_too() -> None:
    runner = SegmentingRunner(1)
    done = await run_ladder(
        CountingUploader(), runner, expect={"duration": ("a.mp4", 0.1), "audio": 1}
    )
    assert done.status is TaskStatus.COMPLETED, done.error
    assert runner.probed == [("out.m3u8", "seg0.ts", "a.mp4")]
    assert done.expect == (Expectation(duration="a.mp4", tolerance=0.1, audio=1),)
