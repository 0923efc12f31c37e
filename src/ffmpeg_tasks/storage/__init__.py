"""Where task state lives: :class:`MemoryStore` in-process; SQL stores share tasks between processes."""

from .memory import MemoryStore

__all__ = ["MemoryStore"]
