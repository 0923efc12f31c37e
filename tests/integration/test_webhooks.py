"""Webhooks against a real receiver on loopback: signatures checked with ``standardwebhooks``,
retries from the store's outbox across a restart of the manager, hostile receivers."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest

from ffmpeg_tasks import (
    Delivery,
    DeliveryState,
    InvalidTaskError,
    TaskManager,
    TaskStatus,
    TaskStore,
    WebhookSettings,
)
from ffmpeg_tasks.storage import MemoryStore, PostgresStore, SqliteStore
from ffmpeg_tasks.testing import FakeFetcher, FakeRunner, FakeUploader

from ..fixtures.postgres import PostgresServer
from ..fixtures.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.anyio

URL = "https://media.example/a.mp4"
COMMAND = "-i a.mp4 -c copy out.mp4"


def settings(receiver: WebhookReceiver, **changes: Any) -> WebhookSettings:
    """Loopback receivers need the same opt-in as loopback inputs."""
    values: dict[str, Any] = {
        "secret": receiver.secret,
        "allow_private_networks": True,
        "poll_interval": 0.05,
        "retry_schedule": (0.05, 0.05, 0.05),
        "jitter": 0.0,
    }
    return WebhookSettings(**{**values, **changes})


def manager_on(store: TaskStore, webhooks: WebhookSettings, **kwargs: Any) -> TaskManager:
    return TaskManager(
        store,
        FakeFetcher({URL: b"AAAA"}),
        FakeRunner(duration=kwargs.pop("duration", 0.0)),
        FakeUploader(),
        webhooks=webhooks,
        progress_interval=0.0,
        poll_interval=0.05,
        **kwargs,
    )


async def until(check: Callable[[], Any], *, timeout: float = 10.0) -> Any:
    """Poll ``check`` (sync or async) until it returns something true; return that."""
    with anyio.fail_after(timeout):
        while True:
            found = check()
            if hasattr(found, "__await__"):
                found = await found
            if found:
                return found
            await anyio.sleep(0.02)


async def delivered(manager: TaskManager, task_id: str, count: int) -> list[Delivery]:
    async def check() -> list[Delivery] | None:
        found = list(await manager.deliveries(task_id))
        done = [d for d in found if d.state is not DeliveryState.PENDING]
        return found if len(found) == count and len(done) == count else None

    result: list[Delivery] = await until(check)
    return result


async def test_events_arrive_signed_with_the_task_json(webhook_receiver: WebhookReceiver) -> None:
    hook = webhook_receiver.add("/hooks")
    async with manager_on(MemoryStore(), settings(webhook_receiver)) as manager:
        task = await manager.register(COMMAND, {"a.mp4": URL}, "out.mp4", webhook_url=hook)
        done = await manager.execute(task.id)
        deliveries = await delivered(manager, task.id, 2)
    received = webhook_receiver.at("/hooks")
    assert [r.json["type"] for r in received] == ["task.started", "task.completed"]
    assert all(r.verified for r in received)
    assert [r.event_id for r in received] == [d.event_id for d in deliveries]
    assert len({r.event_id for r in received}) == 2
    completed = received[1].json
    assert completed["data"]["task_id"] == task.id
    assert completed["data"]["status"] == "completed"
    assert completed["data"]["output_url"] == done.output_url
    assert "log" not in completed["data"]
    assert "owner" not in completed["data"]
    assert received[0].json["data"]["status"] == "running"
    for delivery in deliveries:
        assert (delivery.state, delivery.attempts, delivery.last_status) == (
            DeliveryState.DELIVERED,
            1,
            204,
        )
        assert delivery.url == hook
        assert delivery.last_error is None
    headers = received[0].headers
    assert headers["content-type"] == "application/json"
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    assert headers["webhook-signature"].startswith("v1,")


async def test_manager_endpoints_get_every_task_and_a_wrong_secret_fails(
    webhook_receiver: WebhookReceiver,
) -> None:
    """A receiver with another secret refuses (401 here): the signature is what it checks."""
    everything = webhook_receiver.add("/all")
    webhooks = settings(webhook_receiver, endpoints=[everything])
    async with manager_on(MemoryStore(), webhooks) as manager:
        tasks = [await manager.register(COMMAND, {"a.mp4": URL}, "out.mp4") for _ in range(2)]
        for task in tasks:
            await manager.execute(task.id)
        for task in tasks:
            await delivered(manager, task.id, 2)
    assert len(webhook_receiver.successes("/all")) == 4
    other = WebhookReceiver().start()
    try:
        url = other.add("/strict")
        wrong = settings(webhook_receiver, endpoints=[url], retry_schedule=())
        async with manager_on(MemoryStore(), wrong) as manager:
            task = await manager.register(COMMAND, {"a.mp4": URL}, "out.mp4")
            await manager.execute(task.id)
            deliveries = await delivered(manager, task.id, 2)
        assert {(d.state, d.last_status) for d in deliveries} == {(DeliveryState.FAILED, 401)}
        assert not any(r.verified for r in other.received)
    finally:
        other.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], TaskStore]:
    """Makes stores on one database: each stands for a manager's process."""
    if request.param == "sqlite":
        return lambda: SqliteStore(tmp_path / "tasks.db")
    postgres: PostgresServer = request.getfixturevalue("postgres")
    return lambda: PostgresStore(postgres.dsn)


