"""TaskManager's life cycle, on in-memory fakes of every port (real adapters: tests/integration)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest

from ffmpeg_tasks import (
    CommandPolicy,
    ConfigurationError,
    Delivery,
    Health,
    InvalidTaskError,
    InvalidTransitionError,
    Output,
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
    fetcher, runner = FakeFetcher({URL_A: b"AAAA"}), FakeRunner()
    # The same store, shared as two processes would share it.
    strict = TaskManager(store, fetcher, runner, FakeUploader())
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


def test_the_status_values_are_the_original_services_and_tasks_are_immutable() -> None:
    assert [status.value for status in TaskStatus] == [
        "pending",
        "running",
        "completed",
        "failed",
        "cancelled",
    ]
    assert [phase.value for phase in TaskPhase] == ["fetching", "encoding", "uploading"]
    task = Task(command=COMMAND, input_files={"a.mp4": URL_A}, output_filename="out.mp4")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        task.status = TaskStatus.RUNNING  # type: ignore[misc]


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("max_concurrency", True, "max_concurrency must be an integer of at least 1"),
        ("max_concurrency", 0, "max_concurrency must be an integer of at least 1"),
        ("poll_interval", 0, "poll_interval must be a positive number of seconds"),
        ("poll_interval", "1", "poll_interval must be a positive number of seconds"),
        ("progress_interval", -1, "progress_interval must be zero or more seconds"),
        ("progress_interval", float("nan"), "progress_interval must be zero or more seconds"),
        ("timeout", -1, "timeout must be a positive number of seconds"),
        ("workdir_root", "/nonexistent/ffmpeg-tasks", "is not an existing folder"),
        ("lease", 0, "lease must be a positive number of seconds"),
        ("heartbeat", float("inf"), "heartbeat must be a positive number of seconds"),
        ("heartbeat", 16, "heartbeat must be at most half the lease"),
        ("retries", -1, "retries must be a whole number"),
        ("retries", 1.5, "retries must be a whole number"),
        ("retry_backoff", -1, "retry_backoff must be zero or more seconds"),
    ],
)
def test_settings_are_checked(option: str, value: object, message: str) -> None:
    settings: dict[str, Any] = {option: value}
    with pytest.raises(ConfigurationError, match=message):
        make_manager(**settings)


async def test_list_checks_its_arguments() -> None:
    manager, *_ = make_manager()
    with pytest.raises(InvalidTaskError, match="limit must be an integer from 1 to 1000"):
        await manager.list(limit=True)
    with pytest.raises(InvalidTaskError, match="owner must be a string or None"):
        await manager.list(owner=5)  # type: ignore[arg-type]


async def test_a_wait_timeout_says_the_task_goes_on(opened: tuple[TaskManager, FakeRunner]) -> None:
    manager, _ = opened
    task = await manager.register(COMMAND, {"a.mp4": URL_A}, "out.mp4")
    await manager.start(task.id)
    with pytest.raises(WaitTimeoutError, match=r"goes on running: wait again, .* or cancel\(\)"):
        await manager.wait(task.id, timeout=0.01)


async def test_queued_background_tasks_end_cancelled_when_the_manager_closes() -> None:
    """Tasks waiting for a slot would otherwise stay pending with nothing left to run them."""
    manager, _, runner, _ = make_manager(FakeRunner(duration=30, steps=300), max_concurrency=1)
    store = manager._store
    async with manager:
        ids = [(await manager.register(COMMAND, {"a.mp4": URL_A}, "out.mp4")).id for _ in range(3)]
        for task_id in ids:
            await manager.start(task_id)
        while not runner.running:
            await anyio.sleep(0.01)
    finals = [await store.get(task_id) for task_id in ids]
    assert [task.status for task in finals] == [TaskStatus.CANCELLED] * 3
    queued = [task for task in finals if task.started_at is None]
    assert len(queued) == 2  # which one got the slot is the backend's choice
    for task in queued:
        assert task.error is not None
        assert task.error.startswith("cancelled before it started")
    assert len(runner.calls) == 1


async def test_a_caller_cancelled_while_queued_leaves_the_task_cancelled() -> None:
    manager, _, runner, _ = make_manager(FakeRunner(duration=30, steps=300), max_concurrency=1)
    async with manager:
        first = await manager.register(COMMAND, {"a.mp4": URL_A}, "out.mp4")
        queued = await manager.register(COMMAND, {"a.mp4": URL_A}, "out.mp4")
        await manager.start(first.id)
        while not runner.running:
            await anyio.sleep(0.01)
        with anyio.move_on_after(0.1):
            await manager.execute(queued.id)  # waits for the slot first's run holds
        assert (await manager.get(queued.id)).status is TaskStatus.CANCELLED
        assert (await manager.get(first.id)).status is TaskStatus.RUNNING
        await manager.cancel(first.id)


async def test_cancel_while_fetching_stops_the_downloads() -> None:
    manager, fetcher, runner, uploader = make_manager()
    fetcher._delay = 30  # a slow server
    async with manager:
        task = await manager.register(COMMAND, {"a.mp4": URL_A}, "out.mp4")
        await manager.start(task.id)
        while (await manager.get(task.id)).phase is not TaskPhase.FETCHING:
            await anyio.sleep(0.01)
        with anyio.fail_after(2):
            done = await manager.cancel(task.id)
    assert done.status is TaskStatus.CANCELLED
    assert fetcher.fetched == []  # no download finished
    assert runner.calls == []
    assert uploader.objects == {}


class GatedUploader(FakeUploader):
    """Stores nothing until ``release`` is set: an upload that takes as long as the test wants."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = anyio.Event()
        self.release = anyio.Event()

    async def upload(self, path: Path, *, task_id: str, name: str) -> Output:
        self.waiting.set()
        await self.release.wait()
        return await super().upload(path, task_id=task_id, name=name)


