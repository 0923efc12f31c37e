"""What ``health()`` says about the configured adapters: where outputs go, where inputs may
come from, where tasks live. Never a secret."""

from __future__ import annotations

from .._s3 import public_endpoint
from .settings import Settings

__all__ = ["describe"]


def describe(settings: Settings) -> dict[str, str]:
    """Facts for ``Health.details``; for settings read from the environment, they name the
    variable that would change each one."""
    if not settings.from_environment:
        return {}
    where = f"region {settings.aws_region}"
    if settings.aws_endpoint_url:
        where += f", {public_endpoint(settings.aws_endpoint_url)}"
    details: dict[str, str] = {}
    if settings.s3_bucket is None:
        folder = settings.output_dir.expanduser().absolute()
        details["outputs"] = f"local folder {folder}: S3_BUCKET is not set"
    else:
        expires = settings.s3_presign_expires
        presigned = (
            f"presigned download URLs for {expires} s"
            if expires
            else "no download URLs (S3_PRESIGN_EXPIRES is not set)"
        )
        details["outputs"] = (
            f"s3://{settings.s3_bucket}/{settings.s3_prefix} ({where}; {presigned})"
        )
    if settings.s3_input_buckets is None:
        s3_inputs = "s3:// refused (S3_INPUT_BUCKETS is not set)"
    else:
        s3_inputs = f"s3:// from {', '.join(settings.s3_input_buckets)} ({where})"
    networks = "any address" if settings.allow_private_networks else "public addresses only"
    details["inputs"] = f"http(s) from {networks}; {s3_inputs}"
    details["max_input_bytes"] = str(settings.max_input_bytes)
    if settings.uses_s3:
        details["credentials"] = (
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
            if settings.aws_access_key_id
            else "boto3's default chain"
        )
    if settings.postgres_dsn is not None:
        from ..storage.postgres import describe_dsn

        details["tasks"] = f"PostgreSQL database {describe_dsn(settings.postgres_dsn)}"
    elif settings.database is None:
        details["tasks"] = "in memory: FFMPEG_TASKS_DATABASE is not set, restarts forget them"
    else:
        details["tasks"] = f"SQLite file {settings.database}"
    if settings.workers == "procrastinate":
        details["workers"] = "procrastinate workers on the task database (FFMPEG_TASKS_WORKERS)"
    return details