async def test_each_event_is_delivered_once_across_a_restart(
    webhook_receiver: WebhookReceiver, shared_store: Callable[[], TaskStore]
) -> None:
    """The receiver fails the first three attempts of each event; the manager that made
    them stops after the first, and the next one, on the same database, delivers the rest
    from the outbox: one success per event id."""
    hook = webhook_receiver.add("/flaky", fail_first=3)
    webhooks = settings(webhook_receiver, retry_schedule=(0.5, 0.2, 0.2, 0.2))
    async with manager_on(shared_store(), webhooks) as first:
        task = await first.register(COMMAND, {"a.mp4": URL}, "out.mp4", webhook_url=hook)
        await first.execute(task.id)
        await until(lambda: len(webhook_receiver.at("/flaky")) >= 2)
    seen_by_first = len(webhook_receiver.at("/flaky"))
    assert seen_by_first == 2, "the first manager made one attempt per event, no retry"
    assert webhook_receiver.successes("/flaky") == {}
    async with manager_on(shared_store(), webhooks) as second:
        deliveries = await delivered(second, task.id, 2)
    received = webhook_receiver.at("/flaky")
    assert all(r.verified for r in received)
    assert webhook_receiver.successes("/flaky") == {d.event_id: 1 for d in deliveries}
    for delivery in deliveries:
        attempts = [r for r in received if r.event_id == delivery.event_id]
        assert [r.status for r in attempts] == [503, 503, 503, 204]
        assert {r.body for r in attempts} == {delivery.payload.encode()}
        assert (delivery.state, delivery.attempts, delivery.last_status) == (
            DeliveryState.DELIVERED,
            4,
            204,
        )


async def test_gone_stops_and_the_schedule_ends_in_failed(
    webhook_receiver: WebhookReceiver,
) -> None:
    gone = webhook_receiver.add("/gone", status=410)
    broken = webhook_receiver.add("/broken", status=500, body_size=10, headers={"X": "y"})
    webhooks = settings(webhook_receiver, endpoints=[gone, broken])
    async with manager_on(MemoryStore(), webhooks) as manager:
        task = await manager.register(COMMAND, {"a.mp4": URL}, "out.mp4")
        await manager.execute(task.id)
        deliveries = await delivered(manager, task.id, 4)
    by_url = {(d.url, d.event_type): d for d in deliveries}
    assert by_url[gone, "task.completed"].state is DeliveryState.GONE
    assert by_url[gone, "task.completed"].attempts == 1
    failed = by_url[broken, "task.completed"]
    assert (failed.state, failed.attempts, failed.last_status) == (DeliveryState.FAILED, 4, 500)
    assert failed.last_error is not None
    assert "answered HTTP 500: xxxxxxxxxx" in failed.last_error


async def test_redeliver_sends_every_event_again_with_its_id(
    webhook_receiver: WebhookReceiver,
) -> None:
    hook = webhook_receiver.add("/hooks")
    async with manager_on(MemoryStore(), settings(webhook_receiver)) as manager:
        task = await manager.register(COMMAND, {"a.mp4": URL}, "out.mp4", webhook_url=hook)
        await manager.execute(task.id)
        first = await delivered(manager, task.id, 2)
        again = await manager.redeliver(task.id)
        assert {d.state for d in again} == {DeliveryState.PENDING}
        await until(lambda: len(webhook_receiver.at("/hooks")) == 4)
        second = await delivered(manager, task.id, 2)
    assert [d.event_id for d in second] == [d.event_id for d in first]
    assert [d.attempts for d in second] == [2, 2]
    assert webhook_receiver.successes("/hooks") == {d.event_id: 2 for d in first}


