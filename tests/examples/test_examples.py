"""Every script in ``examples/`` runs as a user would run it: a real subprocess, real ffmpeg,
inputs from the loopback HTTP server, outputs to a folder or to the moto S3 server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import httpx
import pytest
from mypy_boto3_s3 import S3Client

from tests.fixtures.http_server import HttpServer
from tests.fixtures.media import DecodedDuration
from tests.fixtures.s3_server import REGION, TEST_KEY_ID, TEST_SECRET, MotoServer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_example(
    name: str, *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python examples/<name> args...`` in ``cwd``; fails the test on a non-zero exit."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{name} failed:\n{result.stdout}\n{result.stderr}"
    return result


def last_lines(result: subprocess.CompletedProcess[str], count: int) -> Sequence[str]:
    return result.stdout.strip().splitlines()[-count:]


def path_of(url: str) -> Path:
    assert url.startswith("file://"), url
    return Path(url2pathname(urlsplit(url).path))


def test_transcode_prints_progress_and_the_output(
    tmp_path: Path, media_dir: Path, http_server: HttpServer, decoded_duration: DecodedDuration
) -> None:
    url = http_server.add_file("/example-transcode.mp4", media_dir / "clip.mp4")
    result = run_example(
        "transcode.py", url, "--dest", str(tmp_path / "out"), "--allow-private-networks",
        cwd=tmp_path,
    )  # fmt: skip
    lines = result.stdout.strip().splitlines()
    assert "running fetching" in lines
    assert any(line.startswith("running encoding") for line in lines)
    assert any(line.startswith("completed") for line in lines)
    output = path_of(lines[-1])
    assert output.is_relative_to(tmp_path / "out")
    assert decoded_duration(output) == pytest.approx(2.0, abs=0.1)


def test_transcode_refuses_loopback_inputs_unless_allowed(
    tmp_path: Path, media_dir: Path, http_server: HttpServer
) -> None:
    url = http_server.add_file("/example-refused.mp4", media_dir / "clip.mp4")
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "transcode.py"), url, "--dest", str(tmp_path / "out")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("refused: ")
    assert "loopback" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_blocking_extracts_the_audio(
    tmp_path: Path, media_dir: Path, http_server: HttpServer, decoded_duration: DecodedDuration
) -> None:
    url = http_server.add_file("/example-blocking.mp4", media_dir / "clip.mp4")
    result = run_example(
        "blocking.py", url, "--dest", str(tmp_path / "out"), "--allow-private-networks",
        cwd=tmp_path,
    )  # fmt: skip
    (line,) = last_lines(result, 1)
    output = path_of(line)
    assert output.name == "audio.mp3"
    assert decoded_duration(output) == pytest.approx(2.0, abs=0.1)


def test_s3_upload_stores_the_output_and_prints_a_working_link(
    tmp_path: Path, moto_server: MotoServer, s3_bucket: str, s3_client: S3Client
) -> None:
    credentials = {
        "AWS_ACCESS_KEY_ID": TEST_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": TEST_SECRET,
        "AWS_REGION": REGION,
    }
    result = run_example(
        "s3_upload.py", s3_bucket, "--endpoint-url", moto_server.endpoint_url,
        cwd=tmp_path, env=credentials,
    )  # fmt: skip
    output_url, download_url = last_lines(result, 2)
    assert output_url.startswith(f"s3://{s3_bucket}/examples/")
    assert output_url.endswith("/output.mp4")
    key = output_url.removeprefix(f"s3://{s3_bucket}/")
    stored = s3_client.get_object(Bucket=s3_bucket, Key=key)
    assert stored["ContentType"] == "video/mp4"
    body = stored["Body"].read()
    assert body[4:8] == b"ftyp"  # an MP4 file
    downloaded = httpx.get(download_url, timeout=30)
    assert downloaded.status_code == 200
    assert downloaded.content == body
