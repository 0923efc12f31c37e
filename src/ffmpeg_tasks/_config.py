"""The fetcher and uploader ``TaskManager.from_env`` uses, built from environment variables.

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
``FFMPEG_TASKS_DATABASE``              a SQLite file (path or ``sqlite:///path``) tasks live
                                       in, so they survive restarts; in memory when unset
``FFMPEG_TASKS_MAX_INPUT_BYTES``       the largest input, http(s) or ``s3://`` (2 GiB)
=====================================  ==========================================================

Empty values count as unset. Secrets never reach ``details``, reprs or error messages.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import attrs

from ._errors import ConfigurationError, FetchError, InvalidTaskError
from ._protocols import Fetcher, TaskStore, Uploader
from ._s3 import (
    MAX_PRESIGN_SECONDS,
    AddressingStyle,
    check_bucket_name,
    check_endpoint_url,
    check_prefix,
    public_endpoint,
)

__all__ = ["EnvAdapters", "adapters_from_env"]

DEFAULT_REGION = "us-east-1"
DEFAULT_OUTPUT_DIR = "ffmpeg-tasks-output"

_REGION = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_ADDRESSING: dict[str, AddressingStyle] = {"auto": "auto", "path": "path", "virtual": "virtual"}
_S3_INPUTS_OFF = (
    "s3:// inputs are turned off on this service; the operator allows them by setting "
    "S3_INPUT_BUCKETS to the comma-separated buckets they may come from"
)

_T = TypeVar("_T")


@attrs.frozen(kw_only=True)
class EnvAdapters:
    """What ``adapters_from_env`` built."""

    #: ``http``/``https`` (SSRF-safe) and ``s3`` inputs, routed by scheme.
    fetcher: Fetcher
    #: An ``S3Uploader`` when ``S3_BUCKET`` is set, else a ``LocalUploader``.
    uploader: Uploader
    #: A ``SqliteStore`` when ``FFMPEG_TASKS_DATABASE`` is set, else None (the default store).
    store: TaskStore | None
    #: Where outputs go and inputs come from, for ``health()``; never a secret.
    details: dict[str, str]


def adapters_from_env(environ: Mapping[str, str] | None = None) -> EnvAdapters:
    """Build the fetcher and uploader the variables describe (see the module's table).

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
    region = region or DEFAULT_REGION
    allow_private = env.checked("FFMPEG_TASKS_ALLOW_PRIVATE_NETWORKS", _flag) or False
    output_dir = env.get("FFMPEG_TASKS_OUTPUT_DIR") or DEFAULT_OUTPUT_DIR
    database = env.checked("FFMPEG_TASKS_DATABASE", _sqlite_path)
    max_input_bytes = env.checked("FFMPEG_TASKS_MAX_INPUT_BYTES", _byte_count)
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
    where = f"region {region}" + (f", {public_endpoint(endpoint_url)}" if endpoint_url else "")
    credentials = "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY" if key_id else "boto3's default chain"
    details: dict[str, str] = {}

    from .fetchers import HttpFetcher, RoutingFetcher, S3Fetcher
    from .fetchers.http import DEFAULT_MAX_SIZE

    max_input = max_input_bytes or DEFAULT_MAX_SIZE
    from .uploaders import LocalUploader, S3Uploader

    uploader: Uploader
    if bucket is None:
        folder = Path(output_dir).expanduser().absolute()
        uploader = LocalUploader(folder)
        details["outputs"] = f"local folder {folder}: S3_BUCKET is not set"
    else:
        uploader = S3Uploader(
            bucket,
            prefix=prefix,
            presign_expires=presign_expires,
            endpoint_url=endpoint_url,
            region=region,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            aws_session_token=token,
            addressing_style=addressing_style,
        )
        presigned = (
            f"presigned download URLs for {presign_expires} s"
            if presign_expires
            else "no download URLs (S3_PRESIGN_EXPIRES is not set)"
        )
        details["outputs"] = f"s3://{bucket}/{prefix} ({where}; {presigned})"
    http = HttpFetcher(allow_private_networks=allow_private, max_size=max_input)
    s3: Fetcher
    if input_buckets is None:
        s3 = _S3InputsOff()
        s3_inputs = "s3:// refused (S3_INPUT_BUCKETS is not set)"
    else:
        s3 = S3Fetcher(
            input_buckets,
            endpoint_url=endpoint_url,
            region=region,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            aws_session_token=token,
            addressing_style=addressing_style,
            max_size=max_input,
        )
        s3_inputs = f"s3:// from {', '.join(input_buckets)} ({where})"
    networks = "any address" if allow_private else "public addresses only"
    details["inputs"] = f"http(s) from {networks}; {s3_inputs}"
    details["max_input_bytes"] = str(max_input)
    if bucket is not None or input_buckets is not None:
        details["credentials"] = credentials
    fetcher = RoutingFetcher({"http": http, "https": http, "s3": s3})
    store: TaskStore | None = None
    if database is None:
        details["tasks"] = "in memory: FFMPEG_TASKS_DATABASE is not set, restarts forget them"
    else:
        from .storage import SqliteStore

        store = SqliteStore(database)
        details["tasks"] = f"SQLite file {database}"
    return EnvAdapters(fetcher=fetcher, uploader=uploader, store=store, details=details)


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


def _bucket_list(value: str) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names:
        raise ConfigurationError(f"{value!r} names no bucket; unset it to refuse s3:// inputs")
    return sorted({check_bucket_name(name) for name in names})


def _sqlite_path(value: str) -> Path:
    path = value.removeprefix("sqlite:///")
    if "://" in path:
        raise ConfigurationError(
            f"{value!r} is not a SQLite file: give a path such as /var/lib/ffmpeg-tasks/tasks.db "
            "(or sqlite:////var/lib/ffmpeg-tasks/tasks.db)"
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


def _flag(value: str) -> bool:
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ConfigurationError(f"{value!r} is not 0 or 1")


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
