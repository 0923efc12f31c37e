"""What every TaskStore promises; each store's test module subclasses this suite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import attrs
import pytest

from ffmpeg_tasks import (
    Delivery,
    DeliveryState,
    Expectation,
    InvalidTaskError,
    InvalidTransitionError,
    MediaInfo,
    Output,
    StreamInfo,
    Task,
    TaskNotFoundError,
    TaskPhase,
    TaskStatus,
    TaskStore,
)


def make_task(**changes: Any) -> Task:
    task = Task(
        command="-i a.mp4 out.mp4",
        input_files={"a.mp4": "https://media.example/a.mp4"},
        output_filename="out.mp4",
    )
    return attrs.evolve(task, **changes)


def make_delivery(task: Task, **changes: Any) -> Delivery:
    delivery = Delivery(
        event_id=f"evt_{len(changes)}_{id(changes)}",
        url="https://hooks.example/in",
        task_id=task.id,
        event_type="task.started",
        payload='{"type":"task.started","data":{"é":"🎬 \\u2028"}}',
        created_at=datetime.now(UTC),
        next_attempt_at=datetime.now(UTC),
    )
    return attrs.evolve(delivery, **changes)


async def running_with(
    store: TaskStore, *deliveries_for: int, worker: str = "w#1"
) -> tuple[Task, list[Delivery]]:
    """A task claimed with an update that queues ``len(deliveries_for)`` deliveries, each due
    that many seconds from now (negative: overdue)."""
    task = make_task()
    await store.create(task)
    now = datetime.now(UTC)
    deliveries = [
        make_delivery(
            task,
            event_id=f"evt_{task.id}_{index}",
            created_at=now + timedelta(microseconds=index),
            next_attempt_at=now + timedelta(seconds=due),
        )
        for index, due in enumerate(deliveries_for)
    ]
    running = attrs.evolve(task, status=TaskStatus.RUNNING, worker=worker)
    await store.update(running, expected=TaskStatus.PENDING, deliveries=deliveries)
    return running, deliveries


class StoreContract:
    """Subclasses provide a ``store`` fixture yielding an empty store."""

    @pytest.mark.anyio
    async def test_create_then_get_round_trips_every_field(self, store: TaskStore) -> None:
        task = make_task(
            status=TaskStatus.COMPLETED,
            phase=None,
            progress=1.0,
            overall_progress=0.9375,
            speed=2.25,
            eta=1.5,
            outputs=(
                Output(
                    name="out.mp4",
                    url="s3://b/k",
                    download_url="https://x",
                    download_expires_at=datetime.now(UTC),
                    size=9,
                    content_type="video/mp4",
                    sha256="ab" * 32,
                    media=MediaInfo(
                        format="mov,mp4,m4a,3gp,3g2,mj2",
                        duration=2.0,
                        bit_rate=123_456,
                        streams=(
                            StreamInfo(
                                index=0,
                                type="video",
                                codec="h264",
                                width=80,
                                height=60,
                                frame_rate=29.97,
                            ),
                            StreamInfo(index=1, type="audio", sample_rate=48_000, channels=2),
                        ),
                    ),
                ),
                Output(name="out_001.jpg", url="s3://b/j", size=3),
            ),
            output_patterns=("out_%03d.jpg",),
            expect=(Expectation(output="out.mp4", duration=2.0, video=1, width=80),),
            error=None,
            log="frame=  50 fps=0.0\nvideo:12kB audio:3kB",
            timeout=12.5,
            owner="key-1",
            queue="gpu.high",
            priority=-7,
            worker="host/boot/42/1000",
            attempts=3,
            lease_expires_at=datetime.now(UTC) + timedelta(seconds=30),
            retry_at=datetime.now(UTC) + timedelta(seconds=5),
            webhook_url="https://hooks.example/tasks?key=1",
            trace_context={"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"},
            started_at=datetime.now(UTC),
            finished_at=datetime.now(UTC),
        )
        await store.create(task)
        assert await store.get(task.id) == task
        assert (await store.list())[0] == task

    @pytest.mark.anyio
    async def test_text_round_trips_exactly(self, store: TaskStore) -> None:
        """What ffmpeg prints and callers send: quotes, backslashes, control characters,
        characters outside the BMP, JSON look-alikes."""
        text = 'drawtext=text=\'a "b"\\c\':x=1 ; {"k": [1]} \t\r\n\x1b[0m é 漢 🎬 \u2028'
        task = make_task(
            command=f"-i a.mp4 -vf {text!r} out.mp4",
            input_files={"a.mp4": 'https://media.example/a%20b.mp4?x=1&y="2"'},
            error=text,
            log=text * 3,
            owner=text,
            progress=0.1 + 0.2,
            timeout=1e-3,
        )
        await store.create(task)
        assert await store.get(task.id) == task
        assert [t.id for t in await store.list(owner=text)] == [task.id]

    @pytest.mark.anyio
    async def test_duplicate_ids_are_refused(self, store: TaskStore) -> None:
        task = make_task()
        await store.create(task)
        with pytest.raises(InvalidTaskError, match="exists already"):
            await store.create(task)

    @pytest.mark.anyio
    async def test_unknown_ids(self, store: TaskStore) -> None:
        with pytest.raises(TaskNotFoundError):
            await store.get("missing")
        with pytest.raises(TaskNotFoundError):
            await store.update(make_task(id="missing"), expected=TaskStatus.PENDING)

    @pytest.mark.anyio
    async def test_update_is_a_compare_and_set_on_status(self, store: TaskStore) -> None:
        task = make_task()
        await store.create(task)
        running = attrs.evolve(task, status=TaskStatus.RUNNING, phase=TaskPhase.FETCHING)
        assert await store.update(running, expected=TaskStatus.PENDING) == running
        with pytest.raises(InvalidTransitionError) as info:
            await store.update(running, expected=TaskStatus.PENDING)
        assert info.value.status == "running"
        assert await store.get(task.id) == running

    @pytest.mark.anyio
    async def test_update_with_expected_worker_writes_only_for_that_claim(
        self, store: TaskStore
    ) -> None:
        task = make_task()
        await store.create(task)
        first = attrs.evolve(task, status=TaskStatus.RUNNING, worker="w#1", attempts=1)
        await store.update(first, expected=TaskStatus.PENDING)
        progress = attrs.evolve(first, progress=0.5)
        assert (
            await store.update(progress, expected=TaskStatus.RUNNING, expected_worker="w#1")
            == progress
        )
        with pytest.raises(InvalidTransitionError, match="another worker") as info:
            await store.update(
                attrs.evolve(first, progress=0.9),
                expected=TaskStatus.RUNNING,
                expected_worker="w#2",
            )
        assert info.value.status == "running"
        with pytest.raises(InvalidTransitionError, match="not pending") as info:
            await store.update(first, expected=TaskStatus.PENDING, expected_worker="w#1")
        assert info.value.status == "running"
        with pytest.raises(TaskNotFoundError):
            await store.update(
                make_task(id="missing"), expected=TaskStatus.RUNNING, expected_worker="w#1"
            )
        assert await store.get(task.id) == progress

    @pytest.mark.anyio
    async def test_a_lost_claim_never_writes_over_a_newer_attempt(self, store: TaskStore) -> None:
        """Recovery put the task back and a second claim took it: the first claim's writes
        (a late heartbeat, its final status) are refused, the second claim's land."""
        task = make_task()
        await store.create(task)
        lease = datetime.now(UTC) + timedelta(seconds=30)
        first = attrs.evolve(
            task, status=TaskStatus.RUNNING, worker="w#1", attempts=1, lease_expires_at=lease
        )
        await store.update(first, expected=TaskStatus.PENDING)
        retried = attrs.evolve(first, status=TaskStatus.PENDING, lease_expires_at=None)
        await store.update(retried, expected=TaskStatus.RUNNING, expected_worker="w#1")
        second = attrs.evolve(retried, status=TaskStatus.RUNNING, worker="w#2", attempts=2)
        await store.update(second, expected=TaskStatus.PENDING)
        for stale in (
            attrs.evolve(first, lease_expires_at=lease + timedelta(seconds=30)),
            attrs.evolve(first, status=TaskStatus.COMPLETED, lease_expires_at=None),
        ):
            with pytest.raises(InvalidTransitionError):
                await store.update(stale, expected=TaskStatus.RUNNING, expected_worker="w#1")
        done = attrs.evolve(second, status=TaskStatus.COMPLETED)
        await store.update(done, expected=TaskStatus.RUNNING, expected_worker="w#2")
        assert await store.get(task.id) == done

    @pytest.mark.anyio
    async def test_only_one_of_many_concurrent_claim_writes_wins(self, store: TaskStore) -> None:
        """Many runs that each believe they hold the claim race to end the task: only the
        one whose claim it is writes."""
        task = make_task()
        await store.create(task)
        running = attrs.evolve(task, status=TaskStatus.RUNNING, worker="w#7")
        await store.update(running, expected=TaskStatus.PENDING)
        winners: list[int] = []

        async def finish(worker: int) -> None:
            try:
                await store.update(
                    attrs.evolve(running, status=TaskStatus.COMPLETED, owner=str(worker)),
                    expected=TaskStatus.RUNNING,
                    expected_worker=f"w#{worker}",
                )
            except InvalidTransitionError:
                return
            winners.append(worker)

        async with anyio.create_task_group() as group:
            for worker in range(20):
                group.start_soon(finish, worker)
        assert winners == [7]
        assert (await store.get(task.id)).owner == "7"

    @pytest.mark.anyio
    async def test_only_one_of_many_concurrent_claims_wins(self, store: TaskStore) -> None:
        task = make_task()
        await store.create(task)
        winners: list[int] = []

        async def claim(worker: int) -> None:
            try:
                await store.update(
                    attrs.evolve(task, status=TaskStatus.RUNNING, owner=str(worker)),
                    expected=TaskStatus.PENDING,
                )
            except InvalidTransitionError:
                return
            winners.append(worker)

        async with anyio.create_task_group() as group:
            for worker in range(20):
                group.start_soon(claim, worker)
        assert len(winners) == 1
        assert (await store.get(task.id)).owner == str(winners[0])

    @pytest.mark.anyio
    async def test_list_filters_newest_first_with_paging(self, store: TaskStore) -> None:
        base = make_task()
        tasks = [
            make_task(
                created_at=base.created_at + timedelta(seconds=i),
                status=TaskStatus.COMPLETED if i % 2 else TaskStatus.PENDING,
                owner="even" if i % 2 == 0 else "odd",
            )
            for i in range(6)
        ]
        for task in tasks:
            await store.create(task)
        newest_first = [t.id for t in reversed(tasks)]
        assert [t.id for t in await store.list()] == newest_first
        assert [t.id for t in await store.list(limit=2, offset=1)] == newest_first[1:3]
        completed = await store.list(status=TaskStatus.COMPLETED)
        assert [t.id for t in completed] == [tasks[5].id, tasks[3].id, tasks[1].id]
        assert [t.id for t in await store.list(owner="even", limit=1)] == [tasks[4].id]
        both = await store.list(status=TaskStatus.PENDING, owner="even", offset=1)
        assert [t.id for t in both] == [tasks[2].id, tasks[0].id]
        assert await store.list(status=TaskStatus.RUNNING) == []
        assert await store.list(owner="nobody") == []
        assert await store.list(offset=6) == []

    @pytest.mark.anyio
    async def test_list_pages_cover_every_task_once(self, store: TaskStore) -> None:
        base = make_task()
        ids = set()
        for i in range(25):
            task = make_task(created_at=base.created_at + timedelta(milliseconds=i))
            await store.create(task)
            ids.add(task.id)
        seen = [
            t.id for offset in range(0, 25, 7) for t in await store.list(limit=7, offset=offset)
        ]
        assert len(seen) == 25
        assert set(seen) == ids

    @pytest.mark.anyio
    async def test_counts_tasks_by_status(self, store: TaskStore) -> None:
        assert {s: n for s, n in (await store.counts()).items() if n} == {}
        for status in (TaskStatus.PENDING, TaskStatus.PENDING, TaskStatus.COMPLETED):
            await store.create(make_task(status=status))
        counts = {s: n for s, n in (await store.counts()).items() if n}
        assert counts == {TaskStatus.PENDING: 2, TaskStatus.COMPLETED: 1}


