"""S3Uploader against moto's standalone server: multipart, presigned URLs, refusals, and what
remains after a failure or a cancellation mid-upload (nothing)."""

from __future__ import annotations

import hashlib
import os
import time
import tracemalloc
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx
import pytest

from ffmpeg_tasks import ConfigurationError, UploadError
from ffmpeg_tasks.uploaders import S3Uploader
from ffmpeg_tasks.uploaders.s3 import content_type
from tests.fixtures.s3_server import MotoAuth, MotoServer, StartProxy

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

pytestmark = pytest.mark.anyio

MIB = 1024 * 1024
#: A secret recognisable anywhere it might leak.
SECRET = "SECRET-do-not-leak-4f1c2a"


def make_file(path: Path, size: int) -> Path:
    """``size`` bytes that differ from part to part (so a misplaced part shows)."""
    with path.open("wb") as file:
        for block in range(0, size, MIB):
            file.write(os.urandom(min(MIB, size - block)))
    return path


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_digest(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def uploader_for(endpoint_url: str, bucket: str, **options: object) -> S3Uploader:
    defaults: dict[str, object] = {
        "endpoint_url": endpoint_url,
        "region": "us-east-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
        "multipart_threshold": 8 * MIB,
        "multipart_chunksize": 5 * MIB,
    }
    return S3Uploader(bucket, **{**defaults, **options})  # type: ignore[arg-type]


async def leftovers(client: S3Client, bucket: str) -> tuple[list[str], list[str]]:
    """(object keys, keys of unfinished multipart uploads) in ``bucket``."""

    def look() -> tuple[list[str], list[str]]:
        objects = client.list_objects_v2(Bucket=bucket).get("Contents", [])
        uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        return [o["Key"] for o in objects], [u["Key"] for u in uploads]

    return await anyio.to_thread.run_sync(look)


async def test_small_output_key_type_and_size(
    moto_server: MotoServer, s3_bucket: str, s3_client: S3Client, tmp_path: Path
) -> None:
    source = make_file(tmp_path / "clip.mp4", 1000)
    async with uploader_for(moto_server.endpoint_url, s3_bucket, prefix="out/") as uploader:
        output = await uploader.upload(source, task_id="task-1", name="clip.mp4")
    assert output.url == f"s3://{s3_bucket}/out/task-1/clip.mp4"
    assert output.size == 1000
    head = s3_client.head_object(Bucket=s3_bucket, Key="out/task-1/clip.mp4")
    assert head["ContentType"] == "video/mp4"
    assert "-" not in head["ETag"]  # one PutObject
    body = s3_client.get_object(Bucket=s3_bucket, Key="out/task-1/clip.mp4")["Body"].read()
    assert digest(body) == file_digest(source)
    assert await leftovers(s3_client, s3_bucket) == (["out/task-1/clip.mp4"], [])


async def test_large_output_goes_up_in_parts(
    moto_server: MotoServer, s3_bucket: str, s3_client: S3Client, tmp_path: Path
) -> None:
    source = make_file(tmp_path / "big.mkv", 21 * MIB + 123)
    async with uploader_for(moto_server.endpoint_url, s3_bucket) as uploader:
        output = await uploader.upload(source, task_id="task-big", name="big.mkv")
    assert output.size == 21 * MIB + 123
    key = "task-big/big.mkv"
    head = s3_client.head_object(Bucket=s3_bucket, Key=key)
    assert head["ETag"].strip('"').endswith("-5")  # five 5 MiB parts, the last one short
    assert head["ContentType"] == "video/x-matroska"
    body = s3_client.get_object(Bucket=s3_bucket, Key=key)["Body"].read()
    assert len(body) == output.size
    assert digest(body) == file_digest(source)
    assert await leftovers(s3_client, s3_bucket) == ([key], [])


async def test_presigned_url_downloads_the_same_bytes(
    moto_server: MotoServer, s3_bucket: str, tmp_path: Path
) -> None:
    source = make_file(tmp_path / "out.webm", 300_000)
    async with uploader_for(moto_server.endpoint_url, s3_bucket, presign_expires=600) as uploader:
        output = await uploader.upload(source, task_id="t", name="out.webm")
    assert output.download_url is not None
    parts = urlsplit(output.download_url)
    query = parse_qs(parts.query)
    assert parts.path == f"/{s3_bucket}/t/out.webm"
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]  # SigV4: works in every region
    assert query["X-Amz-Expires"] == ["600"]
    assert "X-Amz-Signature" in query
    async with httpx.AsyncClient() as client:
        answer = await client.get(output.download_url)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "video/webm"
    assert digest(answer.content) == file_digest(source)


