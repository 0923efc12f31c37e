"""What every Fetcher promises; each adapter's test class subclasses this suite."""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest

from ffmpeg_tasks import Fetcher, FetchError, InvalidTaskError


class FetcherContract:
    """Subclasses provide a ``fetcher`` fixture, :meth:`serve` and :meth:`withdraw`."""

    async def serve(self, name: str, body: bytes) -> str:
        """Make ``body`` available and return the URL this fetcher reads it from."""
        raise NotImplementedError

    async def withdraw(self, url: str) -> None:
        """Make ``url`` (which passed ``check``) fail when fetched."""
        raise NotImplementedError

    #: A URL of a scheme this fetcher does not serve.
    foreign_url = "ftp://files.example/clip.mp4"

    @pytest.mark.anyio
    async def test_fetch_writes_the_bytes(self, fetcher: Fetcher, tmp_path: Path) -> None:
        body = os.urandom(300_000)
        url = await self.serve("clip.mp4", body)
        await fetcher.check(url)
        written = await fetcher.fetch(url, destination=tmp_path / "clip.mp4")
        assert written == len(body)
        assert (tmp_path / "clip.mp4").read_bytes() == body

    @pytest.mark.anyio
    async def test_an_empty_input_is_an_empty_file(self, fetcher: Fetcher, tmp_path: Path) -> None:
        url = await self.serve("empty.wav", b"")
        await fetcher.check(url)
        assert await fetcher.fetch(url, destination=tmp_path / "empty.wav") == 0
        assert (tmp_path / "empty.wav").read_bytes() == b""

    @pytest.mark.anyio
    async def test_inputs_fetch_concurrently(self, fetcher: Fetcher, tmp_path: Path) -> None:
        bodies = {f"part{n}.ts": os.urandom(50_000 + n) for n in range(4)}
        urls = {name: await self.serve(name, body) for name, body in bodies.items()}
        sizes: dict[str, int] = {}

        async def one(name: str) -> None:
            sizes[name] = await fetcher.fetch(urls[name], destination=tmp_path / name)

        async with anyio.create_task_group() as group:
            for name in urls:
                group.start_soon(one, name)
        assert sizes == {name: len(body) for name, body in bodies.items()}
        for name, body in bodies.items():
            assert (tmp_path / name).read_bytes() == body

    @pytest.mark.anyio
    @pytest.mark.parametrize("url", ["not a url", "", "//no-scheme/clip.mp4"])
    async def test_check_refuses_what_is_not_a_url(self, fetcher: Fetcher, url: str) -> None:
        with pytest.raises(InvalidTaskError):
            await fetcher.check(url)

    @pytest.mark.anyio
    async def test_check_refuses_a_foreign_scheme(self, fetcher: Fetcher) -> None:
        with pytest.raises(InvalidTaskError, match="ftp"):
            await fetcher.check(self.foreign_url)

    @pytest.mark.anyio
    async def test_a_vanished_input_is_a_fetch_error(
        self, fetcher: Fetcher, tmp_path: Path
    ) -> None:
        url = await self.serve("gone.mp4", b"soon gone")
        await fetcher.check(url)
        await self.withdraw(url)
        with pytest.raises(FetchError) as caught:
            await fetcher.fetch(url, destination=tmp_path / "gone.mp4")
        assert "gone.mp4" in str(caught.value)  # the message names the input
        assert not (tmp_path / "gone.mp4").exists()

    @pytest.mark.anyio
    async def test_aclose_twice_is_harmless(self, fetcher: Fetcher) -> None:
        await fetcher.aclose()
        await fetcher.aclose()
