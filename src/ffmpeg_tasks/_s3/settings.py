"""The S3 adapters' settings and their checks: bucket names, key prefixes, endpoints, and the
attrs values a client and its transfers are built from."""

from __future__ import annotations

import ipaddress
import re
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import attrs

from .._checks import CONTROL_CHARACTERS, check_positive_int
from .._errors import ConfigurationError

__all__ = [
    "MAX_PART_SIZE",
    "MAX_PRESIGN_SECONDS",
    "MIB",
    "MIN_PART_SIZE",
    "AddressingStyle",
    "ClientSettings",
    "TransferSettings",
    "check_bucket_name",
    "check_endpoint_url",
    "check_prefix",
    "public_endpoint",
]

MIB = 1024 * 1024
#: S3's smallest part (except the last) and largest part of a multipart upload.
MIN_PART_SIZE, MAX_PART_SIZE = 5 * MIB, 5 * 1024 * MIB
#: SigV4 presigned URLs live at most seven days.
MAX_PRESIGN_SECONDS = 7 * 24 * 3600

AddressingStyle = Literal["auto", "path", "virtual"]

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


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
