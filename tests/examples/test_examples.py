"""Every script in ``examples/`` runs as a user would run it: a real subprocess, real ffmpeg,
inputs from the loopback HTTP server, outputs to a folder or to the moto S3 server."""

from __future__ import annotations

import json
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
#: What running an example gives back.
Result = subprocess.CompletedProcess[str]
#: What moto accepts while it does not check credentials, as a user would export them.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": TEST_KEY_ID,
    "AWS_SECRET_ACCESS_KEY": TEST_SECRET,
    "AWS_REGION": REGION,
}


def run(name: str, *args: str, cwd: Path, env: dict[str, str] | None = None) -> Result:
    """``python examples/<name> args...`` in ``cwd``, as a user runs it.

    The child gets this environment without any AWS or S3 set-up (a developer's profile or
    endpoint must not leak in), plus ``env``.
    """
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3_"))}
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=cwd,
        env={**inherited, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def run_example(name: str, *args: str, cwd: Path, env: dict[str, str] | None = None) -> Result:
    """:func:`run`, failing the test on a non-zero exit."""
    result = run(name, *args, cwd=cwd, env=env)
    assert result.returncode == 0, f"{name} failed:\n{result.stdout}\n{result.stderr}"
    return result


def assert_refused(result: Result, *words: str) -> None:
    """Exit status 2 and a one-line ``refused: ...`` on stderr, no traceback."""
    assert result.returncode == 2, f"{result.stdout}\n{result.stderr}"
    assert result.stderr.startswith("refused: "), result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr


def last_lines(result: Result, count: int) -> Sequence[str]:
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
    assert [r.method for r in http_server.requested("/example-transcode.mp4")] == ["GET"]


def test_transcode_refuses_loopback_inputs_unless_allowed(
    tmp_path: Path, media_dir: Path, http_server: HttpServer
) -> None:
    url = http_server.add_file("/example-refused.mp4", media_dir / "clip.mp4")
    result = run("transcode.py", url, "--dest", str(tmp_path / "out"), cwd=tmp_path)
    assert_refused(result, "loopback", "allow_private_networks")
    assert not http_server.requested("/example-refused.mp4"), "refused, yet fetched"
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


def test_blocking_refuses_loopback_inputs_unless_allowed(
    tmp_path: Path, media_dir: Path, http_server: HttpServer
) -> None:
    url = http_server.add_file("/example-blocking-refused.mp4", media_dir / "clip.mp4")
    result = run("blocking.py", url, "--dest", str(tmp_path / "out"), cwd=tmp_path)
    assert_refused(result, "loopback")
    assert not http_server.requested("/example-blocking-refused.mp4")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("own_input", [False, True], ids=["test-clip", "own-input"])
def test_s3_upload_stores_the_output_and_prints_a_working_link(
    own_input: bool,
    tmp_path: Path,
    media_dir: Path,
    moto_server: MotoServer,
    s3_bucket: str,
    s3_client: S3Client,
    decoded_duration: DecodedDuration,
) -> None:
    # Both clips last two seconds: the example's own test clip and media_dir's clip.mp4.
    source = ["--input", str(media_dir / "clip.mp4")] if own_input else []
    result = run_example(
        "s3_upload.py", s3_bucket, "--endpoint-url", moto_server.endpoint_url, *source,
        cwd=tmp_path, env=CREDENTIALS,
    )  # fmt: skip
    output_url, download_url = last_lines(result, 2)
    assert output_url.startswith(f"s3://{s3_bucket}/examples/")
    assert output_url.endswith("/output.mp4")
    key = output_url.removeprefix(f"s3://{s3_bucket}/")
    listed = s3_client.list_objects_v2(Bucket=s3_bucket)
    assert [item["Key"] for item in listed.get("Contents", [])] == [key]
    stored = s3_client.get_object(Bucket=s3_bucket, Key=key)
    assert stored["ContentType"] == "video/mp4"
    body = stored["Body"].read()
    assert body[4:8] == b"ftyp"  # an MP4 file
    downloaded = httpx.get(download_url, timeout=30)
    assert downloaded.status_code == 200
    assert downloaded.content == body
    (tmp_path / "downloaded.mp4").write_bytes(downloaded.content)
    assert decoded_duration(tmp_path / "downloaded.mp4") == pytest.approx(2.0, abs=0.1)


def test_s3_upload_reports_a_missing_bucket(
    tmp_path: Path, moto_server: MotoServer, s3_bucket: str
) -> None:
    missing = f"{s3_bucket}-missing"
    result = run(
        "s3_upload.py", missing, "--endpoint-url", moto_server.endpoint_url,
        cwd=tmp_path, env=CREDENTIALS,
    )  # fmt: skip
    assert result.returncode == 1, f"{result.stdout}\n{result.stderr}"
    assert result.stderr.startswith("failed: "), result.stderr
    assert f"bucket {missing!r} does not exist" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--input", "no-such-video.mp4"], ["no-such-video.mp4", "not an existing regular file"]),
        (["--presign-expires", "0"], ["presign_expires", "7 days"]),
    ],
    ids=["missing-input", "bad-presign-expires"],
)
def test_s3_upload_refuses_bad_arguments_before_running(
    args: list[str],
    words: list[str],
    tmp_path: Path,
    moto_server: MotoServer,
    s3_bucket: str,
    s3_client: S3Client,
) -> None:
    result = run(
        "s3_upload.py", s3_bucket, "--endpoint-url", moto_server.endpoint_url, *args,
        cwd=tmp_path, env=CREDENTIALS,
    )  # fmt: skip
    assert_refused(result, *words)
    assert "Contents" not in s3_client.list_objects_v2(Bucket=s3_bucket)


