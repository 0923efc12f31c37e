"""Settings read from environment variables, each checked and named in any error.

The variables are the original service's (``S3_BUCKET``, ``AWS_*``) plus a few for what it could
not do (S3-compatible stores, ``s3://`` inputs, private networks):

=====================================  ==========================================================
``S3_BUCKET``                          outputs go to this bucket; a local folder when unset
``S3_PREFIX``                          key prefix of outputs (``outputs/``)
``S3_PRESIGN_EXPIRES``                 seconds presigned download URLs live (1-604800); none
                                       when unset
``S3_INPUT_BUCKETS``                   comma-separated buckets ``s3://`` inputs may come from;
                                       ``s3://`` inputs are refused when unset
``S3_ADDRESSING_STYLE``                ``path`` for stores that do not serve ``bucket.host``
``AWS_ACCESS_KEY_ID``,                 credentials; boto3's default chain (profile, role) when
``AWS_SECRET_ACCESS_KEY``,             unset
``AWS_SESSION_TOKEN``
``AWS_REGION``                         region (``AWS_DEFAULT_REGION``, then ``us-east-1``)
``AWS_ENDPOINT_URL``                   an S3-compatible store (MinIO, R2, Ceph)
``FFMPEG_TASKS_OUTPUT_DIR``            the local folder when there is no bucket
                                       (``ffmpeg-tasks-output``)
``FFMPEG_TASKS_ALLOW_PRIVATE_NETWORKS``  ``1`` lets http(s) inputs come from private and
                                       loopback addresses (default ``0``)
``FFMPEG_TASKS_DATABASE``              where tasks live, so they survive restarts: a SQLite
                                       file (path or ``sqlite:///path``) or a PostgreSQL
                                       database (``postgresql://user:pw@host/db``); in memory
                                       when unset
``FFMPEG_TASKS_MAX_INPUT_BYTES``       the largest input, http(s) or ``s3://`` (2 GiB)
``FFMPEG_TASKS_WORKERS``               where started tasks run: ``in-process`` (the default) or
                                       ``procrastinate`` (worker processes; needs a PostgreSQL
                                       ``FFMPEG_TASKS_DATABASE``)
``FFMPEG_TASKS_RETRIES``               more attempts an interrupted run gets (0)
``FFMPEG_TASKS_RETRY_BACKOFF``         seconds before the first retry (10)
``FFMPEG_TASKS_LEASE``                 seconds a run's claim holds unrenewed (30)
``FFMPEG_TASKS_HEARTBEAT``             seconds between two renewals, at most half the lease (10)
=====================================  ==========================================================

Empty values count as unset. Secrets never reach ``details``, reprs or error messages.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from .._checks import check_lease
from .._defaults import DEFAULT_MAX_INPUT_BYTES, DEFAULT_OUTPUT_DIR, DEFAULT_REGION
from .._errors import ConfigurationError
from .._s3 import (
    MAX_PRESIGN_SECONDS,
    AddressingStyle,
    check_bucket_name,
    check_endpoint_url,
    check_prefix,
)
from .settings import Settings, Workers

__all__ = ["settings_from_env"]

_REGION = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
#: libpq's ``key=value`` form of a DSN starts with one of these keys.
_CONNINFO = re.compile(r"(host|hostaddr|port|dbname|user|password|service|options)\s*=")
_ADDRESSING: dict[str, AddressingStyle] = {"auto": "auto", "path": "path", "virtual": "virtual"}
_WORKERS: dict[str, Workers] = {"in-process": "in-process", "procrastinate": "procrastinate"}

_T = TypeVar("_T")


def settings_from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and check the variables in the module's table.

    Args:
        environ: The variables; ``os.environ`` when None.

    Raises:
        ConfigurationError: a variable has an unusable value; the message names it.
    """
    env = _Env(os.environ if environ is None else environ)
    bucket = env.checked("S3_BUCKET", check_bucket_name)
    prefix = env.checked("S3_PREFIX", check_prefix) or ""
    presign_expires = env.checked("S3_PRESIGN_EXPIRES", _presign_seconds)
    input_buckets = env.checked("S3_INPUT_BUCKETS", _bucket_list)
    endpoint_url = env.checked("AWS_ENDPOINT_URL", check_endpoint_url)
    addressing_style = env.checked("S3_ADDRESSING_STYLE", _addressing_style)
    region = env.checked("AWS_REGION", _region) or env.checked("AWS_DEFAULT_REGION", _region)
    allow_private = env.checked("FFMPEG_TASKS_ALLOW_PRIVATE_NETWORKS", _flag) or False
    output_dir = env.get("FFMPEG_TASKS_OUTPUT_DIR") or DEFAULT_OUTPUT_DIR
    database = env.checked("FFMPEG_TASKS_DATABASE", _database)
    max_input_bytes = env.checked("FFMPEG_TASKS_MAX_INPUT_BYTES", _byte_count)
    workers = env.checked("FFMPEG_TASKS_WORKERS", _workers) or "in-process"
    if workers == "procrastinate" and not isinstance(database, str):
        raise ConfigurationError(
            "FFMPEG_TASKS_WORKERS=procrastinate hands tasks to workers through PostgreSQL: set "
            "FFMPEG_TASKS_DATABASE to a PostgreSQL database (postgresql://user:pw@host/db), "
            "the same for the API and every worker"
        )
    manager = _manager_settings(env)
    key_id, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
    token = env.get("AWS_SESSION_TOKEN")
    if (key_id is None) != (secret is None):
        raise ConfigurationError(
            "set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither (boto3's default "
            "chain then finds credentials: a profile, an instance or task role)"
        )
    if token is not None and key_id is None:
        raise ConfigurationError(
            "AWS_SESSION_TOKEN is set without AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    return Settings(
        from_environment=True,
        s3_bucket=bucket,
        s3_prefix=prefix,
        s3_presign_expires=presign_expires,
        s3_input_buckets=input_buckets,
        s3_addressing_style=addressing_style,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        aws_session_token=token,
        aws_region=region or DEFAULT_REGION,
        aws_endpoint_url=endpoint_url,
        output_dir=Path(output_dir).expanduser().absolute(),
        allow_private_networks=allow_private,
        database=database if isinstance(database, Path) else None,
        postgres_dsn=database if isinstance(database, str) else None,
        max_input_bytes=max_input_bytes or DEFAULT_MAX_INPUT_BYTES,
        workers=workers,
        manager=manager,
    )


