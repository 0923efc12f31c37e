"""Configuration in three steps: read and check settings (``environment``), build adapters from
them (``adapters``, the only place adapters are built), describe them for ``health()``
(``describe``)."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from .._protocols import Dispatcher, Fetcher, TaskStore, Uploader
from .adapters import build_dispatcher, build_fetcher, build_runner, build_store, build_uploader
from .describe import describe
from .environment import settings_from_env
from .settings import Settings

__all__ = [
    "EnvAdapters",
    "Settings",
    "adapters_from_env",
    "build_dispatcher",
    "build_fetcher",
    "build_runner",
    "build_store",
    "build_uploader",
    "describe",
    "settings_from_env",
]


@attrs.frozen(kw_only=True)
class EnvAdapters:
    """What the environment configures, for ``TaskManager.from_env``."""

    #: ``http``/``https`` (SSRF-safe) and ``s3`` inputs, routed by scheme.
    fetcher: Fetcher
    #: An ``S3Uploader`` when ``S3_BUCKET`` is set, else a ``LocalUploader``.
    uploader: Uploader
    #: A ``PostgresStore`` or ``SqliteStore`` when ``FFMPEG_TASKS_DATABASE`` is set, else None
    #: (the default store).
    store: TaskStore | None
    #: Where outputs go and inputs come from, for ``health()``; never a secret.
    details: dict[str, str]
    #: A ``ProcrastinateDispatcher`` when ``FFMPEG_TASKS_WORKERS=procrastinate``, else None.
    dispatcher: Dispatcher | None = None
    #: The manager's settings that were set (``retries``, ``lease``, ...), by name.
    manager: dict[str, float | int] = attrs.field(factory=dict)


def adapters_from_env(environ: Mapping[str, str] | None = None) -> EnvAdapters:
    """The three steps for the environment's variables (``os.environ`` when None).

    Raises:
        ConfigurationError: a variable has an unusable value; the message names it.
    """
    settings = settings_from_env(environ)
    return EnvAdapters(
        fetcher=build_fetcher(settings),
        uploader=build_uploader(settings),
        store=(
            None
            if settings.database is None and settings.postgres_dsn is None
            else build_store(settings)
        ),
        details=describe(settings),
        dispatcher=build_dispatcher(settings),
        manager=dict(settings.manager),
    )
