"""The app the uvicorn subprocess tests serve: real ffmpeg, loopback inputs, a local folder.

``python -m uvicorn --factory tests.api._server_app:make_app`` with the variables below set;
API keys come from ``FFMPEG_TASKS_API_KEYS`` as in production.
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from ffmpeg_tasks import TaskManager
from ffmpeg_tasks.fetchers import HttpFetcher, LocalFetcher, RoutingFetcher
from ffmpeg_tasks.integrations.fastapi import create_app
from ffmpeg_tasks.runners import SubprocessRunner
from ffmpeg_tasks.storage import MemoryStore, SqliteStore
from ffmpeg_tasks.uploaders import LocalUploader

#: Folder ``file://`` inputs may be read from; ``http://`` inputs may come from loopback.
MEDIA_VAR = "FFMPEG_TASKS_TEST_MEDIA"
#: Folder the outputs go to.
OUTPUT_VAR = "FFMPEG_TASKS_TEST_OUTPUT"
#: A SQLite file for the tasks, when set (else they are kept in memory).
DATABASE_VAR = "FFMPEG_TASKS_TEST_DATABASE"


def make_app() -> FastAPI:
    database = os.environ.get(DATABASE_VAR)
    manager = TaskManager(
        SqliteStore(database) if database else MemoryStore(),
        RoutingFetcher(
            {
                "http": HttpFetcher(allow_private_networks=True),
                "file": LocalFetcher([os.environ[MEDIA_VAR]]),
            }
        ),
        SubprocessRunner(),
        LocalUploader(os.environ[OUTPUT_VAR]),
        max_concurrency=2,
    )
    return create_app(manager)
