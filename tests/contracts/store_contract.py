"""What every TaskStore promises; each store's test module subclasses this suite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import attrs
import pytest

from ffmpeg_tasks import (
    InvalidTaskError,
    InvalidTransitionError,
    Output,
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
            outputs=(
                Output(
                    name="out.mp4",
                    url="s3://b/k",
                    download_url="https://x",
                    download_expires_at=datetime.now(UTC),
                    size=9,
                ),
            ),
            error=None,
            log="frame=  50 fps=0.0\nvideo:12kB audio:3kB",
            timeout=12.5,
            owner="key-1",
            worker="host/boot/42/1000",
        )
        await store.create(task)
        assert await store.get(task.id) == task

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
