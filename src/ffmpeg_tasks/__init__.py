"""ffmpeg-tasks: register ffmpeg jobs, run them safely in-process, and watch them finish."""

from importlib import metadata as _metadata

from ._deliveries import Delivery, DeliveryState
from ._errors import (
    ConfigurationError,
    ExecutionError,
    FetchError,
    FfmpegTasksError,
    InvalidTaskError,
    InvalidTransitionError,
    OutputError,
    RunError,
    TaskNotFoundError,
    UploadError,
    WaitTimeoutError,
)
from ._events import EventStream, EventType, TaskEvent
from ._expect import Expectation
from ._log_context import TaskLogFilter
from ._manager import TaskManager
from ._media import MediaInfo, StreamInfo
from ._models import Health, Output, Progress, Task, TaskPhase, TaskStatus
from ._policy import CommandPolicy
from ._protocols import Dispatcher, Fetcher, ProgressCallback, Runner, TaskStore, Uploader
from ._sync import SyncTaskManager
from ._tables import TaskList
from ._telemetry import Metrics
from ._webhook_settings import WebhookSettings

__all__ = [
    "CommandPolicy",
    "ConfigurationError",
    "Delivery",
    "DeliveryState",
    "Dispatcher",
    "EventStream",
    "EventType",
    "ExecutionError",
    "Expectation",
    "FetchError",
    "Fetcher",
    "FfmpegTasksError",
    "Health",
    "InvalidTaskError",
    "InvalidTransitionError",
    "MediaInfo",
    "Metrics",
    "Output",
    "OutputError",
    "Progress",
    "ProgressCallback",
    "RunError",
    "Runner",
    "StreamInfo",
    "SyncTaskManager",
    "Task",
    "TaskEvent",
    "TaskList",
    "TaskLogFilter",
    "TaskManager",
    "TaskNotFoundError",
    "TaskPhase",
    "TaskStatus",
    "TaskStore",
    "UploadError",
    "Uploader",
    "WaitTimeoutError",
    "WebhookSettings",
]

try:
    __version__ = _metadata.version("ffmpeg-tasks")
except _metadata.PackageNotFoundError:  # pragma: no cover - a bare checkout on sys.path
    __version__ = "0+unknown"

# Tracebacks, reprs and the docs show ``ffmpeg_tasks.TaskManager``, where users import it from.
for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type):
        _value.__module__ = __name__
del _name, _value
