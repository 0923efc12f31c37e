"""The PostgreSQL schema: versioned SQL files applied in order by one explicit, idempotent call,
and the check that a store's database has the version this code was written for."""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING, Any

from .._errors import ConfigurationError

if TYPE_CHECKING:
    from psycopg import AsyncConnection

__all__ = ["SCHEMA_VERSION", "check_schema", "migrate_schema"]

#: The files, ``NNNN_name.sql``, each taking the schema from version NNNN - 1 to NNNN.
_FILES = sorted(
    (int(item.name[:4]), item.name)
    for item in resources.files(__package__).joinpath("postgres_schema").iterdir()
    if item.name.endswith(".sql")
)
#: The version this code reads and writes.
SCHEMA_VERSION = _FILES[-1][0]

#: Serialises migrations of one database, whichever processes run them.
_LOCK_KEY = "ffmpeg_tasks.migrate"

_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS ffmpeg_tasks_schema (
    version integer NOT NULL,
    migrated_at timestamptz NOT NULL DEFAULT now()
)
"""

_RUN_MIGRATE = (
    "run `ffmpeg-tasks db migrate` with FFMPEG_TASKS_DATABASE set to this database, "
    "or `await PostgresStore(...).migrate()`"
)


async def migrate_schema(connection: AsyncConnection[Any]) -> int:
    """Bring the schema to :data:`SCHEMA_VERSION` in one transaction; returns the version.

    Raises:
        ConfigurationError: the database's schema is newer than this code.
    """
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (_LOCK_KEY,))
        await connection.execute(_VERSION_TABLE)
        found = await _version(connection)
        if found is not None and found > SCHEMA_VERSION:
            raise _newer(found)
        for version, name in _FILES:
            if found is None or version > found:
                sql = resources.files(__package__).joinpath("postgres_schema", name).read_text()
                await connection.execute(sql.encode())
        await connection.execute("DELETE FROM ffmpeg_tasks_schema")
        await connection.execute(
            "INSERT INTO ffmpeg_tasks_schema (version) VALUES (%s)", (SCHEMA_VERSION,)
        )
    return SCHEMA_VERSION


async def check_schema(connection: AsyncConnection[Any], where: str) -> None:
    """Raise unless the database has the schema this code reads and writes.

    Raises:
        ConfigurationError: no schema, an older one, or a newer one; the message says what
            to do.
    """
    from psycopg import errors

    try:
        found = await _version(connection)
    except errors.UndefinedTable:
        found = None
    if found is None:
        raise ConfigurationError(
            f"the task database {where} has no ffmpeg-tasks tables (in the schemas of its "
            f"search_path): {_RUN_MIGRATE}"
        )
    if found > SCHEMA_VERSION:
        raise _newer(found)
    if found < SCHEMA_VERSION:
        raise ConfigurationError(
            f"the task database {where} has ffmpeg-tasks schema version {found}, older than "
            f"the version {SCHEMA_VERSION} this code needs: {_RUN_MIGRATE}"
        )


async def _version(connection: AsyncConnection[Any]) -> int | None:
    cursor = await connection.execute("SELECT max(version) FROM ffmpeg_tasks_schema")
    row = await cursor.fetchone()
    return None if row is None or row[0] is None else int(str(row[0]))


def _newer(found: int) -> ConfigurationError:
    return ConfigurationError(
        f"the task database has ffmpeg-tasks schema version {found}, newer than the version "
        f"{SCHEMA_VERSION} this code knows: upgrade ffmpeg-tasks (pip install -U ffmpeg-tasks) "
        "to the version that migrated it"
    )
