"""Checks of settings shared by the manager, the stores and the adapters, so each rule and its
message is written once."""

from __future__ import annotations

import math
from typing import TypeGuard

from ._errors import ConfigurationError

__all__ = [
    "check_count",
    "check_int_or_none",
    "check_positive_int",
    "check_seconds",
    "check_seconds_or_none",
    "is_seconds",
]


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
    """``value`` if it is a finite number of seconds above zero (or zero, with ``zero_ok``).

    Raises:
        ConfigurationError: naming ``name``.
    """
    if not is_seconds(value, zero_ok=zero_ok):
        kind = "zero or more" if zero_ok else "a positive number of"
        raise ConfigurationError(f"{name} must be {kind} seconds, got {value!r}")
    return value


def check_seconds_or_none(value: object, name: str, *, zero_ok: bool = False) -> float | None:
    """``value`` if it is None or passes :func:`check_seconds`.

    Raises:
        ConfigurationError: naming ``name``.
    """
    if value is not None and not is_seconds(value, zero_ok=zero_ok):
        kind = "zero or more" if zero_ok else "a positive number of"
        raise ConfigurationError(f"{name} must be {kind} seconds or None, got {value!r}")
    return value
