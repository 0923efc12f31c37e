"""Live progress bars (tqdm) for tasks run by a manager on fakes, on asyncio and trio and
through the blocking facade; the text bars are captured from the ``file`` they write to."""

from __future__ import annotations

import io

import pytest

from ffmpeg_tasks import (
    InvalidTransitionError,
    SyncTaskManager,
    TaskList,
    TaskManager,
    TaskNotFoundError,
    TaskStatus,
    WaitTimeoutError,
)
from ffmpeg_tasks._bars import MAX_BARS
from ffmpeg_tasks.storage import MemoryStore
from ffmpeg_tasks.testing import FakeFetcher, FakeRunner, FakeUploader

pytestmark = pytest.mark.anyio

URL = "https://media.example/a.mp4"
COMMAND = "-i a.mp4 -c copy out.mp4"


def make_manager(
    *, duration: float = 0.3, fail_with: int | None = None, **kwargs: object
) -> TaskManager:
    return TaskManager(
        MemoryStore(),
        FakeFetcher({URL: b"video"}),
        FakeRunner(duration=duration, steps=6, fail_with=fail_with),
        FakeUploader(),
        progress_interval=0.0,
        poll_interval=0.05,
        **kwargs,  # type: ignore[arg-type]
    )


def lines(text: str) -> list[str]:
    """What a terminal shows, line by line: tqdm rewrites a line after each carriage return."""
    return [
        part.strip()
        for part in text.replace("\x1b[A", "\n").replace("\r", "\n").split("\n")
        if part.strip()
    ]


async def test_a_bar_per_task_shows_phase_percent_speed_eta_and_the_end() -> None:
    manager = make_manager(max_concurrency=2)
    async with manager:
        tasks = [await manager.register(COMMAND, {"a.mp4": URL}, "out.mp4") for _ in range(3)]
        for task in tasks:
            await manager.start(task.id)
        out = io.StringIO()
        done = await manager.show_progress([task.id for task in tasks], file=out)
    assert isinstance(done, TaskList)
    assert [t.id for t in done] == [t.id for t in tasks]
    assert all(t.status is TaskStatus.COMPLETED for t in done)
    shown = lines(out.getvalue())
    for task in tasks:
        mine = [line for line in shown if line.startswith(f"{task.id[:8]} out.mp4:")]
        assert mine, shown
        assert any("encoding 33.3x ETA" in line for line in mine), mine
        assert mine[-1].startswith(f"{task.id[:8]} out.mp4: 100%|")
        assert mine[-1].endswith(", completed")
    assert any("pending" in line for line in shown)  # the third waited for a slot


async def test_many_tasks_share_a_summary_bar() -> None:
    manager = make_manager(duration=0.05, max_concurrency=4)
    async with manager:
        ids = [
            (await manager.register(COMMAND, {"a.mp4": URL}, "out.mp4")).id
            for _ in range(MAX_BARS + 2)
        ]
        for task_id in ids:
            await manager.start(task_id)
        out = io.StringIO()
        done = await manager.show_progress(ids, file=out)
    assert len(done) == MAX_BARS + 2
    shown = lines(out.getvalue())
    assert all(line.startswith(f"{MAX_BARS + 2} tasks:") for line in shown), shown
    assert shown[-1].startswith(f"{MAX_BARS + 2} tasks: 100%|")
    assert shown[-1].endswith(f", {MAX_BARS + 2} completed")


@pytest.mark.parametrize("summary", [True, False])
async def test_the_summary_can_be_chosen(summary: bool) -> None:
    manager = make_manager(duration=0.0)
    ids = [(await manager.register(COMMAND, {"a.mp4": URL}, "out.mp4")).id for _ in range(2)]
    for task_id in ids:
        await manager.execute(task_id)
    out = io.StringIO()
    await manager.show_progress(ids, summary=summary, file=out)
    shown = lines(out.getvalue())
    assert any(line.startswith("2 tasks: 100%") for line in shown) is summary
    assert any(line.startswith(ids[0][:8]) for line in shown) is not summary
    await manager.aclose()


async def test_a_failed_task_says_why_in_one_printable_line() -> None:
    manager = make_manager(fail_with=1)
    task = await manager.register(COMMAND, {"a.mp4": URL}, "out.mp4")
    await manager.execute(task.id)
    out = io.StringIO()
    (done,) = await manager.show_progress(task.id, file=out)
    assert done.status is TaskStatus.FAILED
    last = lines(out.getvalue())[-1]
    assert "failed: ffmpeg failed: ffmpeg exited with status 1: fake failure" in last
    assert "\x1b" not in out.getvalue().replace("\x1b[A", "")
    await manager.aclose()


async def test_execute_with_progress_draws_a_bar_on_standard_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    manager = make_manager()
    task = await manager.register(COMMAND, {"a.mp4": URL}, "out.mp4")
    done = await manager.execute(task.id, progress=True)
    assert done.status is TaskStatus.COMPLETED
    assert await manager.get(task.id) == done
    shown = lines(capsys.readouterr().err)
    mine = [line for line in shown if line.startswith(f"{task.id[:8]} out.mp4:")]
    assert any("fetching" in line for line in mine) or any("encoding" in line for line in mine)
    assert mine[-1].endswith(", completed")
    with pytest.raises(InvalidTransitionError, match="only a pending task can be executed"):
        await manager.execute(task.id, progress=True)  # raised as it is, not in a group
    await manager.aclose()


async def test_unknown_ids_and_timeouts_are_raised_as_they_are() -> None:
    manager = make_manager(duration=30)
    async with manager:
        with pytest.raises(TaskNotFoundError):
            await manager.show_progress(["no-such-task"], file=io.StringIO())
        with pytest.raises(TaskNotFoundError):
            await manager.execute("no-such-task", progress=True)
        task = await manager.register(COMMAND, {"a.mp4": URL}, "out.mp4")
        await manager.start(task.id)
        out = io.StringIO()
        with pytest.raises(WaitTimeoutError, match=r"1 of 1 tasks did not finish within 0\.3 s"):
            await manager.show_progress(task.id, timeout=0.3, file=out)
        assert (await manager.get(task.id)).status is TaskStatus.RUNNING  # it goes on
        await manager.cancel(task.id)
    assert "encoding" in out.getvalue()


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_blocking_facade_draws_the_same_bars(
    backend: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with SyncTaskManager(make_manager(), backend=backend) as manager:
        first = manager.register(COMMAND, {"a.mp4": URL}, "out.mp4")
        done = manager.execute(first.id, progress=True)
        assert done.status is TaskStatus.COMPLETED
        second = manager.register(COMMAND, {"a.mp4": URL}, "out.mp4")
        manager.start(second.id)
        out = io.StringIO()
        (shown,) = manager.show_progress([second.id], file=out)
    assert shown.status is TaskStatus.COMPLETED
    assert lines(capsys.readouterr().err)[-1].endswith(", completed")
    assert lines(out.getvalue())[-1].endswith(", completed")
    assert "encoding 33.3x" in out.getvalue()
