"""Inputs from this machine's disk, limited to the folders the application names."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote, urlsplit

import anyio.to_thread

from .._errors import FetchError, InvalidTaskError

__all__ = ["LocalFetcher"]


class LocalFetcher:
    """Copies ``file://`` inputs from a fixed set of folders into the task's folder.

    A URL whose real path (symbolic links resolved) lies outside every allowed folder is
    refused, so a caller cannot name ``file:///etc/passwd`` or climb out with ``..`` or a
    link. The copy runs in a worker thread in fixed-size chunks: memory does not grow with the
    file's size.

    Args:
        roots: The folders inputs may come from. Nothing else is readable.
        max_size: Largest input in bytes, or None for no limit.

    Raises:
        ValueError: no roots were given.
    """

    def __init__(
        self, roots: Iterable[str | os.PathLike[str]], *, max_size: int | None = None
    ) -> None:
        self._roots = tuple(Path(root).expanduser().resolve() for root in roots)
        if not self._roots:
            raise ValueError("LocalFetcher needs at least one folder inputs may be read from")
        self._max_size = max_size

    def __repr__(self) -> str:
        return f"LocalFetcher({[str(root) for root in self._roots]!r})"

    def _path(self, url: str, error: type[Exception]) -> Path:
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme != "file":
            raise error(f"URL {url!r} is not a file:// URL")
        if parts.netloc not in {"", "localhost"}:
            raise error(f"URL {url!r} names host {parts.netloc!r}; use file:///absolute/path")
        if parts.query or parts.fragment:
            raise error(f"URL {url!r} must not have a query or fragment")
        path = Path(unquote(parts.path))
        if not path.is_absolute():
            raise error(f"URL {url!r} must hold an absolute path")
        resolved = path.resolve()
        if not any(resolved.is_relative_to(root) for root in self._roots):
            raise error(
                f"input {url!r} is outside the folders this fetcher may read "
                f"({', '.join(map(str, self._roots))})"
            )
        return resolved

    async def check(self, url: str) -> None:
        path = await anyio.to_thread.run_sync(self._path, url, InvalidTaskError)
        if not await anyio.Path(path).is_file():
            raise InvalidTaskError(f"input {url!r} is not an existing regular file")

    async def fetch(self, url: str, *, destination: Path) -> int:
        return await anyio.to_thread.run_sync(self._copy, url, destination)

    def _copy(self, url: str, destination: Path) -> int:
        source = self._path(url, FetchError)
        try:
            # O_NOFOLLOW: the checked name cannot have become a link since it was resolved.
            fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            raise FetchError(f"cannot read input {url!r}: {exc.strerror or exc}") from exc
        with open(fd, "rb") as reader:
            status = os.fstat(reader.fileno())
            if not stat.S_ISREG(status.st_mode):
                raise FetchError(f"input {url!r} is not a regular file")
            size = status.st_size
            if self._max_size is not None and size > self._max_size:
                raise FetchError(
                    f"input {url!r} is {size} bytes, more than the {self._max_size} allowed"
                )
            try:
                with open(destination, "xb") as writer:
                    shutil.copyfileobj(reader, writer)
                    return writer.tell()
            except OSError as exc:
                raise FetchError(f"cannot copy input {url!r}: {exc.strerror or exc}") from exc

    async def aclose(self) -> None:
        """Nothing to release."""
