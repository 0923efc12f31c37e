"""What ``TaskManager.health()`` reports: the runner's facts with the manager's settings, and a
warning when commands from strangers would run without a sandbox."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

import attrs

from ._models import Health
from ._policy import CommandPolicy
from ._protocols import TaskStore, Uploader

__all__ = ["UNSANDBOXED_WARNING", "SandboxWarning", "manager_health"]

logger = logging.getLogger("ffmpeg_tasks")

#: What health() and the log say when commands from strangers run without a sandbox.
UNSANDBOXED_WARNING = (
    "ffmpeg runs without a sandbox, so the strict command policy is the only barrier between "
    "callers and this machine: install bubblewrap (apt-get install bubblewrap), or accept this "
    "explicitly (see the sandbox page of the docs)"
)


def manager_health(
    runner_health: Health,
    *,
    store: TaskStore,
    uploader: Uploader,
    policy: CommandPolicy,
    timeout: float | None,
    details: Mapping[str, str],
) -> Health:
    """The runner's health with where tasks and outputs go, the policy and the time limit."""
    merged = {
        **runner_health.details,
        "store": repr(store),
        "policy": "trusted" if policy.is_trusted else "strict",
        "task_timeout": "none" if timeout is None else f"{timeout:g} s",
        **details,
    }
    warnings = runner_health.warnings
    if runner_health.ffmpeg_found and runner_health.sandbox is None and not policy.is_trusted:
        warnings += (UNSANDBOXED_WARNING,)
    return attrs.evolve(runner_health, uploader=repr(uploader), details=merged, warnings=warnings)


class SandboxWarning:
    """Says it in the log the first time a strict manager runs ffmpeg without a sandbox."""

    def __init__(self, health: Callable[[], Awaitable[Health]]) -> None:
        self._health = health
        self._checked = False

    async def once(self) -> None:
        if self._checked:
            return
        self._checked = True
        try:
            health = await self._health()
        except Exception:  # a warning must not fail the task: the run reports real problems
            logger.warning("could not check whether ffmpeg is sandboxed", exc_info=True)
            return
        if UNSANDBOXED_WARNING in health.warnings:
            logger.warning("%s", UNSANDBOXED_WARNING)
