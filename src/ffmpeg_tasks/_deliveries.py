"""Webhook deliveries: one event of one task for one endpoint, kept in the task store's outbox.

A delivery is written in the same atomic step as the state change it tells about, so a change
that happened is always told and a refused one never is, whichever process made it. Whoever
delivers it leases it first (two processes never send the same attempt at once) and records
each attempt's outcome.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

import attrs

__all__ = ["Delivery", "DeliveryState"]


class DeliveryState(enum.StrEnum):
    """Where a delivery is."""

    #: Waiting for its next attempt (``next_attempt_at``), or being attempted (leased).
    PENDING = "pending"
    #: The endpoint answered 2xx.
    DELIVERED = "delivered"
    #: Every attempt of the retry schedule failed; ``redeliver`` tries again.
    FAILED = "failed"
    #: The endpoint answered 410 Gone: it wants no more; ``redeliver`` tries again.
    GONE = "gone"


def _optional_datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _datetime(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _frozen_mapping(value: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(value))


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@attrs.frozen(kw_only=True)
class Delivery:
    """One event of a task, sent to one endpoint, and how its attempts went."""

    #: The event's id, sent as the ``webhook-id`` header: the same on every attempt and for
    #: every endpoint, so receivers can drop what they have seen.
    event_id: str
    #: Where it is sent.
    url: str
    #: The task the event is about.
    task_id: str
    #: ``task.started``, ``task.progress``, ``task.completed``, ``task.failed`` or
    #: ``task.cancelled``.
    event_type: str
    #: The request body, exactly as signed and sent on every attempt.
    payload: str = attrs.field(repr=False)
    #: When the event happened.
    created_at: datetime = attrs.field(converter=_datetime)
    state: DeliveryState = attrs.field(default=DeliveryState.PENDING, converter=DeliveryState)
    #: When the next attempt is due; None once it is delivered, failed or gone.
    next_attempt_at: datetime | None = attrs.field(default=None, converter=_optional_datetime)
    #: Attempts made, replays included.
    attempts: int = 0
    #: Attempts since it was queued or re-queued: where it is in the retry schedule.
    tries: int = 0
    last_attempt_at: datetime | None = attrs.field(default=None, converter=_optional_datetime)
    #: The HTTP status of the last attempt; None when it got no answer.
    last_status: int | None = None
    #: Why the last attempt failed; None after a success.
    last_error: str | None = None
    delivered_at: datetime | None = attrs.field(default=None, converter=_optional_datetime)
    #: The process attempting it now (its lease), and until when the lease holds.
    worker: str | None = None
    lease_expires_at: datetime | None = attrs.field(default=None, converter=_optional_datetime)
    #: W3C trace context of the span that made the event: the parent of the delivery's spans.
    trace_context: Mapping[str, str] = attrs.field(
        factory=dict, converter=_frozen_mapping, hash=False
    )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``Delivery.from_dict`` reads it back."""
        return {
            "event_id": self.event_id,
            "url": self.url,
            "task_id": self.task_id,
            "event_type": self.event_type,
            "payload": self.payload,
            "created_at": _iso(self.created_at),
            "state": self.state.value,
            "next_attempt_at": _iso(self.next_attempt_at),
            "attempts": self.attempts,
            "tries": self.tries,
            "last_attempt_at": _iso(self.last_attempt_at),
            "last_status": self.last_status,
            "last_error": self.last_error,
            "delivered_at": _iso(self.delivered_at),
            "worker": self.worker,
            "lease_expires_at": _iso(self.lease_expires_at),
            "trace_context": dict(self.trace_context),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Delivery:
        return cls(
            event_id=data["event_id"],
            url=data["url"],
            task_id=data["task_id"],
            event_type=data["event_type"],
            payload=data["payload"],
            created_at=data["created_at"],
            state=data.get("state", DeliveryState.PENDING),
            next_attempt_at=data.get("next_attempt_at"),
            attempts=int(data.get("attempts", 0)),
            tries=int(data.get("tries", 0)),
            last_attempt_at=data.get("last_attempt_at"),
            last_status=data.get("last_status"),
            last_error=data.get("last_error"),
            delivered_at=data.get("delivered_at"),
            worker=data.get("worker"),
            lease_expires_at=data.get("lease_expires_at"),
            trace_context=data.get("trace_context") or {},
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    def requeued(self, at: datetime) -> Delivery:
        """Pending again from ``at``, its schedule restarted and its lease released."""
        return attrs.evolve(
            self,
            state=DeliveryState.PENDING,
            next_attempt_at=at,
            tries=0,
            worker=None,
            lease_expires_at=None,
        )
