"""Checks of settings shared by the manager, the stores and the adapters, so each rule and its
message is written once."""

from __future__ import annotations

import math
import re
from typing import TypeGuard

from ._defaults import MAX_PAGE_SIZE
from ._errors import ConfigurationError, FfmpegTasksError, InvalidTaskError
from ._models import TaskStatus

__all__ = [
    "CONTROL_CHARACTERS",
    "check_count",
    "check_int_or_none",
    "check_lease",
    "check_optional_seconds",
    "check_owner",
    "check_page",
    "check_positive_int",
    "check_priority",
    "check_queue",
    "check_seconds",
    "check_status",
    "check_task_id",
    "is_seconds",
]

#: A queue's name: it becomes part of a PostgreSQL notification channel (63 bytes at most).
QUEUE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")
#: The priorities a task may have (higher runs first).
MAX_PRIORITY = 1000

#: ASCII control characters and DEL: no file name, S3 key or prefix we accept holds one.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def check_positive_int(value: object, name: str, *, minimum: int = 1) -> int:
    """``value`` if it is an integer of at least ``minimum`` (``True`` is not one).

    Raises:
        ConfigurationError: naming ``name``.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigurationError(f"{name} must be an integer of at least {minimum}, got {value!r}")
    return value


def is_seconds(value: object, *, zero_ok: bool) -> TypeGuard[int | float]:
    """A finite, positive (or, with ``zero_ok``, zero) int or float, and not a bool."""
    return (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and (value > 0 or (zero_ok and value == 0))
    )


def check_int_or_none(value: object, name: str, *, minimum: int = 1) -> int | None:
    """``value`` if it is None or an integer of at least ``minimum`` (``True`` is not one).

    Raises:
        ConfigurationError: naming ``name``.
    """
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int) or value < minimum
    ):
        raise ConfigurationError(
            f"{name} must be an integer of at least {minimum} or None, got {value!r}"
        )
    return value


def check_count(value: object, name: str) -> int:
    """``value`` if it is a whole number of 0 or more (``True`` is not one): retries, redirects.

    Raises:
        ConfigurationError: naming ``name``.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(
            f"{name} must be a whole number and must not be negative, got {value!r}"
        )
    return value


def check_seconds(value: object, name: str, *, zero_ok: bool = False) -> float:
    """``value`` as a float if it is a finite number of seconds (see :func:`is_seconds`).

    Raises:
        ConfigurationError: naming ``name``.
    """
    if not is_seconds(value, zero_ok=zero_ok):
        raise ConfigurationError(f"{name} must be {_kind(zero_ok)} seconds, got {value!r}")
    return float(value)


def check_lease(lease: object, heartbeat: object) -> tuple[float, float]:
    """A run's ``lease`` and ``heartbeat`` in seconds, the heartbeat at most half the lease, so
    that one slow renewal never loses a live run its claim.

    Raises:
        ConfigurationError: naming the setting to change.
    """
    lease_seconds = check_seconds(lease, "lease")
    heartbeat_seconds = check_seconds(heartbeat, "heartbeat")
    if heartbeat_seconds > lease_seconds / 2:
        raise ConfigurationError(
            f"heartbeat must be at most half the lease, got heartbeat={heartbeat_seconds:g} s "
            f"and lease={lease_seconds:g} s; a third (heartbeat=10, lease=30) is a good choice"
        )
    return lease_seconds, heartbeat_seconds


def check_optional_seconds(
    value: object,
    name: str,
    *,
    zero_ok: bool = False,
    error: type[FfmpegTasksError] = InvalidTaskError,
) -> float | None:
    """None, or ``value`` as a float if it is a finite number of seconds.

    Raises:
        InvalidTaskError: (or ``error``) naming ``name``.
    """
    if value is None:
        return None
    if not is_seconds(value, zero_ok=zero_ok):
        raise error(f"{name} must be {_kind(zero_ok)} seconds or None, got {value!r}")
    return float(value)


def check_task_id(task_id: object) -> str:
    """A task id as callers send it: a non-empty string.

    Raises:
        InvalidTaskError: anything else.
    """
    if not isinstance(task_id, str) or not task_id:
        raise InvalidTaskError(f"task id must be a non-empty string, got {task_id!r}")
    return task_id


def check_page(limit: object, offset: object) -> None:
    """One page of a listing: ``limit`` from 1 to :data:`MAX_PAGE_SIZE`, ``offset`` from 0.

    Raises:
        InvalidTaskError: naming the argument.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidTaskError(f"limit must be an integer from 1 to {MAX_PAGE_SIZE}, got {limit!r}")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidTaskError(f"offset must be a non-negative integer, got {offset!r}")


def check_status(status: object) -> TaskStatus | None:
    """None, or a status given as a ``TaskStatus`` or its value (``"running"``).

    Raises:
        InvalidTaskError: naming the statuses there are.
    """
    if status is None or isinstance(status, TaskStatus):
        return status
    if isinstance(status, str) and status in TaskStatus.__members__.values():
        return TaskStatus(status)
    allowed = ", ".join(s.value for s in TaskStatus)
    raise InvalidTaskError(f"unknown status {status!r}; use one of {allowed}")


def check_owner(owner: object) -> str | None:
    """None, or an owner's name.

    Raises:
        InvalidTaskError: not a string.
    """
    if owner is not None and not isinstance(owner, str):
        raise InvalidTaskError(f"owner must be a string or None, got {type(owner).__name__}")
    return owner


def check_queue(queue: object) -> str | None:
    """None (the default queue), or a queue's name: letters, digits, ``_.-``, at most 40.

    Raises:
        InvalidTaskError: anything else.
    """
    if queue is None:
        return None
    if not isinstance(queue, str) or not QUEUE_NAME.fullmatch(queue):
        raise InvalidTaskError(
            f"queue must be a name of 1 to 40 letters, digits, '_', '.' or '-' starting with a "
            f"letter or digit (such as 'gpu' or 'batch.low'), or None for the default, "
            f"got {queue!r}"
        )
    return queue


def check_priority(priority: object) -> int:
    """A task's priority: a whole number from -1000 to 1000 (higher runs first).

    Raises:
        InvalidTaskError: anything else.
    """
    if (
        isinstance(priority, bool)
        or not isinstance(priority, int)
        or not -MAX_PRIORITY <= priority <= MAX_PRIORITY
    ):
        raise InvalidTaskError(
            f"priority must be a whole number from {-MAX_PRIORITY} to {MAX_PRIORITY} "
            f"(higher runs first), got {priority!r}"
        )
    return priority


def _kind(zero_ok: bool) -> str:
    return "zero or more" if zero_ok else "a positive number of"