async def test_a_missing_bucket_is_named(moto_server: MotoServer, tmp_path: Path) -> None:
    source = make_file(tmp_path / "out.mp4", 100)
    async with uploader_for(moto_server.endpoint_url, "no-such-bucket-here") as uploader:
        with pytest.raises(UploadError, match="bucket 'no-such-bucket-here' does not exist"):
            await uploader.upload(source, task_id="t", name="out.mp4")


async def test_an_existing_multipart_key_is_not_replaced(
    moto_server: MotoServer, s3_bucket: str, s3_client: S3Client, tmp_path: Path
) -> None:
    s3_client.put_object(Bucket=s3_bucket, Key="t/out.mp4", Body=b"first")
    source = make_file(tmp_path / "out.mp4", 11 * MIB)
    async with uploader_for(moto_server.endpoint_url, s3_bucket) as uploader:
        with pytest.raises(UploadError, match="exists already"):
            await uploader.upload(source, task_id="t", name="out.mp4")
    body = s3_client.get_object(Bucket=s3_bucket, Key="t/out.mp4")["Body"].read()
    assert body == b"first"
    assert await leftovers(s3_client, s3_bucket) == (["t/out.mp4"], [])  # parts aborted
    async with uploader_for(moto_server.endpoint_url, s3_bucket, overwrite=True) as uploader:
        await uploader.upload(source, task_id="t", name="out.mp4")
    head = s3_client.head_object(Bucket=s3_bucket, Key="t/out.mp4")
    assert head["ContentLength"] == 11 * MIB


async def test_the_condition_touches_only_our_keys(
    moto_server: MotoServer, s3_bucket: str, s3_client: S3Client, tmp_path: Path
) -> None:
    """A client shared with other code keeps overwriting its own keys as before."""
    source = make_file(tmp_path / "out.mp4", 100)
    uploader = S3Uploader(s3_bucket, client=s3_client)
    try:
        await uploader.upload(source, task_id="t", name="out.mp4")
        s3_client.put_object(Bucket=s3_bucket, Key="other", Body=b"1")
        s3_client.put_object(Bucket=s3_bucket, Key="other", Body=b"2")
        assert s3_client.get_object(Bucket=s3_bucket, Key="other")["Body"].read() == b"2"
    finally:
        await uploader.aclose()
    # the given client is not closed, and our hook is gone from it
    s3_client.put_object(Bucket=s3_bucket, Key="t/out.mp4", Body=b"replaced")
    assert s3_client.get_object(Bucket=s3_bucket, Key="t/out.mp4")["Body"].read() == b"replaced"


