"""Webhooks through the HTTP API: ``webhook_url`` in the register body, the deliveries on the
task's JSON, the body of a webhook being that JSON, and the redeliver endpoint."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from ffmpeg_tasks import TaskManager, WebhookSettings
from ffmpeg_tasks.integrations.fastapi import create_app
from ffmpeg_tasks.testing import FakeFetcher, FakeRunner, FakeUploader, MemoryStore

from ..fixtures.webhook_receiver import WebhookReceiver
from ._support import INPUT_URL, TASK_BODY, asgi_client, running_lifespan, wait_for_status

pytestmark = pytest.mark.anyio

KEY = "webhooks-api-key-7c1d"
AUTH = {"X-API-Key": KEY}


def manager_for(receiver: WebhookReceiver, *endpoints: str) -> TaskManager:
    return TaskManager(
        MemoryStore(),
        FakeFetcher({INPUT_URL: b"video bytes"}),
        FakeRunner(),
        FakeUploader(),
        webhooks=WebhookSettings(
            secret=receiver.secret,
            endpoints=endpoints,
            allow_private_networks=True,
            poll_interval=0.05,
        ),
    )


def all_delivered(count: int) -> Any:
    def done(state: dict[str, Any]) -> bool:
        hooks = state["webhooks"]
        return len(hooks) == count and all(h["state"] == "delivered" for h in hooks)

    return done


async def test_a_webhook_carries_the_json_the_api_answers(
    webhook_receiver: WebhookReceiver,
) -> None:
    hook = webhook_receiver.add("/mine")
    service = webhook_receiver.add("/service")
    app = create_app(manager_for(webhook_receiver, service), api_keys=[KEY])
    async with running_lifespan(app), asgi_client(app, headers=AUTH) as client:
        registered = await client.post("/ffmpeg/register", json={**TASK_BODY, "webhook_url": hook})
        assert registered.status_code == 200, registered.text
        task = registered.json()
        assert (task["webhook_url"], task["webhooks"]) == (hook, [])
        await client.post(f"/ffmpeg/execute/{task['task_id']}")
        state = (await wait_for_status(client, task["task_id"], all_delivered(2)))[-1]
    # the service's own endpoint got the events too, but callers never see it
    assert len(webhook_receiver.successes("/service")) == 2
    assert [h["event_type"] for h in state["webhooks"]] == ["task.started", "task.completed"]
    first = state["webhooks"][0]
    assert set(first) == {
        "event_id",
        "event_type",
        "state",
        "attempts",
        "last_status",
        "last_error",
        "last_attempt_at",
        "next_attempt_at",
        "delivered_at",
    }
    assert (first["attempts"], first["last_status"], first["last_error"]) == (1, 204, None)
    completed = next(r for r in webhook_receiver.at("/mine") if r.json["type"] == "task.completed")
    assert completed.event_id == state["webhooks"][1]["event_id"]
    assert completed.json["data"] == {**state, "webhooks": None}


async def test_redeliver_queues_every_event_again(webhook_receiver: WebhookReceiver) -> None:
    hook = webhook_receiver.add("/mine")
    app = create_app(manager_for(webhook_receiver), api_keys=[KEY])
    async with running_lifespan(app), asgi_client(app, headers=AUTH) as client:
        task = await client.post("/ffmpeg/register", json={**TASK_BODY, "webhook_url": hook})
        task_id = task.json()["task_id"]
        await client.post(f"/ffmpeg/execute/{task_id}")
        before = (await wait_for_status(client, task_id, all_delivered(2)))[-1]["webhooks"]
        again = await client.post(f"/ffmpeg/tasks/{task_id}/webhooks/redeliver")
        assert again.status_code == 200, again.text
        assert {h["event_id"] for h in again.json()["webhooks"]} == {h["event_id"] for h in before}
        with anyio.fail_after(10):
            while len(webhook_receiver.at("/mine")) < 4:
                await anyio.sleep(0.02)
        after = (await wait_for_status(client, task_id, all_delivered(2)))[-1]["webhooks"]
        assert [h["attempts"] for h in after] == [2, 2]
        missing = await client.post("/ffmpeg/tasks/nope/webhooks/redeliver")
        assert missing.status_code == 404
        other = await client.post(
            f"/ffmpeg/tasks/{task_id}/webhooks/redeliver", headers={"X-API-Key": "wrong"}
        )
        assert other.status_code == 401


async def test_a_webhook_url_the_rules_refuse_is_a_422(webhook_receiver: WebhookReceiver) -> None:
    strict = TaskManager(
        MemoryStore(),
        FakeFetcher({INPUT_URL: b"v"}),
        FakeRunner(),
        FakeUploader(),
        webhooks=WebhookSettings(secret=webhook_receiver.secret),
    )
    plain = TaskManager(MemoryStore(), FakeFetcher({INPUT_URL: b"v"}), FakeRunner(), FakeUploader())
    for manager, url, said in [
        (strict, "http://127.0.0.1:9/x", "loopback"),
        (strict, "http://169.254.169.254/x", "link-local"),
        (plain, "https://hooks.example/x", "sends no webhooks"),
    ]:
        app = create_app(manager, api_keys=[])
        async with asgi_client(app) as client:
            answer = await client.post("/ffmpeg/register", json={**TASK_BODY, "webhook_url": url})
        assert answer.status_code == 422, answer.text
        assert said in answer.json()["detail"]
