"""The uploader contract, run against the fake, the local folder and the S3 uploader."""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from urllib.request import url2pathname

import anyio
import pytest

from ffmpeg_tasks import Output, UploadError
from ffmpeg_tasks.testing import FakeUploader
from ffmpeg_tasks.uploaders import LocalUploader, S3Uploader
from tests.fixtures.s3_server import MotoServer

from .uploader_contract import UploaderContract

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


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
    async def test_a_cancelled_upload_leaves_nothing(
        self, uploader: LocalUploader, tmp_path: Path
    ) -> None:
        """The copy runs in a thread that cannot be stopped: what it wrote is removed."""
        source = tmp_path / "out.mp4"
        with source.open("wb") as file:
            for _ in range(64):
                file.write(os.urandom(1 << 20))
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as group:
                group.start_soon(partial(uploader.upload, source, task_id="t1", name="out.mp4"))
                while not (uploader.directory / "t1").exists():
                    await anyio.sleep(0.001)  # until the copy has started in its thread
                scope.cancel()
        assert scope.cancelled_caught
        assert list(uploader.directory.rglob("*")) == []

    @pytest.mark.anyio
    async def test_a_cancel_before_the_copy_keeps_what_was_there(
        self, uploader: LocalUploader, tmp_path: Path
    ) -> None:
        """Only what this upload wrote is removed: a file it would have refused stays."""
        source = tmp_path / "out.mp4"
        source.write_bytes(b"new")
        existing = uploader.directory / "t1" / "out.mp4"
        existing.parent.mkdir(parents=True)
        existing.write_bytes(b"there before")
        with anyio.CancelScope() as scope:
            scope.cancel()  # cancelled before the copy's thread could run
            await uploader.upload(source, task_id="t1", name="out.mp4")
        assert scope.cancelled_caught
        assert existing.read_bytes() == b"there before"

    @pytest.mark.anyio
    async def test_outputs_get_the_mode_the_umask_gives_new_files(self, tmp_path: Path) -> None:
        source = tmp_path / "out.mp4"
        source.write_bytes(b"data")
        previous = os.umask(0o027)
        try:
            uploader = LocalUploader(tmp_path / "store")
        finally:
            os.umask(previous)
        output = await uploader.upload(source, task_id="t1", name="out.mp4")
        stored = Path(url2pathname(urlsplit(output.url).path))
        assert stat.S_IMODE(stored.stat().st_mode) == 0o640  # not mkstemp's 0600

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
        with pytest.raises(UploadError, match="plain file name"):
            await uploader.upload(source, task_id="../escape", name="out.mp4")


class TestS3Uploader(UploaderContract):
    """Against moto's standalone server."""

    @pytest.fixture
    async def uploader(
        self, moto_server: MotoServer, s3_bucket: str, s3_client: S3Client
    ) -> AsyncIterator[S3Uploader]:
        self.s3 = s3_client
        async with S3Uploader(
            s3_bucket,
            prefix="outputs",
            endpoint_url=moto_server.endpoint_url,
            region="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ) as uploader:
            yield uploader

    async def read_back(self, output: Output) -> bytes:
        bucket, _, key = output.url.removeprefix("s3://").partition("/")
        answer = await anyio.to_thread.run_sync(lambda: self.s3.get_object(Bucket=bucket, Key=key))
        return await anyio.to_thread.run_sync(answer["Body"].read)

    @pytest.mark.anyio
    async def test_layout_and_no_overwrite(self, uploader: S3Uploader, tmp_path: Path) -> None:
        source = tmp_path / "out.mp4"
        source.write_bytes(b"once")
        output = await uploader.upload(source, task_id="t1", name="out.mp4")
        assert output.url == f"s3://{uploader.bucket}/outputs/t1/out.mp4"
        assert output.download_url is None  # no presign_expires
        source.write_bytes(b"twice")
        with pytest.raises(UploadError, match="exists already; outputs are never overwritten"):
            await uploader.upload(source, task_id="t1", name="out.mp4")
        assert await self.read_back(output) == b"once"

    @pytest.mark.anyio
    async def test_refuses_symlinks_and_bad_names(
        self, uploader: S3Uploader, tmp_path: Path
    ) -> None:
        link = tmp_path / "link.mp4"
        link.symlink_to("/etc/hostname")
        with pytest.raises(UploadError, match="not a regular file"):
            await uploader.upload(link, task_id="t2", name="link.mp4")
        source = tmp_path / "out.mp4"
        source.write_bytes(b"x")
        with pytest.raises(UploadError, match="plain file name"):
            await uploader.upload(source, task_id="../escape", name="out.mp4")
        listed = await anyio.to_thread.run_sync(
            lambda: self.s3.list_objects_v2(Bucket=uploader.bucket)
        )
        assert listed.get("KeyCount") == 0