def test_s3_upload_needs_a_bucket(tmp_path: Path) -> None:
    result = run("s3_upload.py", cwd=tmp_path)
    assert result.returncode == 2
    assert "name the bucket (or set S3_BUCKET)" in result.stderr


def test_hls_ladder_makes_three_renditions_and_a_master(
    tmp_path: Path, media_dir: Path, http_server: HttpServer
) -> None:
    url = http_server.add_file("/example-ladder.mp4", media_dir / "clip.mp4")
    result = run_example(
        "hls_ladder.py", url, "--allow-private-networks", "--dest", str(tmp_path / "out"),
        cwd=tmp_path,
    )  # fmt: skip
    lines = result.stdout.strip().splitlines()
    master = path_of(lines[-1])
    assert master.name == "master.m3u8"
    folder = master.parent
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["master.m3u8", *(f"stream_{v}.m3u8" for v in range(3))]
        + [f"seg_{v}_{n:03d}.ts" for v in range(3) for n in range(2)]
    )
    assert lines[0].startswith("master.m3u8 ")
    assert lines[0].endswith(" hls 2.00 s 160/80/40")
    for variant in range(3):
        playlist = (folder / f"stream_{variant}.m3u8").read_text()
        assert f"seg_{variant}_000.ts" in playlist


def test_thumbnails_writes_a_sequence_a_sheet_and_a_poster(
    tmp_path: Path, media_dir: Path, http_server: HttpServer
) -> None:
    url = http_server.add_file("/example-thumbs.mp4", media_dir / "clip.mp4")
    result = run_example(
        "thumbnails.py", url, "--allow-private-networks", "--dest", str(tmp_path / "out"),
        cwd=tmp_path,
    )  # fmt: skip
    lines = result.stdout.strip().splitlines()
    sheet = path_of(lines[-1])
    assert sheet.name == "sheet.jpg"
    assert sorted(p.name for p in sheet.parent.iterdir()) == [
        "poster.jpg", "sheet.jpg", "thumb_001.jpg", "thumb_002.jpg",
    ]  # fmt: skip
    assert lines[0].startswith("sheet.jpg 640x480 ")
    assert "thumb_001.jpg 160x120 " in result.stdout
    assert "poster.jpg 160x120 " in result.stdout


def test_json_logs_tag_every_record_of_a_run(tmp_path: Path) -> None:
    result = run_example("json_logs.py", cwd=tmp_path)
    records = [json.loads(line) for line in result.stderr.strip().splitlines()]
    fetching = next(r for r in records if r["message"].startswith("fetching "))
    assert (fetching["logger"], fetching["owner"]) == ("my_app", "user-42")
    assert fetching["task_id"]
    ours = [r for r in records if r["logger"] == "ffmpeg_tasks"]
    assert ours
    assert {r["task_id"] for r in ours} == {fetching["task_id"]}
    ended = records[-1]
    assert ended["message"] == f"task {fetching['task_id']} ended failed"
    assert (ended["task_id"], ended["owner"]) == (None, None)


