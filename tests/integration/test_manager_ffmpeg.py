"""TaskManager end to end on real parts: real ffmpeg, local files in, a local folder out."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import attrs
import psutil
import pytest

from ffmpeg_tasks import CommandPolicy, Task, TaskManager, TaskPhase, TaskStatus
from ffmpeg_tasks.fetchers import HttpFetcher, LocalFetcher
from ffmpeg_tasks.runners import SubprocessRunner
from ffmpeg_tasks.uploaders import LocalUploader
from tests.fixtures.http_server import HttpServer
from tests.fixtures.media import DecodedDuration, MakeClip

pytestmark = pytest.mark.anyio

TRANSCODE = "-i input.mp4 -vf scale=80:60 -c:v libx264 -preset ultrafast -c:a aac output.mp4"
#: Reads its input at real-time speed, so it runs as long as the clip lasts.
REALTIME = "-re -i input.mp4 -c:v libx264 -preset ultrafast -c:a aac output.mp4"


@attrs.define
class Setup:
    """A manager on real adapters and the folders it uses."""

    manager: TaskManager
    inputs: Path
    outputs: Path
    workdirs: Path

    def url(self, name: str) -> str:
        return (self.inputs / name).as_uri()


@pytest.fixture
def folders(tmp_path: Path, media_dir: Path) -> tuple[Path, Path, Path]:
    inputs, outputs, workdirs = (tmp_path / name for name in ("in", "out", "work"))
    for folder in (inputs, outputs, workdirs):
        folder.mkdir()
    shutil.copyfile(media_dir / "clip.mp4", inputs / "clip.mp4")
    return inputs, outputs, workdirs


def build(folders: tuple[Path, Path, Path], **kwargs: object) -> Setup:
    inputs, outputs, workdirs = folders
    manager = TaskManager(
        fetcher=LocalFetcher([inputs]),
        runner=SubprocessRunner(kill_grace=1.0),
        uploader=LocalUploader(outputs),
        workdir_root=workdirs,
        **kwargs,  # type: ignore[arg-type]
    )
    return Setup(manager, inputs, outputs, workdirs)


@pytest.fixture
async def setup(folders: tuple[Path, Path, Path]) -> AsyncIterator[Setup]:
    built = build(folders, progress_interval=0.0)
    async with built.manager:
        yield built


def ffmpeg_processes() -> list[psutil.Process]:
    """Our descendants that are ffmpeg (or the sandbox around it)."""
    return [child for child, name in _live_children() if "ffmpeg" in name or name == "bwrap"]


def ffmpeg_encoders() -> int:
    """How many of our descendants are ffmpeg itself (not the sandbox around it)."""
    return sum("ffmpeg" in name for _, name in _live_children())


def _live_children() -> list[tuple[psutil.Process, str]]:
    found = []
    for child in psutil.Process().children(recursive=True):
        try:  # a child may end between listing it and asking about it
            if child.status() != psutil.STATUS_ZOMBIE:
                found.append((child, child.name()))
        except psutil.NoSuchProcess:
            continue
    return found


async def until_encoding(manager: TaskManager, task_id: str) -> None:
    with anyio.fail_after(20):
        while (await manager.get(task_id)).phase is not TaskPhase.ENCODING:
            await anyio.sleep(0.02)
        while not ffmpeg_processes():
            await anyio.sleep(0.02)


async def test_a_transcode_completes_with_a_playable_output(
    setup: Setup, decoded_duration: DecodedDuration
) -> None:
    task = await setup.manager.register(
        TRANSCODE, {"input.mp4": setup.url("clip.mp4")}, "output.mp4"
    )
    seen: list[Task] = []

    async def watch() -> None:
        seen.extend([state async for state in setup.manager.watch(task.id)])

    async with anyio.create_task_group() as group:
        group.start_soon(watch)
        done = await setup.manager.execute(task.id)

    assert done.status is TaskStatus.COMPLETED, done.error
    assert done.error is None
    assert done.progress == 1.0
    stored = setup.outputs / task.id / "output.mp4"
    assert done.output_url == stored.as_uri()
    assert done.outputs[0].size == stored.stat().st_size > 0
    assert decoded_duration(stored) == pytest.approx(2.0, abs=0.1)
    assert [s.phase for s in seen if s.phase][:1] == [TaskPhase.FETCHING]
    assert {TaskPhase.ENCODING, TaskPhase.UPLOADING} <= {s.phase for s in seen}
    assert seen[-1] == done
    assert list(setup.workdirs.iterdir()) == []


async def test_a_failing_ffmpeg_is_recorded_with_its_reason_and_inputs(setup: Setup) -> None:
    (setup.inputs / "broken.mp4").write_bytes(b"this is not a video" * 100)
    url = setup.url("broken.mp4")
    task = await setup.manager.register(TRANSCODE, {"input.mp4": url}, "output.mp4")
    done = await setup.manager.execute(task.id)
    assert done.status is TaskStatus.FAILED
    assert done.error is not None
    assert done.error.startswith("ffmpeg failed: ffmpeg exited with status")
    assert "Invalid data found when processing input" in done.error
    assert done.log is not None
    assert "Invalid data found when processing input" in done.log  # the raw tail, for the app
    assert done.input_files == {"input.mp4": url}
    assert done.command == TRANSCODE
    assert done.output_url is None
    assert list(setup.outputs.iterdir()) == []
    assert list(setup.workdirs.iterdir()) == []


async def test_a_missing_input_fails_in_the_fetch_step(setup: Setup) -> None:
    task = await setup.manager.register(
        TRANSCODE, {"input.mp4": setup.url("clip.mp4")}, "output.mp4"
    )
    (setup.inputs / "clip.mp4").unlink()  # gone between register and execute
    done = await setup.manager.execute(task.id)
    assert done.status is TaskStatus.FAILED
    assert done.error is not None
    assert done.error.startswith("fetching inputs failed:")
    assert "clip.mp4" in done.error
    assert list(setup.workdirs.iterdir()) == []


async def test_cancel_stops_ffmpeg_and_removes_the_work_folder(
    folders: tuple[Path, Path, Path], make_clip: MakeClip
) -> None:
    setup = build(folders, policy=CommandPolicy.trusted())
    shutil.move(make_clip("long.mp4", seconds=20), setup.inputs / "long.mp4")
    async with setup.manager as manager:
        task = await manager.register(REALTIME, {"input.mp4": setup.url("long.mp4")}, "output.mp4")
        await manager.start(task.id)
        await until_encoding(manager, task.id)
        assert list(setup.workdirs.iterdir()) != []
        with anyio.fail_after(5):
            cancelled = await manager.cancel(task.id)
        assert cancelled.status is TaskStatus.CANCELLED
        assert cancelled.error == "cancelled"
        assert ffmpeg_processes() == []
        assert list(setup.workdirs.iterdir()) == []
        assert list(setup.outputs.iterdir()) == []  # nothing is uploaded for a cancelled task


async def test_a_task_timeout_stops_ffmpeg_and_fails_the_task(
    folders: tuple[Path, Path, Path], make_clip: MakeClip
) -> None:
    setup = build(folders, policy=CommandPolicy.trusted())
    shutil.move(make_clip("long.mp4", seconds=20), setup.inputs / "long.mp4")
    async with setup.manager as manager:
        task = await manager.register(
            REALTIME, {"input.mp4": setup.url("long.mp4")}, "output.mp4", timeout=1.5
        )
        with anyio.fail_after(10):
            done = await manager.execute(task.id)
    assert done.status is TaskStatus.FAILED
    assert done.error == "timed out after 1.5 s while encoding"
    assert ffmpeg_processes() == []
    assert list(setup.workdirs.iterdir()) == []


async def test_leaving_the_manager_cancels_running_ffmpeg(
    folders: tuple[Path, Path, Path], make_clip: MakeClip
) -> None:
    setup = build(folders, policy=CommandPolicy.trusted())
    shutil.move(make_clip("long.mp4", seconds=20), setup.inputs / "long.mp4")
    async with setup.manager as manager:
        task = await manager.register(REALTIME, {"input.mp4": setup.url("long.mp4")}, "output.mp4")
        await manager.start(task.id)
        await until_encoding(manager, task.id)
    assert (await manager.get(task.id)).status is TaskStatus.CANCELLED
    assert ffmpeg_processes() == []
    assert list(setup.workdirs.iterdir()) == []


async def test_real_encodes_respect_max_concurrency(
    folders: tuple[Path, Path, Path], make_clip: MakeClip
) -> None:
    setup = build(folders, policy=CommandPolicy.trusted(), max_concurrency=2)
    # -re reads the first 0.5 s at once: a 2 s clip keeps each encode running for ~1.5 s.
    shutil.move(make_clip("short.mp4", seconds=2), setup.inputs / "short.mp4")
    most = 0
    async with setup.manager as manager:
        ids = [
            (
                await manager.register(
                    REALTIME, {"input.mp4": setup.url("short.mp4")}, "output.mp4"
                )
            ).id
            for _ in range(6)
        ]
        for task_id in ids:
            await manager.start(task_id)
        finished = False

        async def sample() -> None:
            nonlocal most
            while not finished:
                running = len(await manager.list(TaskStatus.RUNNING))
                encoders = ffmpeg_encoders()
                most = max(most, running, encoders)
                await anyio.sleep(0.01)

        async with anyio.create_task_group() as group:
            group.start_soon(sample)
            results = [await manager.wait(task_id, timeout=60) for task_id in ids]
            finished = True
    assert [task.status for task in results] == [TaskStatus.COMPLETED] * 6
    assert most == 2


async def test_inputs_are_fetched_at_the_same_time(
    folders: tuple[Path, Path, Path], media_dir: Path, http_server: HttpServer
) -> None:
    body = (media_dir / "clip.mp4").read_bytes()
    urls = {
        name: http_server.add_slow_first_byte(f"/slow-{name}", body, delay=1.0)
        for name in ("a.mp4", "b.mp4", "c.mp4")
    }
    setup = build(folders)
    manager = TaskManager(
        fetcher=HttpFetcher(allow_private_networks=True),
        runner=SubprocessRunner(),
        uploader=LocalUploader(setup.outputs),
        workdir_root=setup.workdirs,
    )
    async with manager:
        task = await manager.register(
            "-i a.mp4 -i b.mp4 -i c.mp4 -map 0:v -map 1:a -map 2:a -c copy out.mkv",
            urls,
            "out.mkv",
        )
        started = anyio.current_time()
        done = await manager.execute(task.id)
        elapsed = anyio.current_time() - started
    assert done.status is TaskStatus.COMPLETED, done.error
    assert elapsed < 2.5, f"three 1 s downloads took {elapsed:.1f} s: they ran one after another"


async def test_the_first_failed_input_stops_the_other_downloads(
    folders: tuple[Path, Path, Path], http_server: HttpServer
) -> None:
    slow = http_server.add_slow_first_byte("/very-slow.mp4", b"x" * 1000, delay=30)
    setup = build(folders)
    manager = TaskManager(
        fetcher=HttpFetcher(allow_private_networks=True),
        runner=SubprocessRunner(),
        uploader=LocalUploader(setup.outputs),
        workdir_root=setup.workdirs,
    )
    async with manager:
        task = await manager.register(
            "-i a.mp4 -i b.mp4 -map 0 -map 1 -c copy out.mkv",
            {"a.mp4": slow, "b.mp4": http_server.url("/missing.mp4")},
            "out.mkv",
        )
        with anyio.fail_after(10):
            done = await manager.execute(task.id)
    assert done.status is TaskStatus.FAILED
    assert done.error is not None
    assert done.error.startswith("fetching inputs failed: ")
    assert "404" in done.error
    assert list(setup.workdirs.iterdir()) == []