async def test_wrong_credentials_and_access_denied(
    moto_server: MotoServer, s3_bucket: str, moto_auth: MotoAuth, tmp_path: Path
) -> None:
    """moto checks SigV4 signatures against its IAM users and their policies once enabled."""
    writer = moto_auth.user(["s3:PutObject", "s3:AbortMultipartUpload"])
    reader = moto_auth.user(["s3:GetObject"])
    moto_auth.enable()
    source = make_file(tmp_path / "out.mp4", 100)

    async def upload(key_id: str, secret: str, task_id: str) -> None:
        async with uploader_for(
            moto_server.endpoint_url,
            s3_bucket,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
        ) as uploader:
            await uploader.upload(source, task_id=task_id, name="out.mp4")

    await upload(writer.aws_access_key_id, writer.aws_secret_access_key, "ok")  # checks pass
    with pytest.raises(UploadError) as unknown:
        await upload("AKIAUNKNOWNKEY000000", SECRET, "t1")
    assert "refused the credentials (InvalidAccessKeyId)" in str(unknown.value)
    with pytest.raises(UploadError) as wrong:
        await upload(writer.aws_access_key_id, SECRET, "t2")
    assert "refused the credentials (SignatureDoesNotMatch)" in str(wrong.value)
    with pytest.raises(UploadError) as denied:
        await upload(reader.aws_access_key_id, reader.aws_secret_access_key, "t3")
    assert "access denied uploading 'out.mp4'" in str(denied.value)
    assert "s3:PutObject and s3:AbortMultipartUpload" in str(denied.value)
    for error in (unknown.value, wrong.value, denied.value):
        assert SECRET not in str(error)
        assert reader.aws_secret_access_key not in str(error)


async def test_a_server_failure_mid_upload_aborts_the_multipart_upload(
    s3_bucket: str, s3_client: S3Client, s3_proxy: StartProxy, tmp_path: Path
) -> None:
    """The proxy hangs up during part 3 every time: retries run out, the upload is aborted."""
    proxy = s3_proxy(fail_part=3, fail_after=1 * MIB)
    source = make_file(tmp_path / "out.mp4", 21 * MIB)
    async with uploader_for(proxy.endpoint_url, s3_bucket, max_attempts=2) as uploader:
        with pytest.raises(UploadError) as failed:
            await uploader.upload(source, task_id="t", name="out.mp4")
    assert "the connection to S3" in str(failed.value)
    assert "uploading 'out.mp4'" in str(failed.value)
    assert proxy.attempts(3) == 2  # botocore's standard retry mode tried again
    assert await leftovers(s3_client, s3_bucket) == ([], [])


async def test_cancelling_mid_upload_leaves_nothing(
    s3_bucket: str, s3_client: S3Client, s3_proxy: StartProxy, tmp_path: Path
) -> None:
    """Part 2 is held by the proxy; the upload is cancelled while it waits."""
    proxy = s3_proxy(stall_part=2, stall_seconds=1.5)
    source = make_file(tmp_path / "out.mp4", 21 * MIB)
    started = time.monotonic()
    async with uploader_for(proxy.endpoint_url, s3_bucket) as uploader:
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as group:
                group.start_soon(partial(uploader.upload, source, task_id="t", name="out.mp4"))
                assert await anyio.to_thread.run_sync(proxy.stalled.wait, 10)
                assert (await leftovers(s3_client, s3_bucket))[1] == ["t/out.mp4"]
                scope.cancel()
        assert scope.cancelled_caught
    assert time.monotonic() - started < 10
    assert await leftovers(s3_client, s3_bucket) == ([], [])


async def test_settings_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="not a valid S3 bucket name"):
        S3Uploader("Bad_Bucket")
    with pytest.raises(ConfigurationError, match="presign_expires"):
        S3Uploader("good-bucket", presign_expires=8 * 24 * 3600)
    with pytest.raises(ConfigurationError, match="multipart_chunksize"):
        S3Uploader("good-bucket", multipart_chunksize=MIB)
    with pytest.raises(ConfigurationError, match="both aws_access_key_id"):
        S3Uploader("good-bucket", aws_access_key_id="AKIA")
    with pytest.raises(ConfigurationError, match="prefix"):
        S3Uploader("good-bucket", prefix="../up")
    with pytest.raises(ConfigurationError, match="endpoint URL 'ftp://host'"):
        S3Uploader("good-bucket", endpoint_url="ftp://host")


