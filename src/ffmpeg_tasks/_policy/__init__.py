"""The command policy: parsing a caller's ffmpeg arguments, checking them against an
allow-list, and building the argv that runs. Only :class:`CommandPolicy` is used outside."""

from __future__ import annotations

from .policy import CommandPolicy

__all__ = ["CommandPolicy"]
