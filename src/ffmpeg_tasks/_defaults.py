"""The one place that picks adapters when the application names none."""

from __future__ import annotations

from ._protocols import Fetcher, Runner, TaskStore, Uploader

__all__ = ["default_fetcher", "default_runner", "default_store", "default_uploader"]


def default_store() -> TaskStore:
    """In memory: nothing to set up, nothing shared."""
    from .storage import MemoryStore

    return MemoryStore()


def default_fetcher() -> Fetcher:
    """``http``/``https`` only, refusing private and loopback addresses."""
    from .fetchers import HttpFetcher

    return HttpFetcher()


def default_runner() -> Runner:
    """The ffmpeg found through ``FFMPEG_BINARY``, ``PATH`` or the ``ffmpeg`` extra."""
    from .runners import SubprocessRunner

    return SubprocessRunner()


def default_uploader() -> Uploader:
    """``./ffmpeg-tasks-output/<task id>/<output>``."""
    from .uploaders import LocalUploader

    return LocalUploader("ffmpeg-tasks-output")
