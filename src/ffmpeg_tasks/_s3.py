"""What the S3 uploader and fetcher share: checked settings, one lazily built client, transfers
that stop with their caller, and error messages that say what to fix and never hold a secret.

boto3 and s3transfer take a third of a second to import, so they load on first use (from
``_s3client``): importing the adapters stays cheap.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit, urlunsplit

import anyio
import anyio.to_thread
import attrs

from ._checks import CONTROL_CHARACTERS, check_positive_int
from ._errors import ConfigurationError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from s3transfer.futures import TransferFuture
    from s3transfer.manager import TransferManager

__all__ = [
    "CLEANUP_TIMEOUT",
    "MAX_PRESIGN_SECONDS",
    "MIB",
    "AddressingStyle",
    "ClientSettings",
    "S3Connection",
    "TransferSettings",
    "check_bucket_name",
    "check_endpoint_url",
    "check_prefix",
    "describe_failure",
    "error_code",
    "public_endpoint",
    "redact",
    "run_transfer",
    "s3_exceptions",
]

logger = logging.getLogger("ffmpeg_tasks")

MIB = 1024 * 1024
#: S3's smallest part (except the last) and largest part of a multipart upload.
MIN_PART_SIZE, MAX_PART_SIZE = 5 * MIB, 5 * 1024 * MIB
#: SigV4 presigned URLs live at most seven days.
MAX_PRESIGN_SECONDS = 7 * 24 * 3600
#: How long a cancelled transfer may take to clean up (abort the multipart upload) before the
#: caller gives up waiting; the cleanup goes on in s3transfer's threads.
CLEANUP_TIMEOUT = 30.0

AddressingStyle = Literal["auto", "path", "virtual"]

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_CREDENTIAL_CODES = frozenset(
    {
        "ExpiredToken",
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "InvalidToken",
        "SignatureDoesNotMatch",
        "TokenRefreshRequired",
    }
)
_DENIED_CODES = frozenset({"403", "AccessDenied", "AllAccessDisabled", "AccountProblem"})
_REGION_CODES = frozenset(
    {
        "301",
        "AuthorizationHeaderMalformed",
        "IllegalLocationConstraintException",
        "PermanentRedirect",
    }
)


def check_bucket_name(name: object, *, error: type[Exception] = ConfigurationError) -> str:
    """Accept only valid S3 bucket names (3-63 lower-case letters, digits, ``.`` and ``-``).

    Raises:
        ConfigurationError: (or ``error``) naming the rule the name breaks.
    """
    if not isinstance(name, str) or not _BUCKET.fullmatch(name) or ".." in name:
        raise error(
            f"bucket name {name!r} is not a valid S3 bucket name: use 3-63 lower-case letters, "
            "digits, '.' and '-', starting and ending with a letter or digit"
        )
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return name
    raise error(f"bucket name {name!r} is not a valid S3 bucket name: it looks like an IP address")


def check_prefix(prefix: object) -> str:
    """A key prefix ending in ``/`` (added when missing), or ``""``.

    Raises:
        ConfigurationError: not a string, starts with ``/``, holds ``..`` or control characters.
    """
    if not isinstance(prefix, str):
        raise ConfigurationError(f"prefix must be a string, got {type(prefix).__name__}")
    if not prefix:
        return ""
    if prefix.startswith("/") or CONTROL_CHARACTERS.search(prefix) or ".." in prefix.split("/"):
        raise ConfigurationError(
            f"prefix {prefix!r} must be a relative key prefix such as 'outputs/': "
            "no leading '/', no '..' and no control characters"
        )
    if len(prefix) > 512:
        raise ConfigurationError("prefix must be at most 512 characters long")
    return prefix if prefix.endswith("/") else prefix + "/"


def check_endpoint_url(url: object) -> str | None:
    """``None`` or an ``http(s)://host[:port]`` URL without a ``user:password@`` part.

    S3 never reads credentials from the URL, and botocore's debug log prints the endpoint as
    given: a password there would end up in logs.

    Raises:
        ConfigurationError: anything else.
    """
    if url is None:
        return None
    if not isinstance(url, str):
        raise ConfigurationError(f"endpoint URL must be a string, got {type(url).__name__}")
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigurationError(
            f"endpoint URL {public_endpoint(url)!r} must look like https://host[:port], "
            "e.g. http://127.0.0.1:9000 for a local MinIO"
        )
    if "@" in parts.netloc:
        raise ConfigurationError(
            f"endpoint URL {public_endpoint(url)!r} must not contain a user name or password "
            "(user:password@): S3 does not use them and botocore would log them; give the "
            "credentials as aws_access_key_id and aws_secret_access_key (AWS_ACCESS_KEY_ID "
            "and AWS_SECRET_ACCESS_KEY) instead"
        )
    try:
        _ = parts.port
    except ValueError:
        raise ConfigurationError(
            f"endpoint URL {public_endpoint(url)!r} has an invalid port"
        ) from None
    return url


def public_endpoint(url: object) -> str:
    """``url`` without a ``user:password@`` part, for messages and reprs."""
    if not isinstance(url, str):
        return repr(url)
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


@attrs.frozen(kw_only=True)
class ClientSettings:
    """How to build a boto3 S3 client. Credentials never appear in its ``repr``."""

    #: An S3-compatible endpoint (MinIO, R2, Ceph), or None for AWS.
    endpoint_url: str | None = None
    #: The region requests are signed for; boto3's default chain decides when None.
    region: str | None = None
    #: Explicit credentials; boto3's default chain (env, profile, role) when None.
    aws_access_key_id: str | None = attrs.field(default=None, repr=False)
    aws_secret_access_key: str | None = attrs.field(default=None, repr=False)
    aws_session_token: str | None = attrs.field(default=None, repr=False)
    #: Attempts per request in botocore's standard retry mode (1 = no retries).
    max_attempts: int = 5
    #: Connections kept to S3: at least the transfer's concurrency.
    max_pool_connections: int = 10
    #: ``path`` for stores that do not serve ``bucket.host`` names; botocore's choice when None.
    addressing_style: AddressingStyle | None = None

    def __attrs_post_init__(self) -> None:
        check_endpoint_url(self.endpoint_url)
        if (self.aws_access_key_id is None) != (self.aws_secret_access_key is None):
            raise ConfigurationError(
                "give both aws_access_key_id and aws_secret_access_key, or neither "
                "(boto3's default chain then finds credentials)"
            )
        if self.aws_session_token is not None and self.aws_access_key_id is None:
            raise ConfigurationError("aws_session_token needs aws_access_key_id and the secret")
        check_positive_int(self.max_attempts, "max_attempts")
        if self.addressing_style not in {None, "auto", "path", "virtual"}:
            raise ConfigurationError(
                f"addressing_style must be 'auto', 'path' or 'virtual', got {self.addressing_style!r}"
            )

    @property
    def secrets(self) -> tuple[str, ...]:
        """Strings that must never reach a message, log or repr."""
        values = (self.aws_secret_access_key, self.aws_session_token, self.aws_access_key_id)
        return tuple(value for value in values if value)


@attrs.frozen(kw_only=True)
class TransferSettings:
    """s3transfer's knobs: when to go multipart, part size, parallel requests."""

    #: Files at least this large are sent in parts.
    multipart_threshold: int = 8 * MIB
    #: Size of each part (S3 needs 5 MiB to 5 GiB).
    multipart_chunksize: int = 8 * MIB
    #: Parts in flight at once (across all transfers of one adapter).
    max_concurrency: int = 10

    def __attrs_post_init__(self) -> None:
        check_positive_int(self.multipart_threshold, "multipart_threshold")
        check_positive_int(self.max_concurrency, "max_concurrency")
        chunk = self.multipart_chunksize
        if (
            isinstance(chunk, bool)
            or not isinstance(chunk, int)
            or not (MIN_PART_SIZE <= chunk <= MAX_PART_SIZE)
        ):
            raise ConfigurationError(
                f"multipart_chunksize must be an integer from {MIN_PART_SIZE} (5 MiB) to "
                f"{MAX_PART_SIZE} (5 GiB), S3's part size limits; got {chunk!r}"
            )


