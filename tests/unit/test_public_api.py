"""The package root exports exactly its public names, sorted, and each one resolves."""

from __future__ import annotations

import importlib

import pytest

import ffmpeg_tasks

SUBPACKAGES = ["storage", "fetchers", "runners", "uploaders"]


def test_all_is_sorted_and_complete() -> None:
    assert ffmpeg_tasks.__all__ == sorted(ffmpeg_tasks.__all__)
    public = {name for name in vars(ffmpeg_tasks) if not name.startswith("_")}
    public -= {"annotations"} | set(SUBPACKAGES) | {"testing", "cli", "integrations"}
    assert public == set(ffmpeg_tasks.__all__)


def test_the_issue_names_import() -> None:
    from ffmpeg_tasks import (  # noqa: F401
        FfmpegTasksError,
        InvalidTaskError,
        SyncTaskManager,
        Task,
        TaskManager,
        TaskNotFoundError,
        TaskStatus,
    )
    from ffmpeg_tasks.fetchers import HttpFetcher  # noqa: F401
    from ffmpeg_tasks.runners import SubprocessRunner  # noqa: F401
    from ffmpeg_tasks.storage import MemoryStore  # noqa: F401
    from ffmpeg_tasks.uploaders import LocalUploader  # noqa: F401


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_subpackage_all_resolves(name: str) -> None:
    module = importlib.import_module(f"ffmpeg_tasks.{name}")
    assert module.__all__ == sorted(module.__all__)
    for exported in module.__all__:
        assert getattr(module, exported) is not None


def test_errors_share_one_root() -> None:
    for name in ffmpeg_tasks.__all__:
        value = getattr(ffmpeg_tasks, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, ffmpeg_tasks.FfmpegTasksError), name
    assert issubclass(ffmpeg_tasks.InvalidTaskError, ValueError)
    assert issubclass(ffmpeg_tasks.TaskNotFoundError, LookupError)
