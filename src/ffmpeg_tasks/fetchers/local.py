"""Inputs from this machine's disk, limited to the folders the application names."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

import anyio.from_thread
import anyio.to_thread
from anyio.abc import AsyncResource

from .._errors import ConfigurationError, FetchError, InvalidTaskError

__all__ = ["LocalFetcher"]

#: Bytes copied per read: big enough to be fast, small enough to stop soon when cancelled.
_CHUNK = 1024 * 1024


class LocalFetcher(AsyncResource):
    """Copies ``file://`` inputs from a fixed set of folders into the task's folder.

    A URL whose real path (symbolic links resolved) lies outside every allowed folder is
    refused, so a caller cannot name ``file:///etc/passwd`` or climb out with ``..`` or a
    link; the file is then opened one folder at a time without following links, so a folder
    swapped for a link after the check cannot lead out either. Only regular files are read.
    The copy runs in a worker thread in fixed-size chunks: memory does not grow with the
    file's size, and cancelling the task stops it and removes the partial copy.

    Args:
        roots: The folders inputs may come from. Nothing else is readable.
        max_size: Largest input in bytes, or None for no limit.

    Raises:
        ConfigurationError: no roots were given.
    """

    def __init__(
        self, roots: Iterable[str | os.PathLike[str]], *, max_size: int | None = None
    ) -> None:
        self._roots = tuple(Path(root).expanduser().resolve() for root in roots)
        if not self._roots:
            raise ConfigurationError(
                "LocalFetcher needs at least one folder inputs may be read from"
            )
        self._max_size = max_size

    def __repr__(self) -> str:
        return f"LocalFetcher({[str(root) for root in self._roots]!r})"

    def _path(self, url: str, error: type[Exception]) -> tuple[Path, Path]:
        """The allowed root and the real path (links resolved) that ``url`` names."""
        try:
            parts = urlsplit(url) if isinstance(url, str) else None
        except ValueError:
            parts = None
        if parts is None or parts.scheme != "file":
            raise error(f"URL {url!r} is not a file:// URL")
        if parts.netloc not in {"", "localhost"}:
            raise error(f"URL {url!r} names host {parts.netloc!r}; use file:///absolute/path")
        if parts.query or parts.fragment:
            raise error(f"URL {url!r} must not have a query or fragment")
        path = Path(unquote(parts.path))
        if not path.is_absolute():
            raise error(f"URL {url!r} must hold an absolute path")
        try:
            resolved = path.resolve()
        except (OSError, ValueError) as exc:
            raise error(f"URL {url!r} does not name a usable path: {exc}") from None
        for root in self._roots:
            if resolved.is_relative_to(root) and resolved != root:
                return root, resolved
        raise error(
            f"input {url!r} is outside the folders this fetcher may read "
            f"({', '.join(map(str, self._roots))})"
        )

    async def check(self, url: str) -> None:
        await anyio.to_thread.run_sync(self._check, url)

    def _check(self, url: str) -> None:
        """Resolve and look at the file in one trip to a worker thread."""
        _, path = self._path(url, InvalidTaskError)
        try:
            status = path.stat()
        except OSError:
            raise InvalidTaskError(f"input {url!r} is not an existing regular file") from None
        if not stat.S_ISREG(status.st_mode):
            raise InvalidTaskError(f"input {url!r} is not an existing regular file")
        if self._max_size is not None and status.st_size > self._max_size:
            raise InvalidTaskError(
                f"input {url!r} is {status.st_size} bytes, more than the {self._max_size} allowed"
            )

    async def fetch(self, url: str, *, destination: Path) -> int:
        return await anyio.to_thread.run_sync(self._copy, url, Path(destination))

    @staticmethod
    def _open(root: Path, source: Path) -> int:
        """Open ``source`` one folder at a time below ``root``, following no link.

        The path was checked with its links resolved; walking it again with ``O_NOFOLLOW``
        means a folder swapped for a link since then cannot lead outside ``root``.
        """
        folder = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            *folders, name = source.relative_to(root).parts
            for part in folders:
                inner = os.open(
                    part,
                    os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                    dir_fd=folder,
                )
                os.close(folder)
                folder = inner
            # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat refuses it next.
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
            return os.open(name, flags, dir_fd=folder)
        finally:
            os.close(folder)

    def _copy(self, url: str, destination: Path) -> int:
        root, source = self._path(url, FetchError)
        try:
            fd = self._open(root, source)
        except OSError as exc:
            raise FetchError(f"cannot read input {url!r}: {exc.strerror or exc}") from exc
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            os.close(fd)
            raise FetchError(f"input {url!r} is not a regular file")
        os.set_blocking(fd, True)
        with open(fd, "rb") as reader:
            if self._max_size is not None and status.st_size > self._max_size:
                raise FetchError(
                    f"input {url!r} is {status.st_size} bytes, more than the {self._max_size} "
                    "allowed"
                )
            try:
                writer = open(destination, "xb")  # noqa: SIM115 - closed below
            except OSError as exc:
                raise FetchError(f"cannot copy input {url!r}: {exc.strerror or exc}") from exc
            try:
                with writer:
                    return self._copy_chunks(reader, writer, url)
            except BaseException:
                destination.unlink(missing_ok=True)
                raise

    def _copy_chunks(self, reader: BinaryIO, writer: BinaryIO, url: str) -> int:
        copied = 0
        try:
            while chunk := reader.read(_CHUNK):
                anyio.from_thread.check_cancelled()  # a cancelled task stops the copy
                copied += len(chunk)
                if self._max_size is not None and copied > self._max_size:
                    raise FetchError(f"input {url!r} grew past the {self._max_size} bytes allowed")
                writer.write(chunk)
        except OSError as exc:
            raise FetchError(f"cannot copy input {url!r}: {exc.strerror or exc}") from exc
        return copied

    async def aclose(self) -> None:
        """Nothing to release."""
