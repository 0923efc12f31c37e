"""Whole tasks on S3: an https input and an s3:// input, real ffmpeg, the output in a bucket;
``TaskManager.from_env`` pointed at moto, with secrets that must not show anywhere; and a task
cancelled while its output is going up."""

from __future__ import annotations

import os
import socket
import ssl
from collections.abc import MutableMapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import httpx
import pytest

from ffmpeg_tasks import CommandPolicy, Task, TaskManager, TaskPhase, TaskStatus
from ffmpeg_tasks.fetchers import HttpFetcher, LocalFetcher, RoutingFetcher, S3Fetcher
from ffmpeg_tasks.runners import SubprocessRunner
from ffmpeg_tasks.uploaders import S3Uploader
from tests.fixtures.http_server import HttpServer
from tests.fixtures.media import DecodedDuration
from tests.fixtures.s3_server import MotoAuth, MotoServer, StartProxy

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

pytestmark = pytest.mark.anyio

#: The video of one input and the sound of the other, copied into one file.
COMMAND = "-i video.mp4 -i sound.mp4 -map 0:v:0 -map 1:a:0 -c copy out.mp4"
#: Recognisable secrets: none may appear in a repr, health, or an error.
SECRET = "SECRET-key-7d1e9a0c-do-not-leak"
TOKEN = "TOKEN-session-5b2f-do-not-leak"


async def read_object(client: S3Client, url: str, destination: Path) -> Path:
    bucket, _, key = url.removeprefix("s3://").partition("/")
    await anyio.to_thread.run_sync(lambda: client.download_file(bucket, key, str(destination)))
    return destination


async def run(manager: TaskManager, inputs: dict[str, str]) -> Task:
    async with manager:
        task = await manager.register(COMMAND, inputs, "out.mp4")
        return await manager.execute(task.id)


async def loopback_dns(host: str) -> list[str]:
    """media.test is the loopback HTTPS server (its certificate names media.test)."""
    if host != "media.test":
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return ["127.0.0.1"]


async def test_https_and_s3_inputs_to_an_s3_output(
    moto_server: MotoServer,
    s3_bucket: str,
    s3_client: S3Client,
    https_server: HttpServer,
    tls_client_context: ssl.SSLContext,
    media_dir: Path,
    decoded_duration: DecodedDuration,
    tmp_path: Path,
) -> None:
    s3_client.upload_file(str(media_dir / "clip.mp4"), s3_bucket, "inputs/video.mp4")
    https_server.add_file("/sound.mp4", media_dir / "clip2.mp4")
    sound_url = https_server.url("/sound.mp4", host="media.test")
    assert sound_url.startswith("https://media.test:")
    connection: dict[str, object] = {
        "endpoint_url": moto_server.endpoint_url,
        "region": "us-east-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    http = HttpFetcher(
        allow_private_networks=True, resolver=loopback_dns, verify=tls_client_context
    )
    fetcher = RoutingFetcher(
        {"http": http, "https": http, "s3": S3Fetcher([s3_bucket], **connection)}  # type: ignore[arg-type]
    )
    uploader = S3Uploader(s3_bucket, prefix="results", presign_expires=900, **connection)  # type: ignore[arg-type]
    manager = TaskManager(
        fetcher=fetcher, runner=SubprocessRunner(), uploader=uploader, workdir_root=tmp_path
    )
    done = await run(
        manager, {"video.mp4": f"s3://{s3_bucket}/inputs/video.mp4", "sound.mp4": sound_url}
    )

    assert done.status is TaskStatus.COMPLETED, done.error
    assert done.output_url == f"s3://{s3_bucket}/results/{done.id}/out.mp4"
    assert [r.path for r in https_server.requests] == ["/sound.mp4"]
    assert https_server.sni_names == ["media.test"]  # over TLS, checked against the name
    output = await read_object(s3_client, done.output_url, tmp_path / "out.mp4")
    assert done.outputs[0].size == output.stat().st_size
    assert 1.9 <= decoded_duration(output) <= 2.1  # the 2 s video of clip.mp4
    assert done.download_url is not None
    assert done.download_expires_at is not None
    left = done.download_expires_at - datetime.now(UTC)
    assert timedelta(seconds=800) < left <= timedelta(seconds=900)  # presign_expires=900
    async with httpx.AsyncClient() as client:
        answer = await client.get(done.download_url)
    assert answer.content == output.read_bytes()
    listed = s3_client.list_multipart_uploads(Bucket=s3_bucket)
    assert listed.get("Uploads", []) == []


