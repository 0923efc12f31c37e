"""Transcode a video and store the result in S3 (or MinIO, R2, Ceph), printing a download link.

    uv run --extra ffmpeg python examples/s3_upload.py my-bucket [--input talk.mp4]
    uv run --extra ffmpeg python examples/s3_upload.py my-bucket --endpoint-url http://127.0.0.1:9000

The bucket and endpoint default to ``S3_BUCKET`` and ``AWS_ENDPOINT_URL``. Credentials come from
boto3's default chain: ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, a profile, or a role.
Without ``--input`` a two-second test clip is made with ffmpeg first. It exits 0 when the output
was stored, 1 when the task failed (the reason on stderr) and 2 when the input or a setting is
refused before anything runs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import anyio

from ffmpeg_tasks import ConfigurationError, InvalidTaskError, Task, TaskManager, TaskStatus
from ffmpeg_tasks.fetchers import LocalFetcher
from ffmpeg_tasks.runners import find_ffmpeg
from ffmpeg_tasks.uploaders import S3Uploader

COMMAND = "-i input.mp4 -vf scale=320:-2 -c:v libx264 -preset veryfast -c:a aac output.mp4"


def make_test_clip(folder: Path) -> Path:
    """A two-second 320x240 clip with a tone, made with ffmpeg's lavfi sources."""
    clip = folder / "input.mp4"
    subprocess.run(
        [str(find_ffmpeg()), "-v", "error", "-y",
         "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2",
         "-f", "lavfi", "-i", "sine=frequency=440:duration=2",
         "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac",
         str(clip)],
        check=True,
    )  # fmt: skip
    return clip


async def transcode_to_s3(
    bucket: str,
    source: Path,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    prefix: str = "examples/",
    presign_expires: int = 3600,
) -> Task:
    """Scale ``source`` (an absolute path) to 320 pixels wide, into ``s3://bucket/<prefix>``."""
    uploader = S3Uploader(
        bucket,
        prefix=prefix,
        endpoint_url=endpoint_url,
        region=region,
        presign_expires=presign_expires,
    )
    manager = TaskManager(fetcher=LocalFetcher([source.parent]), uploader=uploader)
    async with manager:
        task = await manager.register(COMMAND, {"input.mp4": source.as_uri()}, "output.mp4")
        return await manager.execute(task.id)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the example; returns the exit status (0 when the output was stored)."""
    parser = argparse.ArgumentParser(description="Transcode a video into an S3 bucket.")
    parser.add_argument("bucket", nargs="?", default=os.environ.get("S3_BUCKET"))
    parser.add_argument("--input", type=Path, help="a local video; a test clip when absent")
    parser.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL"))
    parser.add_argument("--region", default=os.environ.get("AWS_REGION"))
    parser.add_argument("--presign-expires", type=int, default=3600)
    options = parser.parse_args(argv)
    if not options.bucket:
        parser.error("name the bucket (or set S3_BUCKET)")
    with tempfile.TemporaryDirectory(prefix="ffmpeg-tasks-example-") as scratch:
        source = (options.input or make_test_clip(Path(scratch))).absolute()
        try:
            done = anyio.run(
                lambda: transcode_to_s3(
                    options.bucket,
                    source,
                    endpoint_url=options.endpoint_url,
                    region=options.region,
                    presign_expires=options.presign_expires,
                )
            )
        except (ConfigurationError, InvalidTaskError) as exc:  # the message says what to change
            print(f"refused: {exc}", file=sys.stderr)
            return 2
    if done.status is not TaskStatus.COMPLETED:
        print(f"failed: {done.error}", file=sys.stderr)
        return 1
    print(done.output_url)
    print(done.download_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
