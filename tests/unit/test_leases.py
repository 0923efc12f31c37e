"""Leases and recovery: a run renews its claim; a claim that lapsed, on any host, is failed or
retried; a run that lost its claim stops and never writes over a newer attempt."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial

import anyio
import attrs
import pytest

from ffmpeg_tasks import (
    ConfigurationError,
    Delivery,
    InvalidTransitionError,
    SyncTaskManager,
    Task,
    TaskManager,
    TaskPhase,
    TaskStatus,
)
from ffmpeg_tasks._models import utcnow
from ffmpeg_tasks._protocols import TaskStore
from ffmpeg_tasks.storage import MemoryStore
from ffmpeg_tasks.testing import FakeFetcher, FakeRunner, FakeUploader

pytestmark = pytest.mark.anyio

URL = "https://media.example/a.mp4"
COMMAND = "-i a.mp4 -c copy out.mp4"
#: A worker string of another machine: only its lease can tell whether it is alive.
ELSEWHERE = "other-host/m/b/ns/1/1#1"

#: Short leases so that the tests run in about a second.
FAST = {"lease": 0.6, "heartbeat": 0.2, "poll_interval": 0.05, "progress_interval": 0.0}


class PartitionedStore:
    """A store one manager reaches through a network that can fail: while ``cut``, every
    call fails as an unreachable database's would."""

    def __init__(self, inner: TaskStore) -> None:
        self.inner = inner
        self.cut = False

    def _check(self) -> None:
        if self.cut:
            raise ConfigurationError("cannot reach the task database: connection refused")

    async def create(self, task: Task) -> None:
        self._check()
        await self.inner.create(task)

    async def get(self, task_id: str) -> Task:
        self._check()
        return await self.inner.get(task_id)

    async def list(
        self,
        *,
        status: TaskStatus | None = None,
        owner: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Sequence[Task]:
        self._check()
        return await self.inner.list(status=status, owner=owner, limit=limit, offset=offset)

    async def update(
        self,
        task: Task,
        *,
        expected: TaskStatus,
        expected_worker: str | None = None,
        deliveries: Sequence[Delivery] = (),
    ) -> Task:
        self._check()
        return await self.inner.update(
            task, expected=expected, expected_worker=expected_worker, deliveries=deliveries
        )

    async def counts(self) -> Mapping[TaskStatus, int]:
        self._check()
        return await self.inner.counts()

    async def claim_deliveries(
        self, *, now: datetime, limit: int, worker: str, lease_until: datetime
    ) -> Sequence[Delivery]:
        self._check()
        return await self.inner.claim_deliveries(
            now=now, limit=limit, worker=worker, lease_until=lease_until
        )

    async def record_attempt(self, delivery: Delivery, *, worker: str) -> bool:
        self._check()
        return await self.inner.record_attempt(delivery, worker=worker)

    async def list_deliveries(self, task_ids: Sequence[str]) -> Sequence[Delivery]:
        self._check()
        return await self.inner.list_deliveries(task_ids)

    async def requeue_deliveries(self, task_id: str, *, at: datetime) -> Sequence[Delivery]:
        self._check()
        return await self.inner.requeue_deliveries(task_id, at=at)

    async def aclose(self) -> None:
        """The inner store is closed by its owner."""


def manager_on(
    store: TaskStore, runner: FakeRunner | None = None, **settings: object
) -> tuple[TaskManager, FakeUploader]:
    uploader = FakeUploader()
    manager = TaskManager(
        store,
        FakeFetcher({URL: b"AAAA"}),
        runner or FakeRunner(),
        uploader,
        **{**FAST, **settings},  # type: ignore[arg-type]
    )
    return manager, uploader


async def running_elsewhere(store: TaskStore, *, expired: bool, attempts: int = 1) -> Task:
    """A task claimed by another machine, its lease lapsed or still holding."""
    task = Task(command=COMMAND, input_files={"a.mp4": URL}, output_filename="out.mp4")
    await store.create(task)
    lease = utcnow() + timedelta(seconds=-1 if expired else 30)
    running = attrs.evolve(
        task,
        status=TaskStatus.RUNNING,
        phase=TaskPhase.ENCODING,
        progress=0.4,
        worker=ELSEWHERE,
        attempts=attempts,
        started_at=utcnow(),
        lease_expires_at=lease,
    )
    await store.update(running, expected=TaskStatus.PENDING)
    return running


async def until(
    store: TaskStore, task_id: str, check: Callable[[Task], bool], *, within: float = 5
) -> Task:
    with anyio.fail_after(within):
        while True:
            task = await store.get(task_id)
            if check(task):
                return task
            await anyio.sleep(0.02)


async def test_a_claim_counts_the_attempt_and_a_run_renews_its_lease() -> None:
    store = MemoryStore()
    manager, _ = manager_on(store, FakeRunner(duration=1.5, steps=3))
    task = await manager.register(COMMAND, {"a.mp4": URL}, "out.mp4")
    async with manager:
        await manager.start(task.id)
        first = await until(store, task.id, lambda t: t.lease_expires_at is not None)
        assert first.attempts == 1
        assert first.lease_expires_at is not None
        assert first.lease_expires_at - utcnow() <= timedelta(seconds=0.6)
        renewed_after = first.lease_expires_at + timedelta(seconds=0.3)
        later = await until(
            store,
            task.id,
            lambda t: t.lease_expires_at is not None and t.lease_expires_at > renewed_after,
        )
        assert later.status is TaskStatus.RUNNING
        done = await manager.wait(task.id, timeout=5)  # the run outlived its lease twice over
    assert done.status is TaskStatus.COMPLETED
    assert done.attempts == 1
    assert done.lease_expires_at is None
    assert done.output_url == f"memory://{task.id}/out.mp4"


async def test_watch_does_not_report_lease_renewals() -> None:
    store = MemoryStore()
    manager, _ = manager_on(store, FakeRunner(duration=1.2, steps=1))
    task = await manager.register(COMMAND, {"a.mp4": URL}, "out.mp4")
    async with manager:
        await manager.start(task.id)
        states = [state async for state in manager.watch(task.id)]
    shown = [(s.status, s.phase, s.progress) for s in states]
    assert len(shown) == len(set(shown)), shown


async def test_recover_fails_runs_whose_lease_expired_on_any_host() -> None:
    store = MemoryStore()
    manager, _ = manager_on(store)
    lapsed = await running_elsewhere(store, expired=True)
    holding = await running_elsewhere(store, expired=False)
    recovered = await manager.recover()
    assert [t.id for t in recovered] == [lapsed.id]
    failed = await store.get(lapsed.id)
    assert failed.status is TaskStatus.FAILED
    assert failed.error is not None
    assert failed.error.startswith("interrupted: the service running it stopped")
    assert failed.lease_expires_at is None
    assert failed.finished_at is not None
    assert (await store.get(holding.id)) == holding
    assert await manager.fail_interrupted() == []  # the older name does the same


async def test_an_open_manager_recovers_a_lapsed_lease_when_it_expires() -> None:
    store = MemoryStore()
    manager, _ = manager_on(store, heartbeat=0.3, lease=5)
    async with manager:
        task = await running_elsewhere(store, expired=False)
        soon = attrs.evolve(task, lease_expires_at=utcnow() + timedelta(seconds=0.4))
        await store.update(soon, expected=TaskStatus.RUNNING)
        await anyio.sleep(0.35)  # a pass sees the lease, then wakes when it expires
        started = anyio.current_time()
        failed = await until(store, task.id, lambda t: t.status is TaskStatus.FAILED)
        assert anyio.current_time() - started < 0.4
    assert failed.error is not None
    assert failed.error.startswith("interrupted:")


async def test_with_retries_an_interrupted_run_goes_back_to_pending_and_runs_again() -> None:
    store = MemoryStore()
    manager, uploader = manager_on(store, retries=2, retry_backoff=0.3)
    task = await running_elsewhere(store, expired=True)
    (again,) = await manager.recover()  # not open: put back, but not started
    assert again.status is TaskStatus.PENDING
    assert again.attempts == 1
    assert again.phase is None
    assert again.progress is None
    assert again.started_at is None
    assert again.retry_at is not None
    assert timedelta(seconds=0.2) < again.retry_at - utcnow() <= timedelta(seconds=0.3)
    with pytest.raises(InvalidTransitionError, match="waits to be retried at"):
        await manager.execute(task.id)
    async with manager:  # an open manager starts the retry once it is due
        done = await manager.wait(task.id, timeout=5)
    assert done.status is TaskStatus.COMPLETED, done.error
    assert done.attempts == 2
    assert done.retry_at is None
    # A retry's outputs never meet what the interrupted attempt may have stored.
    assert done.output_url == f"memory://{task.id}-attempt-2/out.mp4"
    assert list(uploader.objects) == [done.output_url]


async def test_retries_run_out_and_the_task_fails_counting_its_attempts() -> None:
    store = MemoryStore()
    manager, _ = manager_on(store, retries=2, retry_backoff=0)
    task = await running_elsewhere(store, expired=True, attempts=3)
    (failed,) = await manager.recover()
    assert failed.status is TaskStatus.FAILED
    assert failed.error == (
        "interrupted: the service running it stopped before it finished (3 attempts); "
        "register it again to retry"
    )
    assert (await store.get(task.id)).attempts == 3


async def test_the_backoff_doubles_from_one_attempt_to_the_next() -> None:
    store = MemoryStore()
    manager, _ = manager_on(store, retries=5, retry_backoff=100)
    tasks = [await running_elsewhere(store, expired=True, attempts=n) for n in (1, 2, 3)]
    before = utcnow()
    await manager.recover()
    delays = [((await store.get(t.id)).retry_at - before).total_seconds() for t in tasks]  # type: ignore[operator]
    assert [round(d, -1) for d in delays] == [100, 200, 400]


async def test_a_retry_not_started_when_its_manager_closes_stays_pending() -> None:
    store = MemoryStore()
    busy, _ = manager_on(store, FakeRunner(duration=30), max_concurrency=1, retries=1)
    blocker = await busy.register(COMMAND, {"a.mp4": URL}, "out.mp4")
    lapsed = await running_elsewhere(store, expired=True)
    async with busy:
        await busy.start(blocker.id)
        await until(store, blocker.id, lambda t: t.status is TaskStatus.RUNNING)
        await busy.recover()  # the retry is due at once, and waits for the only slot
        await anyio.sleep(0.1)
    left = await store.get(lapsed.id)
    assert left.status is TaskStatus.PENDING  # another manager will run it
    assert left.retry_at is not None
    assert (await store.get(blocker.id)).status is TaskStatus.CANCELLED


async def test_a_run_that_lost_its_lease_stops_and_stores_nothing_over_the_next_attempt() -> None:
    """Manager A loses the store (a network partition) while encoding; its lease runs out,
    manager B recovers the task and runs it again. A stops without writing anything, also
    once the store is back, and B's attempt is what the task shows."""
    inner = MemoryStore()
    partitioned = PartitionedStore(inner)
    a, a_uploads = manager_on(partitioned, FakeRunner(duration=2.0, steps=20))
    b, b_uploads = manager_on(inner, retries=1, retry_backoff=0)
    task = await a.register(COMMAND, {"a.mp4": URL}, "out.mp4")
    async with a, b:
        await a.start(task.id)
        await until(inner, task.id, lambda t: t.phase is TaskPhase.ENCODING)
        partitioned.cut = True
        done = await until(inner, task.id, lambda t: t.status is TaskStatus.COMPLETED)
        partitioned.cut = False
        await anyio.sleep(0.3)  # A has stopped, and its heartbeat would have run by now
        assert a_uploads.objects == {}
        stored = await inner.get(task.id)
    assert stored == done
    assert done.attempts == 2
    assert list(b_uploads.objects) == [f"memory://{task.id}-attempt-2/out.mp4"]


async def test_a_stalled_run_that_was_recovered_writes_nothing_when_it_wakes() -> None:
    """The same without errors: A's writes only come late. Every one of them is conditional
    on A's claim, so none lands over B's attempt."""
    store = MemoryStore()
    a, a_uploads = manager_on(store, FakeRunner(duration=0.6, steps=3))
    task = await a.register(COMMAND, {"a.mp4": URL}, "out.mp4")
    async with a:
        await a.start(task.id)
        claimed = await until(store, task.id, lambda t: t.phase is TaskPhase.ENCODING)
        # B, seeing A's lease lapsed (A stalled), takes the task over and keeps it.
        taken = attrs.evolve(claimed, worker="b#2", attempts=2, lease_expires_at=None)
        await store.update(taken, expected=TaskStatus.RUNNING, expected_worker=claimed.worker)
        await anyio.sleep(1.0)  # A's progress, heartbeat and final writes are all refused
    assert await store.get(task.id) == taken
    assert a_uploads.objects == {}


def test_the_blocking_facade_recovers_too() -> None:
    store = MemoryStore()
    manager, _ = manager_on(store)
    lapsed = anyio.run(partial(running_elsewhere, store, expired=True))
    with SyncTaskManager(manager) as blocking:
        assert blocking.recover() == []  # opening recovered it already
        assert blocking.get(lapsed.id).status is TaskStatus.FAILED
