"""Store throughput: register + get + update cycles per second (a benchmark, not a test).

One cycle is what a task's start costs a store: ``create`` of a new pending task, ``get`` of it,
and the claim, a conditional ``update`` to running. C callers (tasks of one event loop) run
cycles back to back for a fixed time; the figure is completed cycles per second. Targets on
the benchmark machine: MemoryStore >= 50,000/s, SqliteStore >= 5,000/s, PostgresStore >=
2,000/s, at 1, 8 and 64 concurrent callers.

    uv run --all-extras python benchmarks/stores.py [--seconds 3] [--callers 1 8 64]
        [--stores memory sqlite postgres] [--postgres postgresql://postgres@127.0.0.1/test]

PostgreSQL comes from ``--postgres`` or ``FFMPEG_TASKS_TEST_POSTGRES_DSN``; the tables go to a
schema of their own, dropped afterwards. SQLite writes a file in a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import anyio
import attrs

from ffmpeg_tasks import Task, TaskStatus, TaskStore
from ffmpeg_tasks.storage import MemoryStore, PostgresStore, SqliteStore

TARGETS = {"memory": 50_000, "sqlite": 5_000, "postgres": 2_000}


async def cycles(store: TaskStore, *, callers: int, seconds: float) -> float:
    """Cycles per second of ``callers`` concurrent callers over ``seconds``."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def caller(index: int) -> None:
        nonlocal done
        worker = f"bench#{index}"
        while time.perf_counter() < deadline:
            task = Task(
                command="-i a.mp4 -c copy out.mp4",
                input_files={"a.mp4": "https://media.example/a.mp4"},
                output_filename="out.mp4",
            )
            await store.create(task)
            stored = await store.get(task.id)
            await store.update(
                attrs.evolve(stored, status=TaskStatus.RUNNING, worker=worker),
                expected=TaskStatus.PENDING,
            )
            done += 1

    started = time.perf_counter()
    async with anyio.create_task_group() as group:
        for index in range(callers):
            group.start_soon(caller, index)
    return done / (time.perf_counter() - started)


@asynccontextmanager
async def memory() -> AsyncIterator[TaskStore]:
    store = MemoryStore(max_finished=None)
    yield store
    await store.aclose()


@asynccontextmanager
async def sqlite() -> AsyncIterator[TaskStore]:
    with tempfile.TemporaryDirectory() as folder:
        store = SqliteStore(Path(folder) / "tasks.db")
        yield store
        await store.aclose()


def postgres(dsn: str, *, max_size: int) -> Callable[[], AbstractAsyncContextManager[TaskStore]]:
    @asynccontextmanager
    async def open_store() -> AsyncIterator[TaskStore]:
        import psycopg

        schema = f"ffmpeg_tasks_bench_{secrets.token_hex(4)}"
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(f"CREATE SCHEMA {schema}".encode())
        try:
            schema_dsn = psycopg.conninfo.make_conninfo(dsn, options=f"-csearch_path={schema}")
            await PostgresStore(schema_dsn).migrate()
            store = PostgresStore(schema_dsn, min_size=max_size, max_size=max_size)
            yield store
            await store.aclose()
        finally:
            with psycopg.connect(dsn, autocommit=True) as connection:
                connection.execute(f"DROP SCHEMA {schema} CASCADE".encode())

    return open_store


async def main(args: argparse.Namespace) -> int:
    makers: dict[str, Callable[[], AbstractAsyncContextManager[TaskStore]]] = {
        "memory": memory,
        "sqlite": sqlite,
    }
    dsn = args.postgres or os.environ.get("FFMPEG_TASKS_TEST_POSTGRES_DSN")
    if "postgres" in args.stores:
        if not dsn:
            print("no PostgreSQL: give --postgres or set FFMPEG_TASKS_TEST_POSTGRES_DSN")
            return 2
        makers["postgres"] = postgres(dsn, max_size=args.pool)
    print(f"{'store':<10} {'callers':>7} {'cycles/s':>10} {'target':>8}  verdict")
    failures = 0
    for name in args.stores:
        for callers in args.callers:
            async with makers[name]() as store:
                await cycles(store, callers=callers, seconds=min(0.3, args.seconds))  # warm up
                rate = await cycles(store, callers=callers, seconds=args.seconds)
            met = rate >= TARGETS[name]
            failures += not met
            verdict = "met" if met else "NOT met"
            print(f"{name:<10} {callers:>7} {rate:>10,.0f} {TARGETS[name]:>8,}  {verdict}")
    return 1 if failures else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--callers", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--stores", nargs="+", default=list(TARGETS), choices=list(TARGETS))
    parser.add_argument("--postgres", help="a PostgreSQL DSN the benchmark may make schemas in")
    parser.add_argument("--pool", type=int, default=8, help="PostgresStore connections")
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    arguments = parser.parse_args()
    sys.exit(anyio.run(main, arguments, backend=arguments.backend))
