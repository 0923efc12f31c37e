"""What every Uploader promises; each adapter's test module subclasses this suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from ffmpeg_tasks import Output, Uploader, UploadError


class UploaderContract:
    """Subclasses provide an ``uploader`` fixture and ``read_back``."""

    async def read_back(self, output: Output) -> bytes:
        raise NotImplementedError

    @pytest.mark.anyio
    async def test_upload_stores_the_bytes(self, uploader: Uploader, tmp_path: Path) -> None:
        source = tmp_path / "out.mp4"
        source.write_bytes(b"\x00video" * 1000)
        output = await uploader.upload(source, task_id="task-1", name="out.mp4")
        assert output.name == "out.mp4"
        assert output.size == 6000
        assert "task-1" in output.url
        assert await self.read_back(output) == source.read_bytes()

    @pytest.mark.anyio
    async def test_two_tasks_never_share_an_output(
        self, uploader: Uploader, tmp_path: Path
    ) -> None:
        first, second = tmp_path / "a.mp4", tmp_path / "b.mp4"
        first.write_bytes(b"first")
        second.write_bytes(b"second")
        one = await uploader.upload(first, task_id="task-a", name="out.mp4")
        two = await uploader.upload(second, task_id="task-b", name="out.mp4")
        assert one.url != two.url
        assert await self.read_back(one) == b"first"
        assert await self.read_back(two) == b"second"

    @pytest.mark.anyio
    async def test_a_missing_file_is_an_upload_error(
        self, uploader: Uploader, tmp_path: Path
    ) -> None:
        with pytest.raises(UploadError):
            await uploader.upload(tmp_path / "absent.mp4", task_id="task-c", name="absent.mp4")

    @pytest.mark.anyio
    @pytest.mark.parametrize(
        ("task_id", "name"),
        [("task-d", "../out.mp4"), ("task-d", "-out.mp4"), ("../task-d", "out.mp4")],
    )
    async def test_a_bad_name_is_an_upload_error(
        self, uploader: Uploader, tmp_path: Path, task_id: str, name: str
    ) -> None:
        """The uploader's own refusal, not a caller's mistake: the task fails at its upload."""
        source = tmp_path / "out.mp4"
        source.write_bytes(b"x")
        with pytest.raises(UploadError, match="file name"):
            await uploader.upload(source, task_id=task_id, name=name)

    @pytest.mark.anyio
    async def test_delete_removes_a_stored_output_and_only_it(
        self, uploader: Uploader, tmp_path: Path
    ) -> None:
        source = tmp_path / "seg_000.ts"
        source.write_bytes(b"segment")
        kept = await uploader.upload(source, task_id="task-e", name="seg_000.ts")
        gone = await uploader.upload(source, task_id="task-e", name="seg_001.ts")
        await uploader.delete(task_id="task-e", name="seg_001.ts")
        assert await self.read_back(kept) == b"segment"
        with pytest.raises(Exception):  # noqa: B017, PT011 - each store says "missing" its way
            await self.read_back(gone)
        # stored again under the same name: the deleted one left nothing in the way
        again = await uploader.upload(source, task_id="task-e", name="seg_001.ts")
        assert await self.read_back(again) == b"segment"

    @pytest.mark.anyio
    async def test_deleting_what_is_not_there_is_no_error(self, uploader: Uploader) -> None:
        await uploader.delete(task_id="task-f", name="never.mp4")

    @pytest.mark.anyio
    async def test_delete_refuses_a_bad_name(self, uploader: Uploader) -> None:
        with pytest.raises(UploadError, match="file name"):
            await uploader.delete(task_id="task-g", name="../out.mp4")
