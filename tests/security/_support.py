"""Shared helpers of the security suite: a manager on fakes, and a one-call check."""

from __future__ import annotations

from collections.abc import Mapping

from ffmpeg_tasks import CommandPolicy, TaskManager
from ffmpeg_tasks.storage import MemoryStore
from ffmpeg_tasks.testing import FakeFetcher, FakeRunner, FakeUploader

__all__ = ["Fakes", "accepts", "fakes", "url"]


def url(name: str) -> str:
    """The URL a test input is fetched from."""
    return f"https://media.example/{name}"


class Fakes:
    """A TaskManager on in-memory fakes, and the fakes, to see that nothing happened."""

    def __init__(self, policy: CommandPolicy | None = None) -> None:
        self.fetcher = FakeFetcher()
        self.runner = FakeRunner()
        self.uploader = FakeUploader()
        self.store = MemoryStore()
        self.manager = TaskManager(
            self.store, self.fetcher, self.runner, self.uploader, policy=policy
        )


def fakes(policy: CommandPolicy | None = None) -> Fakes:
    """A fresh manager on fakes (strict policy unless given)."""
    return Fakes(policy)


def accepts(
    policy: CommandPolicy, command: str, inputs: Mapping[str, str] | list[str], output: str
) -> tuple[str, ...]:
    """Check a command synchronously; return the argv ``CommandPolicy.prepare`` makes for it.

    Raises:
        InvalidTaskError: the structural checks or the policy refused it.
    """
    files = inputs if isinstance(inputs, Mapping) else {name: url(name) for name in inputs}
    return policy.prepare(command, input_files=files, output_filename=output)
