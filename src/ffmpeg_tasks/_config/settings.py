"""Settings: what an application (through the environment or the CLI) asks the adapters to be.

A plain checked value. Reading it from the environment is ``environment``'s job, building
adapters from it ``adapters``'s, describing it for ``health()`` ``describe``'s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import attrs

from .._defaults import DEFAULT_MAX_INPUT_BYTES, DEFAULT_OUTPUT_DIR, DEFAULT_REGION
from .._s3 import AddressingStyle

__all__ = ["Settings", "Workers"]

#: Where started tasks run: in the process that started them, or in procrastinate's workers.
Workers = Literal["in-process", "procrastinate"]


def _path_tuple(value: object) -> tuple[Path, ...]:
    return tuple(Path(item) for item in value)  # type: ignore[attr-defined]


@attrs.frozen(kw_only=True)
class Settings:
    """The adapters' settings, already checked. Secrets never appear in the ``repr``."""

    #: Read from environment variables: descriptions and refusals then name the variables.
    from_environment: bool = False
    #: Outputs go to this bucket; to :attr:`output_dir` when None.
    s3_bucket: str | None = None
    #: Key prefix of outputs, ending in ``/`` (or empty).
    s3_prefix: str = ""
    #: Seconds presigned download URLs live; none are made when None.
    s3_presign_expires: int | None = None
    #: Buckets ``s3://`` inputs may come from; ``s3://`` is refused when None.
    s3_input_buckets: tuple[str, ...] | None = None
    #: ``path`` for stores that do not serve ``bucket.host``.
    s3_addressing_style: AddressingStyle | None = None
    aws_access_key_id: str | None = attrs.field(default=None, repr=False)
    aws_secret_access_key: str | None = attrs.field(default=None, repr=False)
    aws_session_token: str | None = attrs.field(default=None, repr=False)
    aws_region: str = DEFAULT_REGION
    #: An S3-compatible store (MinIO, R2, Ceph) instead of AWS.
    aws_endpoint_url: str | None = None
    #: The folder outputs go to when there is no bucket.
    output_dir: Path = attrs.field(default=Path(DEFAULT_OUTPUT_DIR), converter=Path)
    #: Let http(s) inputs come from loopback and private addresses.
    allow_private_networks: bool = False
    #: A SQLite file tasks live in; in memory when None (and no :attr:`postgres_dsn`).
    database: Path | None = None
    #: A PostgreSQL database tasks live in, as a DSN (it may hold a password).
    postgres_dsn: str | None = attrs.field(default=None, repr=False)
    #: The largest input, http(s) or ``s3://``.
    max_input_bytes: int = DEFAULT_MAX_INPUT_BYTES
    #: Folders ``file://`` inputs may be read from; ``file://`` is refused when empty.
    local_input_roots: tuple[Path, ...] = attrs.field(default=(), converter=_path_tuple)
    #: Where started tasks run; ``procrastinate`` needs :attr:`postgres_dsn`.
    workers: Workers = "in-process"
    #: The manager's own settings (``retries``, ``lease``, ...) that were set, by name.
    manager: dict[str, float | int] = attrs.field(factory=dict)

    @property
    def uses_s3(self) -> bool:
        """Whether anything talks to S3 (outputs or inputs)."""
        return self.s3_bucket is not None or self.s3_input_buckets is not None
