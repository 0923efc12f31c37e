"""The HTTP API's JSON bodies, as pydantic models (they also draw the OpenAPI schema).

The response models are built field by field from a :class:`~ffmpeg_tasks.Task`: ffmpeg's raw
stderr (``Task.log``) and the owner id never leave the server.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .._deliveries import Delivery, DeliveryState
from .._expect import Expectation
from .._media import MediaInfo
from .._models import Health, Output, Task, TaskPhase, TaskStatus

__all__ = [
    "ErrorResponse",
    "ExpectationBody",
    "FfmpegHealth",
    "Liveness",
    "MediaResponse",
    "OutputResponse",
    "RegisterRequest",
    "TaskList",
    "TaskResponse",
    "WebhookResponse",
]


class ExpectationBody(BaseModel):
    """What one output (or each output matching a declared pattern) must be like once probed;
    fields left out are not checked."""

    model_config = ConfigDict(extra="forbid", strict=True)

    output: str | None = Field(
        default=None,
        description="The declared output name or pattern it is about; the main output if absent.",
    )
    duration: float | str | None = Field(
        default=None,
        description="Seconds, or the name of an input whose probed duration it must have.",
    )
    tolerance: float | None = Field(
        default=None, ge=0, allow_inf_nan=False, description="Seconds it may be off (0.5)."
    )
    video: int | None = Field(default=None, description="How many video streams.")
    audio: int | None = Field(default=None, description="How many audio streams.")
    subtitle: int | None = Field(default=None, description="How many subtitle streams.")
    video_codec: str | None = Field(default=None, description="Codec of every video stream.")
    audio_codec: str | None = Field(default=None, description="Codec of every audio stream.")
    width: int | None = Field(default=None, description="Width of the first video stream.")
    height: int | None = Field(default=None, description="Height of the first video stream.")

    def checks(self) -> dict[str, object]:
        """The fields that were given, for ``TaskManager.register(expect=...)``."""
        return self.model_dump(exclude_none=True)

    @classmethod
    def from_expectation(cls, expectation: Expectation) -> ExpectationBody:
        return cls.model_validate(expectation.to_dict())


class RegisterRequest(BaseModel):
    """``POST /ffmpeg/register``: the original service's three fields, plus ``timeout``, the
    other files the command writes (``outputs``), what they must be like (``expect``), and
    which workers run it first (``queue``, ``priority``)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "command": "-i input.mp4 -vf scale=1280:720 -c:a copy output.mp4",
                    "input_files": {"input.mp4": "https://example.com/video.mp4"},
                    "output_filename": "output.mp4",
                }
            ]
        }
    )

    command: str = Field(
        description="ffmpeg's arguments, with or without a leading 'ffmpeg'; every '-i' names "
        "a key of input_files and the command writes output_filename.",
    )
    input_files: dict[str, str] = Field(
        description="Each input file name the command reads -> the URL it is fetched from.",
    )
    output_filename: str = Field(
        description="The main output: the plain file name the command writes (for an HLS "
        "ladder, its master playlist); it is uploaded when ffmpeg succeeds.",
    )
    outputs: list[str] = Field(
        default_factory=list,
        max_length=64,
        description="The other files the command writes, uploaded too: exact names, ffmpeg "
        "sequences such as 'thumb_%03d.jpg' and globs without folders such as '*.ts'.",
    )
    expect: list[ExpectationBody] | None = Field(
        default=None,
        max_length=32,
        description="What the probed outputs must be like; the task fails when one differs.",
    )
    timeout: float | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        description="Wall-clock limit of the run in seconds; the server's default when absent.",
    )
    queue: str | None = Field(
        default=None,
        max_length=40,
        description="The queue of workers that runs it (letters, digits, '_', '.', '-'); "
        "the default queue when absent.",
    )
    priority: int = Field(
        default=0,
        ge=-1000,
        le=1000,
        strict=True,
        description="Among tasks waiting in the same queue, higher ones start first.",
    )
    webhook_url: str | None = Field(
        default=None,
        max_length=2048,
        description="Where the task's events (task.started, task.completed, task.failed, "
        "task.cancelled) are sent as signed webhooks (Standard Webhooks); the same address "
        "rules as input URLs apply.",
    )


