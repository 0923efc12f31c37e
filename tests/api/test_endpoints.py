"""The original endpoints and the new ones, in-process through httpx's ASGITransport."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

import pytest
from fastapi import FastAPI

from ffmpeg_tasks import TaskManager
from ffmpeg_tasks.integrations.fastapi import create_app, create_router
from ffmpeg_tasks.runners import SubprocessRunner
from ffmpeg_tasks.testing import FakeFetcher, FakeUploader, MemoryStore
from tests.fixtures.http_server import HttpServer
from tests.fixtures.media import DecodedDuration

from ._support import (
    INPUT_URL,
    REAL_COMMAND,
    TASK_BODY,
    asgi_client,
    fake_manager,
    running_lifespan,
    wait_for_status,
)

pytestmark = pytest.mark.anyio

#: Keys every task answer has; ``log`` and ``owner`` are never among them.
TASK_KEYS = {
    "task_id",
    "status",
    "phase",
    "progress",
    "overall_progress",
    "speed",
    "eta",
    "command",
    "input_files",
    "output_filename",
    "output_patterns",
    "expect",
    "output_url",
    "download_url",
    "download_url_expires_at",
    "outputs",
    "error",
    "timeout",
    "webhook_url",
    "webhooks",
    "queue",
    "priority",
    "created_at",
    "started_at",
    "finished_at",
}


def router_app(manager: TaskManager, **kwargs: Any) -> FastAPI:
    app = FastAPI()
    app.include_router(create_router(manager, api_keys=[], **kwargs))
    return app


@pytest.mark.parametrize("source", ["http", "file"])
async def test_register_execute_status_with_real_ffmpeg(
    real_manager: TaskManager,
    media_dir: Path,
    http_server: HttpServer,
    decoded_duration: DecodedDuration,
    source: str,
) -> None:
    clip = media_dir / "clip.mp4"
    url = http_server.add_file("/clip.mp4", clip) if source == "http" else clip.as_uri()
    body = {
        "command": REAL_COMMAND,
        "input_files": {"clip.mp4": url},
        "output_filename": "small.mp4",
    }
    async with real_manager, asgi_client(router_app(real_manager)) as client:
        registered = await client.post("/ffmpeg/register", json=body)
        assert registered.status_code == 200, registered.text
        task = registered.json()
        assert set(task) == TASK_KEYS
        assert task["status"] == "pending"
        assert task["command"] == REAL_COMMAND
        assert task["input_files"] == body["input_files"]
        assert task["output_filename"] == "small.mp4"
        assert task["created_at"].startswith("20")

        executed = await client.post(f"/ffmpeg/execute/{task['task_id']}")
        assert executed.status_code == 200, executed.text
        done = executed.json()
        assert done["status"] == "completed", done["error"]
        assert done["error"] is None
        output = Path(url2pathname(urlsplit(done["output_url"]).path))
        assert decoded_duration(output) == pytest.approx(2.0, abs=0.1)

        status = await client.get(f"/ffmpeg/status/{task['task_id']}")
        assert status.status_code == 200
        state = status.json()
        assert set(state) == TASK_KEYS
        assert (state["status"], state["phase"], state["progress"]) == ("completed", None, 1.0)
        assert state["output_url"] == done["output_url"]
        assert state["started_at"] <= state["finished_at"]


async def test_a_failed_task_shows_its_error_but_never_ffmpegs_raw_log(
    real_manager: TaskManager, media_dir: Path, tmp_path: Path
) -> None:
    broken = media_dir / "broken-for-api.mp4"
    broken.write_bytes(b"this is not a video")
    body = {
        "command": "-i in.mp4 -c:v libx264 out.mp4",
        "input_files": {"in.mp4": broken.as_uri()},
        "output_filename": "out.mp4",
    }
    async with real_manager, asgi_client(router_app(real_manager)) as client:
        task_id = (await client.post("/ffmpeg/register", json=body)).json()["task_id"]
        done = (await client.post(f"/ffmpeg/execute/{task_id}")).json()
        status = (await client.get(f"/ffmpeg/status/{task_id}")).json()
    stored = await real_manager.get(task_id)
    assert stored.log, "the manager keeps ffmpeg's raw stderr"
    assert re.search(r"@ 0x[0-9a-f]+", stored.log)  # the raw log has the context addresses...
    for answer in (done, status):
        assert answer["status"] == "failed"
        assert "Invalid data found when processing input" in answer["error"]
        assert not re.search(r"0x[0-9a-f]{6,}", answer["error"])  # ...the answer has none
        assert "whitelist" not in answer["error"]  # nor the server's own guard options
        assert "/" not in answer["error"].replace("file://", "")  # nor any absolute path
        assert "log" not in answer
        assert "owner" not in answer
        assert set(answer) == TASK_KEYS


async def test_execute_without_waiting_answers_202_and_status_shows_progress() -> None:
    manager = fake_manager(duration=0.6)
    async with manager, asgi_client(router_app(manager)) as client:
        task_id = (await client.post("/ffmpeg/register", json=TASK_BODY)).json()["task_id"]
        started = await client.post(f"/ffmpeg/execute/{task_id}", params={"wait": "false"})
        assert started.status_code == 202
        assert started.json()["status"] in {"pending", "running"}
        seen = await wait_for_status(client, task_id, lambda s: s["status"] == "completed")
    encoding = [s for s in seen if s["phase"] == "encoding" and s["progress"] is not None]
    assert encoding, f"no encoding progress seen in {seen}"
    assert all(0.0 <= s["progress"] <= 1.0 for s in encoding)
    assert seen[-1]["progress"] == 1.0
    assert seen[-1]["output_url"] == f"memory://{task_id}/out.mp4"


async def test_status_shows_the_overall_progress_speed_and_eta() -> None:
    manager = fake_manager(duration=0.6)  # a 10-second output at about 17x
    async with manager, asgi_client(router_app(manager)) as client:
        task_id = (await client.post("/ffmpeg/register", json=TASK_BODY)).json()["task_id"]
        await client.post(f"/ffmpeg/execute/{task_id}", params={"wait": "false"})
        seen = await wait_for_status(client, task_id, lambda s: s["status"] == "completed")
    overall = [s["overall_progress"] for s in seen if s["overall_progress"] is not None]
    assert overall == sorted(overall)
    assert overall[-1] == 1.0
    encoding = [s for s in seen if s["phase"] == "encoding" and s["progress"] is not None]
    assert encoding, f"no encoding progress seen in {seen}"
    assert all(s["speed"] == pytest.approx(10 / 0.6) for s in encoding)
    assert all(0.0 <= s["eta"] <= 0.6 for s in encoding)
    assert (seen[-1]["eta"], seen[-1]["speed"]) == (None, pytest.approx(10 / 0.6))


async def test_cancel_stops_a_running_task_and_a_second_cancel_is_409() -> None:
    manager = fake_manager(duration=30)
    async with manager, asgi_client(router_app(manager)) as client:
        task_id = (await client.post("/ffmpeg/register", json=TASK_BODY)).json()["task_id"]
        await client.post(f"/ffmpeg/execute/{task_id}", params={"wait": "false"})
        await wait_for_status(client, task_id, lambda s: s["phase"] == "encoding")
        cancelled = await client.post(f"/ffmpeg/cancel/{task_id}")
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "cancelled"
        again = await client.post(f"/ffmpeg/cancel/{task_id}")
        assert again.status_code == 409
        assert "cancelled already" in again.json()["detail"]


async def test_cancel_a_pending_task() -> None:
    manager = fake_manager()
    async with asgi_client(router_app(manager)) as client:
        task_id = (await client.post("/ffmpeg/register", json=TASK_BODY)).json()["task_id"]
        cancelled = (await client.post(f"/ffmpeg/cancel/{task_id}")).json()
        assert (cancelled["status"], cancelled["error"]) == (
            "cancelled",
            "cancelled before it started",
        )
        assert (await client.post(f"/ffmpeg/execute/{task_id}")).status_code == 409


async def test_tasks_are_listed_newest_first_in_pages_and_by_status() -> None:
    manager = fake_manager()
    async with asgi_client(router_app(manager)) as client:
        ids = [
            (await client.post("/ffmpeg/register", json=TASK_BODY)).json()["task_id"]
            for _ in range(3)
        ]
        await client.post(f"/ffmpeg/execute/{ids[0]}")

        first = (await client.get("/ffmpeg/tasks", params={"limit": 2})).json()
        assert [t["task_id"] for t in first["tasks"]] == [ids[2], ids[1]]
        assert (first["limit"], first["offset"], first["next_offset"]) == (2, 0, 2)
        second = (await client.get("/ffmpeg/tasks", params={"limit": 2, "offset": 2})).json()
        assert [t["task_id"] for t in second["tasks"]] == [ids[0]]
        assert second["next_offset"] is None

        completed = (await client.get("/ffmpeg/tasks", params={"status": "completed"})).json()
        assert [t["task_id"] for t in completed["tasks"]] == [ids[0]]
        assert all(set(t) == TASK_KEYS for t in first["tasks"] + completed["tasks"])


async def test_health_reports_the_real_ffmpeg_and_the_open_auth_mode(
    real_manager: TaskManager,
) -> None:
    async with asgi_client(create_app(real_manager, api_keys=[])) as client:
        liveness = await client.get("/health")
        health = await client.get("/ffmpeg/health")
    assert (liveness.status_code, liveness.json()) == (200, {"status": "ok"})
    assert health.status_code == 200
    report = health.json()
    assert report["status"] == "ok"
    assert report["detail"] is None
    assert Path(report["ffmpeg_path"]).name.startswith("ffmpeg")
    assert report["ffmpeg_version"]
    assert report["auth"] == "none"
    assert report["policy"] == "strict"
    assert isinstance(report["warnings"], list)
    assert "sandbox" in report


async def test_health_is_503_with_the_reason_when_ffmpeg_is_missing(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-ffmpeg"
    manager = TaskManager(MemoryStore(), FakeFetcher(), SubprocessRunner(missing), FakeUploader())
    async with asgi_client(router_app(manager)) as client:
        health = await client.get("/ffmpeg/health")
    assert health.status_code == 503
    report = health.json()
    assert report["status"] == "unavailable"
    assert report["ffmpeg_found"] is False
    assert str(missing) in report["detail"]


async def test_create_app_lifespan_opens_the_manager_and_shutdown_cancels_runs() -> None:
    manager = fake_manager(duration=30)
    app = create_app(manager, api_keys=[])
    async with asgi_client(app) as client:
        async with running_lifespan(app):
            task_id = (await client.post("/ffmpeg/register", json=TASK_BODY)).json()["task_id"]
            started = await client.post(f"/ffmpeg/execute/{task_id}", params={"wait": "false"})
            assert started.status_code == 202, started.text
            await wait_for_status(client, task_id, lambda s: s["status"] == "running")
        state = (await client.get(f"/ffmpeg/status/{task_id}")).json()
    assert state["status"] == "cancelled"
    assert "shutting down" in state["error"]


async def test_background_runs_need_an_open_manager_503() -> None:
    manager = fake_manager()
    async with asgi_client(router_app(manager)) as client:
        task_id = (await client.post("/ffmpeg/register", json=TASK_BODY)).json()["task_id"]
        started = await client.post(f"/ffmpeg/execute/{task_id}", params={"wait": "false"})
        assert started.status_code == 503
        assert "needs an open manager" in started.json()["detail"]
        # Waiting mode runs in the request itself and needs no open manager.
        done = await client.post(f"/ffmpeg/execute/{task_id}")
        assert done.json()["status"] == "completed"


async def test_the_router_lives_under_any_prefix_beside_the_host_apps_routes() -> None:
    manager = fake_manager()
    app = FastAPI()

    @app.get("/")
    async def home() -> dict[str, str]:
        return {"app": "host"}

    app.include_router(create_router(manager, prefix="/media/v2", api_keys=[]))
    async with asgi_client(app) as client:
        assert (await client.get("/")).json() == {"app": "host"}
        registered = await client.post("/media/v2/register", json=TASK_BODY)
        assert registered.status_code == 200
        task_id = registered.json()["task_id"]
        assert (await client.get(f"/media/v2/status/{task_id}")).status_code == 200
        assert (await client.get(f"/ffmpeg/status/{task_id}")).status_code == 404


async def test_several_outputs_with_expectations_and_their_facts(
    real_manager: TaskManager, media_dir: Path
) -> None:
    body = {
        "command": (
            "-i clip.mp4 -c:v libx264 -preset ultrafast -c:a aac out.mp4 "
            "-map 0:v -ss 1 -frames:v 1 poster.jpg"
        ),
        "input_files": {"clip.mp4": (media_dir / "clip.mp4").as_uri()},
        "output_filename": "out.mp4",
        "outputs": ["poster.jpg"],
        "expect": [
            {"duration": "clip.mp4", "tolerance": 0.2, "video": 1, "audio": 1},
            {"output": "poster.jpg", "width": 160},
        ],
    }
    async with real_manager, asgi_client(router_app(real_manager)) as client:
        registered = await client.post("/ffmpeg/register", json=body)
        assert registered.status_code == 200, registered.text
        task = registered.json()
        assert task["output_patterns"] == ["poster.jpg"]
        assert task["expect"][1] == {
            "output": "poster.jpg", "duration": None, "tolerance": None, "video": None,
            "audio": None, "subtitle": None, "video_codec": None, "audio_codec": None,
            "width": 160, "height": None,
        }  # fmt: skip
        assert task["outputs"] == []
        done = (await client.post(f"/ffmpeg/execute/{task['task_id']}")).json()
    assert done["status"] == "completed", done["error"]
    main, poster = done["outputs"]
    assert main["url"] == done["output_url"]
    assert (main["name"], main["content_type"]) == ("out.mp4", "video/mp4")
    assert main["media"]["duration"] == pytest.approx(2.0, abs=0.1)
    assert [s["type"] for s in main["media"]["streams"]] == ["video", "audio"]
    assert (poster["name"], poster["content_type"]) == ("poster.jpg", "image/jpeg")
    assert len(poster["sha256"]) == 64
    assert poster["media"]["streams"][0]["width"] == 160


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"outputs": ["../*.ts"]}, "may use only letters"),
        ({"expect": [{"frames": 1}]}, "expect"),
        ({"expect": [{"video": "1"}]}, "expect"),
        ({"expect": [{"duration": "other.mp4"}]}, "names input 'other.mp4'"),
    ],
)
async def test_bad_outputs_or_expectations_are_refused(
    change: dict[str, Any], message: str
) -> None:
    manager = fake_manager()
    body = {
        "command": "-i input.mp4 output.mp4",
        "input_files": {"input.mp4": INPUT_URL},
        "output_filename": "output.mp4",
        **change,
    }
    async with manager, asgi_client(router_app(manager)) as client:
        answer = await client.post("/ffmpeg/register", json=body)
    assert answer.status_code in (400, 422), answer.text
    assert message in answer.text
