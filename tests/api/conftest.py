"""Fixtures of the HTTP API tests (helpers are in ``_support``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ffmpeg_tasks import TaskManager
from ffmpeg_tasks.fetchers import HttpFetcher, LocalFetcher, RoutingFetcher
from ffmpeg_tasks.runners import SubprocessRunner
from ffmpeg_tasks.testing import MemoryStore
from ffmpeg_tasks.uploaders import LocalUploader


@pytest.fixture
def real_manager(media_dir: Path, tmp_path: Path) -> TaskManager:
    """A manager running the real ffmpeg; inputs from loopback HTTP or ``media_dir``."""
    return TaskManager(
        MemoryStore(),
        RoutingFetcher(
            {"http": HttpFetcher(allow_private_networks=True), "file": LocalFetcher([media_dir])}
        ),
        SubprocessRunner(),
        LocalUploader(tmp_path / "outputs"),
        max_concurrency=2,
    )
