"""Tasks that write several files, with real ffmpeg: an HLS ladder, thumbnails, a video and its
poster; stored in a local folder and in S3 (moto), probed, hashed, checked against the task's
expectations, and never half stored when an upload fails or the task is cancelled."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit
from urllib.request import url2pathname

import anyio
import httpx
import pytest

from ffmpeg_tasks import CommandPolicy, Output, Task, TaskManager, TaskStatus
from ffmpeg_tasks.fetchers import LocalFetcher
from ffmpeg_tasks.runners import SubprocessRunner
from ffmpeg_tasks.uploaders import LocalUploader, S3Uploader
from tests.fixtures.s3_server import MotoServer, StartProxy

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

pytestmark = pytest.mark.anyio

#: Three renditions (160, 80 and 40 pixels wide) of the 2 s clip, 1 s segments, a master.
LADDER = (
    "-i clip.mp4 -filter_complex '[0:v]split=3[a][b][c];[b]scale=80:-2[b2];[c]scale=40:-2[c2]' "
    "-map '[a]' -map '[b2]' -map '[c2]' -map 0:a -c:v libx264 -preset ultrafast -g 25 "
    "-c:a aac -f hls -hls_time 1 -hls_playlist_type vod -master_pl_name master.m3u8 "
    "-hls_segment_filename 'seg_%v_%03d.ts' -var_stream_map 'v:0,a:0 v:1 v:2' 'stream_%v.m3u8'"
)
LADDER_OUTPUTS = ["stream_*.m3u8", "seg_*.ts"]
LADDER_NAMES = [
    "master.m3u8",
    *(f"seg_{v}_{n:03d}.ts" for v in range(3) for n in range(2)),
    *(f"stream_{v}.m3u8" for v in range(3)),
]
THUMBNAILS = "-i clip.mp4 -vf fps=2,scale=80:-2 thumb_%03d.jpg"
POSTER = (
    "-i clip.mp4 -c:v libx264 -preset ultrafast -c:a aac out.mp4 "
    "-map 0:v -ss 1 -frames:v 1 poster.jpg"
)


def manager_for(
    media_dir: Path, tmp_path: Path, uploader: object, **options: object
) -> TaskManager:
    (tmp_path / "work").mkdir(exist_ok=True)
    return TaskManager(
        fetcher=LocalFetcher([media_dir]),
        runner=SubprocessRunner(),
        uploader=uploader,  # type: ignore[arg-type]
        workdir_root=tmp_path / "work",
        **options,  # type: ignore[arg-type]
    )


def clip(media_dir: Path) -> dict[str, str]:
    return {"clip.mp4": (media_dir / "clip.mp4").as_uri()}


def local_path(output: Output) -> Path:
    return Path(url2pathname(urlsplit(output.url).path))


async def test_an_hls_ladder_is_stored_probed_and_playable_from_a_folder(
    media_dir: Path, tmp_path: Path
) -> None:
    uploader = LocalUploader(tmp_path / "outputs")
    async with manager_for(media_dir, tmp_path, uploader) as manager:
        task = await manager.register(
            LADDER,
            clip(media_dir),
            "master.m3u8",
            outputs=LADDER_OUTPUTS,
            expect=[
                {"duration": ("clip.mp4", 0.5), "video": 3, "audio": 1, "video_codec": "h264"},
                {"output": "seg_*.ts", "duration": (1.0, 0.1)},
            ],
        )
        done = await manager.execute(task.id)
    assert done.status is TaskStatus.COMPLETED, done.error
    assert [o.name for o in done.outputs] == LADDER_NAMES
    assert (
        done.output_url
        == done.outputs[0].url
        == (uploader.directory / task.id / "master.m3u8").as_uri()
    )
    for output in done.outputs:
        body = local_path(output).read_bytes()
        assert output.size == len(body)
        assert output.sha256 == hashlib.sha256(body).hexdigest()
    types = {o.name.rpartition(".")[2]: o.content_type for o in done.outputs}
    assert types == {"m3u8": "application/vnd.apple.mpegurl", "ts": "video/mp2t"}
    master = done.main_output
    assert master is not None
    assert master.media is not None
    assert master.media.format == "hls"
    assert master.media.duration == pytest.approx(2.0, abs=0.1)
    assert [s.width for s in master.media.of_type("video")] == [160, 80, 40]
    assert [(s.codec, s.sample_rate, s.channels) for s in master.media.of_type("audio")] == [
        ("aac", 44100, 1)
    ]
    first = next(o for o in done.outputs if o.name == "seg_0_000.ts")
    assert first.media is not None
    assert first.media.format == "mpegts"
    video = first.media.of_type("video")[0]
    assert (video.codec, video.width, video.height, video.frame_rate) == ("h264", 160, 120, 25.0)
    # the playlists' relative URLs resolve beside them, as a player would resolve them
    for playlist in (o for o in done.outputs if o.name.endswith(".m3u8")):
        for line in local_path(playlist).read_text().splitlines():
            if line and not line.startswith("#"):
                assert Path(url2pathname(urlsplit(urljoin(playlist.url, line)).path)).is_file()


async def test_thumbnails_and_a_poster_with_their_expectations(
    media_dir: Path, tmp_path: Path
) -> None:
    uploader = LocalUploader(tmp_path / "outputs")
    async with manager_for(media_dir, tmp_path, uploader) as manager:
        thumbs = await manager.register(
            THUMBNAILS,
            clip(media_dir),
            "thumb_001.jpg",
            outputs=["thumb_%03d.jpg"],
            expect={"output": "thumb_%03d.jpg", "video": 1, "video_codec": "mjpeg", "width": 80},
        )
        poster = await manager.register(
            POSTER,
            clip(media_dir),
            "out.mp4",
            outputs=["poster.jpg"],
            expect=[
                {"duration": ("clip.mp4", 0.2), "video": 1, "audio": 1, "audio_codec": "aac"},
                {"output": "poster.jpg", "width": 160, "height": 120, "audio": 0},
            ],
        )
        thumbs_done = await manager.execute(thumbs.id)
        poster_done = await manager.execute(poster.id)
    assert thumbs_done.status is TaskStatus.COMPLETED, thumbs_done.error
    assert [o.name for o in thumbs_done.outputs] == [f"thumb_{n:03d}.jpg" for n in range(1, 5)]
    assert all(o.content_type == "image/jpeg" for o in thumbs_done.outputs)
    assert poster_done.status is TaskStatus.COMPLETED, poster_done.error
    assert [o.name for o in poster_done.outputs] == ["out.mp4", "poster.jpg"]
    video = poster_done.outputs[0].media
    assert video is not None
    assert video.format.startswith("mov,mp4")
    assert video.duration == pytest.approx(2.0, abs=0.1)


async def test_an_unmet_expectation_fails_the_task_and_stores_nothing(
    media_dir: Path, tmp_path: Path
) -> None:
    uploader = LocalUploader(tmp_path / "outputs")
    async with manager_for(media_dir, tmp_path, uploader) as manager:
        task = await manager.register(
            "-i clip.mp4 -t 1 -c:v libx264 -preset ultrafast -an out.mp4",
            clip(media_dir),
            "out.mp4",
            expect={"duration": ("clip.mp4", 0.5), "audio": 1, "video_codec": "hevc"},
        )
        done = await manager.execute(task.id)
    assert done.status is TaskStatus.FAILED
    assert done.error is not None
    assert done.error.startswith("checking outputs failed: output 'out.mp4' lasts 1.000 s, ")
    assert "expected 2.000 s ± 0.5 s (the duration of input 'clip.mp4')" in done.error
    assert "has 0 audio stream(s), expected 1" in done.error
    assert "has video codec h264, expected hevc" in done.error
    assert done.outputs == ()
    assert not (uploader.directory / task.id).exists()


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"max_output_files": 5}, "ffmpeg wrote more than 5 output files"),
        ({"max_total_output_bytes": 1000}, "more than the 1000 a task may write"),
    ],
)
async def test_the_caps_on_files_and_bytes(
    media_dir: Path, tmp_path: Path, limits: dict[str, int], message: str
) -> None:
    uploader = LocalUploader(tmp_path / "outputs")
    policy = CommandPolicy.strict(**limits)
    async with manager_for(media_dir, tmp_path, uploader, policy=policy) as manager:
        task = await manager.register(
            LADDER, clip(media_dir), "master.m3u8", outputs=LADDER_OUTPUTS
        )
        done = await manager.execute(task.id)
    assert done.status is TaskStatus.FAILED
    assert done.error is not None
    assert message in done.error, done.error
    assert not uploader.directory.exists()


async def test_a_failed_upload_removes_what_the_run_stored(media_dir: Path, tmp_path: Path) -> None:
    """One name is taken already (outputs are never overwritten): that upload fails, every
    other output this run stored is deleted, and the file that was there stays."""
    uploader = LocalUploader(tmp_path / "outputs")
    async with manager_for(media_dir, tmp_path, uploader) as manager:
        task = await manager.register(
            LADDER, clip(media_dir), "master.m3u8", outputs=LADDER_OUTPUTS
        )
        taken = uploader.directory / task.id / "seg_2_001.ts"
        taken.parent.mkdir(parents=True)
        taken.write_bytes(b"there before")
        done = await manager.execute(task.id)
    assert done.status is TaskStatus.FAILED
    assert done.error is not None
    assert "exists already" in done.error
    assert done.outputs == ()
    assert [p.name for p in taken.parent.iterdir()] == ["seg_2_001.ts"]
    assert taken.read_bytes() == b"there before"


class HeldUploader(LocalUploader):
    """Stores outputs normally but holds the fifth upload until the test cancels the task."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.calls = 0
        self.holding = anyio.Event()

    async def upload(self, path: Path, *, task_id: str, name: str) -> Output:
        self.calls += 1
        if self.calls == 5:
            self.holding.set()
            await anyio.sleep_forever()
        return await super().upload(path, task_id=task_id, name=name)


