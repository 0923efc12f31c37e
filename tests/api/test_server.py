"""The API in a real uvicorn process on a loopback port, driven over TCP by httpx."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import anyio
import httpx
import pytest

from ffmpeg_tasks import Task, TaskStatus
from ffmpeg_tasks.storage import SqliteStore
from tests.fixtures.http_server import HttpServer
from tests.fixtures.media import DecodedDuration

from ._server_app import DATABASE_VAR, MEDIA_VAR, OUTPUT_VAR
from ._support import REAL_COMMAND, Server, server_env, uvicorn_args

KEY = "server-test-key-3f9a1c0d5e"
AUTH = {"X-API-Key": KEY}


@pytest.fixture(scope="module")
def server(media_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("uvicorn")
    env = server_env(
        **{MEDIA_VAR: str(media_dir), OUTPUT_VAR: str(folder / "out")},
        FFMPEG_TASKS_API_KEYS=KEY,
    )
    server = Server(
        uvicorn_args("tests.api._server_app:make_app"), env=env, log=folder / "server.log"
    )
    try:
        yield server
    finally:
        status = server.stop()
        log = server.log.read_text()
        assert status == 0, f"uvicorn exited with {status}:\n{log}"
        assert "Application shutdown complete" in log
        assert KEY not in log, "an API key reached the log"


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def test_register_execute_status_with_real_ffmpeg(
    client: httpx.Client,
    media_dir: Path,
    http_server: HttpServer,
    decoded_duration: DecodedDuration,
) -> None:
    body = {
        "command": REAL_COMMAND,
        "input_files": {"clip.mp4": http_server.add_file("/clip.mp4", media_dir / "clip.mp4")},
        "output_filename": "small.mp4",
    }
    registered = client.post("/ffmpeg/register", json=body, headers=AUTH)
    assert registered.status_code == 200, registered.text
    task = registered.json()
    assert task["status"] == "pending"

    executed = client.post(f"/ffmpeg/execute/{task['task_id']}", headers=AUTH)
    assert executed.status_code == 200, executed.text
    done = executed.json()
    assert done["status"] == "completed", done["error"]
    output = Path(url2pathname(urlsplit(done["output_url"]).path))
    assert decoded_duration(output) == pytest.approx(2.0, abs=0.1)

    status = client.get(f"/ffmpeg/status/{task['task_id']}", headers=AUTH).json()
    assert (status["status"], status["progress"], status["phase"]) == ("completed", 1.0, None)
    listed = client.get("/ffmpeg/tasks", headers=AUTH).json()["tasks"]
    assert task["task_id"] in [t["task_id"] for t in listed]
    assert [r.path for r in http_server.requests] == ["/clip.mp4"]


def test_background_run_on_the_manager_the_lifespan_opened(
    client: httpx.Client, media_dir: Path
) -> None:
    body = {
        "command": "-i clip2.mp4 -vn -c:a aac audio.m4a",
        "input_files": {"clip2.mp4": (media_dir / "clip2.mp4").as_uri()},
        "output_filename": "audio.m4a",
    }
    task_id = client.post("/ffmpeg/register", json=body, headers=AUTH).json()["task_id"]
    started = client.post(f"/ffmpeg/execute/{task_id}", params={"wait": "false"}, headers=AUTH)
    assert started.status_code == 202, started.text
    for _ in range(300):
        state = client.get(f"/ffmpeg/status/{task_id}", headers=AUTH).json()
        if state["status"] not in {"pending", "running"}:
            break
        time.sleep(0.05)
    assert state["status"] == "completed", state
    assert state["output_url"].endswith("/audio.m4a")


def test_health_over_tcp(client: httpx.Client) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    health = client.get("/ffmpeg/health", headers={"Authorization": f"Bearer {KEY}"})
    assert health.status_code == 200
    report = health.json()
    assert report["auth"] == "api-key"
    assert report["ffmpeg_version"]
    assert Path(report["ffmpeg_path"]).name.startswith("ffmpeg")


def test_errors_over_tcp(client: httpx.Client) -> None:
    assert client.get("/ffmpeg/tasks").status_code == 401
    assert client.get("/ffmpeg/status/nope", headers=AUTH).status_code == 404
    malformed = client.post(
        "/ffmpeg/register",
        content=b'{"command": ',
        headers={**AUTH, "content-type": "application/json"},
    )
    assert malformed.status_code == 422
    assert "not valid JSON" in malformed.json()["detail"]

    def huge() -> Iterator[bytes]:
        for _ in range(200):  # 1.6 MB, chunked: no Content-Length to refuse early
            yield b" " * 8192

    oversized = client.post(
        "/ffmpeg/register", content=huge(), headers={**AUTH, "content-type": "application/json"}
    )
    assert oversized.status_code == 413
    assert "larger than 65536 bytes" in oversized.json()["detail"]


def test_ffmpeg_tasks_serve_is_configured_by_the_environment(
    tmp_path: Path,
    media_dir: Path,
    http_server: HttpServer,
    decoded_duration: DecodedDuration,
) -> None:
    """The drop-in replacement: ``ffmpeg-tasks serve`` with the service's variables only."""
    env = server_env(
        FFMPEG_TASKS_API_KEYS=KEY,
        FFMPEG_TASKS_OUTPUT_DIR=str(tmp_path / "out"),
        FFMPEG_TASKS_ALLOW_PRIVATE_NETWORKS="1",
    )
    command = [str(Path(sys.executable).with_name("ffmpeg-tasks")), "serve", "--port", "0"]
    server = Server(command, env=env, log=tmp_path / "serve.log")
    try:
        with httpx.Client(base_url=server.url, headers=AUTH, timeout=30) as client:
            assert client.get("/health").json() == {"status": "ok"}
            health = client.get("/ffmpeg/health").json()
            assert (health["status"], health["auth"]) == ("ok", "api-key")
            url = http_server.add_file("/clip2.mp4", media_dir / "clip2.mp4")
            body = {
                "command": "-i clip2.mp4 -vn -c:a aac audio.m4a",
                "input_files": {"clip2.mp4": url},
                "output_filename": "audio.m4a",
            }
            task_id = client.post("/ffmpeg/register", json=body).json()["task_id"]
            done = client.post(f"/ffmpeg/execute/{task_id}").json()
            assert done["status"] == "completed", done["error"]
            output = Path(url2pathname(urlsplit(done["output_url"]).path))
            assert output.is_relative_to(tmp_path / "out")
            assert decoded_duration(output) == pytest.approx(1.0, abs=0.1)
    finally:
        status = server.stop()
    log = server.log.read_text()
    assert status == 0, log
    assert KEY not in log