class MediaResponse(BaseModel):
    """What probing an output found (ffprobe's facts)."""

    format: str = Field(description="The demuxer that read it, e.g. 'hls' or 'mpegts'.")
    duration: float | None
    bit_rate: int | None
    streams: list[dict[str, str | int | float | None]] = Field(
        description="Each stream: index, type, codec, width, height, frame_rate, sample_rate, "
        "channels, bit_rate, duration."
    )

    @classmethod
    def from_media(cls, media: MediaInfo) -> MediaResponse:
        return cls(
            format=media.format,
            duration=media.duration,
            bit_rate=media.bit_rate,
            streams=[stream.to_dict() for stream in media.streams],
        )


class OutputResponse(BaseModel):
    """One stored output of a task."""

    name: str
    url: str = Field(description="Where it was stored (file:// or s3://).")
    download_url: str | None = Field(description="A browser-ready URL, when the storage makes one.")
    download_url_expires_at: datetime | None
    size: int
    content_type: str | None
    sha256: str | None = Field(description="SHA-256 of its bytes, hex.")
    media: MediaResponse | None = Field(description="What probing it found; null if unprobed.")

    @classmethod
    def from_output(cls, output: Output) -> OutputResponse:
        return cls(
            name=output.name,
            url=output.url,
            download_url=output.download_url,
            download_url_expires_at=output.download_expires_at,
            size=output.size,
            content_type=output.content_type,
            sha256=output.sha256,
            media=None if output.media is None else MediaResponse.from_media(output.media),
        )


class WebhookResponse(BaseModel):
    """One event of the task sent to its ``webhook_url``, and how the attempts went."""

    event_id: str = Field(description="The webhook-id header: the same on every attempt.")
    event_type: str = Field(description="task.started, task.progress, task.completed, ...")
    state: DeliveryState = Field(
        description="pending (until its next attempt), delivered (2xx), failed (every "
        "attempt of the schedule failed) or gone (the receiver answered 410)."
    )
    attempts: int
    last_status: int | None = Field(description="HTTP status of the last attempt, if any.")
    last_error: str | None = Field(description="Why the last attempt failed.")
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None

    @classmethod
    def from_delivery(cls, delivery: Delivery) -> WebhookResponse:
        return cls(
            event_id=delivery.event_id,
            event_type=delivery.event_type,
            state=delivery.state,
            attempts=delivery.attempts,
            last_status=delivery.last_status,
            last_error=delivery.last_error,
            last_attempt_at=delivery.last_attempt_at,
            next_attempt_at=delivery.next_attempt_at,
            delivered_at=delivery.delivered_at,
        )