async def test_a_hostile_receiver_holds_up_no_run(webhook_receiver: WebhookReceiver) -> None:
    """Slow, huge and redirecting receivers: the runs end while the slow receiver still holds
    its first attempts, each attempt ends at the timeout, a huge answer is cut after a few
    KiB, redirects are not followed."""
    slow = webhook_receiver.add("/slow", delay=20)
    huge = webhook_receiver.add("/huge", status=200, body_size=256 * 1024**2)
    target = webhook_receiver.add("/target")
    redirect = webhook_receiver.add("/redirect", status=307, headers={"Location": target})
    webhooks = settings(
        webhook_receiver,
        endpoints=[slow, huge, redirect],
        timeout=3.0,
        retry_schedule=(),
        max_concurrency=4,
    )
    async with manager_on(MemoryStore(), webhooks, max_concurrency=2) as manager:
        tasks = [await manager.register(COMMAND, {"a.mp4": URL}, "out.mp4") for _ in range(2)]
        async with anyio.create_task_group() as group:
            for task in tasks:
                group.start_soon(manager.execute, task.id)
        for task in tasks:
            assert (await manager.get(task.id)).status is TaskStatus.COMPLETED
            held = [d for d in await manager.deliveries(task.id) if d.url == slow]
            assert [d.attempts for d in held] == [0, 0], "a run waited for a webhook"
        results = [await delivered(manager, task.id, 6) for task in tasks]
    for delivery in [d for found in results for d in found]:
        if delivery.url == slow:
            assert delivery.state is DeliveryState.FAILED
            assert delivery.last_status is None
            assert "did not answer within 3 s" in (delivery.last_error or "")
        elif delivery.url == huge:
            assert (delivery.state, delivery.last_status) == (DeliveryState.DELIVERED, 200)
        else:
            assert (delivery.state, delivery.last_status) == (DeliveryState.FAILED, 307)
            assert "redirects are not followed" in (delivery.last_error or "")
    assert webhook_receiver.at("/target") == []
    # 4 answers of 256 MiB were started: none got further than the sockets' buffers
    assert webhook_receiver.sent("/huge") < 4 * 8 * 1024**2


async def test_webhook_urls_follow_the_address_rules_of_inputs() -> None:
    webhooks = WebhookSettings(secret=WebhookSettings.new_secret())
    manager = manager_on(MemoryStore(), webhooks)
    for url, message in [
        ("http://127.0.0.1:9/hooks", "which is a loopback address.*allow_private_networks"),
        ("http://169.254.169.254/latest", "link-local"),
        ("http://[::1]/x", "loopback"),
        ("ftp://hooks.example/x", "must use http or https"),
        ("http://user:pw@hooks.example/x", "must not hold a user name"),
        ("http://0x7f.1/x", "unusual spelling"),
    ]:
        with pytest.raises(InvalidTaskError, match=message):
            await manager.register(COMMAND, {"a.mp4": URL}, "out.mp4", webhook_url=url)
    private = manager_on(MemoryStore(), attrs.evolve(webhooks, allow_private_networks=True))
    with pytest.raises(InvalidTaskError, match="link-local"):
        await private.register(
            COMMAND, {"a.mp4": URL}, "out.mp4", webhook_url="http://169.254.169.254/x"
        )
    await private.register(COMMAND, {"a.mp4": URL}, "out.mp4", webhook_url="http://127.0.0.1/x")
    plain = TaskManager(MemoryStore(), FakeFetcher(), FakeRunner(), FakeUploader())
    with pytest.raises(InvalidTaskError, match="sends no webhooks"):
        await plain.register(COMMAND, {"a.mp4": URL}, "out.mp4", webhook_url="https://a.b/")
    for manager_ in (manager, private, plain):
        await manager_.aclose()


async def test_a_manager_without_webhooks_still_queues_a_tasks_deliveries(
    webhook_receiver: WebhookReceiver,
) -> None:
    """Every process sharing a store writes the deliveries of the changes it makes; the
    ones with webhook settings send them."""
    hook = webhook_receiver.add("/hooks")
    store = MemoryStore()
    sender = manager_on(store, settings(webhook_receiver))
    task = await sender.register(COMMAND, {"a.mp4": URL}, "out.mp4", webhook_url=hook)
    async with TaskManager(store, FakeFetcher({URL: b"A"}), FakeRunner(), FakeUploader()) as quiet:
        done = await quiet.execute(task.id)
        assert done.status is TaskStatus.COMPLETED
        assert {d.state for d in await quiet.deliveries(task.id)} == {DeliveryState.PENDING}
    async with sender:
        await delivered(sender, task.id, 2)
    assert len(webhook_receiver.successes("/hooks")) == 2
