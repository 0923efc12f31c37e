"""A stuck ffmpeg (no new progress, no CPU) is stopped, run once more from a clean folder, and
then fails; a busy one that reports nothing new is left alone. Stand-in programs play ffmpeg:
the deadlock they imitate is real but too rare to provoke on purpose."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import psutil
import pytest

from ffmpeg_tasks import RunError
from ffmpeg_tasks.runners import SubprocessRunner
from ffmpeg_tasks.runners._stall import group_cpu_seconds

#: Prints the same progress block every 0.1 s, as a deadlocked ffmpeg 9 does, and counts its
#: starts in COUNTER (outside the work folder, which a retry cleans).
STUCK = """
import os, sys, time
with open({counter!r}, "a") as counter:
    counter.write("x")
starts = len(open({counter!r}).read())
{before}
while True:
    print("frame=12\\nout_time_us=480000\\ntotal_size=4096\\nprogress=continue", flush=True)
    time.sleep(0.1)
"""


def stand_in(folder: Path, body: str) -> Path:
    path = folder / "stuck-ffmpeg"
    path.write_text(f"#!{sys.executable}\n{body}\n")
    path.chmod(0o755)
    return path


def our_processes_named(name: str) -> list[psutil.Process]:
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE and name in " ".join(child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


@pytest.mark.anyio
async def test_a_stuck_run_is_stopped_retried_once_and_then_fails(tmp_path: Path) -> None:
    counter, workdir = tmp_path / "starts", tmp_path / "work"
    workdir.mkdir()
    program = stand_in(tmp_path, STUCK.format(counter=str(counter), before=""))
    runner = SubprocessRunner(program, sandbox="none", stall_timeout=0.6, kill_grace=0.2)
    begun = time.monotonic()
    with pytest.raises(RunError, match=r"made no progress and used no CPU for 0\.6 s, twice"):
        await runner.run(["-i", "in.mp4", "out.mp4"], workdir=workdir)
    assert counter.read_text() == "xx"  # started twice
    assert time.monotonic() - begun < 10
    assert our_processes_named("stuck-ffmpeg") == []


@pytest.mark.anyio
async def test_a_retry_starts_from_a_clean_folder(tmp_path: Path) -> None:
    """The first start leaves a partial file and sticks; the second finds only the inputs."""
    counter, workdir = tmp_path / "starts", tmp_path / "work"
    workdir.mkdir()
    (workdir / "in.mp4").write_bytes(b"input")
    before = """
if starts == 1:
    open("partial.ts", "w").write("half")
else:
    names = " ".join(sorted(os.listdir(".")))
    open("seen.txt", "w").write(names)
    print("progress=end", flush=True)
    sys.exit(0)
"""
    program = stand_in(tmp_path, STUCK.format(counter=str(counter), before=before))
    runner = SubprocessRunner(program, sandbox="none", stall_timeout=0.6, kill_grace=0.2)
    await runner.run(["-i", "in.mp4", "out.mp4"], workdir=workdir)
    assert counter.read_text() == "xx"
    assert (workdir / "seen.txt").read_text() == "in.mp4"
    assert not (workdir / "partial.ts").exists()


@pytest.mark.anyio
async def test_a_busy_run_without_new_progress_is_not_stuck(tmp_path: Path) -> None:
    """A filter that drops frames for a long time keeps ffmpeg's CPU busy: it is working."""
    body = """
import time
print("frame=0\\nout_time_us=0\\nprogress=continue", flush=True)
end = time.monotonic() + 2.5
while time.monotonic() < end:
    sum(range(10000))
print("progress=end", flush=True)
"""
    workdir = tmp_path / "work"
    workdir.mkdir()
    runner = SubprocessRunner(stand_in(tmp_path, body), sandbox="none", stall_timeout=0.6)
    await runner.run(["-i", "in.mp4", "out.mp4"], workdir=workdir)


def test_group_cpu_counts_the_groups_processes() -> None:
    mine = group_cpu_seconds(os.getpgrp())
    assert mine is not None
    assert mine > 0  # this test process has used CPU
    assert group_cpu_seconds(2**22 + 12345) == 0  # no such group
