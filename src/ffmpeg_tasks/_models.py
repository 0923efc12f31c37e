"""Immutable values that cross every boundary: tasks, their outputs, progress and health.

State changes make new objects (``attrs.evolve``) through the manager; nothing here mutates.
Storage rows and JSON go through ``to_dict``/``from_dict`` so the wire format stays out of
``__init__``.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import attrs

from ._errors import InvalidTransitionError
from ._expect import Expectation
from ._media import MediaInfo

if TYPE_CHECKING:
    from IPython.display import DisplayObject, FileLink
    from rich.table import Table

__all__ = [
    "Health",
    "Output",
    "Progress",
    "Task",
    "TaskPhase",
    "TaskStatus",
    "new_task_id",
    "utcnow",
]


def utcnow() -> datetime:
    """Timezone-aware now, so stored times compare across machines."""
    return datetime.now(UTC)


def new_task_id() -> str:
    """Random, unguessable ids: a task id is all a caller needs to poll it."""
    return str(uuid.uuid4())


class TaskStatus(enum.StrEnum):
    """Where a task is in its life. The first four are the original service's values."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        """True once the task can never change again."""
        return self in _TERMINAL


_TERMINAL = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED})


class TaskPhase(enum.StrEnum):
    """What a running task is doing right now."""

    FETCHING = "fetching"
    ENCODING = "encoding"
    UPLOADING = "uploading"


def _optional_datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _frozen_mapping(value: Mapping[str, str]) -> Mapping[str, str]:
    """A read-only copy: a Task handed out can never change what the store holds."""
    return MappingProxyType(dict(value))


def _outputs(value: Iterable[Output]) -> tuple[Output, ...]:
    return tuple(value)


