"""Uploading a 200-segment HLS output: the run's upload path against a plain boto3 loop (a
benchmark, not a test).

An HLS output (a master playlist, one variant playlist, 200 segments of ``--segment-kib`` KiB
each, 512 by default) is uploaded alternately through the path a task's outputs take
(``_publish.upload_all`` with an ``S3Uploader``, default settings: eight uploads at once) and
through boto3's ``client.upload_file`` called for one file after the other (default settings),
to moto's standalone server on loopback, unless ``--endpoint-url`` names another. Both arms
run in this process; the time counted is building the client plus every upload. One untimed
round per arm warms the server up; the order alternates (AB, BA, ...); objects are deleted
after each round. Target: a time ratio of at most 0.5.

Besides wall time it reports the CPU time this process used for each round (the client's
work) and the CPU time moto used serving it: with many small requests the server's time per
request is the floor that concurrency cannot go below.

    uv run python benchmarks/s3_many_files.py [--runs 6] [--segments 200] [--segment-kib 512]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import boto3
import psutil
from botocore.config import Config

from benchmarks.s3_upload import BUCKET, KEY_ID, REGION, SECRET, cpu_seconds, start_moto
from ffmpeg_tasks._output_files import OutputFile
from ffmpeg_tasks._publish import upload_all
from ffmpeg_tasks.uploaders import S3Uploader

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

KIB = 1024


def client(endpoint_url: str, config: Config | None = None) -> S3Client:
    session = boto3.session.Session(
        aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET, region_name=REGION
    )
    return session.client("s3", endpoint_url=endpoint_url, config=config)


def make_output(folder: Path, segments: int, segment_size: int) -> list[Path]:
    """A master playlist, its variant playlist and the segments, as ffmpeg names them."""
    names = [f"seg_{n:03d}.ts" for n in range(segments)]
    for name in names:
        (folder / name).write_bytes(os.urandom(segment_size))
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:2"]
    for name in names:
        lines += ["#EXTINF:2.000000,", name]
    (folder / "stream.m3u8").write_text("\n".join([*lines, "#EXT-X-ENDLIST", ""]))
    (folder / "master.m3u8").write_text(
        "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=2000000\nstream.m3u8\n"
    )
    return [folder / "master.m3u8", folder / "stream.m3u8", *(folder / n for n in names)]


def with_boto3(endpoint_url: str, files: list[Path], task_id: str) -> None:
    s3 = client(endpoint_url)
    for path in files:
        s3.upload_file(str(path), BUCKET, f"{task_id}/{path.name}")


def with_library(endpoint_url: str, files: list[Path], task_id: str) -> None:
    outputs = [
        OutputFile(name=path.name, path=path, size=path.stat().st_size, sha256="") for path in files
    ]

    async def upload() -> None:
        async with S3Uploader(
            BUCKET,
            endpoint_url=endpoint_url,
            region=REGION,
            aws_access_key_id=KEY_ID,
            aws_secret_access_key=SECRET,
        ) as uploader:
            await upload_all(uploader, outputs, task_id=task_id, stored_all=lambda stored: None)

    anyio.run(upload)


def empty(s3: S3Client) -> None:
    while True:
        listed = s3.list_objects_v2(Bucket=BUCKET)
        contents = listed.get("Contents", [])
        if not contents:
            return
        s3.delete_objects(
            Bucket=BUCKET, Delete={"Objects": [{"Key": item["Key"]} for item in contents]}
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--segments", type=int, default=200)
    parser.add_argument("--segment-kib", type=int, default=512)
    parser.add_argument("--endpoint-url", help="an S3-compatible server; moto when absent")
    options = parser.parse_args()
    arms = {"upload_all": with_library, "boto3 loop": with_boto3}
    times: dict[str, list[float]] = {arm: [] for arm in arms}
    cpus: dict[str, list[float]] = {arm: [] for arm in arms}
    served: dict[str, list[float]] = {arm: [] for arm in arms}
    with tempfile.TemporaryDirectory(prefix="ffmpeg-tasks-many-files-") as scratch:
        folder = Path(scratch)
        moto = None
        endpoint_url = options.endpoint_url
        if endpoint_url is None:
            moto, endpoint_url = start_moto(folder / "moto.log")
        try:
            s3 = client(endpoint_url, Config(signature_version="s3v4"))
            s3.create_bucket(Bucket=BUCKET)
            output = folder / "output"
            output.mkdir()
            files = make_output(output, options.segments, options.segment_kib * KIB)
            anyio.run(anyio.sleep, 0)  # anyio's backend import, before any clock
            for arm, upload in arms.items():  # warm-up, not counted
                upload(endpoint_url, files, f"warmup-{arm.replace(' ', '-')}")
                empty(s3)
            server = psutil.Process(moto.pid) if moto is not None else None
            for run in range(options.runs):
                order = list(arms) if run % 2 == 0 else list(reversed(arms))
                for arm in order:
                    before = cpu_seconds(server) if server else 0.0
                    cpu = time.process_time()
                    started = time.perf_counter()
                    arms[arm](endpoint_url, files, f"run{run}-{arm.replace(' ', '-')}")
                    elapsed = time.perf_counter() - started
                    cpus[arm].append(time.process_time() - cpu)
                    served[arm].append(cpu_seconds(server) - before if server else 0.0)
                    listed = s3.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0)
                    if listed != len(files):
                        raise SystemExit(f"{arm} stored {listed} of {len(files)} files")
                    empty(s3)
                    times[arm].append(elapsed)
                    print(
                        f"run {run + 1} {arm:>10}: {elapsed:.2f} s, own CPU "
                        f"{cpus[arm][-1]:.2f} s, moto CPU {served[arm][-1]:.2f} s"
                    )
        finally:
            if moto is not None:
                moto.terminate()
                moto.wait()
    size = options.segments * options.segment_kib / 1024
    print(
        f"files: {len(files)} ({options.segments} segments of {options.segment_kib} KiB, "
        f"{size:.0f} MiB), runs: {options.runs}, alternated"
    )
    for arm in arms:
        print(
            f"{arm:>10}: median {statistics.median(times[arm]):.2f} s "
            f"(min {min(times[arm]):.2f}, max {max(times[arm]):.2f}), own CPU median "
            f"{statistics.median(cpus[arm]):.2f} s, moto CPU median "
            f"{statistics.median(served[arm]):.2f} s"
        )
    paired = [a / b for a, b in zip(times["upload_all"], times["boto3 loop"], strict=True)]
    print(f"per-run ratios: {', '.join(f'{r:.3f}' for r in paired)}")
    ratio = statistics.median(times["upload_all"]) / statistics.median(times["boto3 loop"])
    print(f"ratio (target <= 0.5): {ratio:.3f}")


if __name__ == "__main__":
    main()
