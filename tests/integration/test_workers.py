"""The API hands tasks to worker processes through procrastinate, all real: PostgreSQL on
loopback, moto's S3 server for outputs, an HTTP server for inputs, ``ffmpeg-tasks serve``
under uvicorn with ``FFMPEG_TASKS_WORKERS=procrastinate`` and two ``ffmpeg-tasks worker``
processes. Runs complete on the workers, cancels reach them, a killed worker's task is retried
on the other one (or failed), a stopped worker hands its task back, and one task never runs
twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import anyio
import httpx
import psutil
import pytest

from ffmpeg_tasks import Task, TaskStatus
from ffmpeg_tasks.storage import PostgresStore
from tests.api._support import ROOT, Server, server_env
from tests.fixtures.http_server import HttpServer
from tests.fixtures.postgres import PostgresServer, in_schema
from tests.fixtures.s3_server import TEST_KEY_ID, TEST_SECRET, MotoServer

pytestmark = pytest.mark.slow

CLI = str(Path(sys.executable).with_name("ffmpeg-tasks"))
LEASE, HEARTBEAT = "2", "0.5"
#: A short encode of the session's 2 s clip.
SHORT = "-i clip.mp4 -vf scale=80:60 -c:v libx264 -preset ultrafast -an small.mp4"
#: An encode that takes far longer than any test waits (a 4-minute clip, upscaled), and that
#: stops at once on a signal (no encoder lookahead to flush).
LONG = "-i long.mp4 -vf scale=1280:720 -c:v libx264 -preset ultrafast -an big.mp4"


class Worker:
    """An ``ffmpeg-tasks worker`` process, its log in a file."""

    def __init__(self, env: Mapping[str, str], log: Path, *args: str) -> None:
        self.log = log
        with log.open("wb") as sink:
            self.process = subprocess.Popen(
                [CLI, "worker", "--concurrency", "1", "--grace", "1", *args],
                cwd=ROOT,
                env=dict(env),
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while "is taking jobs" not in log.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"the worker did not start:\n{log.read_text()}")
            time.sleep(0.05)

    @property
    def pid(self) -> int:
        return self.process.pid

    def ffmpegs(self) -> list[psutil.Process]:
        try:
            children = psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        return [child for child in children if "ffmpeg" in child.name()]

    def stop(self, timeout: float = 20) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


class Deployment:
    """An API and its workers on one PostgreSQL schema, one bucket, one input server."""

    def __init__(
        self, folder: Path, env: dict[str, str], dsn: str, queues: list[list[str]]
    ) -> None:
        self.folder, self.env, self.dsn = folder, env, dsn
        migrate = subprocess.run(
            [CLI, "db", "migrate"], env=env, capture_output=True, text=True, check=False
        )
        assert migrate.returncode == 0, migrate.stderr
        assert "procrastinate's tables made" in migrate.stderr, migrate.stderr
        self.workers: list[Worker] = []
        self.api: Server | None = None
        try:
            self.api = Server([CLI, "serve", "--port", "0"], env=env, log=folder / "api.log")
            for args in queues:
                self.add_worker(*args)
        except BaseException:
            self.close()
            raise
        self.client = httpx.Client(base_url=self.api.url, timeout=30)

    def add_worker(self, *queues: str) -> Worker:
        args = [arg for queue in queues for arg in ("--queue", queue)]
        log = self.folder / f"worker-{len(self.workers)}.log"
        worker = Worker(self.env, log, *args)
        self.workers.append(worker)
        return worker

    def replace(self, gone: Worker) -> Worker:
        """A new worker taking the queues of one that was killed or stopped."""
        index = self.workers.index(gone)
        args = gone.process.args
        assert isinstance(args, list)
        queues = [args[i + 1] for i, arg in enumerate(args) if arg == "--queue"]
        worker = self.add_worker(*queues)
        self.workers[index] = self.workers.pop()
        return worker

    def register(self, command: str, inputs: dict[str, str], output: str, **extra: Any) -> str:
        body = {"command": command, "input_files": inputs, "output_filename": output, **extra}
        answer = self.client.post("/ffmpeg/register", json=body)
        assert answer.status_code == 200, answer.text
        return str(answer.json()["task_id"])

    def start(self, task_id: str) -> None:
        answer = self.client.post(f"/ffmpeg/execute/{task_id}", params={"wait": "false"})
        assert answer.status_code == 202, answer.text

    def status(self, task_id: str) -> dict[str, Any]:
        answer = self.client.get(f"/ffmpeg/status/{task_id}")
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def stored(self, task_id: str) -> Task:
        """The task as the store has it: the fields the API does not show (worker, attempts)."""

        async def read() -> Task:
            store = PostgresStore(self.dsn)
            try:
                return await store.get(task_id)
            finally:
                await store.aclose()

        return anyio.run(read)

    def until(self, task_id: str, done: Callable[[Task], bool], timeout: float = 30) -> Task:
        deadline = time.monotonic() + timeout
        while not done(task := self.stored(task_id)):
            assert time.monotonic() < deadline, f"{task} after {timeout} s\n{self.logs()}"
            time.sleep(0.05)
        return task

    def running_on(self, task_id: str) -> Worker:
        """The worker whose ffmpeg encodes the task now."""
        task = self.until(task_id, lambda t: t.phase is not None and t.phase.value == "encoding")
        worker = self.worker_of(task)
        deadline = time.monotonic() + 20
        while not worker.ffmpegs():
            assert time.monotonic() < deadline, self.logs()
            time.sleep(0.05)
        return worker

    def worker_of(self, task: Task) -> Worker:
        assert task.worker is not None
        pid = int(task.worker.partition("#")[0].split("/")[4])
        assert self.api is not None
        assert pid != self.api.process.pid, "the API ran the task"
        (worker,) = [w for w in self.workers if w.pid == pid]
        return worker

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text()[-3000:]}"
            for path in sorted(self.folder.glob("*.log"))
        )

    def close(self) -> None:
        for worker in self.workers:
            assert worker.stop() == 0, self.logs()
        if self.api is not None:
            assert self.api.stop() == 0, self.logs()
        if hasattr(self, "client"):
            self.client.close()


def deployment_env(
    postgres_server: PostgresServer, moto: MotoServer, bucket: str, **extra: str
) -> tuple[dict[str, str], str]:
    dsn = in_schema(postgres_server.base, postgres_server.new_schema())
    env = server_env(
        FFMPEG_TASKS_DATABASE=dsn,
        FFMPEG_TASKS_WORKERS="procrastinate",
        FFMPEG_TASKS_ALLOW_PRIVATE_NETWORKS="1",
        FFMPEG_TASKS_LEASE=LEASE,
        FFMPEG_TASKS_HEARTBEAT=HEARTBEAT,
        FFMPEG_TASKS_RETRY_BACKOFF="0",
        S3_BUCKET=bucket,
        S3_ADDRESSING_STYLE="path",
        AWS_ENDPOINT_URL=moto.endpoint_url,
        AWS_ACCESS_KEY_ID=TEST_KEY_ID,
        AWS_SECRET_ACCESS_KEY=TEST_SECRET,
        **extra,
    )
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env, dsn


@pytest.fixture(scope="module")
def long_clip(ffmpeg_exe: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("long") / "long.mp4"
    subprocess.run(
        [str(ffmpeg_exe), "-loglevel", "error", "-f", "lavfi", "-i",
         "testsrc2=size=160x120:rate=25:duration=240", "-c:v", "libx264", "-preset",
         "ultrafast", "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )  # fmt: skip
    return path


@pytest.fixture(scope="module")
def bucket(s3_client: Any) -> str:
    name = f"ft-workers-{os.getpid()}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="module")
def deployment(
    postgres_server: PostgresServer,
    moto_server: MotoServer,
    bucket: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Deployment]:
    """The API and two workers; the second also takes the 'gpu' queue. Retries: 1."""
    env, dsn = deployment_env(postgres_server, moto_server, bucket, FFMPEG_TASKS_RETRIES="1")
    folder = tmp_path_factory.mktemp("deployment")
    deployment = Deployment(folder, env, dsn, [["ffmpeg"], ["ffmpeg", "gpu"]])
    try:
        yield deployment
    finally:
        deployment.close()


@pytest.fixture
def inputs(http_server: HttpServer, media_dir: Path, long_clip: Path) -> dict[str, dict[str, str]]:
    return {
        "short": {"clip.mp4": http_server.add_file("/clip.mp4", media_dir / "clip.mp4")},
        "long": {"long.mp4": http_server.add_file("/long.mp4", long_clip)},
    }


def test_tasks_run_on_the_workers_and_the_api_reports_them(
    deployment: Deployment,
    inputs: dict[str, dict[str, str]],
    http_server: HttpServer,
    s3_client: Any,
    bucket: str,
) -> None:
    ids = [deployment.register(SHORT, inputs["short"], "small.mp4") for _ in range(4)]
    for task_id in ids:
        deployment.start(task_id)
    done = [deployment.until(task_id, lambda t: t.status.is_terminal) for task_id in ids]
    assert [task.status for task in done] == [TaskStatus.COMPLETED] * 4, deployment.logs()
    assert {deployment.worker_of(task).pid for task in done} == {
        worker.pid for worker in deployment.workers
    }  # both took part, the API none
    for task in done:
        assert task.attempts == 1
        assert task.output_url == f"s3://{bucket}/{task.id}/small.mp4"
        head = s3_client.head_object(Bucket=bucket, Key=f"{task.id}/small.mp4")
        assert head["ContentLength"] == task.outputs[0].size > 0
    shown = deployment.status(ids[0])
    assert (shown["status"], shown["progress"], shown["queue"], shown["priority"]) == (
        "completed", 1.0, None, 0
    )  # fmt: skip
    # execute with ?wait=true hands out and waits
    task_id = deployment.register(SHORT, inputs["short"], "small.mp4")
    answer = deployment.client.post(f"/ffmpeg/execute/{task_id}")
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "completed", answer.json()["error"]
    assert len(http_server.requested("/clip.mp4")) == 5  # each task fetched once


def test_a_queue_routes_tasks_to_the_workers_that_take_it(
    deployment: Deployment, inputs: dict[str, dict[str, str]]
) -> None:
    gpu_worker = deployment.workers[1]
    ids = [
        deployment.register(SHORT, inputs["short"], "small.mp4", queue="gpu", priority=priority)
        for priority in (0, 9)
    ]
    assert [deployment.status(i)["priority"] for i in ids] == [0, 9]
    assert deployment.status(ids[0])["queue"] == "gpu"
    for task_id in ids:
        deployment.start(task_id)
    done = [deployment.until(task_id, lambda t: t.status.is_terminal) for task_id in ids]
    assert all(task.status is TaskStatus.COMPLETED for task in done), deployment.logs()
    assert {deployment.worker_of(task).pid for task in done} == {gpu_worker.pid}


def test_cancel_in_the_api_stops_ffmpeg_on_the_worker_within_two_seconds(
    deployment: Deployment, inputs: dict[str, dict[str, str]]
) -> None:
    task_id = deployment.register(LONG, inputs["long"], "big.mp4")
    deployment.start(task_id)
    worker = deployment.running_on(task_id)
    ffmpegs = worker.ffmpegs()
    started = time.monotonic()
    answer = deployment.client.post(f"/ffmpeg/cancel/{task_id}")
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "cancelled"
    while any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in ffmpegs):
        assert time.monotonic() - started < 2, "ffmpeg still runs 2 s after the cancel"
        time.sleep(0.02)
    latency = time.monotonic() - started
    task = deployment.until(task_id, lambda t: t.finished_at is not None)
    assert (task.status, task.error) == (TaskStatus.CANCELLED, "cancelled")
    print(f"cancel -> ffmpeg gone on the worker: {latency:.2f} s")
    # the worker goes on taking jobs
    again = deployment.register(SHORT, inputs["short"], "small.mp4")
    deployment.start(again)
    assert deployment.until(again, lambda t: t.status.is_terminal).status is TaskStatus.COMPLETED


def test_a_worker_killed_mid_encode_has_its_task_retried_once_on_the_other(
    deployment: Deployment, inputs: dict[str, dict[str, str]]
) -> None:
    task_id = deployment.register(LONG, inputs["long"], "big.mp4")
    deployment.start(task_id)
    killed = deployment.running_on(task_id)
    killed.process.send_signal(signal.SIGKILL)
    killed.process.wait()
    gone = time.monotonic()
    try:
        deployment.until(task_id, lambda t: t.attempts == 2, timeout=float(LEASE) * 3)
        assert time.monotonic() - gone < float(LEASE) + 1
        other = deployment.running_on(task_id)
        assert other is not killed
        time.sleep(float(LEASE) * 1.5)  # longer than a lease: nothing retries it again
        task = deployment.stored(task_id)
        assert (task.status, task.attempts) == (TaskStatus.RUNNING, 2)
        assert deployment.worker_of(task) is other
        deployment.client.post(f"/ffmpeg/cancel/{task_id}")
    finally:
        deployment.replace(killed)


def test_a_stopped_worker_hands_its_task_back_to_the_other(
    deployment: Deployment, inputs: dict[str, dict[str, str]]
) -> None:
    task_id = deployment.register(LONG, inputs["long"], "big.mp4")
    deployment.start(task_id)
    leaving = deployment.running_on(task_id)
    try:
        assert leaving.stop() == 0, deployment.logs()  # SIGTERM; its grace is 1 s
        assert "handed 1 running task(s) back" in leaving.log.read_text()
        task = deployment.until(task_id, lambda t: t.attempts == 2, timeout=float(LEASE) * 3)
        assert deployment.running_on(task_id) is not leaving
        assert task.error is None
        deployment.client.post(f"/ffmpeg/cancel/{task_id}")
    finally:
        deployment.replace(leaving)


def test_two_jobs_of_one_task_run_it_once(
    deployment: Deployment, inputs: dict[str, dict[str, str]], http_server: HttpServer
) -> None:
    """A job handed out twice (a retry and a lost job found again, say): both workers take
    one, the claim lets one run; the other job ends without touching the task."""
    task_id = deployment.register(SHORT, inputs["short"], "small.mp4")

    async def defer_twice() -> None:
        from ffmpeg_tasks.integrations.procrastinate import ProcrastinateDispatcher

        dispatcher = ProcrastinateDispatcher(deployment.dsn)
        async with dispatcher:
            await dispatcher.open()
            for _ in range(2):  # without the queueing lock submit() uses
                deferrer = dispatcher.app.configure_task(dispatcher.task_name, queue="ffmpeg")
                await deferrer.defer_async(task_id=task_id)

    anyio.run(defer_twice)
    task = deployment.until(task_id, lambda t: t.status.is_terminal)
    assert task.status is TaskStatus.COMPLETED
    time.sleep(1)  # the second job ended too
    task = deployment.stored(task_id)
    assert (task.status, task.attempts) == (TaskStatus.COMPLETED, 1)
    assert len(http_server.requested("/clip.mp4")) == 1


def test_without_retries_a_killed_workers_task_fails(
    postgres_server: PostgresServer,
    moto_server: MotoServer,
    bucket: str,
    tmp_path: Path,
    inputs: dict[str, dict[str, str]],
) -> None:
    env, dsn = deployment_env(postgres_server, moto_server, bucket, FFMPEG_TASKS_RETRIES="0")
    deployment = Deployment(tmp_path, env, dsn, [[]])
    try:
        task_id = deployment.register(LONG, inputs["long"], "big.mp4")
        deployment.start(task_id)
        killed = deployment.running_on(task_id)
        killed.process.send_signal(signal.SIGKILL)
        killed.process.wait()
        task = deployment.until(task_id, lambda t: t.status.is_terminal, timeout=float(LEASE) * 3)
        assert task.status is TaskStatus.FAILED
        assert task.error is not None
        assert task.error.startswith("interrupted: the service running it stopped")
        assert task.attempts == 1
        shown = deployment.status(task_id)
        assert (shown["status"], shown["error"]) == ("failed", task.error)
        deployment.workers.remove(killed)
    finally:
        deployment.close()
