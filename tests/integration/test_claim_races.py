"""Exactly-once claims: two managers race to execute the same pending task, 200 times over.

For SQLite and PostgreSQL the managers live in two real processes (one on asyncio, one on
trio), started once and told each task id at the same moment; for the in-process MemoryStore,
in two threads with an event loop each. Each time exactly one runs the task and the other gets
``InvalidTransitionError``. The parent test runs on asyncio only: the races are between the
children, whose backends are fixed.
"""

from __future__ import annotations

import queue
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from subprocess import PIPE

import anyio
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

from ffmpeg_tasks import InvalidTransitionError, Task, TaskManager, TaskStatus
from ffmpeg_tasks.storage import MemoryStore, PostgresStore, SqliteStore
from ffmpeg_tasks.testing import FakeFetcher, FakeRunner, FakeUploader

from ..fixtures.postgres import PostgresServer

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]

URL = "https://media.example/a.mp4"
COMMAND = "-i a.mp4 -c copy out.mp4"
ROUNDS = 200

#: Reads task ids from stdin; for each, executes it and prints "ran" or "taken".
RACER = """
import sys, anyio
from ffmpeg_tasks import InvalidTransitionError, TaskManager
from ffmpeg_tasks.storage import PostgresStore, SqliteStore
from ffmpeg_tasks.testing import FakeFetcher, FakeRunner, FakeUploader

async def main(kind, where):
    store = SqliteStore(where) if kind == "sqlite" else PostgresStore(where)
    fetcher = FakeFetcher({{{url!r}: b"A"}})
    manager = TaskManager(store, fetcher, FakeRunner(), FakeUploader())
    await store.list(limit=1)  # connected before the first race
    print("ready", flush=True)
    while line := await anyio.to_thread.run_sync(sys.stdin.readline):
        try:
            done = await manager.execute(line.strip())
            print("ran", done.status.value, flush=True)
        except InvalidTransitionError:
            print("taken", flush=True)
    await manager.aclose()

anyio.run(main, *sys.argv[1:3], backend=sys.argv[3])
"""


def manager_on(store: MemoryStore | SqliteStore | PostgresStore) -> TaskManager:
    return TaskManager(store, FakeFetcher({URL: b"A"}), FakeRunner(), FakeUploader())


async def register(manager: TaskManager, count: int) -> list[str]:
    return [(await manager.register(COMMAND, {"a.mp4": URL}, "out.mp4")).id for _ in range(count)]


async def race_in_processes(kind: str, where: str, task_ids: list[str]) -> list[list[str]]:
    """Each task's two answers, in the order the racers gave them."""
    script = textwrap.dedent(RACER.format(url=URL))
    async with (
        await anyio.open_process(
            [sys.executable, "-c", script, kind, where, "asyncio"], stdin=PIPE, stdout=PIPE
        ) as first,
        await anyio.open_process(
            [sys.executable, "-c", script, kind, where, "trio"], stdin=PIPE, stdout=PIPE
        ) as second,
    ):
        racers = [first, second]
        lines = []
        for racer in racers:
            assert racer.stdout is not None
            lines.append(BufferedByteReceiveStream(racer.stdout))

        async def answer(index: int) -> str:
            return (await lines[index].receive_until(b"\n", 100)).decode()

        with anyio.fail_after(60):
            assert [await answer(i) for i in range(2)] == ["ready", "ready"]
            answers = []
            for task_id in task_ids:
                for racer in racers:
                    assert racer.stdin is not None
                    await racer.stdin.send(f"{task_id}\n".encode())
                answers.append(sorted([await answer(0), await answer(1)]))
            for racer in racers:
                assert racer.stdin is not None
                await racer.stdin.aclose()
                assert await racer.wait() == 0
    return answers


def race_in_threads(store: MemoryStore, task_ids: list[str]) -> list[list[str]]:
    inboxes: list[queue.Queue[str | None]] = [queue.Queue(), queue.Queue()]
    outbox: queue.Queue[str] = queue.Queue()

    def racer(inbox: queue.Queue[str | None]) -> None:
        async def main() -> None:
            manager = manager_on(store)
            while (task_id := inbox.get()) is not None:
                try:
                    done = await manager.execute(task_id)
                    outbox.put(f"ran {done.status.value}")
                except InvalidTransitionError:
                    outbox.put("taken")

        anyio.run(main)

    threads = [threading.Thread(target=racer, args=(inbox,)) for inbox in inboxes]
    for thread in threads:
        thread.start()
    answers = []
    for task_id in task_ids:
        for inbox in inboxes:
            inbox.put(task_id)
        answers.append(sorted([outbox.get(timeout=10), outbox.get(timeout=10)]))
    for inbox in inboxes:
        inbox.put(None)
    for thread in threads:
        thread.join()
    return answers


async def check(manager: TaskManager, task_ids: list[str], answers: list[list[str]]) -> None:
    assert answers == [["ran completed", "taken"]] * len(task_ids)
    tasks: list[Task] = [await manager.get(task_id) for task_id in task_ids]
    assert {(t.status, t.attempts) for t in tasks} == {(TaskStatus.COMPLETED, 1)}


@pytest.mark.slow
async def test_sqlite_two_processes_one_claim_each(tmp_path: Path) -> None:
    database = tmp_path / "tasks.db"
    manager = manager_on(SqliteStore(database))
    task_ids = await register(manager, ROUNDS)
    answers = await race_in_processes("sqlite", str(database), task_ids)
    await check(manager, task_ids, answers)
    await manager.aclose()


@pytest.mark.slow
async def test_postgresql_two_processes_one_claim_each(postgres: PostgresServer) -> None:
    manager = manager_on(PostgresStore(postgres.dsn))
    task_ids = await register(manager, ROUNDS)
    answers = await race_in_processes("postgres", postgres.dsn, task_ids)
    await check(manager, task_ids, answers)
    await manager.aclose()


async def test_memory_two_threads_one_claim_each() -> None:
    store = MemoryStore()
    manager = manager_on(store)
    task_ids = await register(manager, ROUNDS)
    race: Callable[[], list[list[str]]] = lambda: race_in_threads(store, task_ids)
    answers = await anyio.to_thread.run_sync(race)
    await check(manager, task_ids, answers)
