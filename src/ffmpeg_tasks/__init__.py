"""ffmpeg-tasks: register ffmpeg jobs, run them safely in-process, and watch them finish."""

from ._errors import (
    ConfigurationError,
    FetchError,
    FfmpegTasksError,
    InvalidTaskError,
    InvalidTransitionError,
    RunError,
    TaskNotFoundError,
    UploadError,
    WaitTimeoutError,
)
from ._manager import TaskManager
from ._models import Health, Output, Progress, Task, TaskPhase, TaskStatus
from ._policy import CommandPolicy
from ._protocols import Fetcher, ProgressCallback, Runner, TaskStore, Uploader
from ._sync import SyncTaskManager

__all__ = [
    "CommandPolicy",
    "ConfigurationError",
    "FetchError",
    "Fetcher",
    "FfmpegTasksError",
    "Health",
    "InvalidTaskError",
    "InvalidTransitionError",
    "Output",
    "Progress",
    "ProgressCallback",
    "RunError",
    "Runner",
    "SyncTaskManager",
    "Task",
    "TaskManager",
    "TaskNotFoundError",
    "TaskPhase",
    "TaskStatus",
    "TaskStore",
    "UploadError",
    "Uploader",
    "WaitTimeoutError",
]