class TaskResponse(BaseModel):
    """A task as the API shows it (never ffmpeg's raw output, never the owner)."""

    task_id: str = Field(description="The id to poll, execute or cancel the task with.")
    status: TaskStatus
    phase: TaskPhase | None = Field(
        description="While running: fetching, encoding or uploading; null otherwise."
    )
    progress: float | None = Field(
        description="Encoding progress from 0.0 to 1.0, or null while unknown."
    )
    overall_progress: float | None = Field(
        description="The whole run's progress from 0.0 to 1.0 (fetching 10 %, encoding 80 %, "
        "uploading 10 %); it never goes back within an attempt. Null before the run reports."
    )
    speed: float | None = Field(
        description="ffmpeg's encoding speed as a multiple of real time (2.0: two seconds of "
        "output a second), as of its last report; null while unknown."
    )
    eta: float | None = Field(
        description="Seconds until the encode ends at that speed; null while unknown and "
        "whenever the task is not encoding."
    )
    command: str
    input_files: dict[str, str]
    output_filename: str = Field(description="The main output's name.")
    output_patterns: list[str] = Field(description="The other files it writes, as registered.")
    expect: list[ExpectationBody] = Field(description="What its outputs must be like.")
    output_url: str | None = Field(description="Where the main output was stored, once completed.")
    download_url: str | None = Field(
        description="A URL a browser can download the main output from, when the storage makes one."
    )
    download_url_expires_at: datetime | None = Field(
        description="When download_url stops working at the latest (UTC), when it expires."
    )
    outputs: list[OutputResponse] = Field(
        description="Every stored output, the main one first, once completed."
    )
    error: str | None = Field(description="Why the task failed or was cancelled.")
    timeout: float | None
    queue: str | None = Field(description="The queue of workers that runs it; null: the default.")
    priority: int = Field(description="Higher starts first among tasks waiting in its queue.")
    webhook_url: str | None = Field(description="Where its events are sent, as registered.")
    webhooks: list[WebhookResponse] | None = Field(
        description="Each event sent to webhook_url and how its attempts went; null in a "
        "webhook's own body."
    )
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def from_task(cls, task: Task, deliveries: Sequence[Delivery] | None = None) -> TaskResponse:
        """Copy the public fields of ``task``, one by one (so a new field is never leaked),
        with the ``deliveries`` to its own ``webhook_url`` (never the service's endpoints)."""
        return cls(
            task_id=task.id,
            status=task.status,
            phase=task.phase,
            progress=task.progress,
            overall_progress=task.overall_progress,
            speed=task.speed,
            eta=task.eta,
            command=task.command,
            input_files=dict(task.input_files),
            output_filename=task.output_filename,
            output_patterns=list(task.output_patterns),
            expect=[ExpectationBody.from_expectation(e) for e in task.expect],
            output_url=task.output_url,
            download_url=task.download_url,
            download_url_expires_at=task.download_expires_at,
            outputs=[OutputResponse.from_output(output) for output in task.outputs],
            error=task.error,
            timeout=task.timeout,
            queue=task.queue,
            priority=task.priority,
            webhook_url=task.webhook_url,
            webhooks=None
            if deliveries is None
            else [
                WebhookResponse.from_delivery(delivery)
                for delivery in deliveries
                if delivery.url == task.webhook_url
            ],
            created_at=task.created_at,
            started_at=task.started_at,
            finished_at=task.finished_at,
        )


class TaskList(BaseModel):
    """``GET /ffmpeg/tasks``: one page of tasks, newest first."""

    tasks: list[TaskResponse]
    limit: int
    offset: int
    next_offset: int | None = Field(
        description="The offset of the next page, or null when this page is the last."
    )


class ErrorResponse(BaseModel):
    """Every error the API answers, whatever its status code."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"detail": "no task with id 'c0ffee'"}]}
    )

    detail: str = Field(description="What went wrong, and what to change.")


class Liveness(BaseModel):
    """``GET /health``: the process answers."""

    status: Literal["ok"]


class FfmpegHealth(BaseModel):
    """``GET /ffmpeg/health``: whether tasks can run here, and how the server is set up."""

    status: Literal["ok", "unavailable"]
    detail: str | None = Field(
        default=None, description="Why tasks cannot run (status 'unavailable'), else null."
    )
    ffmpeg_found: bool
    ffmpeg_path: str | None
    ffmpeg_version: str | None
    sandbox: str | None = Field(
        description="How ffmpeg is isolated (e.g. 'bubblewrap 0.8.0'), or null when it is not."
    )
    policy: str | None = Field(description="'strict' or 'trusted' command policy.")
    uploader: str = Field(description="Where outputs go, described without secrets.")
    warnings: list[str] = Field(description="Things the operator should fix or know.")
    auth: Literal["none", "api-key"] = Field(
        description="'api-key' when callers must send a key, 'none' when the API is open."
    )
    details: dict[str, str] = Field(description="More facts from the adapters, for display.")

    @classmethod
    def from_health(cls, health: Health, *, auth: Literal["none", "api-key"]) -> FfmpegHealth:
        return cls(
            status="ok" if health.ok else "unavailable",
            detail=None if health.ok else (health.error or "ffmpeg is not usable"),
            ffmpeg_found=health.ffmpeg_found,
            ffmpeg_path=health.ffmpeg_path,
            ffmpeg_version=health.ffmpeg_version,
            sandbox=health.sandbox,
            policy=health.details.get("policy"),
            uploader=health.uploader,
            warnings=list(health.warnings),
            auth=auth,
            details=dict(health.details),
        )
