"""The uploader contract, run against the fake and the local folder uploader."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import anyio
import pytest

from ffmpeg_tasks import Output, UploadError
from ffmpeg_tasks.testing import FakeUploader
from ffmpeg_tasks.uploaders import LocalUploader

from .uploader_contract import UploaderContract


class TestFakeUploader(UploaderContract):
    @pytest.fixture
    def uploader(self) -> FakeUploader:
        self.fake = FakeUploader()
        return self.fake

    async def read_back(self, output: Output) -> bytes:
        return self.fake.objects[output.url]


class TestLocalUploader(UploaderContract):
    @pytest.fixture
    def uploader(self, tmp_path: Path) -> LocalUploader:
        return LocalUploader(tmp_path / "outputs")

    async def read_back(self, output: Output) -> bytes:
        assert output.url.startswith("file://")
        return await anyio.Path(url2pathname(urlsplit(output.url).path)).read_bytes()

    @pytest.mark.anyio
    async def test_layout_and_no_overwrite(self, uploader: LocalUploader, tmp_path: Path) -> None:
        source = tmp_path / "out.mp4"
        source.write_bytes(b"once")
        output = await uploader.upload(source, task_id="t1", name="out.mp4")
        assert output.url == (uploader.directory / "t1" / "out.mp4").as_uri()
        source.write_bytes(b"twice")
        with pytest.raises(UploadError, match="never overwritten"):
            await uploader.upload(source, task_id="t1", name="out.mp4")
        assert await self.read_back(output) == b"once"
        # nothing half-written is left beside it
        assert sorted(p.name for p in (uploader.directory / "t1").iterdir()) == ["out.mp4"]

    @pytest.mark.anyio
    async def test_refuses_symlinks_and_bad_names(
        self, uploader: LocalUploader, tmp_path: Path
    ) -> None:
        link = tmp_path / "link.mp4"
        link.symlink_to("/etc/hostname")
        with pytest.raises(UploadError, match="not a regular file"):
            await uploader.upload(link, task_id="t2", name="link.mp4")
        source = tmp_path / "out.mp4"
        source.write_bytes(b"x")
        with pytest.raises(ValueError, match="plain file name"):
            await uploader.upload(source, task_id="../escape", name="out.mp4")
