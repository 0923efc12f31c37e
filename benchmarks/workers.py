"""Tasks through procrastinate workers: throughput of 1 worker against 2, and dispatch latency
(a benchmark, not a test).

A manager in this process plays the API (``FFMPEG_TASKS_WORKERS=procrastinate``); the workers
are ``ffmpeg-tasks worker --concurrency 1`` processes on the same PostgreSQL schema. Inputs
come from an HTTP server on loopback, outputs go to a local folder.

- Throughput: N short encodes (a 2 s 160x120 clip scaled to 80x60) started at once; the
  figure is tasks per second until the last one completed, for 1 worker and for 2.
- Dispatch latency: one task at a time on idle workers, ``start()`` -> the worker's claim
  (the task's ``started_at``; its input is fetched and ffmpeg started right after) and
  ``start()`` -> ffmpeg running (the worker's first write of phase ``encoding``, seen by
  polling every 2 ms): p50 and p99.

    uv run --all-extras python benchmarks/workers.py [--tasks 100] [--latency 50]
        [--postgres postgresql://postgres@127.0.0.1/test]

PostgreSQL comes from ``--postgres`` or ``FFMPEG_TASKS_TEST_POSTGRES_DSN``; the tables go to a
schema of their own, dropped afterwards.
"""

from __future__ import annotations

import argparse
import http.server
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import anyio

from ffmpeg_tasks import TaskManager, TaskPhase, TaskStatus
from ffmpeg_tasks.runners import find_ffmpeg

CLI = str(Path(sys.executable).with_name("ffmpeg-tasks"))
COMMAND = "-i clip.mp4 -vf scale=80:60 -c:v libx264 -preset ultrafast -an small.mp4"


def in_schema(dsn: str, schema: str) -> str:
    return f"{dsn}{'&' if '?' in dsn else '?'}options=-csearch_path%3D{schema}"


@contextmanager
def schema(base: str) -> Iterator[str]:
    import psycopg

    name = f"ffmpeg_tasks_bench_{secrets.token_hex(4)}"
    with psycopg.connect(base, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {name}".encode())
    try:
        yield in_schema(base, name)
    finally:
        with psycopg.connect(base, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {name} CASCADE".encode())


@contextmanager
def input_server(folder: Path) -> Iterator[str]:
    handler = partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/clip.mp4"
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def workers(count: int, env: dict[str, str], folder: Path) -> Iterator[None]:
    processes = []
    try:
        for index in range(count):
            log = folder / f"worker-{count}-{index}.log"
            with log.open("wb") as sink:
                args = [CLI, "worker", "--concurrency", "1", "--log-level", "warning"]
                processes.append(
                    subprocess.Popen(args, env=env, stdout=sink, stderr=subprocess.STDOUT)
                )
            while "is taking jobs" not in log.read_text():
                if processes[-1].poll() is not None:
                    raise SystemExit(f"a worker did not start:\n{log.read_text()}")
                time.sleep(0.05)
        yield
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(30)


async def throughput(manager: TaskManager, url: str, tasks: int) -> float:
    ids = [
        (await manager.register(COMMAND, {"clip.mp4": url}, "small.mp4")).id for _ in range(tasks)
    ]
    started = time.perf_counter()
    for task_id in ids:
        await manager.start(task_id)
    for task_id in ids:
        done = await manager.wait(task_id, timeout=600)
        assert done.status is TaskStatus.COMPLETED, done.error
    return tasks / (time.perf_counter() - started)


async def latency(manager: TaskManager, url: str, count: int) -> tuple[list[float], list[float]]:
    claimed: list[float] = []
    encoding: list[float] = []
    for _ in range(count):
        task = await manager.register(COMMAND, {"clip.mp4": url}, "small.mp4")
        wall = time.time()
        started = time.perf_counter()
        await manager.start(task.id)
        seen_encoding: float | None = None
        while True:
            state = await manager.get(task.id)
            if seen_encoding is None and (
                state.phase is TaskPhase.ENCODING or state.status.is_terminal
            ):
                seen_encoding = time.perf_counter() - started
            if state.status.is_terminal:
                break
            await anyio.sleep(0.002)
        assert state.status is TaskStatus.COMPLETED, state.error
        assert state.started_at is not None
        assert seen_encoding is not None
        claimed.append(state.started_at.timestamp() - wall)
        encoding.append(seen_encoding)
    return claimed, encoding


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--latency", type=int, default=50)
    parser.add_argument("--postgres", default=os.environ.get("FFMPEG_TASKS_TEST_POSTGRES_DSN"))
    options = parser.parse_args()
    if not options.postgres:
        raise SystemExit("give --postgres or set FFMPEG_TASKS_TEST_POSTGRES_DSN")
    with tempfile.TemporaryDirectory() as folder_name, schema(options.postgres) as dsn:
        folder = Path(folder_name)
        subprocess.run(
            [str(find_ffmpeg()), "-loglevel", "error", "-f", "lavfi", "-i",
             "testsrc2=size=160x120:rate=25:duration=2", "-c:v", "libx264", "-preset",
             "veryfast", "-pix_fmt", "yuv420p", str(folder / "clip.mp4")],
            check=True,
        )  # fmt: skip
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("FFMPEG_TASKS_", "S3_"))},
            "FFMPEG_TASKS_DATABASE": dsn,
            "FFMPEG_TASKS_WORKERS": "procrastinate",
            "FFMPEG_TASKS_ALLOW_PRIVATE_NETWORKS": "1",
            "FFMPEG_TASKS_OUTPUT_DIR": str(folder / "out"),
        }
        subprocess.run([CLI, "db", "migrate"], env=env, check=True, capture_output=True)
        with input_server(folder) as url:
            rates = {}
            for count in (1, 2):
                with workers(count, env, folder):

                    async def measure(count: int = count) -> float:
                        async with TaskManager.from_env(env) as manager:
                            return await throughput(manager, url, options.tasks)

                    rates[count] = anyio.run(measure)
                print(f"{count} worker(s): {rates[count]:.2f} tasks/s ({options.tasks} tasks)")
            print(f"2 workers / 1 worker: {rates[2] / rates[1]:.2f}x")
            with workers(2, env, folder):

                async def measure_latency() -> tuple[list[float], list[float]]:
                    async with TaskManager.from_env(env) as manager:
                        return await latency(manager, url, options.latency)

                claimed, encoding = anyio.run(measure_latency)
            for name, values in (("start -> claimed", claimed), ("start -> encoding", encoding)):
                print(
                    f"{name}: p50 {percentile(values, 0.5) * 1000:.1f} ms, "
                    f"p99 {percentile(values, 0.99) * 1000:.1f} ms, "
                    f"mean {statistics.fmean(values) * 1000:.1f} ms ({len(values)} tasks)"
                )


if __name__ == "__main__":
    main()
