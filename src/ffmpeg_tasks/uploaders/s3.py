"""Outputs into an S3 bucket (or an S3-compatible store: MinIO, R2, Ceph), with boto3's managed
transfer."""

from __future__ import annotations

import logging
import os
import stat
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
from anyio.abc import AsyncResource

from .._errors import ConfigurationError, UploadError
from .._media_types import content_type
from .._models import Output, utcnow
from .._names import check_file_name
from .._s3 import (
    CLEANUP_TIMEOUT,
    MAX_PRESIGN_SECONDS,
    MIB,
    AddressingStyle,
    S3Connection,
    check_bucket_name,
    check_prefix,
    describe_failure,
    error_code,
    run_transfer,
    s3_exceptions,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from s3transfer.futures import TransferFuture

__all__ = ["S3Uploader", "content_type"]

logger = logging.getLogger("ffmpeg_tasks")


class S3Uploader(AsyncResource):
    """Stores each output as ``s3://bucket/<prefix><task id>/<name>``.

    Large files go up in parts without growing memory; a failed or cancelled upload leaves no
    object and no stored parts; an existing object is never replaced (the write is
    conditional, ``If-None-Match: *``). The S3 how-to guide has the details and the IAM
    permissions. Credentials come from boto3's default chain unless given, and appear in no
    ``repr``, message or log.

    Args:
        bucket: The bucket outputs go to; it must exist.
        prefix: Key prefix, e.g. ``"outputs/"`` (a missing trailing ``/`` is added).
        client: A boto3 S3 client to use as is (its own retries, endpoint and credentials);
            then the connection arguments below must be left out. It is not closed by
            :meth:`aclose`.
        endpoint_url: An S3-compatible store's URL, e.g. ``http://127.0.0.1:9000``.
        region: The bucket's region (signs requests and presigned URLs).
        aws_access_key_id: With ``aws_secret_access_key``: explicit credentials.
        aws_secret_access_key: See ``aws_access_key_id``.
        aws_session_token: For temporary (STS) credentials.
        presign_expires: When set, each output also gets a presigned HTTPS GET URL
            (``Output.download_url``) valid for this many seconds (at most 7 days), or less
            when the signing credentials are temporary and expire first.
        overwrite: Replace an existing object instead of failing, for stores that reject
            the conditional write.
        multipart_threshold: Files of at least this many bytes are sent in parts.
        multipart_chunksize: Bytes per part (5 MiB to 5 GiB).
        max_concurrency: Parts sent at once, across all uploads of this uploader.
        max_attempts: Attempts per request in botocore's standard retry mode.
        addressing_style: ``"path"`` for stores that do not serve ``bucket.host`` names.

    Raises:
        ConfigurationError: an invalid bucket name, prefix, endpoint or setting, or ``client``
            together with connection arguments.
    """

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        client: S3Client | None = None,
        endpoint_url: str | None = None,
        region: str | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_session_token: str | None = None,
        presign_expires: int | None = None,
        overwrite: bool = False,
        multipart_threshold: int = 8 * MIB,
        multipart_chunksize: int = 8 * MIB,
        max_concurrency: int = 10,
        max_attempts: int = 5,
        addressing_style: AddressingStyle | None = None,
    ) -> None:
        self._bucket = check_bucket_name(bucket)
        self._prefix = check_prefix(prefix)
        if presign_expires is not None and (
            isinstance(presign_expires, bool)
            or not isinstance(presign_expires, int)
            or not 1 <= presign_expires <= MAX_PRESIGN_SECONDS
        ):
            raise ConfigurationError(
                f"presign_expires must be a whole number of seconds from 1 to "
                f"{MAX_PRESIGN_SECONDS} (7 days), or None; got {presign_expires!r}"
            )
        self._presign_expires = presign_expires
        self._overwrite = bool(overwrite)
        self._connection = S3Connection.from_options(
            client=client,
            endpoint_url=endpoint_url,
            region=region,
            aws_access_key_id=aws_access_key_id,
            aws_secret_access_key=aws_secret_access_key,
            aws_session_token=aws_session_token,
            multipart_threshold=multipart_threshold,
            multipart_chunksize=multipart_chunksize,
            max_concurrency=max_concurrency,
            max_attempts=max_attempts,
            addressing_style=addressing_style,
            on_client=self._prepare_client,
        )
        #: Keys being written now that must not exist yet -> how many uploads write them.
        self._guarded: Counter[str] = Counter()
        self._guard_lock = threading.Lock()
        self._handler_id = f"ffmpeg-tasks-if-none-match-{id(self)}"

    def __repr__(self) -> str:
        parts = [repr(self._bucket)]
        if self._prefix:
            parts.append(f"prefix={self._prefix!r}")
        parts += self._connection.repr_parts()
        if self._presign_expires is not None:
            parts.append(f"presign_expires={self._presign_expires}")
        return f"S3Uploader({', '.join(parts)})"

    @property
    def bucket(self) -> str:
        """The bucket outputs go to."""
        return self._bucket

    @property
    def prefix(self) -> str:
        """The key prefix, ``""`` or ending in ``/``."""
        return self._prefix

    def key(self, *, task_id: str, name: str) -> str:
        """The object key output ``name`` of task ``task_id`` is stored under.

        Raises:
            UploadError: the id or name is not a plain file name.
        """
        check_file_name(task_id, "task id", error=UploadError)
        check_file_name(name, "output", error=UploadError)
        return f"{self._prefix}{task_id}/{name}"

    async def upload(self, path: Path, *, task_id: str, name: str) -> Output:
        """Upload the file at ``path`` as output ``name`` of ``task_id``.

        Raises:
            UploadError: the id or name is not a plain file name, the file is missing, the
                object exists, S3 refused or failed; no object and no multipart upload remain.
        """
        key = self.key(task_id=task_id, name=name)
        url = f"s3://{self._bucket}/{key}"
        source = Path(path)
        submitted = threading.Event()
        self._guard(key)
        try:
            future = await run_transfer(lambda: self._submit(source, key, name, submitted))
            size = future.meta.size
            download_url = expires_at = None
            if self._presign_expires is not None:
                # Taken before signing: the URL cannot outlive it (but see the how-to: the
                # signing credentials' own expiry may end it sooner).
                expires_at = utcnow() + timedelta(seconds=self._presign_expires)
                download_url = await anyio.to_thread.run_sync(self._presign, key)
        except anyio.get_cancelled_exc_class():
            # The transfer is cancelled (a multipart upload aborted) by run_transfer; but the
            # last request may have landed first, and a cancelled task leaves no output. The
            # key holds this task's id, so an object there is this upload's (a task uploads
            # once); nothing is deleted if no request was made.
            if submitted.is_set():
                deadline = anyio.current_time() + CLEANUP_TIMEOUT
                with anyio.CancelScope(shield=True, deadline=deadline):
                    await anyio.to_thread.run_sync(
                        self._delete_quietly, key, abandon_on_cancel=True
                    )
            raise
        except s3_exceptions() as exc:
            raise UploadError(self._describe(exc, name=name, url=url)) from exc
        finally:
            self._unguard(key)
        return Output(
            name=name,
            url=url,
            download_url=download_url,
            download_expires_at=expires_at,
            size=size,
        )

    async def delete(self, *, task_id: str, name: str) -> None:
        """Delete a stored output's object; a missing one is fine (S3 says so too).

        Raises:
            UploadError: the id or name is not a plain file name, or S3 refused or failed.
        """
        key = self.key(task_id=task_id, name=name)
        client = self._connection.client
        try:
            await anyio.to_thread.run_sync(
                lambda: client().delete_object(Bucket=self._bucket, Key=key)
            )
        except s3_exceptions() as exc:
            raise UploadError(
                describe_failure(
                    exc,
                    doing=f"deleting s3://{self._bucket}/{key}",
                    bucket=self._bucket,
                    settings=self._connection.settings,
                    permission=f"s3:DeleteObject on arn:aws:s3:::{self._bucket}/{self._prefix}*",
                )
            ) from exc

    def _delete_quietly(self, key: str) -> None:
        """Delete our object if it exists; a failure is logged, as nobody is left to tell."""
        try:
            self._connection.client().delete_object(Bucket=self._bucket, Key=key)
        except s3_exceptions() as exc:
            logger.warning(
                "could not delete s3://%s/%s after its upload was cancelled: %s",
                self._bucket,
                key,
                error_code(exc) or type(exc).__name__,
            )

    def _submit(
        self, source: Path, key: str, name: str, submitted: threading.Event
    ) -> TransferFuture:
        try:
            status = os.stat(source, follow_symlinks=False)
        except FileNotFoundError:
            raise UploadError(f"output {name!r} does not exist at {source}") from None
        if not stat.S_ISREG(status.st_mode):
            raise UploadError(f"output {name!r} is not a regular file; refusing to upload it")
        manager = self._connection.transfers()
        submitted.set()
        return manager.upload(
            str(source), self._bucket, key, extra_args={"ContentType": content_type(name)}
        )

    def _presign(self, key: str) -> str:
        return self._connection.client().generate_presigned_url(
            "get_object",
            Params={"Bucket": self._bucket, "Key": key},
            ExpiresIn=self._presign_expires or 0,
        )

    def _describe(self, exc: BaseException, *, name: str, url: str) -> str:
        if error_code(exc) in {"PreconditionFailed", "412"}:
            return f"{url} exists already; outputs are never overwritten"
        return describe_failure(
            exc,
            doing=f"uploading {name!r} to {url}",
            bucket=self._bucket,
            settings=self._connection.settings,
            permission=(
                f"s3:PutObject and s3:AbortMultipartUpload on "
                f"arn:aws:s3:::{self._bucket}/{self._prefix}*"
            ),
        )

    # -- conditional writes: If-None-Match on our own keys only ------------------------------

    def _guard(self, key: str) -> None:
        if not self._overwrite:
            with self._guard_lock:
                self._guarded[key] += 1

    def _unguard(self, key: str) -> None:
        if not self._overwrite:
            with self._guard_lock:
                self._guarded[key] -= 1
                if self._guarded[key] <= 0:
                    del self._guarded[key]

    def _prepare_client(self, client: S3Client) -> None:
        """Add ``If-None-Match: *`` to the requests that create our objects.

        s3transfer does not pass that argument through, so a botocore hook adds it; it touches
        only keys this uploader is writing, so a client shared with other code is unaffected.
        """
        if self._overwrite:
            return
        for operation in ("PutObject", "CompleteMultipartUpload"):
            client.meta.events.register(
                f"before-parameter-build.s3.{operation}",
                self._add_condition,
                unique_id=f"{self._handler_id}-{operation}",
            )

    def _remove_hooks(self, client: S3Client) -> None:
        if self._overwrite:
            return
        for operation in ("PutObject", "CompleteMultipartUpload"):
            client.meta.events.unregister(
                f"before-parameter-build.s3.{operation}",
                unique_id=f"{self._handler_id}-{operation}",
            )

    def _add_condition(self, params: dict[str, Any], **kwargs: Any) -> None:
        if params.get("Bucket") == self._bucket and params.get("Key") in self._guarded:
            params.setdefault("IfNoneMatch", "*")

    async def aclose(self) -> None:
        """Wait for running transfers, then close the client if this uploader built it."""
        await anyio.to_thread.run_sync(lambda: self._connection.close(on_close=self._remove_hooks))
