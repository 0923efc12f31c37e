"""Where task state lives: :class:`MemoryStore` in-process, :class:`SqliteStore` in a file that
survives restarts and can be shared by several processes on one machine, :class:`PostgresStore`
in PostgreSQL, shared by processes on many machines (the ``postgres`` extra)."""

from .memory import MemoryStore
from .postgres import PostgresStore
from .sqlite import SqliteStore

__all__ = ["MemoryStore", "PostgresStore", "SqliteStore"]
