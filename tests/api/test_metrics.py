"""``GET /metrics`` of ``ffmpeg-tasks serve`` over TCP, a real ffmpeg run behind it, parsed
with prometheus_client's own parser; and ``metrics_app`` mounted in any ASGI app."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.routing import Mount

from ffmpeg_tasks import ConfigurationError, TaskManager
from ffmpeg_tasks.integrations.prometheus import PrometheusMetrics, metrics_app
from ffmpeg_tasks.testing import FakeFetcher, FakeRunner, FakeUploader, MemoryStore
from tests.fixtures.http_server import HttpServer

from ..fixtures.webhook_receiver import WebhookReceiver
from ._support import INPUT_URL, TASK_BODY, Server, asgi_client, server_env

KEY = "metrics-test-key-0a9e"
AUTH = {"X-API-Key": KEY}

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    """Sample name and labels -> value, from the exposition format."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_of_a_served_run(
    tmp_path: Path, media_dir: Path, http_server: HttpServer, webhook_receiver: WebhookReceiver
) -> None:
    hook = webhook_receiver.add("/hooks")
    env = server_env(
        FFMPEG_TASKS_API_KEYS=KEY,
        FFMPEG_TASKS_OUTPUT_DIR=str(tmp_path / "out"),
        FFMPEG_TASKS_ALLOW_PRIVATE_NETWORKS="1",
        FFMPEG_TASKS_METRICS="1",
        FFMPEG_TASKS_WEBHOOK_SECRET=webhook_receiver.secret,
    )
    command = [str(Path(sys.executable).with_name("ffmpeg-tasks")), "serve", "--port", "0"]
    server = Server(command, env=env, log=tmp_path / "serve.log")
    clip = media_dir / "clip2.mp4"
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            assert client.get("/metrics").status_code == 401
            body = {
                "command": "-i clip2.mp4 -vn -c:a aac audio.m4a",
                "input_files": {"clip2.mp4": http_server.add_file("/clip2.mp4", clip)},
                "output_filename": "audio.m4a",
                "webhook_url": hook,
            }
            task = client.post("/ffmpeg/register", json=body, headers=AUTH).json()
            done = client.post(f"/ffmpeg/execute/{task['task_id']}", headers=AUTH).json()
            assert done["status"] == "completed", done["error"]
            webhook_receiver.wait_for(lambda got: len(got) == 2)
            deadline = time.monotonic() + 10
            while True:
                scraped = client.get("/metrics", headers=AUTH)
                assert scraped.status_code == 200
                assert scraped.headers["content-type"].startswith("text/plain")
                samples = parse(scraped.text)
                delivered = (("outcome", "delivered"),)
                if samples.get(("ffmpeg_tasks_webhook_deliveries_total", delivered)) == 2:
                    break
                assert time.monotonic() < deadline, samples
                time.sleep(0.05)
    finally:
        server.stop()

    def value(name: str, **labels: str) -> float:
        return samples[name, tuple(sorted(labels.items()))]

    for status in ("pending", "running", "failed", "cancelled"):
        assert value("ffmpeg_tasks_tasks", status=status) == 0
    assert value("ffmpeg_tasks_tasks", status="completed") == 1
    assert value("ffmpeg_tasks_runs_total", status="completed") == 1
    assert value("ffmpeg_tasks_runs_in_progress") == 0
    assert value("ffmpeg_tasks_queue_wait_seconds_count") == 1
    assert value("ffmpeg_tasks_run_duration_seconds_count", status="completed") == 1
    for step in ("fetch", "encode", "check", "upload"):
        assert value("ffmpeg_tasks_step_duration_seconds_count", step=step) == 1
    assert value("ffmpeg_tasks_fetched_bytes_total") == clip.stat().st_size
    assert value("ffmpeg_tasks_uploaded_bytes_total") == done["outputs"][0]["size"] > 0
    assert 0 < value("ffmpeg_tasks_ffmpeg_cpu_seconds_total") < 60
    assert value("ffmpeg_tasks_webhook_delivery_seconds_count") == 2


@pytest.mark.anyio
async def test_metrics_app_in_any_asgi_app_counts_failures_by_step() -> None:
    metrics = PrometheusMetrics(CollectorRegistry())
    manager = TaskManager(
        MemoryStore(),
        FakeFetcher({INPUT_URL: b"video"}),
        FakeRunner(fail_with=1),
        FakeUploader(),
        metrics=metrics,
    )
    app = Starlette(routes=[Mount("/metrics", metrics_app(manager))])
    task = await manager.register(**TASK_BODY)
    assert (await manager.execute(task.id)).status.value == "failed"
    missing = await manager.register(
        TASK_BODY["command"], {"in.mp4": "https://media.example.com/404.mp4"}, "out.mp4"
    )
    await manager.execute(missing.id)
    async with asgi_client(app) as client:
        scraped = await client.get("/metrics/")
        posted = await client.post("/metrics/")
    assert posted.status_code == 405
    samples = parse(scraped.text)
    assert samples["ffmpeg_tasks_failures_total", (("step", "encode"),)] == 1
    assert samples["ffmpeg_tasks_failures_total", (("step", "fetch"),)] == 1
    assert samples["ffmpeg_tasks_runs_total", (("status", "failed"),)] == 2
    assert samples["ffmpeg_tasks_tasks", (("status", "failed"),)] == 2
    await manager.aclose()
    with pytest.raises(ConfigurationError, match="no Prometheus metrics"):
        metrics_app(TaskManager(MemoryStore(), FakeFetcher(), FakeRunner(), FakeUploader()))