def _manager_settings(env: _Env) -> dict[str, float | int]:
    """The manager's settings that are set: retries, their backoff, the lease, the heartbeat."""
    found: dict[str, float | int] = {}
    retries = env.checked("FFMPEG_TASKS_RETRIES", _whole_number)
    if retries is not None:
        found["retries"] = retries
    for name in ("retry_backoff", "lease", "heartbeat"):
        value = env.checked(f"FFMPEG_TASKS_{name.upper()}", _seconds)
        if value is not None:
            found[name] = value
    if "lease" in found or "heartbeat" in found:
        from .._defaults import DEFAULT_HEARTBEAT, DEFAULT_LEASE

        lease = found.get("lease", DEFAULT_LEASE)
        heartbeat = found.get("heartbeat", min(DEFAULT_HEARTBEAT, lease / 3))
        try:
            found["lease"], found["heartbeat"] = check_lease(lease, heartbeat)
        except ConfigurationError as exc:
            raise ConfigurationError(f"FFMPEG_TASKS_LEASE, FFMPEG_TASKS_HEARTBEAT: {exc}") from None
    return found


class _Env:
    """Reads variables, treating empty ones as unset and naming them in every error."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def get(self, name: str) -> str | None:
        value = self._environ.get(name)
        return value.strip() or None if value is not None else None

    def checked(self, name: str, check: Callable[[str], _T]) -> _T | None:
        value = self.get(name)
        if value is None:
            return None
        try:
            return check(value)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{name}: {exc}") from None


def _presign_seconds(value: str) -> int:
    try:
        seconds = int(value)
    except ValueError:
        seconds = 0
    if not 1 <= seconds <= MAX_PRESIGN_SECONDS:
        raise ConfigurationError(
            f"{value!r} is not a whole number of seconds from 1 to {MAX_PRESIGN_SECONDS} "
            "(7 days, the longest a presigned URL lives); unset it for no download URLs"
        )
    return seconds


def _bucket_list(value: str) -> tuple[str, ...]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names:
        raise ConfigurationError(f"{value!r} names no bucket; unset it to refuse s3:// inputs")
    return tuple(sorted({check_bucket_name(name) for name in names}))


def _database(value: str) -> Path | str:
    """A SQLite file's path, or a PostgreSQL DSN (a ``str``): a URL, or libpq's
    ``host=... dbname=...`` form."""
    if value.startswith(("postgresql://", "postgres://")) or _CONNINFO.match(value):
        return value
    path = value.removeprefix("sqlite:///")
    if "://" in path:
        shown = value.partition("://")[0] + "://..."  # the rest may hold a password
        raise ConfigurationError(
            f"{shown!r} is neither a SQLite file nor a PostgreSQL database: give a path such as "
            "/var/lib/ffmpeg-tasks/tasks.db (or sqlite:////var/lib/ffmpeg-tasks/tasks.db), or "
            "postgresql://user:password@host:5432/database"
        )
    return Path(path).expanduser().absolute()


def _byte_count(value: str) -> int:
    try:
        count = int(value.replace("_", ""))
    except ValueError:
        count = 0
    if count < 1:
        raise ConfigurationError(f"{value!r} is not a positive whole number of bytes")
    return count


def _region(value: str) -> str:
    if not _REGION.fullmatch(value):
        raise ConfigurationError(f"{value!r} does not look like a region such as 'eu-west-1'")
    return value


def _addressing_style(value: str) -> AddressingStyle:
    try:
        return _ADDRESSING[value.lower()]
    except KeyError:
        raise ConfigurationError(f"{value!r} is not one of auto, path, virtual") from None


def _workers(value: str) -> Workers:
    try:
        return _WORKERS[value.lower()]
    except KeyError:
        raise ConfigurationError(f"{value!r} is not one of in-process, procrastinate") from None


def _whole_number(value: str) -> int:
    if not value.isdigit():
        raise ConfigurationError(f"{value!r} is not a whole number of 0 or more")
    return int(value)


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise ConfigurationError(f"{value!r} is not a number of seconds")
    return seconds


def _flag(value: str) -> bool:
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ConfigurationError(f"{value!r} is not 0 or 1")
