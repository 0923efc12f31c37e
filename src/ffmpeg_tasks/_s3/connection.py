"""The one connection an S3 adapter holds: checked from the adapter's constructor arguments,
built (client and transfer manager) on first use, closed once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from .._errors import ConfigurationError
from .settings import AddressingStyle, ClientSettings, TransferSettings, public_endpoint

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from s3transfer.manager import TransferManager

__all__ = ["S3Connection"]


class S3Connection:
    """One boto3 client and one s3transfer manager, built on first use in a worker thread.

    Every method but :meth:`from_options` and :meth:`repr_parts` blocks: call them through
    ``anyio.to_thread.run_sync``.
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

    @classmethod
    def from_options(
        cls,
        *,
        client: S3Client | None,
        endpoint_url: str | None,
        region: str | None,
        aws_access_key_id: str | None,
        aws_secret_access_key: str | None,
        aws_session_token: str | None,
        multipart_threshold: int,
        multipart_chunksize: int,
        max_concurrency: int,
        max_attempts: int,
        addressing_style: AddressingStyle | None,
        on_client: Callable[[S3Client], None] | None = None,
    ) -> S3Connection:
        """Check the connection arguments both S3 adapters take; nothing is sent or imported yet.

        ``S3Fetcher`` and ``S3Uploader`` pass theirs through unchanged and document them. Each
        is required here, so mypy flags an adapter that does not pass a new one on.
        ``on_client`` is called once with the client before its first use.

        Raises:
            ConfigurationError: an invalid setting, or ``client`` together with connection
                arguments.
        """
        connection_args = (
            endpoint_url,
            region,
            aws_access_key_id,
            aws_secret_access_key,
            aws_session_token,
            addressing_style,
        )
        if client is not None and any(arg is not None for arg in connection_args):
            raise ConfigurationError(
                "pass either client or endpoint_url/region/credentials/addressing_style, "
                "not both: a given client is used as it is"
            )
        transfer = TransferSettings(
            multipart_threshold=multipart_threshold,
            multipart_chunksize=multipart_chunksize,
            max_concurrency=max_concurrency,
        )
        settings = ClientSettings(
            endpoint_url=endpoint_url,
            region=region,
            aws_access_key_id=aws_access_key_id,
            aws_secret_access_key=aws_secret_access_key,
            aws_session_token=aws_session_token,
            max_attempts=max_attempts,
            max_pool_connections=max(10, max_concurrency + 2),
            addressing_style=addressing_style,
        )
        return cls(settings, transfer, client=client, on_client=on_client)

    def repr_parts(self) -> list[str]:
        """The ``endpoint_url=`` and ``region=`` parts of an adapter's ``repr``, when set."""
        parts = []
        if self.settings.endpoint_url:
            parts.append(f"endpoint_url={public_endpoint(self.settings.endpoint_url)!r}")
        if self.settings.region:
            parts.append(f"region={self.settings.region!r}")
        return parts

    def client(self) -> S3Client:
        """The client, built (and handed to ``on_client``) the first time."""
        with self._lock:
            return self._client_locked()

    def _client_locked(self) -> S3Client:
        if self._closed:
            raise RuntimeError("this S3 adapter is closed")
        if self._client is None:
            from .sdk import build_client

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
                from .sdk import build_transfer_manager

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
