"""Live progress bars of tasks, drawn with ``tqdm.auto``: a widget in Jupyter, text in a
terminal. They follow ``TaskManager.watch``, so they work wherever the manager does: asyncio,
trio, and the blocking facade's thread.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, TextIO

import anyio

from ._checks import CONTROL_CHARACTERS, check_optional_seconds
from ._errors import WaitTimeoutError
from ._models import Task, TaskPhase, TaskStatus
from ._tables import TaskList, first_line, overall_of, seconds_text, speed_text

if TYPE_CHECKING:
    from ._manager import TaskManager

__all__ = ["MAX_BARS", "ProgressBars", "execute_with_progress", "show_progress"]

logger = logging.getLogger("ffmpeg_tasks")

#: More tasks than this share one summary bar rather than getting a bar each.
MAX_BARS = 10
#: Each bar: what it is, the overall percentage, the bar, time watched, then the state.
_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {elapsed}{postfix}"
#: Characters of a name or an error a bar shows.
_NAME_CHARS = 40
_ERROR_CHARS = 60


def _plain(text: str, limit: int) -> str:
    """One printable line: a name or an error may hold a stranger's control characters."""
    return first_line(CONTROL_CHARACTERS.sub("?", text.replace("\n", " ")), limit)


def _fraction(task: Task) -> float:
    return overall_of(task) or 0.0


def _state(task: Task) -> str:
    """What a task's bar says after its percentage: phase, speed and ETA, or how it ended."""
    if task.status is TaskStatus.RUNNING:
        if task.phase is not TaskPhase.ENCODING:
            return task.phase.value if task.phase is not None else task.status.value
        parts = [task.phase.value]
        if task.speed is not None:
            parts.append(speed_text(task.speed))
        if task.eta is not None:
            parts.append(f"ETA {seconds_text(task.eta)}")
        return " ".join(parts)
    if task.error is not None and task.status is not TaskStatus.COMPLETED:
        return f"{task.status.value}: {_plain(task.error, _ERROR_CHARS)}"
    return task.status.value


class ProgressBars:
    """A bar per task, or one summary bar for them all, redrawn as task states arrive.

    Args:
        tasks: The tasks as they are now, in the order their bars are drawn.
        summary: One bar for all (True), a bar each (False), or a bar each up to
            :data:`MAX_BARS` tasks (None).
        file: Where text bars are written (standard error by default); a Jupyter kernel
            draws widgets instead.
    """

    def __init__(
        self, tasks: Sequence[Task], *, summary: bool | None = None, file: TextIO | None = None
    ) -> None:
        from tqdm.auto import tqdm  # only when a bar is drawn

        self._tasks = {task.id: task for task in tasks}
        self._summary = len(self._tasks) > MAX_BARS if summary is None else summary
        options: dict[str, Any] = {"file": file, "leave": True, "bar_format": _FORMAT}
        self._bars: dict[str, Any] = {}
        if self._summary:
            count = len(self._tasks)
            value, state = self._view("")
            self._bars[""] = tqdm(
                desc=f"{count} tasks", total=count, initial=value, postfix=state, **options
            )
        else:
            names = {
                task.id: _plain(f"{task.id[:8]} {task.output_filename}", _NAME_CHARS)
                for task in tasks
            }
            width = max(map(len, names.values()), default=0)
            for position, (task_id, name) in enumerate(names.items()):
                value, state = self._view(task_id)
                self._bars[task_id] = tqdm(
                    desc=name.ljust(width),
                    total=100,
                    initial=value,
                    postfix=state,
                    position=position,
                    **options,
                )

    def update(self, task: Task) -> None:
        """Redraw with the newest state of one of the tasks."""
        if self._tasks.get(task.id, task) == task:
            return  # not one of them, or nothing new
        self._tasks[task.id] = task
        key = "" if self._summary else task.id
        bar = self._bars[key]
        bar.n, state = self._view(key)
        bar.set_postfix_str(state, refresh=False)
        bar.refresh()

    def _view(self, key: str) -> tuple[float, str]:
        """Where a bar stands and what it says: one task's, or the summary's (key "")."""
        if key:
            task = self._tasks[key]
            return 100 * _fraction(task), _state(task)
        tasks = self._tasks.values()
        return sum(map(_fraction, tasks)), _tally(tasks)

    def close(self) -> None:
        """Leave the bars as they are (a widget turns green, or red for a task that did
        not complete)."""
        for bar in self._bars.values():
            bar.close()


def _tally(tasks: Iterable[Task]) -> str:
    counts: dict[TaskStatus, int] = {}
    for task in tasks:
        counts[task.status] = counts.get(task.status, 0) + 1
    return ", ".join(f"{counts[s]} {s.value}" for s in TaskStatus if s in counts)


async def _follow(manager: TaskManager, task_id: str, bars: ProgressBars) -> Task | None:
    """Draw one task's states until it ends; its last state, or None when it vanished."""
    last = None
    async with aclosing(manager.watch(task_id)) as changes:
        async for task in changes:
            bars.update(task)
            last = task
    return last


async def show_progress(
    manager: TaskManager,
    task_ids: str | Iterable[str],
    *,
    timeout: float | None = None,
    summary: bool | None = None,
    file: TextIO | None = None,
) -> TaskList:
    """See :meth:`TaskManager.show_progress`."""
    timeout = check_optional_seconds(timeout, "timeout", zero_ok=True)
    ids = [task_ids] if isinstance(task_ids, str) else list(dict.fromkeys(task_ids))
    last = {task.id: task for task in [await manager.get(task_id) for task_id in ids]}
    bars = ProgressBars(list(last.values()), summary=summary, file=file)
    failures: list[Exception] = []

    async def follow(task_id: str) -> None:
        try:
            if (task := await _follow(manager, task_id, bars)) is not None:
                last[task_id] = task
        except Exception as exc:  # noqa: BLE001 - raised below, unwrapped
            failures.append(exc)

    try:
        with anyio.move_on_after(timeout if timeout is not None else float("inf")):
            async with anyio.create_task_group() as group:
                for task_id in ids:
                    group.start_soon(follow, task_id)
    finally:
        bars.close()
    if failures:
        raise failures[0]
    left = [task_id for task_id in ids if not last[task_id].status.is_terminal]
    if left:  # only the timeout stops following a task before it ends
        raise WaitTimeoutError(
            f"{len(left)} of {len(ids)} tasks did not finish within {timeout or 0:g} s; they go on "
            "running: show their progress again, wait() for them, or cancel() them"
        )
    return TaskList(last[task_id] for task_id in ids)


async def execute_with_progress(manager: TaskManager, task_id: str) -> Task:
    """``manager.execute(task_id)`` with a bar of its progress while it runs."""
    bars = ProgressBars([await manager.get(task_id)])
    failure: Exception | None = None

    async def draw() -> None:
        try:
            await _follow(manager, task_id, bars)
        except Exception:  # a bar must never fail the run it shows
            logger.warning("task %s: could not show its progress", task_id, exc_info=True)

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(draw)
            try:
                done = await manager.execute(task_id)
            except Exception as exc:  # noqa: BLE001 - raised below, unwrapped
                failure = exc
            group.cancel_scope.cancel()
        if failure is not None:
            raise failure
        bars.update(done)
        return done
    finally:
        bars.close()
