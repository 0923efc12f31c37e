"""The only part of the S3 adapters that imports boto3 and s3transfer.

They are slow to import, so ``connection.S3Connection`` loads this module on first use:
importing the library and building its adapters stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3.session
from botocore.config import Config
from s3transfer.manager import TransferConfig, TransferManager
from s3transfer.subscribers import BaseSubscriber

from .settings import ClientSettings, TransferSettings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from s3transfer.futures import TransferFuture

__all__ = ["KnownObject", "build_client", "build_transfer_manager"]


def build_client(settings: ClientSettings) -> S3Client:
    """A client with standard-mode retries and SigV4 (so presigned URLs work in every region).

    A private boto3 session per client: the default session is not thread-safe.
    """
    session = boto3.session.Session(
        aws_access_key_id=settings.aws_access_key_id,
        aws_secret_access_key=settings.aws_secret_access_key,
        aws_session_token=settings.aws_session_token,
        region_name=settings.region,
    )
    config = Config(
        signature_version="s3v4",
        # total_max_attempts counts the first try; the dict's "max_attempts" would not.
        retries={"mode": "standard", "total_max_attempts": settings.max_attempts},
        max_pool_connections=settings.max_pool_connections,
        s3={"addressing_style": settings.addressing_style} if settings.addressing_style else None,
        user_agent_extra="ffmpeg-tasks",
    )
    return session.client("s3", endpoint_url=settings.endpoint_url, config=config)


def build_transfer_manager(client: S3Client, transfer: TransferSettings) -> TransferManager:
    """s3transfer's manager: multipart above the threshold, parts sent in parallel.

    Files are read part by part as each request is sent, so memory stays flat whatever the
    file's size.
    """
    config = TransferConfig(
        multipart_threshold=transfer.multipart_threshold,
        multipart_chunksize=transfer.multipart_chunksize,
        max_request_concurrency=transfer.max_concurrency,
    )
    return TransferManager(client, config)


class KnownObject(BaseSubscriber):
    """Hands a download the size and ETag we read with HeadObject, so s3transfer does not ask
    again and every ranged GET carries ``If-Match``: an object replaced meanwhile fails the
    download instead of mixing two versions (or slipping past the size cap).
    """

    def __init__(self, size: int, etag: str | None) -> None:
        self._size = size
        self._etag = etag

    def on_queued(self, future: TransferFuture, **kwargs: Any) -> None:
        future.meta.provide_transfer_size(self._size)
        future.meta.provide_object_etag(self._etag)