async def test_cancel_while_uploading_records_no_output() -> None:
    uploader = GatedUploader()
    manager = TaskManager(MemoryStore(), FakeFetcher({URL_A: b"A"}), FakeRunner(), uploader)
    async with manager:
        task = await manager.register(COMMAND, {"a.mp4": URL_A}, "out.mp4")
        await manager.start(task.id)
        await uploader.waiting.wait()
        assert (await manager.get(task.id)).phase is TaskPhase.UPLOADING
        with anyio.fail_after(2):
            done = await manager.cancel(task.id)
    assert done.status is TaskStatus.CANCELLED
    assert done.outputs == ()
    assert uploader.objects == {}


class SlowClaimStore(MemoryStore):
    """A store whose writes of a claim take a while to return, as a database's may."""

    def __init__(self) -> None:
        super().__init__()
        self.claimed = anyio.Event()

    async def update(
        self,
        task: Task,
        *,
        expected: TaskStatus,
        expected_worker: str | None = None,
        deliveries: Sequence[Delivery] = (),
    ) -> Task:
        stored = await super().update(
            task, expected=expected, expected_worker=expected_worker, deliveries=deliveries
        )
        if expected is TaskStatus.PENDING and task.status is TaskStatus.RUNNING:
            self.claimed.set()
            await anyio.sleep(0.3)
        return stored


async def test_a_cancel_right_after_the_claim_stops_the_run_before_it_fetches() -> None:
    store = SlowClaimStore()
    fetcher = FakeFetcher({URL_A: b"A"})
    manager = TaskManager(store, fetcher, FakeRunner(), FakeUploader())
    async with manager:
        task = await manager.register(COMMAND, {"a.mp4": URL_A}, "out.mp4")
        await manager.start(task.id)
        await store.claimed.wait()
        with anyio.fail_after(2):
            done = await manager.cancel(task.id)
        await anyio.sleep(0.5)  # the manager stays open: a run that went on would fetch now
    assert done.status is TaskStatus.CANCELLED
    assert fetcher.fetched == []


class BrokenHealthRunner(FakeRunner):
    async def health(self) -> Health:
        raise OSError("cannot read /proc")


async def test_a_failing_sandbox_check_does_not_strand_the_task(
    caplog: pytest.LogCaptureFixture,
) -> None:
    manager, *_ = make_manager(BrokenHealthRunner())
    task = await manager.register(COMMAND, {"a.mp4": URL_A}, "out.mp4")
    done = await manager.execute(task.id)
    assert done.status is TaskStatus.COMPLETED
    assert any("could not check whether ffmpeg is sandboxed" in r.getMessage()
               for r in caplog.records)  # fmt: skip


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.progress_writes: list[float | None] = []

    async def update(
        self,
        task: Task,
        *,
        expected: TaskStatus,
        expected_worker: str | None = None,
        deliveries: Sequence[Delivery] = (),
    ) -> Task:
        stored = await super().update(
            task, expected=expected, expected_worker=expected_worker, deliveries=deliveries
        )
        if task.phase is TaskPhase.ENCODING and task.progress is not None:
            self.progress_writes.append(task.progress)
        return stored


async def test_progress_is_stored_at_most_every_progress_interval() -> None:
    store = CountingStore()
    runner = FakeRunner(duration=1.0, steps=50)  # 50 reports in a second
    manager = TaskManager(
        store, FakeFetcher({URL_A: b"A"}), runner, FakeUploader(), progress_interval=0.4
    )
    task = await manager.register(COMMAND, {"a.mp4": URL_A}, "out.mp4")
    done = await manager.execute(task.id)
    assert done.status is TaskStatus.COMPLETED
    # about one write per 0.4 s plus the final report, not one per report
    assert 2 <= len(store.progress_writes) <= 5, store.progress_writes
    assert store.progress_writes[-1] == 1.0