async def test_a_cancel_during_the_uploads_removes_what_was_stored(
    media_dir: Path, tmp_path: Path
) -> None:
    uploader = HeldUploader(tmp_path / "outputs")
    async with manager_for(media_dir, tmp_path, uploader) as manager:
        task = await manager.register(
            LADDER, clip(media_dir), "master.m3u8", outputs=LADDER_OUTPUTS
        )
        await manager.start(task.id)
        with anyio.fail_after(30):
            await uploader.holding.wait()
            done = await manager.cancel(task.id)
    assert done.status is TaskStatus.CANCELLED
    assert done.outputs == ()
    assert list(uploader.directory.rglob("*")) == []


# -- S3 ----------------------------------------------------------------------------------------


@pytest.fixture
async def s3_uploader(moto_server: MotoServer, s3_bucket: str) -> AsyncIterator[S3Uploader]:
    async with S3Uploader(
        s3_bucket,
        prefix="renders",
        endpoint_url=moto_server.endpoint_url,
        region="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        presign_expires=600,
    ) as uploader:
        yield uploader


def keys(client: S3Client, bucket: str) -> list[str]:
    listed = client.list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listed.get("Contents", []))


async def test_an_hls_ladder_in_s3_resolves_its_relative_urls(
    media_dir: Path,
    tmp_path: Path,
    moto_server: MotoServer,
    s3_bucket: str,
    s3_client: S3Client,
    s3_uploader: S3Uploader,
) -> None:
    async with manager_for(media_dir, tmp_path, s3_uploader) as manager:
        task = await manager.register(
            LADDER, clip(media_dir), "master.m3u8", outputs=LADDER_OUTPUTS
        )
        done = await manager.execute(task.id)
    assert done.status is TaskStatus.COMPLETED, done.error
    assert keys(s3_client, s3_bucket) == sorted(f"renders/{task.id}/{n}" for n in LADDER_NAMES)
    head = s3_client.head_object(Bucket=s3_bucket, Key=f"renders/{task.id}/master.m3u8")
    assert head["ContentType"] == "application/vnd.apple.mpegurl"
    async with httpx.AsyncClient() as http:
        # every output has its own presigned URL, which works
        for output in done.outputs:
            assert output.download_url is not None
            answer = await http.get(output.download_url)
            assert answer.status_code == 200
            assert hashlib.sha256(answer.content).hexdigest() == output.sha256
        # from the bucket's plain URL (a public bucket, a CDN) the playlists' relative URLs
        # resolve to the other objects of the task
        base = f"{moto_server.endpoint_url}/{s3_bucket}/renders/{task.id}/"
        for playlist in ("master.m3u8", "stream_0.m3u8"):
            text = (await http.get(base + playlist)).text
            for line in text.splitlines():
                if line and not line.startswith("#"):
                    assert (await http.get(urljoin(base + playlist, line))).status_code == 200