class S3Connection:
    """One boto3 client and one s3transfer manager, built on first use in a worker thread.

    Every method blocks: call them through ``anyio.to_thread.run_sync``.
    """

    def __init__(
        self,
        settings: ClientSettings,
        transfer: TransferSettings,
        *,
        client: S3Client | None = None,
        on_client: Callable[[S3Client], None] | None = None,
    ) -> None:
        self.settings = settings
        self._transfer = transfer
        self._client = client
        self._owns_client = client is None
        self._on_client = on_client
        self._prepared = False
        self._manager: TransferManager | None = None
        self._lock = threading.Lock()
        self._closed = False

    def client(self) -> S3Client:
        """The client, built (and handed to ``on_client``) the first time."""
        with self._lock:
            return self._client_locked()

    def _client_locked(self) -> S3Client:
        if self._closed:
            raise RuntimeError("this S3 adapter is closed")
        if self._client is None:
            from ._s3client import build_client

            self._client = build_client(self.settings)
        if not self._prepared:
            self._prepared = True
            if self._on_client is not None:
                self._on_client(self._client)
        return self._client

    def transfers(self) -> TransferManager:
        """The s3transfer manager every transfer of this adapter shares."""
        with self._lock:
            client = self._client_locked()
            if self._manager is None:
                from ._s3client import build_transfer_manager

                self._manager = build_transfer_manager(client, self._transfer)
            return self._manager

    def close(self, *, on_close: Callable[[S3Client], None] | None = None) -> None:
        """Wait for running transfers, then close the client if this connection built it."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            manager, client = self._manager, self._client
        if manager is not None:
            manager.shutdown()
        if client is not None:
            if on_close is not None and self._prepared:
                on_close(client)
            if self._owns_client:
                client.close()


class _TransferState:
    """What the event loop and the transfer's worker thread share, under one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.future: TransferFuture | None = None
        self.cancelled = False
        #: The worker thread began (a thread from the pool may start late, or never).
        self.started = False
        self.finished = threading.Event()


