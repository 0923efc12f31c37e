"""What every TaskStore promises; each store's test module subclasses this suite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import attrs
import pytest

from ffmpeg_tasks import (
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
