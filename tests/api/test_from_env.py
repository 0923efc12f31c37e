"""``create_app()`` without a manager: everything comes from the environment, as in ``serve``."""

from __future__ import annotations

from collections.abc import MutableMapping
from pathlib import Path

import pytest

from ffmpeg_tasks import TaskManager
from ffmpeg_tasks.integrations.fastapi import create_app
from tests.fixtures.http_server import HttpServer

from ._support import asgi_client, running_lifespan

pytestmark = pytest.mark.anyio

KEY = "from-env-key-7d41c9e2b3"


@pytest.fixture
def service_env(clean_env: MutableMapping[str, str], tmp_path: Path) -> Path:
    """The service's variables: local outputs in ``tmp_path/out``, keys on, no S3."""
    for name in list(clean_env):
        if name.startswith(("FFMPEG_TASKS_", "S3_", "AWS_")):
            del clean_env[name]
    clean_env["FFMPEG_TASKS_OUTPUT_DIR"] = str(tmp_path / "out")
    clean_env["FFMPEG_TASKS_API_KEYS"] = KEY
    return tmp_path / "out"


async def test_create_app_builds_its_manager_from_the_environment(
    service_env: Path, media_dir: Path, http_server: HttpServer
) -> None:
    app = create_app()
    assert isinstance(app.state.task_manager, TaskManager)
    body = {
        "command": "-i clip2.mp4 -vn -c:a aac audio.m4a",
        "input_files": {"clip2.mp4": http_server.add_file("/clip2.mp4", media_dir / "clip2.mp4")},
        "output_filename": "audio.m4a",
    }
    async with running_lifespan(app), asgi_client(app, headers={"X-API-Key": KEY}) as client:
        health = (await client.get("/ffmpeg/health")).json()
        refused = await client.post("/ffmpeg/register", json=body)
    assert health["auth"] == "api-key"
    assert str(service_env) in health["uploader"]
    # The default fetcher is SSRF-safe: the loopback test server is refused...
    assert refused.status_code == 422
    assert "loopback" in refused.json()["detail"]


async def test_operators_opt_in_to_private_networks(
    service_env: Path,
    media_dir: Path,
    http_server: HttpServer,
    clean_env: MutableMapping[str, str],
) -> None:
    clean_env["FFMPEG_TASKS_ALLOW_PRIVATE_NETWORKS"] = "1"
    app = create_app()
    body = {
        "command": "-i clip2.mp4 -vn -c:a aac audio.m4a",
        "input_files": {"clip2.mp4": http_server.add_file("/clip2.mp4", media_dir / "clip2.mp4")},
        "output_filename": "audio.m4a",
    }
    async with running_lifespan(app), asgi_client(app, headers={"X-API-Key": KEY}) as client:
        task_id = (await client.post("/ffmpeg/register", json=body)).json()["task_id"]
        done = (await client.post(f"/ffmpeg/execute/{task_id}")).json()
    assert done["status"] == "completed", done["error"]
    assert (service_env / task_id / "audio.m4a").is_file()


async def test_tasks_survive_a_restart_with_ffmpeg_tasks_database(
    service_env: Path,
    clean_env: MutableMapping[str, str],
    tmp_path: Path,
    media_dir: Path,
    http_server: HttpServer,
) -> None:
    clean_env["FFMPEG_TASKS_DATABASE"] = str(tmp_path / "tasks.db")
    clean_env["FFMPEG_TASKS_ALLOW_PRIVATE_NETWORKS"] = "1"
    body = {
        "command": "-i clip2.mp4 -vn -c:a aac audio.m4a",
        "input_files": {"clip2.mp4": http_server.add_file("/clip2.mp4", media_dir / "clip2.mp4")},
        "output_filename": "audio.m4a",
    }
    first = create_app()
    async with running_lifespan(first), asgi_client(first, headers={"X-API-Key": KEY}) as client:
        registered = await client.post("/ffmpeg/register", json=body)
        assert registered.status_code == 200, registered.text
        task_id = registered.json()["task_id"]
    second = create_app()
    async with running_lifespan(second), asgi_client(second, headers={"X-API-Key": KEY}) as client:
        status = await client.get(f"/ffmpeg/status/{task_id}")
    assert status.status_code == 200
    assert status.json()["status"] == "pending"
