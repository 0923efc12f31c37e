"""One rule for file names, raised as the error of whoever applies it: a caller's task is
invalid, an uploader's refusal is a failed upload."""

from __future__ import annotations

from pathlib import Path

import pytest

from ffmpeg_tasks import (
    CommandPolicy,
    FfmpegTasksError,
    InvalidTaskError,
    Output,
    TaskManager,
    TaskStatus,
    UploadError,
)
from ffmpeg_tasks._names import check_file_name
from ffmpeg_tasks.storage import MemoryStore
from ffmpeg_tasks.testing import FakeFetcher, FakeRunner
from ffmpeg_tasks.uploaders import LocalUploader

URL = "https://media.example/a.mp4"


@pytest.mark.parametrize("error", [InvalidTaskError, UploadError])
def test_a_bad_name_raises_the_error_asked_for(error: type[FfmpegTasksError]) -> None:
    with pytest.raises(error, match=r"output file name '\.\./x\.mp4' must be a plain file name"):
        check_file_name("../x.mp4", "output", error=error)
    assert check_file_name("x.mp4", "output", error=error) == "x.mp4"


def test_the_policy_refuses_a_bad_name_as_an_invalid_task() -> None:
    for policy in (CommandPolicy.strict(), CommandPolicy.trusted()):
        with pytest.raises(InvalidTaskError, match="must be a plain file name"):
            policy.prepare(
                "-i a.mp4 sub/out.mp4", input_files={"a.mp4": URL}, output_filename="sub/out.mp4"
            )


class SubfolderUploader:
    """An application's uploader that files outputs in a sub-folder by prefixing their names;
    the LocalUploader it hands them to stores plain names only."""

    def __init__(self, inner: LocalUploader) -> None:
        self._inner = inner

    async def upload(self, path: Path, *, task_id: str, name: str) -> Output:
        return await self._inner.upload(path, task_id=task_id, name=f"renders/{name}")

    async def delete(self, *, task_id: str, name: str) -> None:
        await self._inner.delete(task_id=task_id, name=f"renders/{name}")

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.mark.anyio
async def test_a_name_the_uploader_refuses_fails_the_upload_not_the_policy(
    tmp_path: Path,
) -> None:
    uploader = SubfolderUploader(LocalUploader(tmp_path / "outputs"))
    manager = TaskManager(MemoryStore(), FakeFetcher({URL: b"AAAA"}), FakeRunner(), uploader)
    async with manager:
        task = await manager.register("-i a.mp4 -c copy out.mp4", {"a.mp4": URL}, "out.mp4")
        done = await manager.execute(task.id)
    assert done.status is TaskStatus.FAILED
    assert done.error == (
        "upload failed: output file name 'renders/out.mp4' must be a plain file name "
        "without '/' or '\\'"
    )
    assert not (tmp_path / "outputs").exists()
