"""Many short tasks through one TaskManager against xargs -P running the same ffmpeg commands.

A 2 s 320x240 clip (testsrc2 + sine) is made once. Each run then does, in alternating order,
(a) N tasks through one ``TaskManager`` (``LocalFetcher`` over the clip's folder,
``LocalUploader`` into a temporary folder, ``max_concurrency`` = the usable cores, the default
runner settings: strict policy, bubblewrap sandbox, resource limits, progress parsing), all
registered and started at once and waited for, and (b) the same ffmpeg command, N times, by
``xargs -P<cores>`` with the same ffmpeg binary, reading the same clip and writing one output
file each into a temporary folder. The ratio of the medians is what the library adds per
batch. Target: at most 1.10 at N=100.

Besides wall time each arm's CPU time is reported (user + system, of this process and of
its children): on a shared machine it is steadier than wall time.

The runner is built with ``nice=0`` unless ``--nice`` says otherwise, for the reason
``overhead.py`` gives: at the default ``nice=10`` the encodes yield the CPU to other work on
the machine, which is not the library's overhead.

    uv run --all-extras python benchmarks/many_short.py [--tasks 100] [--runs 5] [--nice 0]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import anyio
import attrs

from ffmpeg_tasks import TaskManager, TaskStatus
from ffmpeg_tasks.fetchers import LocalFetcher
from ffmpeg_tasks.runners import SubprocessRunner, find_ffmpeg
from ffmpeg_tasks.uploaders import LocalUploader

#: The user's command: the short clip scaled to 160 pixels wide, H.264 ultrafast.
ARGS = "-i input.mp4 -vf scale=160:-2 -c:v libx264 -preset ultrafast output.mp4"
#: The target ratio of the medians, managed / xargs.
TARGET = 1.10


@attrs.frozen(kw_only=True)
class Sample:
    """One arm of one run."""

    #: Seconds from the first task's start to the last one's end.
    wall: float
    #: CPU seconds (user + system) of this process and its children during the arm.
    cpu: float
    #: The part of ``cpu`` this process (the manager, its threads) spent.
    own_cpu: float


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def cpu_seconds() -> tuple[float, float]:
    """CPU seconds so far of this process and of its waited-for children."""
    own, children = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def sample(started: float, cpu: tuple[float, float]) -> Sample:
    """The wall and CPU time since ``started`` and ``cpu``."""
    own, children = cpu_seconds()
    return Sample(
        wall=time.perf_counter() - started,
        cpu=own + children - sum(cpu),
        own_cpu=own - cpu[0],
    )


def make_input(ffmpeg: Path, folder: Path, seconds: float) -> Path:
    folder.mkdir()
    path = folder / "input.mp4"
    subprocess.run(
        [str(ffmpeg), "-v", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size=320x240:rate=30:duration={seconds:g}",
         "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds:g}",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-shortest", str(path)],
        check=True,
    )  # fmt: skip
    return path


def run_xargs(ffmpeg: Path, source: Path, scratch: Path, tasks: int, cores: int) -> Sample:
    """The user's command N times, ``cores`` at once, each into its own output file."""
    outputs = Path(tempfile.mkdtemp(prefix="xargs-", dir=scratch))
    command = ARGS.replace("input.mp4", str(source)).replace("output.mp4", f"{outputs}/{{}}.mp4")
    names = "".join(f"{index}\n" for index in range(tasks)).encode()
    cpu, started = cpu_seconds(), time.perf_counter()
    subprocess.run(
        ["xargs", f"-P{cores}", "-I{}", str(ffmpeg), "-nostdin", *command.split()],
        input=names,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
    )
    result = sample(started, cpu)
    if len(list(outputs.iterdir())) != tasks:
        raise SystemExit("xargs did not write every output")
    return result