class OutboxContract:
    """The webhook outbox every store keeps beside its tasks."""

    @pytest.mark.anyio
    async def test_deliveries_round_trip_every_field(self, store: TaskStore) -> None:
        task = make_task()
        await store.create(task)
        now = datetime.now(UTC)
        delivery = make_delivery(
            task,
            state=DeliveryState.FAILED,
            next_attempt_at=None,
            attempts=7,
            tries=3,
            last_attempt_at=now,
            last_status=503,
            last_error='answered HTTP 503 "busy"\n\x1b',
            delivered_at=now - timedelta(seconds=1),
            worker="w#9",
            lease_expires_at=now + timedelta(seconds=30),
            trace_context={"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"},
        )
        running = attrs.evolve(task, status=TaskStatus.RUNNING)
        await store.update(running, expected=TaskStatus.PENDING, deliveries=[delivery])
        assert await store.list_deliveries([task.id]) == [delivery]

    @pytest.mark.anyio
    async def test_deliveries_are_stored_only_with_an_update_that_lands(
        self, store: TaskStore
    ) -> None:
        running, queued = await running_with(store, 0, 0)
        refused = make_delivery(running, event_id="evt_refused")
        with pytest.raises(InvalidTransitionError):
            await store.update(running, expected=TaskStatus.PENDING, deliveries=[refused])
        with pytest.raises(InvalidTransitionError):
            await store.update(
                running,
                expected=TaskStatus.RUNNING,
                expected_worker="w#other",
                deliveries=[refused],
            )
        assert await store.list_deliveries([running.id]) == queued
        # one already stored is left as it is; a new one joins
        again = attrs.evolve(queued[0], attempts=99)
        later = make_delivery(running, event_id="evt_later", created_at=datetime.now(UTC))
        await store.update(
            running, expected=TaskStatus.RUNNING, expected_worker="w#1", deliveries=[again, later]
        )
        assert await store.list_deliveries([running.id]) == [*queued, later]

    @pytest.mark.anyio
    async def test_one_event_goes_to_several_urls(self, store: TaskStore) -> None:
        task = make_task()
        await store.create(task)
        one = make_delivery(task, event_id="evt_1", url="https://a.example/")
        two = attrs.evolve(one, url="https://b.example/")
        running = attrs.evolve(task, status=TaskStatus.RUNNING)
        await store.update(running, expected=TaskStatus.PENDING, deliveries=[one, two])
        assert {d.url for d in await store.list_deliveries([task.id])} == {one.url, two.url}

    @pytest.mark.anyio
    async def test_list_deliveries_of_several_tasks(self, store: TaskStore) -> None:
        first, first_queued = await running_with(store, 0)
        second, second_queued = await running_with(store, 0, 5)
        assert await store.list_deliveries([]) == []
        assert await store.list_deliveries(["missing"]) == []
        both = await store.list_deliveries([second.id, first.id])
        assert sorted(both, key=lambda d: d.event_id) == sorted(
            [*first_queued, *second_queued], key=lambda d: d.event_id
        )
        assert await store.list_deliveries([second.id]) == second_queued

    @pytest.mark.anyio
    async def test_claim_leases_due_deliveries_earliest_first(self, store: TaskStore) -> None:
        _, queued = await running_with(store, -1, -3, 60, -2)
        now = datetime.now(UTC)
        lease = now + timedelta(seconds=30)
        claimed = await store.claim_deliveries(now=now, limit=2, worker="s#1", lease_until=lease)
        assert [d.event_id for d in claimed] == [queued[1].event_id, queued[3].event_id]
        assert all(d.worker == "s#1" and d.lease_expires_at == lease for d in claimed)
        rest = await store.claim_deliveries(now=now, limit=10, worker="s#2", lease_until=lease)
        assert [d.event_id for d in rest] == [queued[0].event_id]
        assert (
            await store.claim_deliveries(now=now, limit=10, worker="s#3", lease_until=lease) == []
        )
        # a lapsed lease is anyone's
        later = lease + timedelta(seconds=1)
        retaken = await store.claim_deliveries(
            now=later, limit=10, worker="s#4", lease_until=later + timedelta(seconds=30)
        )
        assert {d.event_id for d in retaken} == {d.event_id for d in [*claimed, *rest]}
        assert all(d.worker == "s#4" for d in retaken)

    @pytest.mark.anyio
    async def test_only_the_lease_holder_records_an_attempt(self, store: TaskStore) -> None:
        _, queued = await running_with(store, 0)
        now = datetime.now(UTC)
        lease = now + timedelta(seconds=30)
        [claimed] = await store.claim_deliveries(now=now, limit=1, worker="s#1", lease_until=lease)
        done = attrs.evolve(
            claimed,
            state=DeliveryState.DELIVERED,
            next_attempt_at=None,
            attempts=1,
            tries=1,
            last_status=204,
            delivered_at=now,
            worker=None,
            lease_expires_at=None,
        )
        assert not await store.record_attempt(done, worker="s#2")
        assert await store.list_deliveries([queued[0].task_id]) == [claimed]
        assert await store.record_attempt(done, worker="s#1")
        assert await store.list_deliveries([queued[0].task_id]) == [done]
        assert not await store.record_attempt(done, worker="s#1")  # released already
        assert await store.claim_deliveries(now=now, limit=1, worker="s#3", lease_until=lease) == []

    @pytest.mark.anyio
    async def test_requeue_restarts_every_delivery_of_a_task(self, store: TaskStore) -> None:
        running, queued = await running_with(store, 0, 0)
        other, other_queued = await running_with(store, 3600)
        now = datetime.now(UTC)
        lease = now + timedelta(seconds=30)
        [first, second] = await store.claim_deliveries(
            now=now, limit=5, worker="s#1", lease_until=lease
        )
        failed = attrs.evolve(
            first,
            state=DeliveryState.FAILED,
            next_attempt_at=None,
            attempts=8,
            tries=8,
            last_status=500,
            last_error="answered HTTP 500",
            worker=None,
            lease_expires_at=None,
        )
        assert await store.record_attempt(failed, worker="s#1")
        at = now + timedelta(seconds=1)
        again = await store.requeue_deliveries(running.id, at=at)
        assert again == [failed.requeued(at), second.requeued(at)]
        assert (again[0].attempts, again[0].tries, again[0].last_status) == (8, 0, 500)
        assert again[1].worker is None
        assert await store.list_deliveries([running.id]) == again
        assert await store.list_deliveries([other.id]) == other_queued
        # the lease of the attempt in flight went with the re-queue
        assert not await store.record_attempt(second, worker="s#1")
        assert await store.requeue_deliveries("missing", at=at) == []
        claimed = await store.claim_deliveries(now=at, limit=5, worker="s#2", lease_until=lease)
        assert {d.event_id for d in claimed} == {d.event_id for d in queued}

    @pytest.mark.anyio
    async def test_concurrent_claims_never_lease_one_delivery_twice(self, store: TaskStore) -> None:
        _, queued = await running_with(store, *[-1] * 12)
        now = datetime.now(UTC)
        lease = now + timedelta(seconds=30)
        leased: list[str] = []

        async def claim(worker: int) -> None:
            claimed = await store.claim_deliveries(
                now=now, limit=2, worker=f"s#{worker}", lease_until=lease
            )
            leased.extend(delivery.event_id for delivery in claimed)

        async with anyio.create_task_group() as group:
            for worker in range(16):
                group.start_soon(claim, worker)
        assert sorted(leased) == sorted(d.event_id for d in queued)
