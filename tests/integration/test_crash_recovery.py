"""A service killed outright leaves its runs ``running`` in a store that outlives it (SQLite,
PostgreSQL); the next manager to open recovers them (fails them, or retries them) instead of
showing them running forever, and removes the work folders the service left."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import attrs
import psutil
import pytest

from ffmpeg_tasks import CommandPolicy, Task, TaskManager, TaskPhase, TaskStatus
from ffmpeg_tasks._workers import this_worker
from ffmpeg_tasks.fetchers import LocalFetcher
from ffmpeg_tasks.runners import SubprocessRunner
from ffmpeg_tasks.storage import PostgresStore, SqliteStore
from ffmpeg_tasks.testing import FakeFetcher, FakeRunner, FakeUploader
from ffmpeg_tasks.uploaders import LocalUploader
from tests.fixtures.media import MakeClip
from tests.fixtures.postgres import PostgresServer

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


#: A service on PostgreSQL running one real, real-time-speed encode: argv is the DSN, the task
#: id, the input, output and work folders.
SERVICE_ON_POSTGRES = """
import anyio, sys
from pathlib import Path
from ffmpeg_tasks import CommandPolicy, TaskManager
from ffmpeg_tasks.fetchers import LocalFetcher
from ffmpeg_tasks.runners import SubprocessRunner
from ffmpeg_tasks.storage import PostgresStore
from ffmpeg_tasks.uploaders import LocalUploader

async def main(dsn, task_id, inputs, outputs, work):
    manager = TaskManager(
        PostgresStore(dsn), LocalFetcher([Path(inputs)]), SubprocessRunner(kill_grace=1.0),
        LocalUploader(outputs), policy=CommandPolicy.trusted(), workdir_root=Path(work),
        lease=LEASE, heartbeat=HEARTBEAT, poll_interval=0.1,
    )
    async with manager:
        await manager.execute(task_id)

anyio.run(main, *sys.argv[1:6])
"""
REALTIME = "-re -i input.mp4 -c:v libx264 -preset ultrafast -c:a aac output.mp4"
LEASE, HEARTBEAT = 2.0, 0.5


@attrs.define
class Crash:
    """A service process encoding one task on PostgreSQL, and the folders it uses."""

    dsn: str
    inputs: Path
    outputs: Path
    work: Path
    task_id: str = ""
    process: anyio.abc.Process | None = None
    #: The service's descendants while it encoded (ffmpeg, and the sandbox around it).
    children: list[psutil.Process] = attrs.Factory(list)

    def manager(self, **settings: Any) -> TaskManager:
        return TaskManager(
            PostgresStore(self.dsn),
            LocalFetcher([self.inputs]),
            SubprocessRunner(kill_grace=1.0),
            LocalUploader(self.outputs),
            policy=CommandPolicy.trusted(),
            workdir_root=self.work,
            lease=LEASE,
            heartbeat=HEARTBEAT,
            poll_interval=0.1,
            **settings,
        )

    async def start(self) -> anyio.abc.Process:
        async with self.manager() as registrar:
            url = (self.inputs / "input.mp4").as_uri()
            self.task_id = (await registrar.register(REALTIME, {"input.mp4": url}, "output.mp4")).id
        script = textwrap.dedent(SERVICE_ON_POSTGRES).replace("LEASE", str(LEASE))
        script = script.replace("HEARTBEAT", str(HEARTBEAT))
        folders = [str(self.inputs), str(self.outputs), str(self.work)]
        self.process = await anyio.open_process(
            [sys.executable, "-c", script, self.dsn, self.task_id, *folders]
        )
        store = PostgresStore(self.dsn)
        with anyio.fail_after(30):
            while (await store.get(self.task_id)).phase is not TaskPhase.ENCODING:
                await anyio.sleep(0.05)
            while not any("ffmpeg" in p.name() for p in self._descendants()):
                await anyio.sleep(0.05)
        await store.aclose()
        self.children = self._descendants()
        return self.process

    def work_folders(self) -> list[Path]:
        return [p for p in self.work.iterdir() if not p.name.endswith(".lock")]

    def _descendants(self) -> list[psutil.Process]:
        assert self.process is not None
        try:
            return psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []


def recovered(task: Task, retries: int) -> bool:
    return task.attempts == 2 if retries else task.status.is_terminal


def alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def crash(postgres: PostgresServer, tmp_path: Path, make_clip: MakeClip) -> Crash:
    folders = [tmp_path / name for name in ("in", "out", "work")]
    for folder in folders:
        folder.mkdir()
    make_clip("long.mp4", seconds=20).rename(folders[0] / "input.mp4")
    return Crash(postgres.dsn, inputs=folders[0], outputs=folders[1], work=folders[2])


@pytest.mark.slow
@pytest.mark.parametrize("retries", [0, 1])
async def test_a_service_on_postgresql_killed_mid_encode_is_recovered(
    crash: Crash, retries: int
) -> None:
    service = await crash.start()
    (dead_folder,) = crash.work_folders()
    service.send_signal(signal.SIGKILL)
    await service.wait()
    killed = anyio.current_time()
    assert dead_folder.is_dir()  # kill -9 left it behind, with its copy of the input

    async with crash.manager(retries=retries, retry_backoff=0) as manager:
        assert not dead_folder.exists()  # the next start removed it
        with anyio.fail_after(LEASE):
            while not recovered(task := await manager.get(crash.task_id), retries):
                await anyio.sleep(0.05)
        assert anyio.current_time() - killed < LEASE
        if retries:
            assert task.attempts == 2
            assert task.status in {TaskStatus.PENDING, TaskStatus.RUNNING}
        else:
            assert task.status is TaskStatus.FAILED
            assert task.error is not None
            assert task.error.startswith("interrupted: the service running it stopped")
        with anyio.fail_after(5):
            while any(alive(child) for child in crash.children):
                await anyio.sleep(0.05)
    assert crash.work_folders() == []
    assert list(crash.outputs.iterdir()) == []


@pytest.mark.slow
async def test_a_frozen_service_loses_its_lease_and_stores_nothing_when_it_wakes(
    crash: Crash,
) -> None:
    """A service that stops answering (SIGSTOP: a network partition, a stalled VM) is alive
    on this host, so only its lease can tell: another manager recovers the task once the lease
    expired and retries it. The service, woken, stops its run without a write."""
    service = await crash.start()
    service.send_signal(signal.SIGSTOP)
    frozen = anyio.current_time()
    try:
        async with crash.manager(retries=1, retry_backoff=0) as manager:
            with anyio.fail_after(LEASE + 2):
                while (retry := await manager.get(crash.task_id)).attempts < 2:
                    await anyio.sleep(0.05)
            assert anyio.current_time() - frozen < LEASE + HEARTBEAT + 1
            service.send_signal(signal.SIGCONT)
            with anyio.fail_after(10):
                assert await service.wait() == 0
            task = await manager.get(crash.task_id)
            assert task.attempts == 2
            assert task.worker == retry.worker
            assert task.status is TaskStatus.RUNNING
            assert not (crash.outputs / crash.task_id).exists()
            assert not any(alive(child) for child in crash.children)
    finally:
        if service.returncode is None:
            service.send_signal(signal.SIGCONT)
            service.kill()
    after = crash.manager()
    assert (await after.get(crash.task_id)).status is TaskStatus.CANCELLED  # by the shutdown
    await after.aclose()
