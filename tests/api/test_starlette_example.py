"""``examples/starlette_app.py`` works: real ffmpeg, inputs from a real loopback HTTP server."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit
from urllib.request import url2pathname

import pytest

from ffmpeg_tasks import TaskManager
from tests.fixtures.http_server import HttpServer
from tests.fixtures.media import DecodedDuration

from ._support import ROOT, asgi_client, running_lifespan

pytestmark = pytest.mark.anyio


def load_example() -> ModuleType:
    path = ROOT / "examples" / "starlette_app.py"
    spec = importlib.util.spec_from_file_location("starlette_app_example", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_the_starlette_example_makes_a_preview(
    real_manager: TaskManager,
    media_dir: Path,
    http_server: HttpServer,
    decoded_duration: DecodedDuration,
) -> None:
    app = load_example().create_app(real_manager)
    url = http_server.add_file("/talk.mp4", media_dir / "clip.mp4")
    async with running_lifespan(app), asgi_client(app) as client:
        created = await client.post("/previews", json={"video_url": url, "height": 90})
        assert created.status_code == 202, created.text
        task_id = created.json()["task_id"]
        assert created.headers["location"] == f"http://testserver/previews/{task_id}"
        done = await real_manager.wait(task_id, timeout=30)
        state = (await client.get(f"/previews/{task_id}")).json()

        too_small = await client.post("/previews", json={"video_url": url, "height": 5})
        assert too_small.status_code == 422
        refused = await client.post("/previews", json={"video_url": "ftp://example.com/a.mp4"})
        assert refused.status_code == 422
        assert "ftp" in refused.json()["detail"]
        assert (await client.post("/previews", content=b"{")).status_code == 422
        for height in ("1e400", "360.5", '"360"', "true", "null"):
            body = f'{{"video_url": "{url}", "height": {height}}}'.encode()
            bad = await client.post("/previews", content=body)
            assert bad.status_code == 422, (height, bad.text)
        not_a_url = await client.post("/previews", json={"video_url": 5})
        assert not_a_url.status_code == 422
        assert (await client.get("/previews/nope")).status_code == 404

    assert done.status.value == "completed", done.error
    assert state == {"status": "completed", "progress": 1.0, "url": done.output_url, "error": None}
    output = Path(url2pathname(urlsplit(state["url"]).path))
    assert decoded_duration(output) == pytest.approx(2.0, abs=0.1)
