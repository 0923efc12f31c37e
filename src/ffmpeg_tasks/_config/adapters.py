"""The one place adapters are built: for ``TaskManager()``'s defaults, ``from_env``, the HTTP
service and the CLI alike. Adapter modules load only when an adapter is built."""

from __future__ import annotations

from pathlib import Path

from .._errors import FetchError, InvalidTaskError
from .._protocols import Dispatcher, Fetcher, Runner, TaskStore, Uploader
from .settings import Settings

__all__ = ["build_dispatcher", "build_fetcher", "build_runner", "build_store", "build_uploader"]

_S3_INPUTS_OFF = (
    "s3:// inputs are turned off on this service; the operator allows them by setting "
    "S3_INPUT_BUCKETS to the comma-separated buckets they may come from"
)


def build_store(settings: Settings) -> TaskStore:
    """PostgreSQL when :attr:`Settings.postgres_dsn` is set, a SQLite file when
    :attr:`Settings.database` is; else in memory, nothing shared."""
    if settings.postgres_dsn is not None:
        from ..storage import PostgresStore

        return PostgresStore(settings.postgres_dsn)
    if settings.database is not None:
        from ..storage import SqliteStore

        return SqliteStore(settings.database)
    from ..storage import MemoryStore

    return MemoryStore()


def build_dispatcher(settings: Settings) -> Dispatcher | None:
    """A ``ProcrastinateDispatcher`` on :attr:`Settings.postgres_dsn` when
    :attr:`Settings.workers` is ``procrastinate``; None to run tasks in-process."""
    if settings.workers == "in-process":
        return None
    assert settings.postgres_dsn is not None  # checked with the settings
    from ..integrations.procrastinate import ProcrastinateDispatcher

    return ProcrastinateDispatcher(settings.postgres_dsn)


def build_fetcher(settings: Settings) -> Fetcher:
    """SSRF-safe ``http(s)``, and ``s3://`` and ``file://`` where the settings allow them.

    Without other sources, the plain ``HttpFetcher``; from the environment, ``s3://`` is always
    routed, so that a refusal names the variable that would allow it.
    """
    from ..fetchers import HttpFetcher, LocalFetcher, RoutingFetcher

    http = HttpFetcher(
        allow_private_networks=settings.allow_private_networks,
        max_size=settings.max_input_bytes,
    )
    routes: dict[str, Fetcher] = {"http": http, "https": http}
    if settings.s3_input_buckets is not None:
        routes["s3"] = _s3_fetcher(settings)
    elif settings.from_environment:
        routes["s3"] = _S3InputsOff()
    if settings.local_input_roots:
        routes["file"] = LocalFetcher(settings.local_input_roots)
    return http if len(routes) == 2 else RoutingFetcher(routes)


def build_runner(settings: Settings) -> Runner:
    """The ffmpeg found through ``FFMPEG_BINARY``, ``PATH`` or the ``ffmpeg`` extra."""
    from ..runners import SubprocessRunner

    return SubprocessRunner()


def build_uploader(settings: Settings) -> Uploader:
    """``S3Uploader`` when :attr:`Settings.s3_bucket` is set, else ``LocalUploader``."""
    if settings.s3_bucket is None:
        from ..uploaders import LocalUploader

        return LocalUploader(settings.output_dir)
    from ..uploaders import S3Uploader

    return S3Uploader(
        settings.s3_bucket,
        prefix=settings.s3_prefix,
        presign_expires=settings.s3_presign_expires,
        endpoint_url=settings.aws_endpoint_url,
        region=settings.aws_region,
        aws_access_key_id=settings.aws_access_key_id,
        aws_secret_access_key=settings.aws_secret_access_key,
        aws_session_token=settings.aws_session_token,
        addressing_style=settings.s3_addressing_style,
    )


def _s3_fetcher(settings: Settings) -> Fetcher:
    from ..fetchers import S3Fetcher

    assert settings.s3_input_buckets is not None
    return S3Fetcher(
        settings.s3_input_buckets,
        endpoint_url=settings.aws_endpoint_url,
        region=settings.aws_region,
        aws_access_key_id=settings.aws_access_key_id,
        aws_secret_access_key=settings.aws_secret_access_key,
        aws_session_token=settings.aws_session_token,
        addressing_style=settings.s3_addressing_style,
        max_size=settings.max_input_bytes,
    )


class _S3InputsOff:
    """Stands where the S3 fetcher would be when ``S3_INPUT_BUCKETS`` is unset."""

    def __repr__(self) -> str:
        return "S3InputsOff(S3_INPUT_BUCKETS is not set)"

    async def check(self, url: str) -> None:
        raise InvalidTaskError(_S3_INPUTS_OFF)

    async def fetch(self, url: str, *, destination: Path) -> int:
        raise FetchError(_S3_INPUTS_OFF)

    async def aclose(self) -> None:
        """Nothing to release."""
