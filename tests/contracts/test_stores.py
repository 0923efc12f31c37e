"""The store contract, run against every store."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ffmpeg_tasks.storage import MemoryStore

from .store_contract import StoreContract


class TestMemoryStore(StoreContract):
    @pytest.fixture
    async def store(self) -> AsyncIterator[MemoryStore]:
        store = MemoryStore()
        yield store
        await store.aclose()