async def run_transfer(start: Callable[[], TransferFuture]) -> TransferFuture:
    """Start an s3transfer transfer in a worker thread and wait for it without blocking the loop.

    A worker thread cannot be stopped, but a transfer can: when the caller is cancelled, the
    transfer is cancelled too and awaited (shielded, up to :data:`CLEANUP_TIMEOUT`) while
    s3transfer runs its cleanups: a multipart upload is aborted, a partial download deleted.
    Then the cancellation goes on; it is never swallowed.

    Args:
        start: Submits the transfer (``TransferManager.upload`` or ``download``); runs in the
            worker thread, so it may block.

    Returns:
        The finished transfer's future (``future.meta.size`` is the bytes moved).

    Raises:
        Exception: whatever ``start`` or the transfer raised (botocore and s3transfer errors,
            OSError, or the adapter's own errors).
    """
    state = _TransferState()

    def work() -> TransferFuture:
        with state.lock:
            if state.cancelled:  # the caller left before this thread got going: nobody
                raise RuntimeError("the transfer was cancelled before it started")  # reads it
            state.started = True
        try:
            future = start()
            with state.lock:
                state.future = future
                if state.cancelled:  # the caller left while the transfer was being submitted
                    future.cancel()
            future.result()
            return future
        finally:
            state.finished.set()

    try:
        return await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
    except BaseException:
        with state.lock:
            state.cancelled = True
            future, started = state.future, state.started
        if not started:
            raise  # nothing was sent, and the thread will not start the transfer
        if future is not None:
            future.cancel()  # a no-op when it has finished (failed) already
        with anyio.CancelScope(shield=True):
            settled = await anyio.to_thread.run_sync(state.finished.wait, CLEANUP_TIMEOUT)
        if not settled:
            logger.warning(
                "an S3 transfer was still cleaning up %g s after it was cancelled; "
                "it goes on in the background",
                CLEANUP_TIMEOUT,
            )
        raise


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every secret replaced by ``***``.

    Real keys are 20 (id) and 40 (secret) characters long; shorter strings (test values such
    as ``"t"``) are left alone, or every ``t`` of the message would go.
    """
    for secret in secrets:
        if len(secret) >= 8:
            text = text.replace(secret, "***")
    return text


def describe_failure(
    exc: BaseException,
    *,
    doing: str,
    bucket: str,
    settings: ClientSettings,
    permission: str,
) -> str:
    """A message for a failed S3 request that says what to change; secrets are masked.

    Args:
        exc: What boto3, s3transfer or the file system raised.
        doing: What was being done, e.g. ``"uploading to s3://b/k"``.
        bucket: The bucket concerned.
        settings: The client's settings (region, endpoint, secrets to mask).
        permission: The IAM actions the operation needs, for access-denied messages.
    """
    from botocore import exceptions as bx
    from s3transfer.exceptions import RetriesExceededError

    where = f"at {public_endpoint(settings.endpoint_url)}" if settings.endpoint_url else "on AWS"
    if isinstance(exc, bx.ClientError):
        code = error_code(exc)
        if code == "NoSuchBucket":
            text = f"bucket {bucket!r} does not exist {where} (failed {doing})"
        elif code in _CREDENTIAL_CODES:
            text = (
                f"S3 refused the credentials ({code}) {doing}: check AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), or the role the process runs as"
            )
        elif code in _DENIED_CODES:
            text = f"access denied {doing}: the credentials need {permission}"
        elif code in _REGION_CODES:
            text = (
                f"bucket {bucket!r} is not in region {settings.region or '(default)'} ({code}) "
                f"{doing}: set AWS_REGION to the bucket's region"
            )
        else:
            message = exc.response.get("Error", {}).get("Message")
            text = f"S3 answered {code}{f' ({message})' if message else ''} {doing}"
    elif isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        text = (
            f"no AWS credentials found {doing}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "or run with a role or profile boto3 can find"
        )
    elif isinstance(exc, bx.CredentialRetrievalError):
        text = f"could not get AWS credentials {doing}: {exc}"
    elif isinstance(exc, bx.EndpointConnectionError | bx.ConnectTimeoutError):
        text = f"cannot connect to S3 {where} {doing}: check AWS_ENDPOINT_URL and the network"
    elif isinstance(exc, bx.HTTPClientError | bx.ReadTimeoutError | RetriesExceededError):
        attempts = settings.max_attempts
        text = f"the connection to S3 {where} failed {doing} (tried {attempts} times): {exc}"
    elif isinstance(exc, bx.BotoCoreError):
        text = f"S3 client error {doing}: {exc}"
    elif isinstance(exc, OSError):
        text = f"file error {doing}: {exc.strerror or exc}"
    else:
        text = f"{doing} failed: {type(exc).__name__}: {exc}"
    return redact(text, settings.secrets)


def s3_exceptions() -> tuple[type[Exception], ...]:
    """The exception types an S3 transfer raises that adapters translate."""
    from botocore.exceptions import BotoCoreError, ClientError
    from s3transfer.exceptions import CancelledError, RetriesExceededError

    return (BotoCoreError, ClientError, RetriesExceededError, CancelledError, OSError)


def error_code(exc: BaseException) -> str | None:
    """The S3 error code (``NoSuchKey``, ``404``...) of a botocore ClientError, else None."""
    from botocore.exceptions import ClientError

    if not isinstance(exc, ClientError):
        return None
    code = exc.response.get("Error", {}).get("Code")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return str(code or status)