def test_shutdown_cancels_a_waiting_execute_and_stores_its_final_state(
    tmp_path: Path, media_dir: Path, http_server: HttpServer
) -> None:
    """SIGINT while ``execute`` waits: cancelled after the graceful timeout, state stored."""
    database = tmp_path / "tasks.db"
    env = server_env(
        **{MEDIA_VAR: str(media_dir), OUTPUT_VAR: str(tmp_path / "out")},
        **{DATABASE_VAR: str(database)},
    )
    args = [*uvicorn_args("tests.api._server_app:make_app"), "--timeout-graceful-shutdown", "1"]
    server = Server(args, env=env, log=tmp_path / "server.log")
    stalled = http_server.add_slow_first_byte("/stalled.mp4", b"never", delay=25)
    body = {
        "command": "-i in.mp4 -c copy out.mp4",
        "input_files": {"in.mp4": stalled},
        "output_filename": "out.mp4",
    }
    outcome: list[object] = []
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            task_id = client.post("/ffmpeg/register", json=body).json()["task_id"]

            def execute() -> None:
                try:
                    outcome.append(client.post(f"/ffmpeg/execute/{task_id}"))
                except httpx.HTTPError as exc:
                    outcome.append(exc)

            waiter = threading.Thread(target=execute)
            waiter.start()
            for _ in range(200):
                if http_server.requested("/stalled.mp4"):
                    break
                time.sleep(0.02)
            assert client.get(f"/ffmpeg/status/{task_id}").json()["phase"] == "fetching"
            started = time.monotonic()
            status = server.stop()
            elapsed = time.monotonic() - started
            waiter.join(10)
    finally:
        server.stop()
    log = server.log.read_text()
    assert status == 0, log
    assert elapsed < 8, f"shutdown took {elapsed:.1f} s:\n{log}"
    assert "Cancel 1 running task(s)" in log
    # The waiting client is not left hanging: uvicorn answers the cancelled request with a
    # plain 500 (no traceback in the body) or closes the connection.
    assert len(outcome) == 1
    answer = outcome[0]
    assert isinstance(answer, httpx.HTTPError) or (
        isinstance(answer, httpx.Response)
        and answer.status_code == 500
        and "Traceback" not in answer.text
    ), answer
    # The lifespan kept the manager open until the cancelled run had stored its end.
    stored = anyio.run(stored_task, database, task_id)
    assert stored.status is TaskStatus.CANCELLED, stored
    # uvicorn cancels the waiting request before the lifespan closes the manager
    assert stored.error == (
        "cancelled: its caller was cancelled (a timeout, a closed request, a service shutting down)"
    )


async def stored_task(database: Path, task_id: str) -> Task:
    store = SqliteStore(database)
    try:
        return await store.get(task_id)
    finally:
        await store.aclose()
