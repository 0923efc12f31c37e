"""S3Fetcher: which s3:// URLs it accepts (no server needed), and fetches against moto."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ffmpeg_tasks import ConfigurationError, FetchError, InvalidTaskError
from ffmpeg_tasks.fetchers import S3Fetcher
from tests.fixtures.s3_server import MotoAuth, MotoServer

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

pytestmark = pytest.mark.anyio

MIB = 1024 * 1024


def fetcher_for(endpoint_url: str, *buckets: str, **options: object) -> S3Fetcher:
    defaults: dict[str, object] = {
        "endpoint_url": endpoint_url,
        "region": "us-east-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
        "multipart_threshold": 8 * MIB,
        "multipart_chunksize": 5 * MIB,
    }
    return S3Fetcher(buckets, **{**defaults, **options})  # type: ignore[arg-type]


# -- check: no server involved -------------------------------------------------------------------


def test_an_allow_list_is_required() -> None:
    with pytest.raises(ConfigurationError, match=r"S3Fetcher\(buckets=\[...\]\)"):
        S3Fetcher()
    with pytest.raises(ConfigurationError, match="list of bucket names"):
        S3Fetcher("media-in")  # a string is not a list of names
    with pytest.raises(ConfigurationError, match="not a valid S3 bucket name"):
        S3Fetcher(["Media_In"])
    assert repr(S3Fetcher(allow_any_bucket=True)) == "S3Fetcher(allow_any_bucket=True)"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("s3://other-bucket/a.mp4", "may not come from bucket 'other-bucket'"),
        ("s3://media-in", "names no object"),
        ("s3://media-in/", "names no object"),
        ("s3:///a.mp4", "not a valid S3 bucket name"),
        ("s3://Media-In/a.mp4", "not a valid S3 bucket name"),
        ("s3://media-in/../secret/a.mp4", "'.' or '..' segments"),
        ("s3://media-in/a/../b.mp4", "'.' or '..' segments"),
        ("s3://media-in/./a.mp4", "'.' or '..' segments"),
        ("s3://media-in/folder/", "names a folder"),
        ("s3://media-in/a\nb.mp4", "control characters"),
        ("s3://media-in/" + "k" * 1025, "longer than S3's 1024 bytes"),
        ("https://media-in.s3.amazonaws.com/a.mp4", "not an s3://bucket/key URL"),
        ("media-in/a.mp4", "not an s3://bucket/key URL"),
    ],
)
async def test_check_refuses(url: str, message: str) -> None:
    fetcher = S3Fetcher(["media-in", "media-two"])
    with pytest.raises(InvalidTaskError, match=message):
        await fetcher.check(url)


async def test_check_accepts_allowed_buckets() -> None:
    fetcher = S3Fetcher(["media-in", "media-two"])
    await fetcher.check("s3://media-in/a.mp4")
    await fetcher.check("S3://media-two/deep/er/a b%20c.mp4")
    assert fetcher.parse("s3://media-two/a%20b.mp4") == ("media-two", "a%20b.mp4")  # literal
    await S3Fetcher(allow_any_bucket=True).check("s3://anything-goes/a.mp4")


# -- fetch against moto ------------------------------------------------------------------------


async def test_fetches_small_and_ranged(
    moto_server: MotoServer, s3_bucket: str, s3_client: S3Client, tmp_path: Path
) -> None:
    small, large = os.urandom(1000), os.urandom(12 * MIB + 7)
    s3_client.put_object(Bucket=s3_bucket, Key="in/small.mp4", Body=small)
    s3_client.put_object(Bucket=s3_bucket, Key="in/large.mp4", Body=large)
    async with fetcher_for(moto_server.endpoint_url, s3_bucket) as fetcher:
        assert await fetcher.fetch(f"s3://{s3_bucket}/in/small.mp4", destination=tmp_path / "a")
        size = await fetcher.fetch(f"s3://{s3_bucket}/in/large.mp4", destination=tmp_path / "b")
    assert (tmp_path / "a").read_bytes() == small
    assert size == len(large)
    assert (tmp_path / "b").read_bytes() == large
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]  # no temporary files left


async def test_missing_object_and_bucket(
    moto_server: MotoServer, s3_bucket: str, tmp_path: Path
) -> None:
    async with fetcher_for(moto_server.endpoint_url, s3_bucket, "no-such-bucket-in") as fetcher:
        with pytest.raises(FetchError, match="does not exist \\(no object with that key\\)"):
            await fetcher.fetch(f"s3://{s3_bucket}/nothing.mp4", destination=tmp_path / "a")
        with pytest.raises(FetchError, match="bucket 'no-such-bucket-in' does not exist"):
            await fetcher.fetch("s3://no-such-bucket-in/a.mp4", destination=tmp_path / "b")
        with pytest.raises(FetchError, match="may not come from bucket 'elsewhere'"):
            await fetcher.fetch("s3://elsewhere/a.mp4", destination=tmp_path / "c")
    assert list(tmp_path.iterdir()) == []


async def test_size_cap_is_checked_before_downloading(
    moto_server: MotoServer, s3_bucket: str, s3_client: S3Client, tmp_path: Path
) -> None:
    s3_client.put_object(Bucket=s3_bucket, Key="big.mp4", Body=b"x" * 5000)
    async with fetcher_for(moto_server.endpoint_url, s3_bucket, max_size=4096) as fetcher:
        with pytest.raises(FetchError, match="5000 bytes, more than the 4096 allowed"):
            await fetcher.fetch(f"s3://{s3_bucket}/big.mp4", destination=tmp_path / "a")
    assert list(tmp_path.iterdir()) == []


async def test_access_denied(
    moto_server: MotoServer,
    s3_bucket: str,
    s3_client: S3Client,
    moto_auth: MotoAuth,
    tmp_path: Path,
) -> None:
    s3_client.put_object(Bucket=s3_bucket, Key="in.mp4", Body=b"video")
    reader = moto_auth.user(["s3:GetObject"])
    writer = moto_auth.user(["s3:PutObject"])
    moto_auth.enable()

    async def fetch(key_id: str, secret: str, name: str) -> int:
        async with fetcher_for(
            moto_server.endpoint_url,
            s3_bucket,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
        ) as fetcher:
            return await fetcher.fetch(f"s3://{s3_bucket}/in.mp4", destination=tmp_path / name)

    assert await fetch(reader.aws_access_key_id, reader.aws_secret_access_key, "ok") == 5
    with pytest.raises(FetchError) as denied:
        await fetch(writer.aws_access_key_id, writer.aws_secret_access_key, "denied")
    assert "access denied fetching input" in str(denied.value)
    assert "s3:GetObject" in str(denied.value)
    assert writer.aws_secret_access_key not in str(denied.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok"]
