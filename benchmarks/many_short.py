"""Many short tasks through one TaskManager against xargs -P running the same ffmpeg commands.

A 2 s 320x240 clip (testsrc2 + sine) is made once. Each run then does, each arm going first
in turn, (a) N tasks through one ``TaskManager`` (``LocalFetcher`` over the clip's folder,
``LocalUploader`` into a temporary folder, ``max_concurrency`` = the usable cores, the default
runner settings: strict policy, bubblewrap sandbox, resource limits, progress parsing), all
registered and started at once and waited for, and (b) the user's ffmpeg command, N times, by
``xargs -P<cores>`` with the same ffmpeg binary, reading the same clip and writing one output
file each into a temporary folder. The ratio of the medians is what the library adds per
batch. Target: at most 1.10 at N=100.

The library does not run the user's command as typed: the strict policy adds its guards
(``-threads``, ``-filter_threads``, ``-t``, ``-max_pixels``, the whitelists) and the runner its
own options (``-progress pipe:1``...). ``--guarded`` adds an arm (c), xargs running ffmpeg with
exactly those arguments, which tells the guards' cost from the rest of the library's.

Besides wall time each arm's CPU time is reported (user + system, of this process and of
its children): on a shared machine it is steadier than wall time.

The runner is built with ``nice=0`` unless ``--nice`` says otherwise, for the reason
``overhead.py`` gives: at the default ``nice=10`` the encodes yield the CPU to other work on
the machine, which is not the library's overhead.

    uv run --all-extras python benchmarks/many_short.py [--tasks 100] [--runs 5] [--guarded]
        [--nice 0] [--max-threads 4]
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

from ffmpeg_tasks import CommandPolicy, TaskManager, TaskStatus
from ffmpeg_tasks.fetchers import LocalFetcher
from ffmpeg_tasks.runners import SubprocessRunner, find_ffmpeg
from ffmpeg_tasks.runners.subprocess import GLOBAL_OPTIONS
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


def guarded_args(policy: CommandPolicy) -> list[str]:
    """What the runner passes to ffmpeg for ``ARGS``: its own options and the policy's guards."""
    built = policy.prepare(
        ARGS, input_files={"input.mp4": "file:///input.mp4"}, output_filename="output.mp4"
    )
    return [*GLOBAL_OPTIONS, *built]


def run_xargs(
    ffmpeg: Path, args: list[str], source: Path, scratch: Path, tasks: int, cores: int
) -> Sample:
    """ffmpeg with ``args`` N times, ``cores`` at once, each into its own output file."""
    outputs = Path(tempfile.mkdtemp(prefix="xargs-", dir=scratch))
    where = {"input.mp4": str(source), "output.mp4": f"{outputs}/{{}}.mp4"}
    command = [where.get(arg, arg) for arg in args]
    names = "".join(f"{index}\n" for index in range(tasks)).encode()
    cpu, started = cpu_seconds(), time.perf_counter()
    subprocess.run(
        ["xargs", f"-P{cores}", "-I{}", str(ffmpeg), *command],
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
        f"{label:<14} wall median {statistics.median(walls):7.3f} s "
        f"(min {min(walls):.3f}, max {max(walls):.3f}); "
        f"CPU median {statistics.median(cpus):7.3f} s (min {min(cpus):.3f}, max {max(cpus):.3f}; "
        f"this process {own:.3f} s)"
    )


