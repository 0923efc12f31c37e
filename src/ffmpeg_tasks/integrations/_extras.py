"""The error an integration raises when the extra it needs is not installed."""

from __future__ import annotations

from .._errors import ConfigurationError

__all__ = ["missing_extra"]


def missing_extra(extra: str, exc: ImportError) -> ConfigurationError:
    """A ConfigurationError naming the ``pip install`` that brings what ``exc`` lacked.

    Raise it ``from exc`` so the original import error stays visible.
    """
    return ConfigurationError(
        f"the {extra} integration needs the {extra!r} extra ({exc.name or exc} is missing): "
        f'pip install "ffmpeg-tasks[{extra}]"'
    )
