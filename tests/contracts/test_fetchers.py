"""The fetcher contract, run against the fake, the HTTP fetcher, the local folder fetcher and the
router; then the local fetcher's and the router's own rules. (The HTTP fetcher's SSRF and
failure cases are in tests/integration/test_http_fetcher.py.)"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import anyio
import pytest

from ffmpeg_tasks import ConfigurationError, FetchError, InvalidTaskError
from ffmpeg_tasks.fetchers import HttpFetcher, LocalFetcher, RoutingFetcher
from ffmpeg_tasks.testing import FakeFetcher
from tests.fixtures.http_server import HttpServer

from .fetcher_contract import FetcherContract


class TestFakeFetcher(FetcherContract):
    @pytest.fixture
    def fetcher(self) -> FakeFetcher:
        self.fake = FakeFetcher()
        return self.fake

    async def serve(self, name: str, body: bytes) -> str:
        url = f"https://media.example/{name}"
        self.fake.bodies[url] = body
        return url

    async def withdraw(self, url: str) -> None:
        del self.fake.bodies[url]


class TestHttpFetcher(FetcherContract):
    @pytest.fixture
    async def fetcher(self, http_server: HttpServer) -> AsyncIterator[HttpFetcher]:
        self.server = http_server
        fetcher = HttpFetcher(allow_private_networks=True, retries=0)
        yield fetcher
        await fetcher.aclose()

    async def serve(self, name: str, body: bytes) -> str:
        return self.server.add(f"/media/{name}", body)

    async def withdraw(self, url: str) -> None:
        self.server.add(urlsplit(url).path, b"gone", status=404)


class TestLocalFetcher(FetcherContract):
    @pytest.fixture
    def fetcher(self, tmp_path: Path) -> LocalFetcher:
        self.root = tmp_path / "inputs"
        self.root.mkdir()
        return LocalFetcher([self.root])

    async def serve(self, name: str, body: bytes) -> str:
        path = self.root / name
        path.write_bytes(body)
        return path.as_uri()

    async def withdraw(self, url: str) -> None:
        (self.root / Path(urlsplit(url).path).name).unlink()

    # -- its own rules --------------------------------------------------------------------

    @pytest.mark.anyio
    @pytest.mark.parametrize(
        ("url", "message"),
        [
            ("file:///etc/passwd", "outside the folders"),
            ("file:///root/../etc/passwd", "outside the folders"),
            ("file://evil.example/etc/passwd", "names host"),
            ("file://localhost/etc/passwd", "outside the folders"),
            ("file:relative/clip.mp4", "absolute path"),
            ("file:///inputs/clip.mp4?x=1", "query or fragment"),
            ("file:///tmp/%00clip.mp4", "usable path"),
            ("http://media.example/clip.mp4", "not a file:// URL"),
        ],
    )
    async def test_check_refuses(self, fetcher: LocalFetcher, url: str, message: str) -> None:
        with pytest.raises(InvalidTaskError, match=message):
            await fetcher.check(url)

    @pytest.mark.anyio
    async def test_climbing_out_with_dotdot_is_refused(
        self, fetcher: LocalFetcher, tmp_path: Path
    ) -> None:
        secret = tmp_path / "secret.txt"
        secret.write_bytes(b"secret")
        url = f"file://{self.root}/../secret.txt"
        with pytest.raises(InvalidTaskError, match="outside the folders"):
            await fetcher.check(url)
        with pytest.raises(FetchError, match="outside the folders"):
            await fetcher.fetch(url, destination=tmp_path / "out")
        assert not (tmp_path / "out").exists()

    @pytest.mark.anyio
    async def test_a_link_out_of_the_root_is_refused(
        self, fetcher: LocalFetcher, tmp_path: Path
    ) -> None:
        secret = tmp_path / "secret.txt"
        secret.write_bytes(b"secret")
        (self.root / "innocent.mp4").symlink_to(secret)
        (self.root / "folder").symlink_to(tmp_path)
        for url in [(self.root / "innocent.mp4").as_uri(), f"file://{self.root}/folder/secret.txt"]:
            with pytest.raises(InvalidTaskError, match="outside the folders"):
                await fetcher.check(url)
            with pytest.raises(FetchError, match="outside the folders"):
                await fetcher.fetch(url, destination=tmp_path / "out")
        assert not (tmp_path / "out").exists()

    @pytest.mark.anyio
    async def test_a_link_inside_the_root_is_followed(
        self, fetcher: LocalFetcher, tmp_path: Path
    ) -> None:
        (self.root / "real.mp4").write_bytes(b"real")
        (self.root / "alias.mp4").symlink_to(self.root / "real.mp4")
        url = (self.root / "alias.mp4").as_uri()
        await fetcher.check(url)
        assert await fetcher.fetch(url, destination=tmp_path / "out") == 4

    @pytest.mark.anyio
    async def test_a_folder_swapped_for_a_link_after_the_check_is_not_followed(
        self, fetcher: LocalFetcher, tmp_path: Path
    ) -> None:
        outside = tmp_path / "outside"
        outside.mkdir()
        (outside / "clip.mp4").write_bytes(b"secret")
        # The path resolves inside the root, then a folder on it becomes a link: the walk
        # with O_NOFOLLOW refuses it (LocalFetcher._open is the step under test).
        (self.root / "sub").mkdir()
        (self.root / "sub" / "clip.mp4").write_bytes(b"fine")
        os.rename(self.root / "sub", tmp_path / "old-sub")
        (self.root / "sub").symlink_to(outside)
        with pytest.raises(OSError, match=r"Too many levels of symbolic links|Not a directory"):
            LocalFetcher._open(self.root, self.root / "sub" / "clip.mp4")

    @pytest.mark.anyio
    async def test_only_regular_files(self, fetcher: LocalFetcher, tmp_path: Path) -> None:
        (self.root / "folder.mp4").mkdir()
        os.mkfifo(self.root / "pipe.mp4")
        for name in ["folder.mp4", "pipe.mp4"]:
            url = (self.root / name).as_uri()
            with pytest.raises(InvalidTaskError, match="not an existing regular file"):
                await fetcher.check(url)
            with pytest.raises(FetchError):
                await fetcher.fetch(url, destination=tmp_path / name)
            assert not (tmp_path / name).exists()
        with pytest.raises(InvalidTaskError, match="outside the folders"):
            await fetcher.check(self.root.as_uri())  # the root itself is no input

    @pytest.mark.anyio
    async def test_max_size(self, tmp_path: Path) -> None:
        root = tmp_path / "in"
        root.mkdir()
        (root / "big.mp4").write_bytes(b"x" * 1000)
        fetcher = LocalFetcher([root], max_size=999)
        url = (root / "big.mp4").as_uri()
        with pytest.raises(InvalidTaskError, match="1000 bytes, more than the 999"):
            await fetcher.check(url)
        with pytest.raises(FetchError, match="1000 bytes, more than the 999"):
            await fetcher.fetch(url, destination=tmp_path / "out")
        assert not (tmp_path / "out").exists()

    @pytest.mark.anyio
    async def test_an_existing_destination_is_not_overwritten(
        self, fetcher: LocalFetcher, tmp_path: Path
    ) -> None:
        url = await self.serve("clip.mp4", b"new")
        (tmp_path / "clip.mp4").write_bytes(b"old")
        with pytest.raises(FetchError, match="cannot copy"):
            await fetcher.fetch(url, destination=tmp_path / "clip.mp4")
        assert (tmp_path / "clip.mp4").read_bytes() == b"old"

    @pytest.mark.anyio
    async def test_cancelling_a_copy_leaves_no_partial_file(
        self, fetcher: LocalFetcher, tmp_path: Path
    ) -> None:
        source = self.root / "big.bin"
        with source.open("wb") as file:
            file.truncate(512 * 1024 * 1024)  # sparse: costs no disk
        destination = tmp_path / "big.bin"
        with anyio.move_on_after(0.05) as scope:
            await fetcher.fetch(source.as_uri(), destination=destination)
        assert scope.cancelled_caught
        assert not destination.exists()

    def test_needs_a_root(self) -> None:
        with pytest.raises(ConfigurationError, match="at least one folder"):
            LocalFetcher([])
        assert "inputs" in repr(LocalFetcher([Path("/srv/inputs")]))


class TestRoutingFetcher(FetcherContract):
    @pytest.fixture
    def fetcher(self, tmp_path: Path) -> RoutingFetcher:
        self.root = tmp_path / "inputs"
        self.root.mkdir()
        self.fake = FakeFetcher()
        return RoutingFetcher(
            {"http": self.fake, "https": self.fake, "file": LocalFetcher([self.root])}
        )

    async def serve(self, name: str, body: bytes) -> str:
        # Alternate between the two routes, so both serve the contract.
        if len(name) % 2:
            path = self.root / name
            path.write_bytes(body)
            return path.as_uri()
        url = f"https://media.example/{name}"
        self.fake.bodies[url] = body
        return url

    async def withdraw(self, url: str) -> None:
        if url.startswith("file:"):
            (self.root / Path(urlsplit(url).path).name).unlink()
        else:
            del self.fake.bodies[url]

    @pytest.mark.anyio
    async def test_routes_by_scheme_and_names_the_choices(
        self, fetcher: RoutingFetcher, tmp_path: Path
    ) -> None:
        assert fetcher.schemes == {"http", "https", "file"}
        with pytest.raises(InvalidTaskError, match="file://, http://, https://"):
            await fetcher.check("s3://bucket/key.mp4")
        with pytest.raises(FetchError, match="not supported here"):
            await fetcher.fetch("s3://bucket/key.mp4", destination=tmp_path / "x")
        with pytest.raises(InvalidTaskError, match="not a valid URL"):
            await fetcher.check("http://[::1")
        # a file:// URL never reaches the HTTP route, nor the other way round
        with pytest.raises(InvalidTaskError, match="outside the folders"):
            await fetcher.check("file:///etc/passwd")
        await fetcher.check("HTTPS://media.example/a.mp4")  # schemes are case-insensitive

    @pytest.mark.anyio
    async def test_closes_a_shared_fetcher_once(self) -> None:
        closed: list[str] = []

        class Counting(FakeFetcher):
            async def aclose(self) -> None:
                closed.append("closed")

        shared = Counting()
        await RoutingFetcher({"http": shared, "https": shared}).aclose()
        assert closed == ["closed"]

    def test_refuses_bad_routes(self) -> None:
        with pytest.raises(ConfigurationError, match="at least one"):
            RoutingFetcher({})
        with pytest.raises(ConfigurationError, match="lower-case"):
            RoutingFetcher({"HTTP": FakeFetcher()})
        with pytest.raises(ConfigurationError, match="lower-case"):
            RoutingFetcher({"http:": FakeFetcher()})
