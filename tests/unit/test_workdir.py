"""Work folders: one root, a lock beside each folder held by its live run, and opening a
manager removes the folders of runs whose process is gone, never a live run's."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import anyio
import pytest

from ffmpeg_tasks import ConfigurationError, TaskManager
from ffmpeg_tasks._workdir import remove_dead_workdirs, task_workdir, workdir_root
from ffmpeg_tasks.storage import MemoryStore
from ffmpeg_tasks.testing import FakeFetcher, FakeRunner, FakeUploader

pytestmark = pytest.mark.anyio

#: A process that makes a work folder, says where, and waits to be killed.
HOLDER = """
import anyio, sys
from pathlib import Path
from ffmpeg_tasks._workdir import task_workdir

async def main():
    async with task_workdir("0123456789abcdef", root=Path(sys.argv[1])) as path:
        (path / "input.mp4").write_bytes(b"a full copy of the input" * 1000)
        print(path, flush=True)
        await anyio.sleep(60)

anyio.run(main)
"""


async def start_holder(root: Path) -> tuple[anyio.abc.Process, Path]:
    process = await anyio.open_process(
        [sys.executable, "-c", textwrap.dedent(HOLDER), str(root)], stdout=subprocess.PIPE
    )
    assert process.stdout is not None
    with anyio.fail_after(10):
        path = Path((await process.stdout.receive()).decode().strip())
    return process, path


async def test_a_work_folder_is_private_marked_live_and_removed_with_its_mark(
    tmp_path: Path,
) -> None:
    async with task_workdir("0123456789abcdef", root=tmp_path) as path:
        assert path.parent == tmp_path
        assert path.name.startswith("ffmpeg-tasks-01234567-")
        assert path.stat().st_mode & 0o777 == 0o700
        assert sorted(p.name for p in tmp_path.iterdir()) == [path.name, path.name + ".lock"]
        assert await remove_dead_workdirs(tmp_path) == []  # held by this live run
        assert path.is_dir()
    assert list(tmp_path.iterdir()) == []


async def test_opening_a_manager_removes_the_folders_of_a_killed_process(tmp_path: Path) -> None:
    dead, dead_folder = await start_holder(tmp_path)
    live, live_folder = await start_holder(tmp_path)
    try:
        dead.send_signal(signal.SIGKILL)
        await dead.wait()
        assert dead_folder.is_dir()  # kill -9 left it, with its input copy
        manager = TaskManager(
            MemoryStore(), FakeFetcher(), FakeRunner(), FakeUploader(), workdir_root=tmp_path
        )
        async with manager:
            pass
        assert not dead_folder.exists()
        assert not Path(f"{dead_folder}.lock").exists()
        assert live_folder.is_dir()  # another process's live run is never touched
        assert Path(f"{live_folder}.lock").exists()
    finally:
        live.send_signal(signal.SIGKILL)
        await live.wait()
    assert await remove_dead_workdirs(tmp_path) == [live_folder]
    assert list(tmp_path.iterdir()) == []


async def test_a_lock_file_that_never_got_its_name_is_cleaned_up(tmp_path: Path) -> None:
    (tmp_path / ".ffmpeg-tasks-01234567-00000000.lock.new").touch()
    (tmp_path / "unrelated").mkdir()
    (tmp_path / "ffmpeg-tasks-without-a-lock").mkdir()  # not ours to judge: left alone
    assert await remove_dead_workdirs(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ffmpeg-tasks-without-a-lock",
        "unrelated",
    ]


async def test_a_lock_held_by_anyone_keeps_its_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ffmpeg-tasks-01234567-00000000"
    folder.mkdir()
    with open(f"{folder}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        assert await remove_dead_workdirs(tmp_path) == []
        assert folder.is_dir()
    assert await remove_dead_workdirs(tmp_path) == [folder]


def test_the_default_root_is_private_to_this_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    root = workdir_root(None)
    assert root == tmp_path / f"ffmpeg-tasks-{os.getuid()}"
    assert root.stat().st_mode & 0o777 == 0o700
    root.chmod(0o777)  # another user could have made it, or changed it
    with pytest.raises(ConfigurationError, match="not a folder only this user can use"):
        workdir_root(None)
    root.rmdir()
    root.symlink_to(tmp_path)
    with pytest.raises(ConfigurationError, match="not a folder only this user can use"):
        workdir_root(None)