async def test_an_input_counts_as_used_only_when_named_whole() -> None:
    """Under the trusted policy too: 'a.mp4' inside 'banana.mp4' does not use it."""
    manager, *_ = make_manager(policy=CommandPolicy.trusted())
    inputs = {"in.mp4": URL_A, "a.mp4": URL_B}
    with pytest.raises(InvalidTaskError, match=r"'a\.mp4' is declared in input_files but"):
        await manager.register("-i in.mp4 banana.mp4", inputs, "banana.mp4")
    used = await manager.register("-i in.mp4 -vf movie=a.mp4 out.mp4", inputs, "out.mp4")
    assert used.status is TaskStatus.PENDING


async def test_the_managers_timeout_is_a_ceiling_callers_cannot_lift() -> None:
    manager, *_ = make_manager()
    assert (await manager.health()).details["task_timeout"] == "7200 s"  # on by default
    with pytest.raises(InvalidTaskError, match=r"longer than this service allows \(7200 s\)"):
        await manager.register(COMMAND, {"a.mp4": URL_A}, "out.mp4", timeout=1e9)
    shorter = await manager.register(COMMAND, {"a.mp4": URL_A}, "out.mp4", timeout=60)
    assert shorter.timeout == 60
    unlimited, *_ = make_manager(timeout=None)
    assert (await unlimited.health()).details["task_timeout"] == "none"
    await unlimited.register(COMMAND, {"a.mp4": URL_A}, "out.mp4", timeout=1e9)


async def test_a_stored_tasks_timeout_is_capped_by_the_running_manager() -> None:
    store = MemoryStore()
    loose = TaskManager(store, FakeFetcher(), FakeRunner(), FakeUploader(), timeout=None)
    strict = TaskManager(
        store, FakeFetcher({URL_A: b"A"}), FakeRunner(duration=30, steps=30), FakeUploader(),
        timeout=0.2,
    )  # fmt: skip
    task = await loose.register(COMMAND, {"a.mp4": URL_A}, "out.mp4", timeout=3600)
    with anyio.fail_after(3):
        done = await strict.execute(task.id)
    assert done.status is TaskStatus.FAILED
    assert done.error == "timed out after 0.2 s while encoding"


async def test_cancel_of_a_task_another_manager_claimed_does_not_wait_for_a_slot() -> None:
    """m1 queued b behind a long run; m2 (sharing the store) took b meanwhile."""
    store = MemoryStore()
    fetcher = FakeFetcher({URL_A: b"A"})
    first = TaskManager(store, fetcher, FakeRunner(duration=30, steps=300), FakeUploader(),
                        max_concurrency=1)  # fmt: skip
    second = TaskManager(store, fetcher, FakeRunner(duration=30, steps=300), FakeUploader(),
                         poll_interval=0.05)  # fmt: skip
    async with first, second:
        a = await first.register(COMMAND, {"a.mp4": URL_A}, "out.mp4")
        b = await first.register(COMMAND, {"a.mp4": URL_A}, "out.mp4")
        await first.start(a.id)
        await first.start(b.id)  # waits for first's only slot
        await second.start(b.id)
        while (await store.get(b.id)).status is not TaskStatus.RUNNING:
            await anyio.sleep(0.01)
        with anyio.fail_after(2):
            cancelled = await first.cancel(b.id)
            done = await second.wait(b.id)
        assert cancelled.status is TaskStatus.CANCELLED
        assert done.status is TaskStatus.CANCELLED
        await first.cancel(a.id)


class CancelsItsCaller(FakeUploader):
    """Stores the output, then cancels the scope of whoever awaits the run."""

    def __init__(self) -> None:
        super().__init__()
        self.caller: anyio.CancelScope | None = None

    async def upload(self, path: Path, *, task_id: str, name: str) -> Output:
        output = await super().upload(path, task_id=task_id, name=name)
        assert self.caller is not None
        self.caller.cancel()
        return output


async def test_a_caller_cancelled_once_the_output_is_stored_leaves_it_completed() -> None:
    uploader = CancelsItsCaller()
    manager = TaskManager(MemoryStore(), FakeFetcher({URL_A: b"A"}), FakeRunner(), uploader)
    task = await manager.register(COMMAND, {"a.mp4": URL_A}, "out.mp4")
    with anyio.CancelScope() as caller:
        uploader.caller = caller
        await manager.execute(task.id)
    done = await manager.get(task.id)
    assert done.status is TaskStatus.COMPLETED  # the output exists: the task is done
    assert done.output_url == f"memory://{task.id}/out.mp4"
    assert list(uploader.objects) == [done.output_url]
