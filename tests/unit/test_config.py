"""Configuration from environment variables: what is built, what health shows, what is refused,
and that secrets never show."""

from __future__ import annotations

from collections.abc import MutableMapping
from pathlib import Path

import pytest

from ffmpeg_tasks import ConfigurationError, InvalidTaskError, TaskManager
from ffmpeg_tasks._config import adapters_from_env, settings_from_env
from ffmpeg_tasks.fetchers import RoutingFetcher
from ffmpeg_tasks.storage import PostgresStore, SqliteStore
from ffmpeg_tasks.uploaders import LocalUploader, S3Uploader

#: Recognisable secrets: none may appear in a repr, health, or an error.
SECRET = "SECRET-key-0b5e3c71-do-not-leak"
TOKEN = "TOKEN-session-91aa-do-not-leak"

S3_VARIABLES = (
    "S3_BUCKET",
    "S3_PREFIX",
    "S3_PRESIGN_EXPIRES",
    "S3_INPUT_BUCKETS",
    "S3_ADDRESSING_STYLE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "FFMPEG_TASKS_OUTPUT_DIR",
    "FFMPEG_TASKS_ALLOW_PRIVATE_NETWORKS",
    "FFMPEG_TASKS_DATABASE",
)


@pytest.fixture
def env(clean_env: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """``os.environ`` without any variable this module reads; restored afterwards."""
    for name in S3_VARIABLES:
        clean_env.pop(name, None)
    return clean_env


def test_without_a_bucket_outputs_go_to_a_local_folder(
    env: MutableMapping[str, str], tmp_path: Path
) -> None:
    env["FFMPEG_TASKS_OUTPUT_DIR"] = str(tmp_path / "outs")
    built = adapters_from_env()
    assert isinstance(built.uploader, LocalUploader)
    assert built.uploader.directory == tmp_path / "outs"
    assert built.details["outputs"] == f"local folder {tmp_path / 'outs'}: S3_BUCKET is not set"
    assert built.details["inputs"] == (
        "http(s) from public addresses only; s3:// refused (S3_INPUT_BUCKETS is not set)"
    )
    assert "credentials" not in built.details


def test_tasks_stay_in_memory_without_a_database(env: MutableMapping[str, str]) -> None:
    built = adapters_from_env({})
    assert built.store is None
    assert "FFMPEG_TASKS_DATABASE is not set" in built.details["tasks"]


@pytest.mark.anyio
@pytest.mark.parametrize("form", ["{path}", "sqlite:///{path}"])
async def test_a_database_makes_a_sqlite_store(tmp_path: Path, form: str) -> None:
    path = tmp_path / "state" / "tasks.db"
    built = adapters_from_env({"FFMPEG_TASKS_DATABASE": form.format(path=path)})
    assert isinstance(built.store, SqliteStore)
    assert built.details["tasks"] == f"SQLite file {path}"
    await built.store.aclose()
    assert path.is_file()


@pytest.mark.anyio
async def test_a_libpq_dsn_makes_a_postgres_store_not_a_file() -> None:
    built = adapters_from_env({"FFMPEG_TASKS_DATABASE": "host=db.internal dbname=media user=t"})
    assert isinstance(built.store, PostgresStore)
    assert built.details["tasks"] == "PostgreSQL database t@db.internal/media"
    await built.store.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
async def test_a_postgresql_url_makes_a_postgres_store(scheme: str) -> None:
    """Nothing connects yet; the password stays out of every description."""
    url = f"{scheme}://tasks:{SECRET}@db.internal:5433/media"
    built = adapters_from_env({"FFMPEG_TASKS_DATABASE": url})
    assert isinstance(built.store, PostgresStore)
    assert built.details["tasks"] == "PostgreSQL database tasks@db.internal:5433/media"
    assert SECRET not in repr(built.store)
    assert SECRET not in repr(settings_from_env({"FFMPEG_TASKS_DATABASE": url}))
    await built.store.aclose()


def test_the_default_local_folder(env: MutableMapping[str, str]) -> None:
    built = adapters_from_env({})
    assert isinstance(built.uploader, LocalUploader)
    assert built.uploader.directory == Path("ffmpeg-tasks-output").absolute()


def test_a_bucket_makes_an_s3_uploader() -> None:
    built = adapters_from_env(
        {
            "S3_BUCKET": "my-outputs",
            "S3_PREFIX": "renders",
            "S3_PRESIGN_EXPIRES": "3600",
            "AWS_ENDPOINT_URL": "http://minio.internal:9000",
            "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
            "AWS_SECRET_ACCESS_KEY": SECRET,
        }
    )
    assert isinstance(built.uploader, S3Uploader)
    assert built.uploader.bucket == "my-outputs"
    assert built.uploader.prefix == "renders/"
    assert built.uploader.key(task_id="t1", name="out.mp4") == "renders/t1/out.mp4"
    assert repr(built.uploader) == (
        "S3Uploader('my-outputs', prefix='renders/', endpoint_url='http://minio.internal:9000', "
        "region='us-east-1', presign_expires=3600)"
    )
    assert built.details == {
        "outputs": "s3://my-outputs/renders/ (region us-east-1, http://minio.internal:9000; "
        "presigned download URLs for 3600 s)",
        "inputs": "http(s) from public addresses only; s3:// refused (S3_INPUT_BUCKETS is not set)",
        "max_input_bytes": "2147483648",
        "credentials": "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
        "tasks": "in memory: FFMPEG_TASKS_DATABASE is not set, restarts forget them",
    }


def test_region_falls_back_to_aws_default_region() -> None:
    built = adapters_from_env({"S3_BUCKET": "my-outputs", "AWS_DEFAULT_REGION": "eu-central-1"})
    assert "region='eu-central-1'" in repr(built.uploader)
    assert built.details["credentials"] == "boto3's default chain"
    built = adapters_from_env({"S3_BUCKET": "my-outputs", "AWS_REGION": "ap-south-1"})
    assert "region='ap-south-1'" in repr(built.uploader)


@pytest.mark.anyio
async def test_s3_inputs_are_refused_without_s3_input_buckets() -> None:
    built = adapters_from_env({"S3_BUCKET": "my-outputs"})
    assert isinstance(built.fetcher, RoutingFetcher)
    assert built.fetcher.schemes == {"http", "https", "s3"}
    with pytest.raises(InvalidTaskError, match=r"setting S3_INPUT_BUCKETS"):
        await built.fetcher.check("s3://my-outputs/in.mp4")


@pytest.mark.anyio
async def test_s3_inputs_come_only_from_s3_input_buckets() -> None:
    built = adapters_from_env({"S3_INPUT_BUCKETS": " media-a, media-b ,"})
    assert built.details["inputs"] == (
        "http(s) from public addresses only; s3:// from media-a, media-b (region us-east-1)"
    )
    await built.fetcher.check("s3://media-a/in.mp4")
    await built.fetcher.check("s3://media-b/in.mp4")
    with pytest.raises(InvalidTaskError, match="may not come from bucket 'media-c'"):
        await built.fetcher.check("s3://media-c/in.mp4")


@pytest.mark.anyio
async def test_private_networks_flag_reaches_the_http_fetcher() -> None:
    closed = adapters_from_env({})
    with pytest.raises(InvalidTaskError):
        await closed.fetcher.check("http://127.0.0.1:8000/in.mp4")
    opened = adapters_from_env({"FFMPEG_TASKS_ALLOW_PRIVATE_NETWORKS": "1"})
    await opened.fetcher.check("http://127.0.0.1:8000/in.mp4")
    assert opened.details["inputs"].startswith("http(s) from any address;")


def test_inputs_are_capped_in_size_whatever_their_scheme() -> None:
    default = adapters_from_env({"S3_INPUT_BUCKETS": "media-a"})
    assert default.details["max_input_bytes"] == str(2 * 1024**3)
    assert "HttpFetcher(allow_private_networks=False, max_size=2147483648," in repr(default.fetcher)
    assert "S3Fetcher(buckets=['media-a'], region='us-east-1', max_size=2147483648)" in repr(
        default.fetcher
    )
    built = adapters_from_env(
        {"S3_INPUT_BUCKETS": "media-a", "FFMPEG_TASKS_MAX_INPUT_BYTES": "1_000_000"}
    )
    assert built.details["max_input_bytes"] == "1000000"
    assert "HttpFetcher(allow_private_networks=False, max_size=1000000," in repr(built.fetcher)
    assert "max_size=1000000)})" in repr(built.fetcher)  # the S3 fetcher, last


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"S3_BUCKET": "My_Bucket"}, "S3_BUCKET: bucket name 'My_Bucket' is not a valid"),
        ({"S3_BUCKET": "ab"}, "S3_BUCKET: bucket name 'ab' is not a valid"),
        ({"S3_PREFIX": "/abs"}, "S3_PREFIX: prefix '/abs' must be a relative key prefix"),
        ({"S3_PRESIGN_EXPIRES": "soon"}, "S3_PRESIGN_EXPIRES: 'soon' is not a whole number"),
        ({"S3_PRESIGN_EXPIRES": "0"}, "S3_PRESIGN_EXPIRES: '0' is not a whole number"),
        ({"S3_PRESIGN_EXPIRES": "604801"}, r"S3_PRESIGN_EXPIRES: '604801' .* \(7 days"),
        ({"S3_INPUT_BUCKETS": "good-one,Bad_One"}, "S3_INPUT_BUCKETS: bucket name 'Bad_One'"),
        ({"S3_INPUT_BUCKETS": " , "}, "S3_INPUT_BUCKETS: ',' names no bucket"),
        ({"AWS_ENDPOINT_URL": "minio:9000"}, "AWS_ENDPOINT_URL: endpoint URL 'minio:9000'"),
        (
            {"AWS_ENDPOINT_URL": "http://h:port"},
            r"AWS_ENDPOINT_URL: endpoint URL 'http://h:port' has an invalid port",
        ),
        (
            {"AWS_ENDPOINT_URL": f"https://user:{SECRET}@minio.example:9000"},
            r"AWS_ENDPOINT_URL: endpoint URL 'https://minio.example:9000' must not contain",
        ),
        ({"AWS_REGION": "EU West"}, "AWS_REGION: 'EU West' does not look like a region"),
        ({"S3_ADDRESSING_STYLE": "dns"}, "S3_ADDRESSING_STYLE: 'dns' is not one of"),
        ({"FFMPEG_TASKS_ALLOW_PRIVATE_NETWORKS": "maybe"}, "ALLOW_PRIVATE_NETWORKS: 'maybe'"),
        ({"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE"}, "set both AWS_ACCESS_KEY_ID and AWS_SECRET"),
        ({"AWS_SECRET_ACCESS_KEY": SECRET}, "set both AWS_ACCESS_KEY_ID and AWS_SECRET"),
        ({"AWS_SESSION_TOKEN": TOKEN}, "AWS_SESSION_TOKEN is set without"),
        ({"FFMPEG_TASKS_MAX_INPUT_BYTES": "2G"}, "MAX_INPUT_BYTES: '2G' is not a positive whole"),
        ({"FFMPEG_TASKS_MAX_INPUT_BYTES": "0"}, "MAX_INPUT_BYTES: '0' is not a positive whole"),
        (
            {"FFMPEG_TASKS_DATABASE": f"mysql://root:{SECRET}@db/tasks"},
            "FFMPEG_TASKS_DATABASE: 'mysql://...' is neither a SQLite file nor a PostgreSQL",
        ),
    ],
)
def test_bad_values_name_the_variable(variables: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as raised:
        adapters_from_env(variables)
    assert SECRET not in str(raised.value)
    assert TOKEN not in str(raised.value)


def test_empty_values_count_as_unset() -> None:
    built = adapters_from_env({"S3_BUCKET": "", "S3_PRESIGN_EXPIRES": " ", "AWS_REGION": ""})
    assert isinstance(built.uploader, LocalUploader)


def test_secrets_stay_out_of_errors_with_a_secret_endpoint() -> None:
    with pytest.raises(ConfigurationError) as raised:
        adapters_from_env({"AWS_ENDPOINT_URL": f"ftp://user:{SECRET}@minio:9000"})
    assert SECRET not in str(raised.value)
    assert "ftp://minio:9000" in str(raised.value)


# -- TaskManager.from_env, reading os.environ through the clean_env fixture -----------------


@pytest.mark.anyio
async def test_from_env_shows_where_outputs_go_without_secrets(
    env: MutableMapping[str, str],
) -> None:
    env.update(
        {
            "S3_BUCKET": "my-outputs",
            "S3_INPUT_BUCKETS": "my-inputs",
            "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE0000000",
            "AWS_SECRET_ACCESS_KEY": SECRET,
            "AWS_SESSION_TOKEN": TOKEN,
            "AWS_ENDPOINT_URL": "https://minio.example:9000",
        }
    )
    manager = TaskManager.from_env(health_details={"deployment": "test"})
    async with manager:
        health = (await manager.health()).to_dict()
    assert health["details"]["outputs"].startswith("s3://my-outputs/ (region us-east-1")
    assert health["details"]["inputs"].endswith(
        "s3:// from my-inputs (region us-east-1, https://minio.example:9000)"
    )
    assert health["details"]["deployment"] == "test"
    assert health["uploader"].startswith("S3Uploader('my-outputs'")
    for text in (repr(manager), str(health)):
        assert SECRET not in text
        assert TOKEN not in text
        assert "AKIAEXAMPLE0000000" not in text


def test_from_env_falls_back_to_local_and_says_so(
    env: MutableMapping[str, str], tmp_path: Path
) -> None:
    env["FFMPEG_TASKS_OUTPUT_DIR"] = str(tmp_path)
    manager = TaskManager.from_env()
    assert f"LocalUploader({str(tmp_path)!r})" in repr(manager)


def test_from_env_bad_value_names_it(env: MutableMapping[str, str]) -> None:
    env["S3_PRESIGN_EXPIRES"] = "tomorrow"
    env["AWS_ACCESS_KEY_ID"] = "AKIAEXAMPLE0000000"
    env["AWS_SECRET_ACCESS_KEY"] = SECRET
    with pytest.raises(ConfigurationError, match="S3_PRESIGN_EXPIRES") as raised:
        TaskManager.from_env()
    assert SECRET not in str(raised.value)
