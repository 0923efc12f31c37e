"""TaskManager's life cycle, on in-memory fakes of every port (real adapters: tests/integration)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import anyio
import pytest

from ffmpeg_tasks import (
    CommandPolicy,
    ConfigurationError,
    InvalidTaskError,
    InvalidTransitionError,
    ProgressCallback,
    Task,
    TaskManager,
    TaskNotFoundError,
    TaskPhase,
    TaskStatus,
    WaitTimeoutError,
)
from ffmpeg_tasks.storage import MemoryStore
from ffmpeg_tasks.testing import FakeFetcher, FakeRunner, FakeUploader

pytestmark = pytest.mark.anyio

URL_A = "https://media.example/a.mp4"
URL_B = "https://media.example/b.mp4"
COMMAND = "-i a.mp4 -c copy out.mp4"


def make_manager(
    runner: FakeRunner | None = None, **kwargs: object
) -> tuple[TaskManager, FakeFetcher, FakeRunner, FakeUploader]:
    fetcher = FakeFetcher({URL_A: b"AAAA", URL_B: b"BB"})
    runner = runner or FakeRunner()
    uploader = FakeUploader()
    manager = TaskManager(MemoryStore(), fetcher, runner, uploader, **kwargs)  # type: ignore[arg-type]
    return manager, fetcher, runner, uploader


@pytest.fixture
async def opened() -> AsyncIterator[tuple[TaskManager, FakeRunner]]:
    manager, _, runner, _ = make_manager(FakeRunner(duration=30, steps=300))
    async with manager:
        yield manager, runner


async def test_register_returns_a_pending_task() -> None:
    manager, fetcher, _, _ = make_manager()
    task = await manager.register("ffmpeg " + COMMAND, {"a.mp4": URL_A}, "out.mp4")
    assert task.status is TaskStatus.PENDING
    assert task.status.value == "pending"
    assert task.phase is None
    assert task.progress is None
    assert task.output_url is None
    assert await manager.get(task.id) == task
    assert fetcher.fetched == []  # registering downloads nothing


async def test_a_registered_task_cannot_be_changed_behind_the_managers_back() -> None:
    manager, _, _, _ = make_manager()
    files = {"a.mp4": URL_A}
    task = await manager.register(COMMAND, files, "out.mp4")
    files["a.mp4"] = "file:///etc/passwd"  # the caller's dict is copied...
    with pytest.raises(TypeError):
        task.input_files["a.mp4"] = "file:///etc/passwd"  # type: ignore[index]
    stored = await manager.get(task.id)
    assert stored.input_files == {"a.mp4": URL_A}  # ...and the task's own is read-only
    assert hash(stored) == hash(task)


async def test_execute_runs_to_completion() -> None:
    manager, fetcher, runner, uploader = make_manager()
    task = await manager.register(
        "-i a.mp4 -i b.mp4 -map 0 -map 1 out.mp4", {"a.mp4": URL_A, "b.mp4": URL_B}, "out.mp4"
    )
    done = await manager.execute(task.id)
    assert done.status is TaskStatus.COMPLETED
    assert done.error is None
    assert done.phase is None
    assert done.progress == 1.0
    assert done.output_url == f"memory://{task.id}/out.mp4"
    assert uploader.objects[done.output_url] == b"AAAABB"
    assert sorted(fetcher.fetched) == [URL_A, URL_B]
    assert done.started_at is not None
    assert done.finished_at is not None
    assert done.created_at <= done.started_at <= done.finished_at
    assert await manager.get(task.id) == done
    assert len(runner.calls) == 1


async def test_execute_twice_is_refused() -> None:
    manager, *_ = make_manager()
    task = await manager.register(COMMAND, {"a.mp4": URL_A}, "out.mp4")
    await manager.execute(task.id)
    with pytest.raises(InvalidTransitionError, match="completed"):
        await manager.execute(task.id)


async def test_unknown_ids_raise_task_not_found() -> None:
    manager, *_ = make_manager()
    for call in (manager.get, manager.execute, manager.cancel, manager.wait):
        with pytest.raises(TaskNotFoundError) as info:
            await call("no-such-task")
        assert isinstance(info.value, LookupError)


async def test_fetch_failure_is_recorded_with_inputs_kept() -> None:
    manager, *_ = make_manager()
    missing = "https://media.example/missing.mp4"
    task = await manager.register(COMMAND, {"a.mp4": missing}, "out.mp4")
    done = await manager.execute(task.id)
    assert done.status is TaskStatus.FAILED
    assert done.error is not None
    assert done.error.startswith("fetching inputs failed:")
    assert "404" in done.error
    assert done.input_files == {"a.mp4": missing}
    assert done.output_url is None


async def test_ffmpeg_failure_keeps_the_tail_of_stderr() -> None:
    manager, *_ = make_manager(FakeRunner(fail_with=183))
    task = await manager.register(COMMAND, {"a.mp4": URL_A}, "out.mp4")
    done = await manager.execute(task.id)
    assert done.status is TaskStatus.FAILED
    assert done.error is not None
    assert done.error.startswith("ffmpeg failed: ffmpeg exited with status 183")
    assert "fake failure" in done.error.splitlines()[-1]


async def test_watch_reports_phases_in_order() -> None:
    manager, *_ = make_manager(FakeRunner(duration=0.4, steps=4), progress_interval=0.0)
    task = await manager.register(COMMAND, {"a.mp4": URL_A}, "out.mp4")
    seen: list[Task] = []

    async def watch() -> None:
        seen.extend([state async for state in manager.watch(task.id)])

    async with anyio.create_task_group() as group:
        group.start_soon(watch)
        await anyio.sleep(0.05)
        await manager.execute(task.id)
    phases = [state.phase for state in seen if state.phase is not None]
    assert phases[0] is TaskPhase.FETCHING
    assert phases.index(TaskPhase.ENCODING) < phases.index(TaskPhase.UPLOADING)
    fractions = [s.progress for s in seen if s.phase is TaskPhase.ENCODING]
    assert fractions[0] is None  # unknown until ffmpeg reports its first position
    assert None not in fractions[1:]
    assert fractions[1:] == sorted(f for f in fractions if f is not None)
    assert len(set(fractions)) >= 3  # progress arrives during the encode, not only at the end
    assert seen[-1].status is TaskStatus.COMPLETED


async def test_start_needs_an_open_manager() -> None:
    manager, *_ = make_manager()
    task = await manager.register(COMMAND, {"a.mp4": URL_A}, "out.mp4")
    with pytest.raises(ConfigurationError, match="async with"):
        await manager.start(task.id)


async def test_start_returns_at_once_and_wait_gets_the_result() -> None:
    manager, *_ = make_manager(FakeRunner(duration=0.3))
    async with manager:
        task = await manager.register(COMMAND, {"a.mp4": URL_A}, "out.mp4")
        with anyio.fail_after(0.2):
            await manager.start(task.id)
        with pytest.raises(InvalidTransitionError):
            await manager.start(task.id)
        with pytest.raises(WaitTimeoutError):
            await manager.wait(task.id, timeout=0.01)
        with pytest.raises(WaitTimeoutError, match="within 0 s"):
            await manager.wait(task.id, timeout=0)  # "has it ended?": not yet
        done = await manager.wait(task.id, timeout=5)
    assert done.status is TaskStatus.COMPLETED
    assert await manager.wait(task.id, timeout=0) == done


async def test_cancel_a_running_task(opened: tuple[TaskManager, FakeRunner]) -> None:
    manager, runner = opened
    task = await manager.register(COMMAND, {"a.mp4": URL_A}, "out.mp4")
    await manager.start(task.id)
    while (await manager.get(task.id)).phase is not TaskPhase.ENCODING:
        await anyio.sleep(0.01)
    with anyio.fail_after(2):
        cancelled = await manager.cancel(task.id)
    assert cancelled.status is TaskStatus.CANCELLED
    assert cancelled.error == "cancelled"
    assert runner.running == 0
    with pytest.raises(InvalidTransitionError, match="cancelled already"):
        await manager.cancel(task.id)


async def test_cancel_a_pending_task() -> None:
    manager, _, runner, _ = make_manager()
    task = await manager.register(COMMAND, {"a.mp4": URL_A}, "out.mp4")
    cancelled = await manager.cancel(task.id)
    assert cancelled.status is TaskStatus.CANCELLED
    assert cancelled.error == "cancelled before it started"
    with pytest.raises(InvalidTransitionError):
        await manager.execute(task.id)
    assert runner.calls == []


async def test_cancel_from_another_manager_sharing_the_store() -> None:
    store = MemoryStore()
    runner = FakeRunner(duration=30, steps=300)
    fetcher = FakeFetcher({URL_A: b"A"})
    worker = TaskManager(store, fetcher, runner, FakeUploader(), progress_interval=0.0)
    other = TaskManager(store, FakeFetcher(), FakeRunner(), FakeUploader(), poll_interval=0.05)
    async with worker:
        task = await worker.register(COMMAND, {"a.mp4": URL_A}, "out.mp4")
        await worker.start(task.id)
        while (await store.get(task.id)).phase is not TaskPhase.ENCODING:
            await anyio.sleep(0.01)
        await other.cancel(task.id)
        with anyio.fail_after(2):
            done = await worker.wait(task.id)
            while runner.running:
                await anyio.sleep(0.01)
    assert done.status is TaskStatus.CANCELLED


class SilentRunner(FakeRunner):
    """An ffmpeg whose duration is unknown: it runs for a long time and never reports progress."""

    async def run(
        self, args: Sequence[str], *, workdir: Path, on_progress: ProgressCallback | None = None
    ) -> str:
        return await super().run(args, workdir=workdir, on_progress=None)


async def test_a_cancel_from_another_manager_stops_a_run_that_reports_no_progress() -> None:
    store = MemoryStore()
    runner = SilentRunner(duration=30, steps=1)
    worker = TaskManager(
        store, FakeFetcher({URL_A: b"A"}), runner, FakeUploader(), poll_interval=0.05
    )
    other = TaskManager(store, FakeFetcher(), FakeRunner(), FakeUploader())
    async with worker:
        task = await worker.register(COMMAND, {"a.mp4": URL_A}, "out.mp4")
        await worker.start(task.id)
        while not runner.running:
            await anyio.sleep(0.01)
        await other.cancel(task.id)
        with anyio.fail_after(2):  # noticed by re-reading the store, not at a progress write
            while runner.running:
                await anyio.sleep(0.01)
    assert (await store.get(task.id)).status is TaskStatus.CANCELLED


async def test_a_stored_task_is_checked_against_the_running_managers_policy() -> None:
    store = MemoryStore()
    loose = TaskManager(store, FakeFetcher(), FakeRunner(), FakeUploader(),
                        policy=CommandPolicy.trusted())  # fmt: skip
    strict, fetcher, runner, _ = make_manager()
    strict._store = store  # the same store, shared as two processes would share it
    task = await loose.register(
        "-i a.mp4 -vf movie=/etc/passwd -threads 512 out.mp4", {"a.mp4": URL_A}, "out.mp4"
    )
    done = await strict.execute(task.id)
    assert done.status is TaskStatus.FAILED
    assert done.error is not None
    assert done.error.startswith("refused by this manager's command policy: ")
    assert "movie" in done.error
    assert runner.calls == []
    assert fetcher.fetched == []
    assert done.input_files == {"a.mp4": URL_A}  # the task keeps its record


async def test_per_task_timeout_fails_the_task() -> None:
    manager, _, runner, _ = make_manager(FakeRunner(duration=30, steps=30))
    task = await manager.register(COMMAND, {"a.mp4": URL_A}, "out.mp4", timeout=0.2)
    with anyio.fail_after(3):
        done = await manager.execute(task.id)
    assert done.status is TaskStatus.FAILED
    assert done.error == "timed out after 0.2 s while encoding"
    assert runner.running == 0


async def test_closing_the_manager_cancels_background_tasks() -> None:
    manager, _, runner, _ = make_manager(FakeRunner(duration=30, steps=300))
    store = manager._store
    async with manager:
        task = await manager.register(COMMAND, {"a.mp4": URL_A}, "out.mp4")
        await manager.start(task.id)
        await anyio.sleep(0.1)
    final = await store.get(task.id)
    assert final.status is TaskStatus.CANCELLED
    assert runner.running == 0


async def test_max_concurrency_bounds_running_tasks() -> None:
    manager, _, runner, _ = make_manager(FakeRunner(duration=0.02, steps=2), max_concurrency=2)
    async with manager:
        ids = [(await manager.register(COMMAND, {"a.mp4": URL_A}, "out.mp4")).id for _ in range(50)]
        for task_id in ids:
            await manager.start(task_id)
        results = [await manager.wait(task_id, timeout=30) for task_id in ids]
    assert all(task.status is TaskStatus.COMPLETED for task in results)
    assert runner.max_running == 2


async def test_list_filters_by_status_newest_first() -> None:
    manager, *_ = make_manager()
    first = await manager.register(COMMAND, {"a.mp4": URL_A}, "out.mp4")
    second = await manager.register(COMMAND, {"a.mp4": URL_A}, "out.mp4")
    await manager.execute(first.id)
    assert [t.id for t in await manager.list()] == [second.id, first.id]
    assert [t.id for t in await manager.list(status="completed")] == [first.id]
    assert [t.id for t in await manager.list(TaskStatus.PENDING, limit=1)] == [second.id]
    with pytest.raises(InvalidTaskError, match="unknown status"):
        await manager.list(status="done")
    with pytest.raises(InvalidTaskError, match="limit"):
        await manager.list(limit=0)


async def test_health_reports_the_runner_and_uploader() -> None:
    manager, *_ = make_manager()
    health = await manager.health()
    assert health.ok
    assert health.ffmpeg_path == "fake"
    assert health.uploader.startswith("FakeUploader")
    assert health.details["policy"] == "strict"


@pytest.mark.parametrize(
    ("command", "inputs", "output", "message"),
    [
        ("", {"a.mp4": URL_A}, "out.mp4", "command is empty"),
        ("ffmpeg", {"a.mp4": URL_A}, "out.mp4", "command is empty"),
        ("-i 'a.mp4 out.mp4", {"a.mp4": URL_A}, "out.mp4", "quotes"),
        (
            "-i b.mp4 out.mp4",
            {"a.mp4": URL_A},
            "out.mp4",
            "'b.mp4' is used by the command but not declared",
        ),
        ("-i a.mp4 out.mp4", {"a.mp4": URL_A, "b.mp4": URL_B}, "out.mp4", "'b.mp4' is declared"),
        ("-i a.mp4 other.mp4", {"a.mp4": URL_A}, "out.mp4", "'out.mp4' does not appear"),
        ("-i a.mp4 a.mp4", {"a.mp4": URL_A}, "a.mp4", "also declared as an input"),
        ("-i ../a.mp4 out.mp4", {"../a.mp4": URL_A}, "out.mp4", "plain file name"),
        ("-i a.mp4 out.mp4", {"a.mp4": URL_A}, "/tmp/out.mp4", "plain file name"),
        ("-i file:a.mp4 out.mp4", {"file:a.mp4": URL_A}, "out.mp4", "':'"),
        ("-i a.mp4 -out.mp4", {"a.mp4": URL_A}, "-out.mp4", "must not start with '-'"),
        ("-i a.mp4 out.mp4", {"a.mp4": "ftp://host/a.mp4"}, "out.mp4", "http"),
        ("-i a.mp4 out.mp4", {"a.mp4": ""}, "out.mp4", "needs a URL"),
    ],
)
async def test_register_rejects_bad_tasks(
    command: str, inputs: dict[str, str], output: str, message: str
) -> None:
    manager, fetcher, _, _ = make_manager()
    with pytest.raises(InvalidTaskError, match=message) as info:
        await manager.register(command, inputs, output)
    assert isinstance(info.value, ValueError)
    assert await manager.list() == []
    assert fetcher.fetched == []


async def test_register_rejects_a_bad_timeout() -> None:
    manager, *_ = make_manager()
    with pytest.raises(InvalidTaskError, match="timeout must be a positive number"):
        await manager.register(COMMAND, {"a.mp4": URL_A}, "out.mp4", timeout=-1)


async def test_work_folders_are_removed(tmp_path: Path) -> None:
    manager, *_ = make_manager(FakeRunner(fail_with=1), workdir_root=tmp_path)
    task = await manager.register(COMMAND, {"a.mp4": URL_A}, "out.mp4")
    await manager.execute(task.id)
    assert list(tmp_path.iterdir()) == []


async def test_errors_in_the_async_with_body_are_not_wrapped() -> None:
    manager, *_ = make_manager()
    with pytest.raises(InvalidTaskError, match="not declared"):
        async with manager:
            await manager.register("-i b.mp4 out.mp4", {"a.mp4": URL_A}, "out.mp4")


async def test_health_warns_when_strict_commands_run_without_a_sandbox(
    caplog: pytest.LogCaptureFixture,
) -> None:
    manager, *_ = make_manager()  # FakeRunner reports no sandbox
    health = await manager.health()
    assert len(health.warnings) == 1
    assert "without a sandbox" in health.warnings[0]
    task = await manager.register(COMMAND, {"a.mp4": URL_A}, "out.mp4")
    await manager.execute(task.id)
    second = await manager.register(COMMAND, {"a.mp4": URL_A}, "out.mp4")
    await manager.execute(second.id)
    logged = [r for r in caplog.records if "without a sandbox" in r.getMessage()]
    assert len(logged) == 1  # once per manager, not once per task
    trusted, *_ = make_manager(policy=CommandPolicy.trusted())
    assert (await trusted.health()).warnings == ()
