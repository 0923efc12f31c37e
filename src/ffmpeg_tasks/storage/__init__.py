"""Where task state lives: :class:`MemoryStore` in-process, :class:`SqliteStore` in a file that
survives restarts and can be shared by several processes on one machine."""

from .memory import MemoryStore
from .sqlite import SqliteStore

__all__ = ["MemoryStore", "SqliteStore"]
