"""Checks of settings shared by the manager, the stores and the adapters, so each rule and its
message is written once."""

from __future__ import annotations

import math
import re
from typing import TypeGuard

from ._errors import ConfigurationError

__all__ = ["CONTROL_CHARACTERS", "check_positive_int", "is_seconds"]

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
