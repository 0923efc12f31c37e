"""SyncTaskManager: the blocking facade, in a plain script and under a running event loop."""

from __future__ import annotations

import asyncio
import threading

import pytest

from ffmpeg_tasks import (
    ConfigurationError,
    InvalidTaskError,
    SyncTaskManager,
    TaskManager,
    TaskNotFoundError,
    TaskPhase,
    TaskStatus,
)
from ffmpeg_tasks.storage import MemoryStore
from ffmpeg_tasks.testing import FakeFetcher, FakeRunner, FakeUploader

URL = "https://media.example/a.mp4"
COMMAND = "-i a.mp4 -c copy out.mp4"


def make_manager(runner: FakeRunner | None = None) -> TaskManager:
    return TaskManager(
        MemoryStore(),
        FakeFetcher({URL: b"AAAA"}),
        runner or FakeRunner(),
        FakeUploader(),
        progress_interval=0.0,
    )


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_register_and_execute_block(backend: str) -> None:
    with SyncTaskManager(make_manager(), backend=backend) as manager:
        task = manager.register(COMMAND, {"a.mp4": URL}, "out.mp4")
        assert task.status is TaskStatus.PENDING
        done = manager.execute(task.id)
        assert done.status is TaskStatus.COMPLETED
        assert done.output_url == f"memory://{task.id}/out.mp4"
        assert manager.get(task.id) == done
        assert [t.id for t in manager.list(status="completed")] == [task.id]
        assert manager.health().ok


def test_errors_cross_the_portal_unchanged() -> None:
    with SyncTaskManager(make_manager()) as manager:
        with pytest.raises(TaskNotFoundError):
            manager.get("missing")
        with pytest.raises(InvalidTaskError, match="not declared"):
            manager.register("-i b.mp4 out.mp4", {"a.mp4": URL}, "out.mp4")


def test_start_watch_and_cancel() -> None:
    with SyncTaskManager(make_manager(FakeRunner(duration=0.3, steps=3))) as manager:
        task = manager.register(COMMAND, {"a.mp4": URL}, "out.mp4")
        manager.start(task.id)
        states = list(manager.watch(task.id))
        assert states[-1].status is TaskStatus.COMPLETED
        assert TaskPhase.ENCODING in {s.phase for s in states}

        slow = manager.register(COMMAND, {"a.mp4": URL}, "out.mp4")
        manager.start(slow.id)
        for state in manager.watch(slow.id):
            if state.phase is TaskPhase.ENCODING:
                break
        assert manager.cancel(slow.id).status is TaskStatus.CANCELLED
        assert manager.wait(slow.id, timeout=5).status is TaskStatus.CANCELLED


def test_works_while_the_calling_thread_runs_an_event_loop() -> None:
    """What a Jupyter cell does: blocking calls from a thread whose asyncio loop is running."""

    async def cell() -> TaskStatus:
        assert asyncio.get_running_loop().is_running()
        with SyncTaskManager(make_manager()) as manager:
            task = manager.register(COMMAND, {"a.mp4": URL}, "out.mp4")
            return manager.execute(task.id).status

    assert asyncio.run(cell()) is TaskStatus.COMPLETED


def test_without_with_it_needs_close() -> None:
    before = set(threading.enumerate())  # (an earlier test's portal thread may be ending)
    manager = SyncTaskManager(make_manager())
    task = manager.register(COMMAND, {"a.mp4": URL}, "out.mp4")
    assert manager.execute(task.id).status is TaskStatus.COMPLETED
    started = set(threading.enumerate()) - before
    assert started  # the portal's loop thread
    manager.close()
    manager.close()  # idempotent
    for thread in started:
        thread.join(timeout=5)  # close() stopped its loop; the thread itself ends right after
        assert not thread.is_alive(), thread


def test_start_without_with_says_to_use_with() -> None:
    manager = SyncTaskManager(make_manager())
    try:
        task = manager.register(COMMAND, {"a.mp4": URL}, "out.mp4")
        with pytest.raises(ConfigurationError, match=r"with SyncTaskManager\(\.\.\.\)"):
            manager.start(task.id)
    finally:
        manager.close()


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="backend must be one of 'asyncio', 'trio'"):
        SyncTaskManager(backend="curio")
    with pytest.raises(ConfigurationError, match="wraps a TaskManager"):
        SyncTaskManager("manager")  # type: ignore[arg-type]


def test_it_has_every_public_method_of_the_async_manager() -> None:
    def public(cls: type) -> set[str]:
        return {name for name in vars(cls) if not name.startswith("_")}

    missing = public(TaskManager) - public(SyncTaskManager) - {"from_env", "aclose", "policy"}
    assert missing == set()