async def run_managed(manager: TaskManager, source: Path, tasks: int) -> Sample:
    """N tasks registered and started at once, then waited for."""
    cpu, started = cpu_seconds(), time.perf_counter()
    ids = []
    for _ in range(tasks):
        task = await manager.register(ARGS, {"input.mp4": source.as_uri()}, "output.mp4")
        await manager.start(task.id)
        ids.append(task.id)
    for task_id in ids:
        done = await manager.wait(task_id)
        if done.status is not TaskStatus.COMPLETED:
            raise SystemExit(f"task failed: {done.error}")
    return sample(started, cpu)


def summary(label: str, samples: list[Sample]) -> str:
    walls = [sample.wall for sample in samples]
    cpus = [sample.cpu for sample in samples]
    own = statistics.median(sample.own_cpu for sample in samples)
    return (
        f"{label:<12} wall median {statistics.median(walls):7.3f} s "
        f"(min {min(walls):.3f}, max {max(walls):.3f}); "
        f"CPU median {statistics.median(cpus):7.3f} s (min {min(cpus):.3f}, max {max(cpus):.3f}; "
        f"this process {own:.3f} s)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100, help="tasks per run and arm")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2, help="length of the input clip")
    parser.add_argument("--nice", type=int, default=0, help="SubprocessRunner(nice=...)")
    parser.add_argument(
        "--concurrency", type=int, default=None, help="tasks at once (default: usable cores)"
    )
    options = parser.parse_args()
    ffmpeg = find_ffmpeg()
    cores = options.concurrency or usable_cpus()
    with tempfile.TemporaryDirectory(prefix="ffmpeg-tasks-bench-") as scratch_name:
        scratch = Path(scratch_name)
        source = make_input(ffmpeg, scratch / "clip", options.seconds)
        manager = TaskManager(
            fetcher=LocalFetcher([source.parent]),
            runner=SubprocessRunner(ffmpeg, nice=options.nice),
            uploader=LocalUploader(scratch / "outputs"),
            max_concurrency=cores,
            workdir_root=scratch,
        )
        raw: list[Sample] = []
        managed: list[Sample] = []
        async with manager:
            health = await manager.health()
            print(
                f"ffmpeg {health.ffmpeg_version}, sandbox: {health.sandbox}, "
                f"nice: {health.details.get('nice')}, {options.tasks} tasks, {cores} at once"
            )
            if health.sandbox is None:
                raise SystemExit(f"the sandbox is off: {health.details.get('sandbox')}")
            for run in range(options.runs):
                for arm in ("xargs", "managed") if run % 2 == 0 else ("managed", "xargs"):
                    if arm == "xargs":
                        raw.append(
                            await anyio.to_thread.run_sync(
                                run_xargs, ffmpeg, source, scratch, options.tasks, cores
                            )
                        )
                    else:
                        managed.append(await run_managed(manager, source, options.tasks))
                print(
                    f"run {run + 1}: xargs {raw[-1].wall:.3f} s (CPU {raw[-1].cpu:.3f} s), "
                    f"TaskManager {managed[-1].wall:.3f} s (CPU {managed[-1].cpu:.3f} s, "
                    f"this process {managed[-1].own_cpu:.3f} s), "
                    f"ratio {managed[-1].wall / raw[-1].wall:.3f}"
                )
    ratios = [m.wall / r.wall for m, r in zip(managed, raw, strict=True)]
    ratio = statistics.median(m.wall for m in managed) / statistics.median(r.wall for r in raw)
    cpu_ratio = statistics.median(m.cpu for m in managed) / statistics.median(r.cpu for r in raw)
    extra = statistics.median(m.wall for m in managed) - statistics.median(r.wall for r in raw)
    print(summary("xargs", raw))
    print(summary("TaskManager", managed))
    print(f"per-run ratio: median {statistics.median(ratios):.3f} (min {min(ratios):.3f}, "
          f"max {max(ratios):.3f})")  # fmt: skip
    print(f"added per task: {1000 * extra / options.tasks * cores:.1f} ms of a slot's time")
    print(f"CPU ratio: {cpu_ratio:.3f}")
    print(f"ratio of medians (target <= {TARGET:.2f}): {ratio:.3f}")


if __name__ == "__main__":
    anyio.run(main)
