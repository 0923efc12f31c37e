"""A manager with a dispatcher hands started tasks out instead of running them; a worker's
manager on the same store runs them (``run_dispatched``), and hands them back when it stops.

The dispatcher here is the in-memory fake; tests/integration/test_workers.py runs the same
flows through procrastinate with worker processes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import anyio
import attrs
import pytest

from ffmpeg_tasks import (
    InvalidTaskError,
    InvalidTransitionError,
    TaskManager,
    TaskStatus,
)
from ffmpeg_tasks._models import utcnow
from ffmpeg_tasks.storage import MemoryStore
from ffmpeg_tasks.testing import FakeDispatcher, FakeFetcher, FakeRunner, FakeUploader

pytestmark = pytest.mark.anyio

URL = "https://media.example/a.mp4"
COMMAND = "-i a.mp4 -c copy out.mp4"


def manager_on(
    store: MemoryStore,
    dispatcher: FakeDispatcher | None,
    runner: FakeRunner | None = None,
    **settings: object,
) -> TaskManager:
    return TaskManager(
        store,
        FakeFetcher({URL: b"AAAA"}),
        runner or FakeRunner(),
        FakeUploader(),
        dispatcher=dispatcher,
        poll_interval=0.05,
        **settings,  # type: ignore[arg-type]
    )


@attrs.define
class Deployment:
    """An API's manager and a worker's, sharing one store and one queue."""

    store: MemoryStore
    queue: FakeDispatcher
    api: TaskManager
    worker: TaskManager
    runner: FakeRunner

    async def work(self, *, jobs: int = 1) -> None:
        """Run ``jobs`` jobs as a worker would: take one, run it, again."""
        for _ in range(jobs):
            with anyio.fail_after(5):
                while (job := self.queue.take()) is None:
                    await anyio.sleep(0.01)
            await self.worker.run_dispatched(job.task_id)


@pytest.fixture
async def deployment() -> AsyncIterator[Deployment]:
    store, queue, runner = MemoryStore(), FakeDispatcher(), FakeRunner(duration=0.2)
    api = manager_on(store, queue, FakeRunner(fail_with=99))  # never runs anything
    worker = manager_on(store, queue, runner)
    async with api, worker:
        yield Deployment(store, queue, api, worker, runner)


async def test_queue_and_priority_are_stored_and_checked() -> None:
    manager = manager_on(MemoryStore(), None)
    task = await manager.register(COMMAND, {"a.mp4": URL}, "out.mp4", queue="gpu", priority=5)
    assert (await manager.get(task.id)).queue == "gpu"
    assert (await manager.get(task.id)).priority == 5
    default = await manager.register(COMMAND, {"a.mp4": URL}, "out.mp4")
    assert (default.queue, default.priority) == (None, 0)
    for queue in ("", "-x", "a b", "x" * 41, "é"):
        with pytest.raises(InvalidTaskError, match="queue must be a name"):
            await manager.register(COMMAND, {"a.mp4": URL}, "out.mp4", queue=queue)
    for priority in (1001, -1001, 1.5, True):
        with pytest.raises(InvalidTaskError, match="priority must be a whole number"):
            await manager.register(COMMAND, {"a.mp4": URL}, "out.mp4", priority=priority)  # type: ignore[arg-type]


async def test_start_hands_the_task_out_and_a_worker_runs_it(deployment: Deployment) -> None:
    api = deployment.api
    task = await api.register(COMMAND, {"a.mp4": URL}, "out.mp4", queue="gpu", priority=3)
    await api.start(task.id)
    assert [(j.task_id, j.queue, j.priority) for j in deployment.queue.jobs] == [
        (task.id, "gpu", 3)
    ]
    assert (await api.get(task.id)).status is TaskStatus.PENDING  # nothing ran in the API
    with pytest.raises(InvalidTransitionError, match="waits in the queue"):
        await api.start(task.id)
    async with anyio.create_task_group() as group:
        group.start_soon(deployment.work)
        done = await api.wait(task.id, timeout=5)
    assert done.status is TaskStatus.COMPLETED, done.error
    assert done.attempts == 1
    assert deployment.runner.calls  # the worker's runner ran it


async def test_execute_hands_out_and_waits(deployment: Deployment) -> None:
    task = await deployment.api.register(COMMAND, {"a.mp4": URL}, "out.mp4")
    async with anyio.create_task_group() as group:
        group.start_soon(deployment.work)
        done = await deployment.api.execute(task.id)
    assert done.status is TaskStatus.COMPLETED, done.error


async def test_a_cancelled_execute_cancels_its_task(deployment: Deployment) -> None:
    task = await deployment.api.register(COMMAND, {"a.mp4": URL}, "out.mp4")
    with anyio.move_on_after(0.2):
        await deployment.api.execute(task.id)  # no worker takes it
    stored = await deployment.api.get(task.id)
    assert stored.status is TaskStatus.CANCELLED
    assert deployment.queue.withdrawn == [task.id]


async def test_a_job_of_a_cancelled_task_ends_without_running_it(
    deployment: Deployment,
) -> None:
    task = await deployment.api.register(COMMAND, {"a.mp4": URL}, "out.mp4")
    await deployment.api.start(task.id)
    job = deployment.queue.take()  # a worker took the job just before the cancel
    assert job is not None
    cancelled = await deployment.api.cancel(task.id)
    assert cancelled.status is TaskStatus.CANCELLED
    assert await deployment.worker.run_dispatched(task.id) == cancelled
    assert deployment.runner.calls == []


async def test_cancel_from_the_api_stops_a_run_on_the_worker(deployment: Deployment) -> None:
    deployment.runner = FakeRunner(duration=30, steps=300)
    worker = manager_on(deployment.store, deployment.queue, deployment.runner)
    task = await deployment.api.register(COMMAND, {"a.mp4": URL}, "out.mp4")
    await deployment.api.start(task.id)
    deployment.queue.take()
    async with worker, anyio.create_task_group() as group:
        group.start_soon(worker.run_dispatched, task.id)
        with anyio.fail_after(5):
            while deployment.runner.running == 0:
                await anyio.sleep(0.01)
        started = anyio.current_time()
        await deployment.api.cancel(task.id)
        with anyio.fail_after(5):
            while deployment.runner.running:
                await anyio.sleep(0.01)
        assert anyio.current_time() - started < 1  # within the poll interval, and some
    assert (await deployment.api.get(task.id)).status is TaskStatus.CANCELLED


async def test_hand_back_puts_a_running_task_back_for_another_worker(
    deployment: Deployment,
) -> None:
    slow = FakeRunner(duration=30, steps=300)
    leaving = manager_on(deployment.store, deployment.queue, slow, heartbeat=0.1, lease=1)
    task = await deployment.api.register(COMMAND, {"a.mp4": URL}, "out.mp4")
    async with leaving, anyio.create_task_group() as group:
        group.start_soon(leaving.run_dispatched, task.id)
        with anyio.fail_after(5):
            while slow.running == 0:
                await anyio.sleep(0.01)
        (handed,) = await leaving.hand_back()
    assert handed.status is TaskStatus.PENDING
    assert handed.attempts == 1
    assert handed.retry_at is not None
    assert handed.retry_at > utcnow()  # claimable once the run here has surely stopped
    stored = await deployment.api.get(task.id)
    assert stored == handed  # the stopped run stored nothing over it
    await deployment.worker.run_dispatched(task.id)  # the next worker waits for retry_at
    done = await deployment.api.get(task.id)
    assert done.status is TaskStatus.COMPLETED, done.error
    assert done.attempts == 2


async def test_recovery_hands_a_retry_to_the_dispatcher(deployment: Deployment) -> None:
    store, api = deployment.store, deployment.api
    manager = manager_on(store, deployment.queue, retries=1, retry_backoff=5)
    task = await api.register(COMMAND, {"a.mp4": URL}, "out.mp4")
    lost = attrs.evolve(
        task,
        status=TaskStatus.RUNNING,
        worker="other-host/-/-/-/1/1#1",
        attempts=1,
        lease_expires_at=utcnow() - timedelta(seconds=1),
    )
    await store.update(lost, expected=TaskStatus.PENDING)
    (retried,) = await manager.recover()
    assert retried.status is TaskStatus.PENDING
    (job,) = deployment.queue.jobs
    assert (job.task_id, job.at) == (task.id, retried.retry_at)
    await manager.recover()  # not overdue yet: not handed out again
    assert len(deployment.queue.submitted) == 1
    deployment.queue.jobs.clear()  # the job was lost (its worker died before the claim)
    overdue = attrs.evolve(retried, retry_at=utcnow() - timedelta(seconds=60))
    await store.update(overdue, expected=TaskStatus.PENDING)
    await manager.recover()
    assert [job.task_id for job in deployment.queue.jobs] == [task.id]
    await manager.aclose()


async def test_the_highest_priority_is_taken_first() -> None:
    queue = FakeDispatcher()
    manager = manager_on(MemoryStore(), queue)
    async with manager:
        ids = []
        for priority in (0, 5, 5, -1):
            task = await manager.register(COMMAND, {"a.mp4": URL}, "out.mp4", priority=priority)
            await manager.start(task.id)
            ids.append(task.id)
    taken = [job.task_id for job in iter(queue.take, None)]
    assert taken == [ids[1], ids[2], ids[0], ids[3]]
    assert queue.closed  # the manager closes its dispatcher
