"""The exception tree: one root, shallow branches named by cause.

::

    FfmpegTasksError
    ├── ConfigurationError          the application set something up wrong (no ffmpeg, missing extra)
    ├── InvalidTaskError            a caller sent a task we refuse (also a ValueError)
    ├── TaskNotFoundError           no task has that id (also a LookupError)
    ├── InvalidTransitionError      the task is not in a state that allows the request
    ├── WaitTimeoutError            wait() gave up before the task finished (also a TimeoutError)
    └── ExecutionError              a step of running a task failed
        ├── FetchError              an input could not be downloaded
        ├── RunError                ffmpeg failed; carries its return code and the tail of stderr
        ├── OutputError             the outputs are not what was declared or expected
        └── UploadError             an output could not be stored

Adapters translate their libraries' exceptions into these, so users never catch httpx or botocore
errors. Cancellation is never caught or wrapped.
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "ExecutionError",
    "FetchError",
    "FfmpegTasksError",
    "InvalidTaskError",
    "InvalidTransitionError",
    "OutputError",
    "RunError",
    "TaskNotFoundError",
    "UploadError",
    "WaitTimeoutError",
]


class FfmpegTasksError(Exception):
    """Root of every error this library raises on purpose."""


class ConfigurationError(FfmpegTasksError):
    """The application's setup is incomplete: fix the environment, not the task."""


class InvalidTaskError(FfmpegTasksError, ValueError):
    """A task was refused at registration; the message names what to change."""


class TaskNotFoundError(FfmpegTasksError, LookupError):
    """No task with the given id exists in the store."""

    def __init__(self, task_id: str) -> None:
        shown = task_id if len(task_id) <= 100 else task_id[:100] + "…"  # ids come from strangers
        super().__init__(f"no task with id {shown!r}")
        #: The id that was looked up.
        self.task_id = task_id


class InvalidTransitionError(FfmpegTasksError):
    """The task's current status does not allow the requested change."""

    def __init__(self, message: str, *, task_id: str, status: str) -> None:
        super().__init__(message)
        #: The task concerned.
        self.task_id = task_id
        #: Its status when the change was refused.
        self.status = status


class WaitTimeoutError(FfmpegTasksError, TimeoutError):
    """``wait()`` reached its timeout; the task itself goes on."""


class ExecutionError(FfmpegTasksError):
    """A step of running a task failed: fetching an input, running ffmpeg, storing an output.

    The manager records it on the task (``failed``, with ``error``); adapters raise it.
    """


class FetchError(ExecutionError):
    """An input could not be fetched; the message names the input and the cause."""


class RunError(ExecutionError):
    """ffmpeg exited with an error or could not be started."""

    def __init__(
        self, message: str, *, returncode: int | None = None, stderr_tail: str = ""
    ) -> None:
        super().__init__(message)
        #: ffmpeg's exit status, or None when it never ran.
        self.returncode = returncode
        #: The last lines ffmpeg wrote to stderr.
        self.stderr_tail = stderr_tail


class OutputError(ExecutionError):
    """What ffmpeg wrote is not what the task declared or expected: too many files, too large
    in total, unreadable as media, or a probed fact that differs from an expectation."""


class UploadError(ExecutionError):
    """An output could not be stored where the uploader puts it."""
