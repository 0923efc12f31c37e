"""A service killed outright leaves its runs ``running`` in a SQLite store; the next manager
to open on that host marks them ``failed`` instead of showing them running forever."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import anyio
import attrs
import pytest

from ffmpeg_tasks import TaskManager, TaskStatus
from ffmpeg_tasks._workers import this_worker
from ffmpeg_tasks.storage import SqliteStore
from ffmpeg_tasks.testing import FakeFetcher, FakeRunner, FakeUploader

pytestmark = pytest.mark.anyio

URL = "https://media.example/a.mp4"

SERVICE = """
import anyio, sys
from ffmpeg_tasks import TaskManager
from ffmpeg_tasks.storage import SqliteStore
from ffmpeg_tasks.testing import FakeFetcher, FakeRunner, FakeUploader

async def main():
    store = SqliteStore(sys.argv[1])
    fetcher = FakeFetcher({{{url!r}: b"A"}})
    async with TaskManager(store, fetcher, FakeRunner(duration=60), FakeUploader()) as manager:
        task = await manager.register("-i a.mp4 -c copy out.mp4", {{"a.mp4": {url!r}}}, "out.mp4")
        print(task.id, flush=True)
        await manager.execute(task.id)

anyio.run(main)
"""


def manager_on(database: Path) -> TaskManager:
    return TaskManager(SqliteStore(database), FakeFetcher(), FakeRunner(), FakeUploader())


async def test_runs_of_a_killed_service_are_marked_failed(tmp_path: Path) -> None:
    database = tmp_path / "tasks.db"
    script = textwrap.dedent(SERVICE.format(url=URL))
    async with await anyio.open_process(
        [sys.executable, "-c", script, str(database)], stdout=subprocess.PIPE
    ) as service:
        assert service.stdout is not None
        with anyio.fail_after(10):
            task_id = (await service.stdout.receive()).decode().strip()
            store = SqliteStore(database)
            while (await store.get(task_id)).status is not TaskStatus.RUNNING:
                await anyio.sleep(0.05)
            await store.aclose()
        service.send_signal(signal.SIGKILL)
        await service.wait()

    async with manager_on(database) as manager:
        task = await manager.get(task_id)
    assert task.status is TaskStatus.FAILED
    assert task.error is not None
    assert task.error.startswith("interrupted: the service running it stopped")
    assert task.finished_at is not None
    assert task.input_files == {"a.mp4": URL}  # the record is kept for a retry


async def test_runs_of_live_processes_and_other_hosts_are_left_alone(tmp_path: Path) -> None:
    database = tmp_path / "tasks.db"
    manager = manager_on(database)
    me = this_worker()
    host, machine, boot, namespace, pid, started = me.partition("#")[0].split("/")
    dead = await ended_process()
    workers = {
        "live": me,  # this very process
        "live, another claim": this_worker(),
        "elsewhere": f"other-host/{machine}/{boot}/{namespace}/{pid}/{started}#1",
        "unknown": None,
        "other container": f"{host}/{machine}/{boot}/4026599999/{dead}/1#1",
        "reused pid": f"{host}/{machine}/{boot}/{namespace}/{pid}/{int(started) - 1}#1",
        "ended": f"{host}/{machine}/{boot}/{namespace}/{dead}/1#1",
        "reboot": f"{host}/{machine}/another-boot-id/{namespace}/{pid}/{started}#1",
    }
    ids = {}
    for name, worker in workers.items():
        task = await manager.register("-i a.mp4 -c copy out.mp4", {"a.mp4": URL}, "out.mp4")
        running = attrs.evolve(task, status=TaskStatus.RUNNING, worker=worker)
        await manager._store.update(running, expected=TaskStatus.PENDING)
        ids[name] = task.id
    marked = await manager.fail_interrupted()
    gone = {"reused pid", "ended", "reboot"}
    assert {task.id for task in marked} == {ids[name] for name in gone}
    statuses = {name: (await manager.get(task_id)).status for name, task_id in ids.items()}
    assert statuses == {
        name: TaskStatus.FAILED if name in gone else TaskStatus.RUNNING for name in workers
    }
    await manager.aclose()


async def ended_process() -> int:
    """The pid of a process that has ended (and, for a while, nobody else's)."""
    process = await anyio.open_process(["true"])
    await process.wait()
    return process.pid