def test_webhook_receiver_verifies_what_a_manager_sends(tmp_path: Path) -> None:
    import anyio

    from ffmpeg_tasks import TaskManager, WebhookSettings
    from ffmpeg_tasks.testing import FakeFetcher, FakeRunner, FakeUploader, MemoryStore

    secret = WebhookSettings.new_secret()
    receiver = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "webhook_receiver.py"), "--port", "0"],
        cwd=tmp_path,
        env={**os.environ, "FFMPEG_TASKS_WEBHOOK_SECRET": secret},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert receiver.stdout is not None
        url = json.loads(receiver.stdout.readline())["listening"]
        unsigned = httpx.post(url, json={"type": "task.completed"})
        assert unsigned.status_code == 401

        async def run_a_task() -> str:
            source = "https://media.example/in.mp4"
            webhooks = WebhookSettings(secret=secret, endpoints=[url], allow_private_networks=True)
            manager = TaskManager(
                MemoryStore(), FakeFetcher({source: b"v"}), FakeRunner(), FakeUploader(),
                webhooks=webhooks,
            )  # fmt: skip
            async with manager:
                task = await manager.register("-i a.mp4 -c copy b.mp4", {"a.mp4": source}, "b.mp4")
                await manager.execute(task.id)
                with anyio.fail_after(30):
                    while {d.state.value for d in await manager.deliveries(task.id)} != {
                        "delivered"
                    }:
                        await anyio.sleep(0.05)
            return task.id

        task_id = anyio.run(run_a_task)
        lines = [receiver.stdout.readline().split() for _ in range(2)]
    finally:
        receiver.terminate()
        receiver.wait(10)
        if receiver.stdout is not None:
            receiver.stdout.close()
    assert [line[1:] for line in lines] == [
        ["task.started", task_id, "running"],
        ["task.completed", task_id, "completed"],
    ]


def test_batch_runs_many_tasks_a_few_at_a_time_with_bars_and_a_table(
    tmp_path: Path, media_dir: Path, http_server: HttpServer, decoded_duration: DecodedDuration
) -> None:
    first = http_server.add_file("/example-batch-1.mp4", media_dir / "clip.mp4")
    second = http_server.add_file("/example-batch-2.mp4", media_dir / "clip2.mp4")
    result = run_example(
        "batch.py", first, second, "--widths", "96,64,32", "--concurrency", "2",
        "--dest", str(tmp_path / "out"), "--allow-private-networks",
        cwd=tmp_path,
    )  # fmt: skip
    assert last_lines(result, 1)[0].startswith("6 tasks in ")
    assert last_lines(result, 1)[0].endswith(" at most 2 at once")
    assert "6 tasks: 6 completed" in result.stdout  # the table's title
    assert result.stdout.count("completed") == 7  # the title and a row each
    videos = sorted((tmp_path / "out").glob("*/video_*.mp4"))
    assert sorted(v.name for v in videos) == sorted(
        f"video_{w}.mp4" for w in (96, 64, 32) for _ in "12"
    )
    assert sorted(round(decoded_duration(v)) for v in videos) == [1, 1, 1, 2, 2, 2]
    bars = result.stderr.replace("\r", "\n").splitlines()
    assert sum(line.rstrip().endswith(", completed") for line in bars) >= 6
    assert any(", encoding" in line for line in bars) or any(", pending" in line for line in bars)


def test_batch_refuses_loopback_inputs_unless_allowed(
    tmp_path: Path, media_dir: Path, http_server: HttpServer
) -> None:
    url = http_server.add_file("/example-batch-refused.mp4", media_dir / "clip.mp4")
    result = run("batch.py", url, "--dest", str(tmp_path / "out"), cwd=tmp_path)
    assert_refused(result, "loopback")
    assert not http_server.requested("/example-batch-refused.mp4")