async def test_a_failed_s3_upload_removes_what_the_run_stored(
    media_dir: Path,
    tmp_path: Path,
    s3_bucket: str,
    s3_client: S3Client,
    s3_uploader: S3Uploader,
) -> None:
    async with manager_for(media_dir, tmp_path, s3_uploader) as manager:
        task = await manager.register(
            LADDER, clip(media_dir), "master.m3u8", outputs=LADDER_OUTPUTS
        )
        taken = f"renders/{task.id}/seg_1_000.ts"
        s3_client.put_object(Bucket=s3_bucket, Key=taken, Body=b"there before")
        done = await manager.execute(task.id)
    assert done.status is TaskStatus.FAILED
    assert done.error is not None
    assert "exists already" in done.error
    assert keys(s3_client, s3_bucket) == [taken]


async def test_a_cancel_during_s3_uploads_leaves_no_object(
    media_dir: Path,
    tmp_path: Path,
    moto_server: MotoServer,
    s3_bucket: str,
    s3_client: S3Client,
    s3_proxy: StartProxy,
) -> None:
    """The proxy holds the answer to a PutObject: the object exists, the uploader does not
    know it yet, other outputs are stored meanwhile; a cancel then removes all of them."""
    proxy = s3_proxy(stall_put_answer=3)
    uploader = S3Uploader(
        s3_bucket,
        endpoint_url=proxy.endpoint_url,
        region="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        max_attempts=1,
    )
    async with manager_for(media_dir, tmp_path, uploader) as manager:
        task = await manager.register(
            LADDER, clip(media_dir), "master.m3u8", outputs=LADDER_OUTPUTS
        )
        await manager.start(task.id)
        assert await anyio.to_thread.run_sync(proxy.answer_held.wait, 30)
        with anyio.fail_after(60):
            done: Task = await manager.cancel(task.id)
    assert done.status is TaskStatus.CANCELLED
    assert done.outputs == ()
    assert keys(s3_client, s3_bucket) == []