async def test_from_env_on_moto_keeps_secrets(
    moto_server: MotoServer,
    s3_bucket: str,
    s3_client: S3Client,
    http_server: HttpServer,
    media_dir: Path,
    clean_env: MutableMapping[str, str],
    tmp_path: Path,
) -> None:
    s3_client.upload_file(str(media_dir / "clip.mp4"), s3_bucket, "in/video.mp4")
    sound_url = http_server.add_file("/sound.mp4", media_dir / "clip2.mp4")
    clean_env.update(
        {
            "S3_BUCKET": s3_bucket,
            "S3_PREFIX": "outputs/",
            "S3_PRESIGN_EXPIRES": "600",
            "S3_INPUT_BUCKETS": s3_bucket,
            "AWS_ENDPOINT_URL": moto_server.endpoint_url,
            "AWS_ACCESS_KEY_ID": "AKIAFROMENV000000000",
            "AWS_SECRET_ACCESS_KEY": SECRET,
            "AWS_SESSION_TOKEN": TOKEN,
            "AWS_REGION": "eu-west-1",
            "FFMPEG_TASKS_ALLOW_PRIVATE_NETWORKS": "1",
        }
    )
    manager = TaskManager.from_env(workdir_root=tmp_path)
    async with manager:
        health = (await manager.health()).to_dict()
        task = await manager.register(
            COMMAND,
            {"video.mp4": f"s3://{s3_bucket}/in/video.mp4", "sound.mp4": sound_url},
            "out.mp4",
        )
        done = await manager.execute(task.id)
    assert done.status is TaskStatus.COMPLETED, done.error
    assert done.output_url == f"s3://{s3_bucket}/outputs/{done.id}/out.mp4"
    assert done.download_url is not None
    assert "X-Amz-Security-Token" in done.download_url  # signed with the session credentials
    assert health["details"]["outputs"].startswith(f"s3://{s3_bucket}/outputs/ (region eu-west-1")
    assert health["uploader"] == (
        f"S3Uploader('{s3_bucket}', prefix='outputs/', "
        f"endpoint_url='{moto_server.endpoint_url}', region='eu-west-1', presign_expires=600)"
    )
    for text in (repr(manager), str(health), done.error or ""):
        assert SECRET not in text
        assert TOKEN not in text


async def test_bad_credentials_from_env_fail_the_task_without_leaking(
    moto_server: MotoServer,
    s3_bucket: str,
    s3_client: S3Client,
    moto_auth: MotoAuth,
    clean_env: MutableMapping[str, str],
    media_dir: Path,
    tmp_path: Path,
) -> None:
    """moto checks credentials here: the input fetch is refused, the error names the variables."""
    s3_client.upload_file(str(media_dir / "clip.mp4"), s3_bucket, "in/video.mp4")
    writer = moto_auth.user(["s3:*"])
    moto_auth.enable()
    for name in list(clean_env):
        if name.startswith(("AWS_", "S3_")):
            del clean_env[name]
    clean_env.update(
        {
            "S3_BUCKET": s3_bucket,
            "S3_INPUT_BUCKETS": s3_bucket,
            "AWS_ENDPOINT_URL": moto_server.endpoint_url,
            "AWS_ACCESS_KEY_ID": writer.aws_access_key_id,
            "AWS_SECRET_ACCESS_KEY": SECRET,  # not this user's secret
        }
    )
    url = f"s3://{s3_bucket}/in/video.mp4"
    done = await run(
        TaskManager.from_env(workdir_root=tmp_path), {"video.mp4": url, "sound.mp4": url}
    )
    assert done.status is TaskStatus.FAILED
    assert done.error is not None
    assert "refused the credentials (SignatureDoesNotMatch)" in done.error
    assert "AWS_SECRET_ACCESS_KEY" in done.error
    assert SECRET not in done.error
    assert os.environ["AWS_SECRET_ACCESS_KEY"] == SECRET  # clean_env restores it afterwards


async def test_cancelling_a_task_while_it_uploads_leaves_nothing(
    s3_bucket: str,
    s3_client: S3Client,
    s3_proxy: StartProxy,
    media_dir: Path,
    tmp_path: Path,
) -> None:
    """Raw video makes a 23 MB output quickly; the proxy holds its second part; cancel then."""
    proxy = s3_proxy(stall_part=2, stall_seconds=1.5)
    uploader = S3Uploader(
        s3_bucket,
        endpoint_url=proxy.endpoint_url,
        region="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        multipart_chunksize=5 * 1024 * 1024,
    )
    manager = TaskManager(
        fetcher=LocalFetcher([media_dir]),
        runner=SubprocessRunner(),
        uploader=uploader,
        policy=CommandPolicy.trusted(),
        workdir_root=tmp_path,
    )
    async with manager:
        task = await manager.register(
            "-i clip.mp4 -vf scale=640:480 -c:v rawvideo -pix_fmt yuv420p -an out.avi",
            {"clip.mp4": (media_dir / "clip.mp4").as_uri()},
            "out.avi",
        )
        await manager.start(task.id)
        assert await anyio.to_thread.run_sync(proxy.stalled.wait, 30)
        assert (await manager.get(task.id)).phase is TaskPhase.UPLOADING
        done = await manager.cancel(task.id)
    assert done.status is TaskStatus.CANCELLED
    assert done.outputs == ()
    assert s3_client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    assert s3_client.list_objects_v2(Bucket=s3_bucket).get("KeyCount") == 0
