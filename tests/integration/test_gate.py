"""The shell that waits in front of bwrap while the runner sets its limits (``_gate.py``)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import anyio
import pytest

from ffmpeg_tasks.runners._gate import ABANDONED_STATUS, gate_argv, open_gate
from ffmpeg_tasks.runners._launcher import cannot_execute

pytestmark = pytest.mark.skipif(not Path("/bin/sh").exists(), reason="no /bin/sh here")


def signal_mask(status: str, field: str) -> set[int]:
    """The signals set in a ``SigIgn``-style mask of ``/proc/<pid>/status``."""
    line = next(line for line in status.splitlines() if line.startswith(f"{field}:"))
    mask = int(line.split()[1], 16)
    return {signum for signum in range(1, 65) if mask >> (signum - 1) & 1}


@pytest.mark.anyio
async def test_the_program_starts_with_the_limits_and_niceness_set_from_outside() -> None:
    cat = shutil.which("cat")
    assert cat is not None
    files = ["/proc/self/status", "/proc/self/limits", "/proc/self/stat", "/proc/self/environ"]
    stdin, gate = os.pipe()
    process = await anyio.open_process(
        gate_argv([cat, *files]),
        stdin=stdin,
        stdout=subprocess.PIPE,
        start_new_session=True,
        env={"LANG": "C.UTF-8"},
    )
    os.close(stdin)
    async with process:
        limits = [("RLIMIT_CPU", 100, 105), ("RLIMIT_NOFILE", 64, 64)]
        await open_gate(process.pid, gate, rlimits=limits, nice=5)
        assert process.stdout is not None
        output = b"".join([chunk async for chunk in process.stdout]).decode()
        assert await process.wait() == 0
    assert re.search(r"^Max cpu time +100 +105 +seconds", output, re.MULTILINE)
    assert re.search(r"^Max open files +64 +64 +files", output, re.MULTILINE)
    stat = next(line for line in output.splitlines() if line.startswith(f"{process.pid} (cat)"))
    assert int(stat.rpartition(")")[2].split()[16]) == min(os.nice(0) + 5, 19)
    ignored = signal_mask(output, "SigIgn")
    # INT and TERM stay ignored across exec (bwrap must outlive ffmpeg's graceful stop); a
    # write beyond the file size limit must kill, a closed pipe must end the writer.
    assert {signal.SIGINT, signal.SIGTERM} <= ignored
    assert not {signal.SIGPIPE, signal.SIGXFSZ} & ignored
    environ = output.rpartition("\n")[2].split("\0")
    assert "LANG=C.UTF-8" in environ


@pytest.mark.anyio
async def test_a_gate_never_opened_starts_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "started"
    touch = shutil.which("touch")
    assert touch is not None
    stdin, gate = os.pipe()
    process = await anyio.open_process(
        gate_argv([touch, str(marker)]), stdin=stdin, start_new_session=True
    )
    os.close(stdin)
    async with process:
        os.close(gate)  # what a service that died before opening it leaves
        assert await process.wait() == ABANDONED_STATUS
    assert not marker.exists()


@pytest.mark.anyio
async def test_a_program_that_cannot_run_is_reported_like_the_launchers(tmp_path: Path) -> None:
    stdin, gate = os.pipe()
    process = await anyio.open_process(
        gate_argv([str(tmp_path / "missing")]),
        stdin=stdin,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    os.close(stdin)
    async with process:
        await open_gate(process.pid, gate, rlimits=(), nice=0)
        returncode = await process.wait()
        assert process.stderr is not None
        stderr = (await process.stderr.receive()).decode()
    assert cannot_execute(returncode, stderr.splitlines()) == "No such file or directory"
