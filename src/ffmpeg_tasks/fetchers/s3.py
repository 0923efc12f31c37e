"""Inputs from ``s3://bucket/key`` URLs, limited to the buckets the application names."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread
from anyio.abc import AsyncResource

from .._checks import CONTROL_CHARACTERS, check_int_or_none
from .._errors import ConfigurationError, FetchError, InvalidTaskError
from .._s3 import (
    MIB,
    AddressingStyle,
    S3Connection,
    check_bucket_name,
    describe_failure,
    error_code,
    run_transfer,
    s3_exceptions,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from s3transfer.futures import TransferFuture

__all__ = ["S3Fetcher"]

#: S3's longest key, in UTF-8 bytes.
_MAX_KEY_BYTES = 1024
_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})
_NO_BUCKET = frozenset({"404", "NoSuchBucket", "NotFound"})
_BODYLESS = frozenset({"400", "403"})


class S3Fetcher(AsyncResource):
    """Downloads ``s3://bucket/key`` inputs, from the allowed buckets only.

    The credentials are the application's, so callers may name objects in ``buckets`` and
    nowhere else; :meth:`check` refuses other buckets and malformed keys before a task is
    stored. A failed, cancelled or oversized fetch leaves nothing behind, and an object
    replaced while it is fetched fails the fetch (the S3 how-to guide says how).

    Args:
        buckets: The buckets inputs may come from.
        allow_any_bucket: Fetch from any bucket the credentials can read (only for trusted
            callers).
        client: A boto3 S3 client to use as is; then the connection arguments must be left out.
        endpoint_url: An S3-compatible store's URL.
        region: The buckets' region.
        aws_access_key_id: With ``aws_secret_access_key``: explicit credentials; boto3's
            default chain otherwise.
        aws_secret_access_key: See ``aws_access_key_id``.
        aws_session_token: For temporary (STS) credentials.
        max_size: Largest input in bytes, or None for no limit.
        multipart_threshold: Objects of at least this size are fetched in parallel ranges.
        multipart_chunksize: Bytes per range.
        max_concurrency: Ranges fetched at once, across all fetches of this fetcher.
        max_attempts: Attempts per request in botocore's standard retry mode.
        addressing_style: ``"path"`` for stores that do not serve ``bucket.host`` names.

    Raises:
        ConfigurationError: no buckets and not ``allow_any_bucket``, an invalid bucket name,
            endpoint or setting, or ``client`` together with connection arguments.
    """

    def __init__(
        self,
        buckets: Iterable[str] | None = None,
        *,
        allow_any_bucket: bool = False,
        client: S3Client | None = None,
        endpoint_url: str | None = None,
        region: str | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_session_token: str | None = None,
        max_size: int | None = None,
        multipart_threshold: int = 8 * MIB,
        multipart_chunksize: int = 8 * MIB,
        max_concurrency: int = 10,
        max_attempts: int = 5,
        addressing_style: AddressingStyle | None = None,
    ) -> None:
        if isinstance(buckets, str):
            raise ConfigurationError(
                f"buckets must be a list of bucket names, got the string {buckets!r}"
            )
        self._buckets = frozenset(check_bucket_name(name) for name in buckets or ())
        self._allow_any_bucket = bool(allow_any_bucket)
        if not self._buckets and not self._allow_any_bucket:
            raise ConfigurationError(
                "S3Fetcher needs the buckets inputs may come from: S3Fetcher(buckets=[...]); "
                "pass allow_any_bucket=True only if every caller may read every bucket the "
                "credentials can"
            )
        self._max_size = check_int_or_none(max_size, "max_size", minimum=0)
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
        )

    def __repr__(self) -> str:
        parts = (
            ["allow_any_bucket=True"]
            if self._allow_any_bucket
            else [f"buckets={sorted(self._buckets)!r}"]
        )
        parts += self._connection.repr_parts()
        if self._max_size is not None:
            parts.append(f"max_size={self._max_size}")
        return f"S3Fetcher({', '.join(parts)})"

    @property
    def buckets(self) -> frozenset[str]:
        """The buckets inputs may come from (empty with ``allow_any_bucket``)."""
        return self._buckets

    def parse(self, url: str, *, error: type[Exception] = InvalidTaskError) -> tuple[str, str]:
        """Split an allowed ``s3://bucket/key`` URL into bucket and key.

        The key is taken literally (no percent-decoding), as the AWS CLI does.

        Raises:
            InvalidTaskError: (or ``error``) the URL is malformed, names a bucket that is not
                allowed, or a key that is empty, a folder, or has ``.``/``..`` segments.
        """
        if not isinstance(url, str) or url[:5].lower() != "s3://":
            raise error(f"URL {url!r} is not an s3://bucket/key URL")
        bucket, slash, key = url[5:].partition("/")
        if not slash or not key:
            raise error(f"URL {url!r} names no object: use s3://bucket/key")
        check_bucket_name(bucket, error=error)
        if not self._allow_any_bucket and bucket not in self._buckets:
            raise error(
                f"inputs may not come from bucket {bucket!r}: it is not one of the buckets "
                "this service reads inputs from"
            )
        if CONTROL_CHARACTERS.search(key):
            raise error(f"URL {url!r} holds control characters")
        if any(segment in {".", ".."} for segment in key.split("/")):
            raise error(f"URL {url!r} must not have '.' or '..' segments in its key")
        if key.endswith("/"):
            raise error(f"URL {url!r} names a folder; name an object")
        if len(key.encode()) > _MAX_KEY_BYTES:
            raise error(f"URL {url!r} has a key longer than S3's {_MAX_KEY_BYTES} bytes")
        return bucket, key

    async def check(self, url: str) -> None:
        """Refuse a URL this fetcher will not fetch; nothing is sent to S3.

        Raises:
            InvalidTaskError: see :meth:`parse`.
        """
        self.parse(url)

    async def fetch(self, url: str, *, destination: Path) -> int:
        """Download the object into ``destination``; return its size.

        Raises:
            FetchError: the URL is refused, the bucket or object does not exist, access is
                denied, the object is larger than ``max_size`` or changed meanwhile, or the
                transfer failed after retries; nothing is left at ``destination``.
        """
        bucket, key = self.parse(url, error=FetchError)
        try:
            size, etag = await anyio.to_thread.run_sync(self._head, url, bucket, key)
            if self._max_size is not None and size > self._max_size:
                raise FetchError(
                    f"input {url!r} is {size} bytes, more than the {self._max_size} allowed"
                )
            await run_transfer(lambda: self._submit(bucket, key, destination, size, etag))
        except s3_exceptions() as exc:
            raise FetchError(self._describe(exc, url=url, bucket=bucket)) from exc
        return (await anyio.Path(destination).stat()).st_size

    def _head(self, url: str, bucket: str, key: str) -> tuple[int, str | None]:
        from botocore.exceptions import ClientError

        client = self._connection.client()
        try:
            response = client.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            code = error_code(exc)
            if code in _BODYLESS:
                # An answer to HEAD has no body, so no error code: ask again with a one-byte
                # GET, whose error says which (bad credentials, access denied, wrong region).
                client.get_object(Bucket=bucket, Key=key, Range="bytes=0-0")["Body"].close()
                raise
            if code not in _NOT_FOUND:
                raise
            try:
                client.head_bucket(Bucket=bucket)
            except ClientError as bucket_exc:
                if error_code(bucket_exc) in _NO_BUCKET:
                    raise FetchError(f"input {url!r}: bucket {bucket!r} does not exist") from exc
            raise FetchError(f"input {url!r} does not exist (no object with that key)") from exc
        return response["ContentLength"], response.get("ETag")

    def _submit(
        self, bucket: str, key: str, destination: Path, size: int, etag: str | None
    ) -> TransferFuture:
        from .._s3.sdk import KnownObject

        manager = self._connection.transfers()
        return manager.download(
            bucket, key, str(destination), subscribers=[KnownObject(size, etag)]
        )

    def _describe(self, exc: BaseException, *, url: str, bucket: str) -> str:
        if error_code(exc) in {"PreconditionFailed", "412"}:
            return f"input {url!r} changed while it was being fetched; try again"
        return describe_failure(
            exc,
            doing=f"fetching input {url!r}",
            bucket=bucket,
            settings=self._connection.settings,
            permission=(
                f"s3:GetObject on it (without s3:ListBucket on {bucket!r}, S3 also answers "
                "'access denied' for keys that do not exist)"
            ),
        )

    async def aclose(self) -> None:
        """Wait for running downloads, then close the client if this fetcher built it."""
        await anyio.to_thread.run_sync(self._connection.close)
