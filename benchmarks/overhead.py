"""Overhead of TaskManager.execute over running ffmpeg directly (a benchmark, not a test).

The same transcode (a 12 s 720p clip to H.264 + AAC, about 4 s on two cores) runs alternately
through ``TaskManager.execute`` (local file input, local uploader, strict policy, progress
parsing, the sandbox and resource limits when available) and as a plain ``subprocess.run`` of
ffmpeg; which goes first alternates from run to run. The ratio of the medians is the
library's overhead. Target: at most 1.05.

The runner is built with ``nice=0`` unless ``--nice`` says otherwise, so both arms run at the
same CPU priority: on a machine shared with other work, an encode at the runner's default
``nice=10`` yields the CPU to that work, which is what the setting is for, but is not the
library's overhead. On an idle machine the two give the same times.

    uv run --all-extras python benchmarks/overhead.py [--runs 5] [--seconds 12] [--nice 0]
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
    parser.add_argument("--seconds", type=int, default=12, help="length of the input clip")
    parser.add_argument("--nice", type=int, default=0, help="SubprocessRunner(nice=...)")
    options = parser.parse_args()
    ffmpeg = find_ffmpeg()
    with tempfile.TemporaryDirectory(prefix="ffmpeg-tasks-bench-") as scratch:
        folder = Path(scratch)
        source = make_input(ffmpeg, folder, options.seconds)
        manager = TaskManager(
            fetcher=LocalFetcher([folder]),
            runner=SubprocessRunner(ffmpeg, nice=options.nice),
            uploader=LocalUploader(folder / "outputs"),
            workdir_root=folder,
        )
        raw: list[float] = []
        managed: list[float] = []
        async with manager:
            health = await manager.health()
            print(
                f"ffmpeg {health.ffmpeg_version}, sandbox: {health.sandbox}, "
                f"nice: {health.details.get('nice')}"
            )
            for run in range(options.runs):
                for arm in ("raw", "managed") if run % 2 == 0 else ("managed", "raw"):
                    if arm == "raw":
                        raw.append(await anyio.to_thread.run_sync(run_raw, ffmpeg, source, folder))
                    else:
                        managed.append(await run_managed(manager, source))
                print(f"run {run + 1}: raw {raw[-1]:.3f} s, TaskManager {managed[-1]:.3f} s")
    ratio = statistics.median(managed) / statistics.median(raw)
    for label, times in (("raw ffmpeg", raw), ("TaskManager", managed)):
        print(
            f"median {label + ':':<16}{statistics.median(times):.3f} s "
            f"(min {min(times):.3f}, max {max(times):.3f})"
        )
    print(f"ratio (target <= 1.05): {ratio:.3f}")


if __name__ == "__main__":
    anyio.run(main)
