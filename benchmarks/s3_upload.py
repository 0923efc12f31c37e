"""S3Uploader against plain boto3 ``upload_file`` (a benchmark, not a test).

The same file (1 GiB by default) is uploaded alternately through ``S3Uploader`` (default
settings) and boto3's ``client.upload_file`` (default settings) to the same S3-compatible server:
moto's standalone server, started here on loopback, unless ``--endpoint-url`` names another.
Each upload runs in a fresh child process, so its peak RSS is its own; the time counted is
building the client plus the upload, in the child (imports happen before the clock starts).
One untimed upload per arm warms the server up first. The order alternates (AB, BA, ...; an
even ``--runs`` balances it). Objects are deleted after each upload, and the disk is synced
before the next (moto spools parts to temporary files), so no upload pays for the previous
one's writeback. Target: a time ratio of at most 1.0.

Besides wall time, each upload reports the CPU time its own process used (user + system: the
client's work, which the server's does not blur), the CPU time moto used serving it, and the
requests moto logged for it, so the two arms can be seen to send the same requests.

    uv run python benchmarks/s3_upload.py [--runs 6] [--size-mib 1024]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import boto3
import boto3.s3.transfer  # imported before any clock starts, for both arms
import psutil
from botocore.config import Config

from ffmpeg_tasks.uploaders import S3Uploader

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

BUCKET = "benchmark-uploads"
KEY_ID = SECRET = "testing"
REGION = "us-east-1"
MIB = 1024 * 1024


def client(endpoint_url: str, config: Config | None = None) -> S3Client:
    session = boto3.session.Session(
        aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET, region_name=REGION
    )
    return session.client("s3", endpoint_url=endpoint_url, config=config)


def upload_with_boto3(endpoint_url: str, path: Path, key: str) -> None:
    client(endpoint_url).upload_file(str(path), BUCKET, key)  # boto3's defaults throughout


def upload_with_library(endpoint_url: str, path: Path, key: str) -> None:
    task_id, _, name = key.partition("/")

    async def upload() -> None:
        async with S3Uploader(
            BUCKET,
            endpoint_url=endpoint_url,
            region=REGION,
            aws_access_key_id=KEY_ID,
            aws_secret_access_key=SECRET,
        ) as uploader:
            await uploader.upload(path, task_id=task_id, name=name)

    anyio.run(upload)


def child(arm: str, endpoint_url: str, path: Path, key: str) -> None:
    """One upload in this (fresh) process; prints its time and peak RSS as JSON."""
    # anyio imports its event loop backend on the first run (about 80 ms): an import, so
    # before the clock like the others, for both arms alike.
    anyio.run(anyio.sleep, 0)
    started = time.perf_counter()
    if arm == "boto3":
        upload_with_boto3(endpoint_url, path, key)
    else:
        upload_with_library(endpoint_url, path, key)
    elapsed = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak = usage.ru_maxrss * 1024  # KiB on Linux
    cpu = usage.ru_utime + usage.ru_stime
    print(json.dumps({"seconds": elapsed, "peak_rss": peak, "cpu": cpu}))


def run_child(arm: str, endpoint_url: str, path: Path, key: str) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, __file__, "--child", arm, endpoint_url, str(path), key],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"{arm} upload failed:\n{result.stderr}")
    measured: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return measured


def start_moto(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1).close()
            return process, url
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"moto did not start; see {log}")


def requests_for(log: Path, key: str) -> dict[str, int]:
    """The S3 operations moto logged for ``key``, by name (our own DeleteObject left out)."""
    found: collections.Counter[str] = collections.Counter()
    for line in log.read_text(errors="replace").splitlines():
        if f"/{BUCKET}/{key}" not in line or '"DELETE ' in line:
            continue
        method = line.split('"', 2)[1].split()[0]
        if method == "POST":
            found[
                "CompleteMultipartUpload" if "uploadId=" in line else "CreateMultipartUpload"
            ] += 1
        elif method == "PUT":
            found["UploadPart" if "partNumber=" in line else "PutObject"] += 1
        else:
            found[method] += 1
    return dict(sorted(found.items()))


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def make_file(path: Path, size: int) -> None:
    with path.open("wb") as file:
        for start in range(0, size, 16 * MIB):
            file.write(os.urandom(min(16 * MIB, size - start)))


def mib(size: float) -> str:
    return f"{size / MIB:.0f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--endpoint-url", help="an S3-compatible server; moto when absent")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ffmpeg-tasks-s3-bench-") as scratch:
        folder = Path(scratch)
        moto = None
        endpoint_url = options.endpoint_url
        if endpoint_url is None:
            moto, endpoint_url = start_moto(folder / "moto.log")
        try:
            s3 = client(endpoint_url, Config(signature_version="s3v4"))
            s3.create_bucket(Bucket=BUCKET)
            source = folder / "upload.bin"
            make_file(source, options.size_mib * MIB)
            arms = ("S3Uploader", "boto3")
            times: dict[str, list[float]] = {arm: [] for arm in arms}
            peaks: dict[str, list[float]] = {arm: [] for arm in arms}
            cpus: dict[str, list[float]] = {arm: [] for arm in arms}
            server: dict[str, list[float]] = {arm: [] for arm in arms}
            requests: dict[str, dict[str, int]] = {}
            for arm in arms:  # warm-up, not counted
                run_child(arm, endpoint_url, source, f"warmup-{arm.lower()}/upload.bin")
                s3.delete_object(Bucket=BUCKET, Key=f"warmup-{arm.lower()}/upload.bin")
            moto_process = psutil.Process(moto.pid) if moto is not None else None
            for run in range(options.runs):
                order = list(arms) if run % 2 == 0 else list(reversed(arms))
                for arm in order:
                    key = f"run{run}-{arm.lower()}/upload.bin"
                    os.sync()
                    before = cpu_seconds(moto_process) if moto_process else 0.0
                    measured = run_child(arm, endpoint_url, source, key)
                    served = cpu_seconds(moto_process) - before if moto_process else 0.0
                    s3.delete_object(Bucket=BUCKET, Key=key)
                    times[arm].append(measured["seconds"])
                    peaks[arm].append(measured["peak_rss"])
                    cpus[arm].append(measured["cpu"])
                    server[arm].append(served)
                    if moto is not None and arm not in requests:
                        requests[arm] = requests_for(folder / "moto.log", key)
                    print(
                        f"run {run + 1} {arm:>10}: {measured['seconds']:.2f} s, "
                        f"CPU {measured['cpu']:.2f} s, moto CPU {served:.2f} s, "
                        f"peak RSS {mib(measured['peak_rss'])}"
                    )
        finally:
            if moto is not None:
                moto.terminate()
                moto.wait()
    print(f"file: {options.size_mib} MiB, runs: {options.runs}, uploads alternated")
    for arm in arms:
        print(
            f"{arm:>10}: median {statistics.median(times[arm]):.2f} s "
            f"(min {min(times[arm]):.2f}, max {max(times[arm]):.2f}), "
            f"own CPU median {statistics.median(cpus[arm]):.2f} s, "
            f"moto CPU median {statistics.median(server[arm]):.2f} s, "
            f"peak RSS {mib(max(peaks[arm]))}"
        )
    for arm, seen in requests.items():
        print(f"{arm:>10} requests: {', '.join(f'{n} {name}' for name, n in seen.items())}")
    library, plain = statistics.median(times["S3Uploader"]), statistics.median(times["boto3"])
    cpu_ratio = statistics.median(cpus["S3Uploader"]) / statistics.median(cpus["boto3"])
    # The server's speed drifts from run to run (see moto's CPU): the two uploads of one run
    # are the closest comparison there is.
    paired = [a / b for a, b in zip(times["S3Uploader"], times["boto3"], strict=True)]
    print(f"own CPU ratio:          {cpu_ratio:.3f}")
    print(
        f"per-run time ratios:    {', '.join(f'{r:.3f}' for r in paired)} "
        f"(median {statistics.median(paired):.3f})"
    )
    print(f"ratio (target <= 1.0):  {library / plain:.3f}")


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], Path(sys.argv[4]), sys.argv[5])
    else:
        main()
