"""Default values that adapters, configuration and the HTTP API share, each named once."""

from __future__ import annotations

__all__ = [
    "DEFAULT_HEARTBEAT",
    "DEFAULT_LEASE",
    "DEFAULT_MAX_INPUT_BYTES",
    "DEFAULT_OUTPUT_DIR",
    "DEFAULT_REGION",
    "DEFAULT_RETRY_BACKOFF",
    "MAX_PAGE_SIZE",
]

#: Where outputs go when nothing else is configured (relative to the working directory).
DEFAULT_OUTPUT_DIR = "ffmpeg-tasks-output"
#: The largest input fetched over http(s) or from S3.
DEFAULT_MAX_INPUT_BYTES = 2 * 1024**3
#: The region S3 requests are signed for when nothing names one.
DEFAULT_REGION = "us-east-1"
#: The most tasks one ``list()`` call (or ``GET /ffmpeg/tasks`` page) returns.
MAX_PAGE_SIZE = 1000
#: Seconds a run's claim holds without being renewed; then any manager may recover the task.
DEFAULT_LEASE = 30.0
#: Seconds between two renewals of a running task's lease.
DEFAULT_HEARTBEAT = 10.0
#: Seconds before the first retry of an interrupted run; each further retry waits twice as long.
DEFAULT_RETRY_BACKOFF = 10.0
