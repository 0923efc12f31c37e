"""Overhead of TaskManager.execute over running ffmpeg directly (a benchmark, not a test).

The same transcode runs alternately through ``TaskManager.execute`` (local file input, local
uploader, strict policy, progress parsing) and as a plain ``subprocess.run`` of ffmpeg; the
ratio of the medians is the library's overhead. Target: at most 1.05.

    uv run --all-extras python benchmarks/overhead.py [--runs 5] [--seconds 8]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import anyio

from ffmpeg_tasks import TaskManager, TaskStatus
from ffmpeg_tasks.fetchers import LocalFetcher
from ffmpeg_tasks.runners import SubprocessRunner, find_ffmpeg
from ffmpeg_tasks.uploaders import LocalUploader

ARGS = "-i input.mp4 -c:v libx264 -preset medium -crf 23 -c:a aac output.mp4"


def make_input(ffmpeg: Path, folder: Path, seconds: int) -> Path:
    path = folder / "input.mp4"
    subprocess.run(
        [str(ffmpeg), "-v", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate=30:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-shortest", str(path)],
        check=True,
    )  # fmt: skip
    return path


def run_raw(ffmpeg: Path, source: Path, folder: Path) -> float:
    workdir = Path(tempfile.mkdtemp(dir=folder))
    (workdir / "input.mp4").symlink_to(source)
    started = time.perf_counter()
    subprocess.run([str(ffmpeg), "-nostdin", "-v", "error", *ARGS.split()], cwd=workdir, check=True)
    return time.perf_counter() - started


async def run_managed(manager: TaskManager, source: Path) -> float:
    started = time.perf_counter()
    task = await manager.register(ARGS, {"input.mp4": source.as_uri()}, "output.mp4")
    done = await manager.execute(task.id)
    elapsed = time.perf_counter() - started
    if done.status is not TaskStatus.COMPLETED:
        raise SystemExit(f"task failed: {done.error}")
    return elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=8, help="length of the input clip")
    options = parser.parse_args()
    ffmpeg = find_ffmpeg()
    with tempfile.TemporaryDirectory(prefix="ffmpeg-tasks-bench-") as scratch:
        folder = Path(scratch)
        source = make_input(ffmpeg, folder, options.seconds)
        manager = TaskManager(
            fetcher=LocalFetcher([folder]),
            runner=SubprocessRunner(ffmpeg),
            uploader=LocalUploader(folder / "outputs"),
            workdir_root=folder,
        )
        raw: list[float] = []
        managed: list[float] = []
        async with manager:
            for run in range(options.runs):
                raw.append(await anyio.to_thread.run_sync(run_raw, ffmpeg, source, folder))
                managed.append(await run_managed(manager, source))
                print(f"run {run + 1}: raw {raw[-1]:.3f} s, TaskManager {managed[-1]:.3f} s")
    ratio = statistics.median(managed) / statistics.median(raw)
    print(f"median raw ffmpeg:      {statistics.median(raw):.3f} s")
    print(f"median TaskManager:     {statistics.median(managed):.3f} s")
    print(f"ratio (target <= 1.05): {ratio:.3f}")


if __name__ == "__main__":
    anyio.run(main)