async def test_repr_holds_no_secret() -> None:
    uploader = S3Uploader(
        "good-bucket",
        endpoint_url="https://minio.example:9000",
        aws_access_key_id="AKIAEXAMPLE",
        aws_secret_access_key=SECRET,
        aws_session_token=SECRET + "-token",
    )
    text = repr(uploader)
    assert text == "S3Uploader('good-bucket', endpoint_url='https://minio.example:9000')"
    assert SECRET not in text


async def test_a_password_in_the_endpoint_is_refused_without_repeating_it() -> None:
    """botocore's debug log prints the endpoint as given: a password must not get that far."""
    with pytest.raises(ConfigurationError, match="must not contain a user name or password") as e:
        S3Uploader("good-bucket", endpoint_url=f"https://user:{SECRET}@minio.example:9000")
    assert "'https://minio.example:9000'" in str(e.value)
    assert SECRET not in str(e.value)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.mp4", "video/mp4"),
        ("a.MOV", "video/quicktime"),
        ("a.ts", "video/mp2t"),
        ("a.m4a", "audio/mp4"),
        ("a.mp3", "audio/mpeg"),
        ("a.png", "image/png"),
        ("a.m3u8", "application/vnd.apple.mpegurl"),
        ("a.unknown-ext", "application/octet-stream"),
    ],
)
def test_content_type(name: str, expected: str) -> None:
    assert content_type(name) == expected


async def test_memory_does_not_grow_with_the_file(
    moto_server: MotoServer, s3_bucket: str, tmp_path: Path
) -> None:
    """Parts are read from disk as they are sent: Python's peak stays far below the file size."""
    source = make_file(tmp_path / "out.mp4", 48 * MIB)
    async with uploader_for(moto_server.endpoint_url, s3_bucket, max_concurrency=4) as uploader:
        await uploader.upload(source, task_id="warm-up", name="small.mp4")  # imports, client
        tracemalloc.start()
        try:
            output = await uploader.upload(source, task_id="t", name="out.mp4")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert output.size == 48 * MIB
    assert peak < 16 * MIB, f"peak {peak / MIB:.1f} MiB for a 48 MiB upload"


async def test_a_cancel_after_the_object_landed_deletes_it(
    s3_bucket: str, s3_client: S3Client, s3_proxy: StartProxy, tmp_path: Path
) -> None:
    """The server stored the object but its answer is late; the cancel arrives in between."""
    proxy = s3_proxy(stall_put_answer=1.0)
    source = make_file(tmp_path / "out.mp4", 1000)
    async with uploader_for(proxy.endpoint_url, s3_bucket) as uploader:
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as group:
                group.start_soon(partial(uploader.upload, source, task_id="t", name="out.mp4"))
                assert await anyio.to_thread.run_sync(proxy.answer_held.wait, 10)
                assert (await leftovers(s3_client, s3_bucket))[0] == ["t/out.mp4"]
                scope.cancel()
        assert scope.cancelled_caught
    assert await leftovers(s3_client, s3_bucket) == ([], [])


async def test_a_cancel_before_any_request_deletes_nothing_and_does_not_wait(
    moto_server: MotoServer, s3_bucket: str, s3_client: S3Client, tmp_path: Path
) -> None:
    """Nothing was sent, so nothing is cleaned up: an object already at the key stays."""
    s3_client.put_object(Bucket=s3_bucket, Key="t/out.mp4", Body=b"there before")
    source = make_file(tmp_path / "out.mp4", 1000)
    async with uploader_for(moto_server.endpoint_url, s3_bucket) as uploader:
        with anyio.fail_after(10), anyio.CancelScope() as scope:  # not CLEANUP_TIMEOUT (30 s)
            scope.cancel()
            await uploader.upload(source, task_id="t", name="out.mp4")
        assert scope.cancelled_caught
    body = s3_client.get_object(Bucket=s3_bucket, Key="t/out.mp4")["Body"].read()
    assert body == b"there before"