def _str_tuple(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _expectations(value: Iterable[Expectation]) -> tuple[Expectation, ...]:
    return tuple(value)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@attrs.frozen(kw_only=True)
class Output:
    """One file a task produced, after the uploader stored it."""

    #: The file name ffmpeg wrote in the task's working folder.
    name: str
    #: Where the uploader put it: ``file://...`` or ``s3://bucket/key``.
    url: str
    #: A URL a browser can download from (a presigned HTTPS URL), when the uploader makes one.
    download_url: str | None = None
    #: When ``download_url`` stops working at the latest (UTC), when it is known to expire.
    download_expires_at: datetime | None = attrs.field(default=None, converter=_optional_datetime)
    #: Size in bytes.
    size: int = 0
    #: The media type it is stored with (``video/mp4``, ``application/vnd.apple.mpegurl``).
    content_type: str | None = None
    #: SHA-256 of its bytes, in hex, as read from the work folder before the upload.
    sha256: str | None = None
    #: What probing it found (container, duration, streams); None when it was not probed.
    media: MediaInfo | None = None

    def display(self, *, embed: bool | None = None) -> DisplayObject | FileLink:
        """A video, audio or image element (by content type) that Jupyter shows in place, or
        a link for other files: a local ``file://`` output, or one with a download URL.

        Args:
            embed: Put a local file's bytes into the notebook (True) or point at the file
                (False: Jupyter serves files under the folder it was started in); None
                embeds files up to 64 MiB.

        Raises:
            ConfigurationError: IPython is missing (``pip install "ffmpeg-tasks[notebook]"``),
                or the output is remote without a download URL.
            FileNotFoundError: the local file is gone.
        """
        from ._inline import show_output

        return show_output(self, embed=embed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "url": self.url,
            "download_url": self.download_url,
            "download_expires_at": _iso(self.download_expires_at),
            "size": self.size,
            "content_type": self.content_type,
            "sha256": self.sha256,
            "media": None if self.media is None else self.media.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Output:
        media = data.get("media")
        return cls(
            name=data["name"],
            url=data["url"],
            download_url=data.get("download_url"),
            download_expires_at=data.get("download_expires_at"),
            size=int(data.get("size", 0)),
            content_type=data.get("content_type"),
            sha256=data.get("sha256"),
            media=None if media is None else MediaInfo.from_dict(media),
        )


@attrs.frozen(kw_only=True)
class Task:
    """A registered ffmpeg job and everything known about its run."""

    #: Unique, unguessable id.
    id: str = attrs.field(factory=new_task_id)
    #: The ffmpeg arguments as the caller sent them (a leading ``ffmpeg`` is allowed).
    command: str
    #: Input file name used in the command -> URL it is fetched from.
    input_files: Mapping[str, str] = attrs.field(converter=_frozen_mapping, hash=False)
    #: The main output: the file name the command writes (for a ladder, its master
    #: playlist), uploaded when ffmpeg succeeds; ``output_url`` and ``download_url`` are its.
    output_filename: str
    #: The other files the command writes: exact names, ``%03d`` sequences and globs
    #: (``*.ts``); every file matching one is uploaded too.
    output_patterns: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    #: What the probed outputs must be like; the task fails when one does not match.
    expect: tuple[Expectation, ...] = attrs.field(default=(), converter=_expectations)
    #: Life-cycle state.
    status: TaskStatus = attrs.field(default=TaskStatus.PENDING, converter=TaskStatus)
    #: While running: fetching, encoding or uploading; None otherwise.
    phase: TaskPhase | None = attrs.field(
        default=None, converter=attrs.converters.optional(TaskPhase)
    )
    #: Encoding progress from 0.0 to 1.0, or None while unknown.
    progress: float | None = None
    #: The whole run's progress from 0.0 to 1.0, fetching, encoding and uploading each
    #: counting for a share (``docs/concepts/progress.md``); it never goes back within an
    #: attempt. None before the run first reports.
    overall_progress: float | None = None
    #: How fast ffmpeg encodes as a multiple of real time (``2.0``: two seconds of output a
    #: second), as of its last report, and kept once the encode is over; None while unknown.
    speed: float | None = None
    #: Seconds until the encode ends at that speed, as of the last report; None while unknown
    #: and whenever the task is not encoding.
    eta: float | None = None
    #: Stored outputs: the main output first, then the others by name.
    outputs: tuple[Output, ...] = attrs.field(default=(), converter=_outputs)
    #: Why the task failed or was cancelled: the step and the cause, with ffmpeg's last lines
    #: sanitised so that it is safe to show to whoever registered the task.
    error: str | None = None
    #: ffmpeg's last stderr lines exactly as it printed them, for the application's own eyes
    #: (they may echo file contents or paths); the HTTP API never shows them.
    log: str | None = None
    #: Wall-clock limit for the whole run in seconds, or None for the manager's default.
    timeout: float | None = None
    #: Who registered the task (an API key's id, a user name); None when nobody said.
    owner: str | None = None
    #: The queue of workers that runs it (a dispatcher's routing); None for the default one.
    queue: str | None = None
    #: Runs before tasks of lower priority waiting in the same queue; 0 unless given.
    priority: int = 0
    #: The process that claimed it (host, machine, boot, pid and start time, and a token of
    #: the claim), so a restarted service can tell a run that died with its process from one
    #: going on elsewhere; None until it is claimed.
    worker: str | None = None
    #: How many runs claimed it: 1 after the first start, more once a run that was
    #: interrupted (its process died, its lease expired) was retried.
    attempts: int = 0
    #: While running: when the claim lapses unless its run renews it (every heartbeat), after
    #: which any manager sharing the store may recover the task; None otherwise.
    lease_expires_at: datetime | None = attrs.field(default=None, converter=_optional_datetime)
    #: A task put back to ``pending`` for another attempt is not started before this time;
    #: None for a task that is not waiting for a retry.
    retry_at: datetime | None = attrs.field(default=None, converter=_optional_datetime)
    #: Where the task's events are sent as signed webhooks (besides the manager's own
    #: endpoints); None for none.
    webhook_url: str | None = None
    #: W3C trace context (``traceparent``, ``tracestate``) of the span that registered it:
    #: the parent of its run's span, in whichever process runs it. Empty without tracing.
    trace_context: Mapping[str, str] = attrs.field(
        factory=dict, converter=_frozen_mapping, hash=False
    )
    created_at: datetime = attrs.field(factory=utcnow, converter=_optional_datetime)
    started_at: datetime | None = attrs.field(default=None, converter=_optional_datetime)
    finished_at: datetime | None = attrs.field(default=None, converter=_optional_datetime)

    @property
    def main_output(self) -> Output | None:
        """The stored output named ``output_filename``, once uploaded."""
        for output in self.outputs:
            if output.name == self.output_filename:
                return output
        return None

    @property
    def output_url(self) -> str | None:
        """URL of the main output once uploaded, else None."""
        return None if self.main_output is None else self.main_output.url

    @property
    def download_url(self) -> str | None:
        """A browser-ready URL of the main output, when the uploader made one."""
        return None if self.main_output is None else self.main_output.download_url

    @property
    def download_expires_at(self) -> datetime | None:
        """When :attr:`download_url` stops working at the latest, when known."""
        return None if self.main_output is None else self.main_output.download_expires_at

    def __repr__(self) -> str:
        from ._tables import task_repr

        return task_repr(self)

    def _repr_html_(self) -> str:
        from ._tables import task_html

        return task_html(self)

    def __rich__(self) -> Table:
        from ._tables import task_rich

        return task_rich(self)

    def display(self, *, embed: bool | None = None) -> DisplayObject | FileLink:
        """The main output as :meth:`Output.display` shows it.

        Raises:
            InvalidTransitionError: the task has not completed, so it has no output yet.
            ConfigurationError: as for :meth:`Output.display`.
        """
        output = self.main_output
        if output is None:
            raise InvalidTransitionError(
                f"task {self.id!r} is {self.status.value}; only a completed task has an "
                "output to show (wait() for it first)",
                task_id=self.id,
                status=self.status.value,
            )
        return output.display(embed=embed)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``Task.from_dict`` reads it back."""
        return {
            "id": self.id,
            "command": self.command,
            "input_files": dict(self.input_files),
            "output_filename": self.output_filename,
            "output_patterns": list(self.output_patterns),
            "expect": [expectation.to_dict() for expectation in self.expect],
            "status": self.status.value,
            "phase": None if self.phase is None else self.phase.value,
            "progress": self.progress,
            "overall_progress": self.overall_progress,
            "speed": self.speed,
            "eta": self.eta,
            "outputs": [output.to_dict() for output in self.outputs],
            "output_url": self.output_url,
            "error": self.error,
            "log": self.log,
            "timeout": self.timeout,
            "owner": self.owner,
            "queue": self.queue,
            "priority": self.priority,
            "worker": self.worker,
            "attempts": self.attempts,
            "lease_expires_at": _iso(self.lease_expires_at),
            "retry_at": _iso(self.retry_at),
            "webhook_url": self.webhook_url,
            "trace_context": dict(self.trace_context),
            "created_at": _iso(self.created_at),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Task:
        return cls(
            id=data["id"],
            command=data["command"],
            input_files=data["input_files"],
            output_filename=data["output_filename"],
            output_patterns=data.get("output_patterns", ()),
            expect=tuple(Expectation.from_dict(e) for e in data.get("expect", ())),
            status=data["status"],
            phase=data.get("phase"),
            progress=data.get("progress"),
            overall_progress=data.get("overall_progress"),
            speed=data.get("speed"),
            eta=data.get("eta"),
            outputs=tuple(Output.from_dict(o) for o in data.get("outputs", ())),
            error=data.get("error"),
            log=data.get("log"),
            timeout=data.get("timeout"),
            owner=data.get("owner"),
            queue=data.get("queue"),
            priority=int(data.get("priority", 0)),
            worker=data.get("worker"),
            attempts=int(data.get("attempts", 0)),
            lease_expires_at=data.get("lease_expires_at"),
            retry_at=data.get("retry_at"),
            webhook_url=data.get("webhook_url"),
            trace_context=data.get("trace_context") or {},
            created_at=data["created_at"],
            started_at=data.get("started_at"),
            finished_at=data.get("finished_at"),
        )


@attrs.frozen(kw_only=True)
class Progress:
    """One progress report from a running ffmpeg."""

    #: Seconds of output written so far, or None when ffmpeg said N/A.
    out_time: float | None = None
    #: Expected output duration in seconds, or None when unknown.
    duration: float | None = None
    #: Encoding speed as a multiple of real time (``1.5`` for ``1.5x``), or None.
    speed: float | None = None
    #: Frames written so far, or None.
    frame: int | None = None
    #: Bytes written so far, or None.
    total_size: int | None = None
    #: True on ffmpeg's final report.
    done: bool = False

    @property
    def fraction(self) -> float | None:
        """0.0-1.0 when both the position and the duration are known."""
        if self.done:
            return 1.0
        if self.out_time is None or not self.duration:
            return None
        return max(0.0, min(1.0, self.out_time / self.duration))


@attrs.frozen(kw_only=True)
class Health:
    """What ``TaskManager.health()`` reports."""

    #: True when an ffmpeg binary was found and answered ``-version``.
    ffmpeg_found: bool
    #: Where that binary is.
    ffmpeg_path: str | None = None
    #: Its version string, e.g. ``"7.1"`` or ``"n5.1.6-0+deb12u1"``.
    ffmpeg_version: str | None = None
    #: Why ffmpeg is unusable, when it is.
    error: str | None = None
    #: How ffmpeg is isolated (e.g. ``"bubblewrap 0.8.0"``), or None when it runs unsandboxed.
    sandbox: str | None = None
    #: Where outputs go, described without secrets.
    uploader: str = ""
    #: Things the operator should fix or know (e.g. strict policy without a sandbox).
    warnings: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    #: Extra facts from the adapters (sandbox, storage), for display.
    details: Mapping[str, str] = attrs.field(factory=dict, converter=_frozen_mapping, hash=False)

    @property
    def ok(self) -> bool:
        return self.ffmpeg_found and self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "ffmpeg_found": self.ffmpeg_found,
            "ffmpeg_path": self.ffmpeg_path,
            "ffmpeg_version": self.ffmpeg_version,
            "error": self.error,
            "sandbox": self.sandbox,
            "uploader": self.uploader,
            "warnings": list(self.warnings),
            "details": dict(self.details),
        }