def compare(label: str, top: list[Sample], bottom: list[Sample], tasks: int, cores: int) -> str:
    """The ratio of the medians, the spread of the per-run ratios, the CPU ratio."""
    wall = statistics.median(s.wall for s in top) / statistics.median(s.wall for s in bottom)
    cpu = statistics.median(s.cpu for s in top) / statistics.median(s.cpu for s in bottom)
    per_run = [t.wall / b.wall for t, b in zip(top, bottom, strict=True)]
    extra = statistics.median(s.cpu for s in top) - statistics.median(s.cpu for s in bottom)
    return (
        f"{label}: wall {wall:.3f} (per run {statistics.median(per_run):.3f}, "
        f"{min(per_run):.3f} to {max(per_run):.3f}); CPU {cpu:.3f} "
        f"({1000 * extra / tasks:+.1f} ms per task)"
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
    parser.add_argument(
        "--guarded",
        action="store_true",
        help="a third arm: xargs running ffmpeg with the arguments the runner passes "
        "(the command policy's guards included), to tell their cost from the library's",
    )
    parser.add_argument(
        "--max-threads",
        type=int,
        default=None,
        help="CommandPolicy.strict(max_threads=...), the -threads the policy places "
        "(default: the policy's own, 4)",
    )
    options = parser.parse_args()
    ffmpeg = find_ffmpeg()
    cores = options.concurrency or usable_cpus()
    bounds = {} if options.max_threads is None else {"max_threads": options.max_threads}
    policy = CommandPolicy.strict(**bounds)
    commands = {"xargs": ["-nostdin", *ARGS.split()], "xargs, guarded": guarded_args(policy)}
    arms = ["xargs", "TaskManager", *(["xargs, guarded"] if options.guarded else [])]
    samples: dict[str, list[Sample]] = {arm: [] for arm in arms}
    with tempfile.TemporaryDirectory(prefix="ffmpeg-tasks-bench-") as scratch_name:
        scratch = Path(scratch_name)
        source = make_input(ffmpeg, scratch / "clip", options.seconds)
        manager = TaskManager(
            fetcher=LocalFetcher([source.parent]),
            runner=SubprocessRunner(ffmpeg, nice=options.nice),
            uploader=LocalUploader(scratch / "outputs"),
            policy=policy,
            max_concurrency=cores,
            workdir_root=scratch,
        )
        async with manager:
            health = await manager.health()
            print(
                f"ffmpeg {health.ffmpeg_version}, sandbox: {health.sandbox}, "
                f"nice: {health.details.get('nice')}, {options.tasks} tasks, {cores} at once, "
                f"policy max_threads {policy.max_threads}"
            )
            if health.sandbox is None:
                raise SystemExit(f"the sandbox is off: {health.details.get('sandbox')}")
            for run in range(options.runs):
                shift = run % len(arms)  # each arm goes first in turn
                for arm in arms[shift:] + arms[:shift]:
                    if arm == "TaskManager":
                        result = await run_managed(manager, source, options.tasks)
                    else:
                        result = await anyio.to_thread.run_sync(
                            run_xargs, ffmpeg, commands[arm], source, scratch, options.tasks, cores
                        )
                    samples[arm].append(result)
                print(
                    f"run {run + 1}: "
                    + ", ".join(
                        f"{arm} {samples[arm][-1].wall:.3f} s (CPU {samples[arm][-1].cpu:.3f} s)"
                        for arm in arms
                    )
                    + f", TaskManager's own CPU {samples['TaskManager'][-1].own_cpu:.3f} s"
                )
    for arm in arms:
        print(summary(arm, samples[arm]))
    if options.guarded:
        guarded = samples["xargs, guarded"]
        print(
            compare(
                "guards' cost (guarded / xargs)", guarded, samples["xargs"], options.tasks, cores
            )
        )
        print(
            compare(
                "library without the guards (TaskManager / guarded)",
                samples["TaskManager"],
                guarded,
                options.tasks,
                cores,
            )
        )
    managed, raw = samples["TaskManager"], samples["xargs"]
    print(compare("TaskManager / xargs", managed, raw, options.tasks, cores))
    ratio = statistics.median(m.wall for m in managed) / statistics.median(r.wall for r in raw)
    print(f"ratio of medians (target <= {TARGET:.2f}): {ratio:.3f}")


if __name__ == "__main__":
    anyio.run(main)
