"""The rules of slow event readers, the retry schedule, and webhook settings."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import attrs
import pytest
from standardwebhooks import Webhook

from ffmpeg_tasks import (
    ConfigurationError,
    Delivery,
    DeliveryState,
    EventType,
    Task,
    TaskEvent,
    TaskStatus,
    WebhookSettings,
)
from ffmpeg_tasks._events import TaskEvents, webhook_body
from ffmpeg_tasks._outbox import after_attempt
from ffmpeg_tasks._webhook_sender import Attempt, WebhookSender

TASK = Task(
    command="-i a.mp4 out.mp4", input_files={"a.mp4": "https://x/a"}, output_filename="out.mp4"
)
NOW = datetime(2024, 5, 1, tzinfo=UTC)


def event(kind: EventType, task: Task = TASK, number: int = 0) -> TaskEvent:
    return TaskEvent(id=f"evt_{kind.value}_{task.id}_{number}", type=kind, task=task, at=NOW)


@pytest.mark.anyio
async def test_a_slow_reader_gets_the_newest_progress_and_drops_the_oldest_beyond_its_buffer() -> (
    None
):
    events = TaskEvents()
    stream = events.subscribe(buffer=3)
    other = attrs.evolve(TASK, id="other")
    stream.push(event(EventType.STARTED))
    for number in range(5):
        stream.push(event(EventType.PROGRESS, number=number))
    stream.push(event(EventType.PROGRESS, other))
    stream.push(event(EventType.COMPLETED))
    stream.push(event(EventType.PROGRESS, number=9))  # after the end: never moved ahead of it
    await stream.aclose()  # what is buffered is still read
    assert [e.id async for e in stream] == [
        event(EventType.PROGRESS, other).id,
        event(EventType.COMPLETED).id,
        event(EventType.PROGRESS, number=9).id,
    ]
    assert stream.dropped == 2  # the start and the newest progress before the end
    stream.push(event(EventType.FAILED))
    assert [e async for e in stream] == []


def test_the_schedule_backs_off_with_jitter_and_ends_in_failed() -> None:
    delivery = Delivery(
        event_id="evt_1",
        url="https://hooks.example/",
        task_id="t",
        event_type="task.completed",
        payload="{}",
        created_at=NOW,
        next_attempt_at=NOW,
        worker="s#1",
        lease_expires_at=NOW + timedelta(seconds=40),
    )
    rng = random.Random(7)
    schedule = (5.0, 30.0, 300.0)
    waits = []
    for _ in schedule:
        delivery = after_attempt(
            delivery, Attempt(503, "busy"), at=NOW, schedule=schedule, jitter=0.2, rng=rng
        )
        assert (delivery.state, delivery.worker, delivery.lease_expires_at) == (
            DeliveryState.PENDING,
            None,
            None,
        )
        assert delivery.next_attempt_at is not None
        waits.append((delivery.next_attempt_at - NOW).total_seconds())
    for wait, planned in zip(waits, schedule, strict=True):
        assert planned * 0.8 <= wait <= planned * 1.2
    failed = after_attempt(
        delivery, Attempt(None, "timeout"), at=NOW, schedule=schedule, jitter=0.2, rng=rng
    )
    assert (failed.state, failed.attempts, failed.next_attempt_at) == (
        DeliveryState.FAILED,
        4,
        None,
    )
    gone = after_attempt(delivery, Attempt(410), at=NOW, schedule=schedule, jitter=0, rng=rng)
    assert gone.state is DeliveryState.GONE
    done = after_attempt(delivery, Attempt(202), at=NOW, schedule=schedule, jitter=0, rng=rng)
    assert (done.state, done.delivered_at, done.last_error) == (DeliveryState.DELIVERED, NOW, None)
    again = done.requeued(NOW)
    assert (again.state, again.tries, again.attempts) == (DeliveryState.PENDING, 0, 4)


def test_signatures_verify_with_standardwebhooks() -> None:
    settings = WebhookSettings(secret=WebhookSettings.new_secret())
    sender = WebhookSender(settings)
    body = webhook_body(event(EventType.COMPLETED, attrs.evolve(TASK, status=TaskStatus.COMPLETED)))
    delivery = Delivery(
        event_id="evt_9",
        url="https://hooks.example/",
        task_id=TASK.id,
        event_type="task.completed",
        payload=body,
        created_at=NOW,
    )
    headers = sender.sign(delivery, datetime.now(UTC))
    parsed = Webhook(settings.secret).verify(body.encode(), headers)
    assert parsed["type"] == "task.completed"
    assert parsed["data"]["task_id"] == TASK.id
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(WebhookSettings.new_secret()).verify(body.encode(), headers)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"secret": "not-whsec"}, "whsec_"),
        ({"secret": "whsec_***"}, "not valid base64"),
        ({"secret": "whsec_YWJj"}, "holds 3 bytes"),
        ({"endpoints": "https://one.example/"}, "a list of URLs"),
        ({"endpoints": ["ftp://x/"]}, "must use http or https"),
        ({"retry_schedule": (5, -1)}, "each delay of retry_schedule"),
        ({"jitter": 0.9}, "jitter must be from 0 to 0.5"),
        ({"timeout": 0}, "timeout must be"),
        ({"max_concurrency": 0}, "max_concurrency must be"),
        ({"progress_interval": -1}, "progress_interval must be"),
    ],
)
def test_webhook_settings_are_checked(changes: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        WebhookSettings(**{"secret": WebhookSettings.new_secret(), **changes})  # type: ignore[arg-type]


def test_webhook_settings_from_the_environment() -> None:
    secret = WebhookSettings.new_secret()
    assert WebhookSettings.from_env({}) is None
    found = WebhookSettings.from_env(
        {
            "FFMPEG_TASKS_WEBHOOK_SECRET": secret,
            "FFMPEG_TASKS_WEBHOOK_URLS": "https://a.example/h, https://b.example/h",
            "FFMPEG_TASKS_ALLOW_PRIVATE_NETWORKS": "1",
        }
    )
    assert found is not None
    assert found.endpoints == ("https://a.example/h", "https://b.example/h")
    assert found.allow_private_networks
    assert secret not in repr(found)
    with pytest.raises(ConfigurationError, match="FFMPEG_TASKS_WEBHOOK_SECRET is not"):
        WebhookSettings.from_env({"FFMPEG_TASKS_WEBHOOK_URLS": "https://a.example/"})
