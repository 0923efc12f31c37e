"""In-memory fakes of every port, shipped so applications can test their own code fast.

They behave like the real adapters at the port's contract (same errors, same guarantees), which
the contract tests in this project check, but never touch the network or run ffmpeg.

Example::

    from ffmpeg_tasks import TaskManager
    from ffmpeg_tasks.storage import MemoryStore
    from ffmpeg_tasks.testing import FakeFetcher, FakeRunner, FakeUploader

    fetcher = FakeFetcher({"https://example.com/in.mp4": b"video"})
    manager = TaskManager(MemoryStore(), fetcher, FakeRunner(), FakeUploader())
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import anyio
import attrs
from anyio.abc import AsyncResource

from ._errors import FetchError, InvalidTaskError, InvalidTransitionError, RunError, UploadError
from ._media import MediaInfo, StreamInfo
from ._models import Health, Output, Progress, Task
from ._names import check_file_name
from ._protocols import ProgressCallback
from .storage import MemoryStore

__all__ = [
    "FAKE_MEDIA",
    "FakeDispatcher",
    "FakeFetcher",
    "FakeJob",
    "FakeRunner",
    "FakeUploader",
    "MemoryStore",
]


#: What FakeRunner's probe reports unless told otherwise.
FAKE_MEDIA = MediaInfo(
    format="mov,mp4,m4a,3gp,3g2,mj2",
    duration=10.0,
    streams=(
        StreamInfo(index=0, type="video", codec="h264", width=160, height=120, frame_rate=25),
        StreamInfo(index=1, type="audio", codec="aac", sample_rate=44100, channels=1),
    ),
)


class FakeFetcher(AsyncResource):
    """Serves bodies from a dict of URL -> bytes; any other URL fails as a 404 would."""

    def __init__(self, bodies: Mapping[str, bytes] | None = None, *, delay: float = 0.0) -> None:
        #: URL -> body; add to it freely.
        self.bodies: dict[str, bytes] = dict(bodies or {})
        #: Every URL fetched, in order.
        self.fetched: list[str] = []
        self._delay = delay

    async def check(self, url: str) -> None:
        if urlsplit(url).scheme not in {"http", "https"}:
            raise InvalidTaskError(f"URL {url!r} must use http or https")

    async def fetch(self, url: str, *, destination: Path) -> int:
        await anyio.sleep(self._delay)
        self.fetched.append(url)
        try:
            body = self.bodies[url]
        except KeyError:
            raise FetchError(f"input URL {url} answered HTTP 404 Not Found") from None
        await anyio.Path(destination).write_bytes(body)
        return len(body)

    async def aclose(self) -> None:
        """Nothing to release."""


class FakeRunner(AsyncResource):
    """Pretends to be ffmpeg: writes the last argument as a file holding the inputs' bytes.

    Its probe answers the same for every file: ``media``, by default a 10-second file with one
    H.264 video and one AAC audio stream (what its progress reports claim).

    Args:
        duration: Seconds each run takes, reported as progress in ``steps`` reports (of a
            10-second output, so at a speed of ``10 / duration``).
        steps: How many progress reports a run makes.
        fail_with: When set, every run ends with this ffmpeg exit status.
        media: What ``probe`` reports for every file; None for a runner that cannot probe.
    """

    def __init__(
        self,
        *,
        duration: float = 0.0,
        steps: int = 4,
        fail_with: int | None = None,
        media: MediaInfo | None = FAKE_MEDIA,
    ) -> None:
        self._duration = duration
        self._steps = max(1, steps)
        self._fail_with = fail_with
        self._media = media
        #: Every list of names probed, in order.
        self.probed: list[tuple[str, ...]] = []
        #: Runs in progress right now, and the most there ever were at once.
        self.running = 0
        self.max_running = 0
        #: The argument lists of every run, in order.
        self.calls: list[tuple[str, ...]] = []

    async def run(
        self,
        args: Sequence[str],
        *,
        workdir: Path,
        on_progress: ProgressCallback | None = None,
    ) -> str:
        self.calls.append(tuple(args))
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            for step in range(1, self._steps + 1):
                await anyio.sleep(self._duration / self._steps)
                if on_progress is not None:
                    await on_progress(
                        Progress(
                            out_time=step / self._steps * 10.0,
                            duration=10.0,
                            speed=10.0 / self._duration if self._duration else None,
                            done=step == self._steps,
                        )
                    )
            if self._fail_with is not None:
                raise RunError(
                    f"ffmpeg exited with status {self._fail_with}: fake failure",
                    returncode=self._fail_with,
                    stderr_tail="fake failure",
                )
            inputs = [args[i + 1] for i, arg in enumerate(args[:-1]) if arg == "-i"]
            body = b"".join([await anyio.Path(workdir / name).read_bytes() for name in inputs])
            await anyio.Path(workdir / args[-1]).write_bytes(body)
            return "fake ffmpeg: done"
        finally:
            self.running -= 1

    async def probe(
        self, names: Sequence[str], *, workdir: Path
    ) -> Sequence[MediaInfo | None] | None:
        self.probed.append(tuple(names))
        if self._media is None:
            return None
        for name in names:
            if not await anyio.Path(workdir / name).is_file():
                raise RunError(f"could not probe {name!r}: No such file or directory")
        media = self._media
        return [media for _ in names]

    async def health(self) -> Health:
        return Health(ffmpeg_found=True, ffmpeg_path="fake", ffmpeg_version="fake")

    async def aclose(self) -> None:
        """Nothing to release."""


class FakeUploader(AsyncResource):
    """Keeps outputs in a dict of ``memory://task_id/name`` -> bytes."""

    def __init__(self) -> None:
        #: URL -> stored bytes.
        self.objects: dict[str, bytes] = {}

    def __repr__(self) -> str:
        return f"FakeUploader(objects={len(self.objects)})"

    async def upload(self, path: Path, *, task_id: str, name: str) -> Output:
        check_file_name(task_id, "task id", error=UploadError)
        check_file_name(name, "output", error=UploadError)
        url = f"memory://{task_id}/{name}"
        if url in self.objects:
            raise UploadError(f"{url} exists already; outputs are never overwritten")
        try:
            body = await anyio.Path(path).read_bytes()
        except OSError as exc:
            raise UploadError(f"could not read {path}: {exc.strerror or exc}") from exc
        self.objects[url] = body
        return Output(name=name, url=url, size=len(body))

    async def delete(self, *, task_id: str, name: str) -> None:
        check_file_name(task_id, "task id", error=UploadError)
        check_file_name(name, "output", error=UploadError)
        self.objects.pop(f"memory://{task_id}/{name}", None)

    async def aclose(self) -> None:
        """Nothing to release."""


@attrs.frozen(kw_only=True)
class FakeJob:
    """A task handed to :class:`FakeDispatcher`, as a queue would hold it."""

    task_id: str
    queue: str | None
    priority: int
    #: Not to be run before this time; None for at once.
    at: datetime | None = None


class FakeDispatcher(AsyncResource):
    """A queue in a list: what a manager hands out waits in :attr:`jobs` until a test takes
    it (:meth:`take`) and runs it with another manager's ``run_dispatched``, as a worker
    sharing the store would. A task waits there once at most, as with a real queue."""

    def __init__(self) -> None:
        #: The jobs waiting, in the order they came.
        self.jobs: list[FakeJob] = []
        #: Ids of the tasks whose waiting job was withdrawn.
        self.withdrawn: list[str] = []
        #: Every job ever submitted, in order.
        self.submitted: list[FakeJob] = []
        self.closed = False

    def __repr__(self) -> str:
        return f"FakeDispatcher(jobs={len(self.jobs)})"

    async def submit(self, task: Task, *, at: datetime | None = None) -> None:
        if any(job.task_id == task.id for job in self.jobs):
            raise InvalidTransitionError(
                f"task {task.id!r} waits in the queue already",
                task_id=task.id,
                status=task.status.value,
            )
        job = FakeJob(task_id=task.id, queue=task.queue, priority=task.priority, at=at)
        self.jobs.append(job)
        self.submitted.append(job)

    async def withdraw(self, task_id: str) -> None:
        if any(job.task_id == task_id for job in self.jobs):
            self.withdrawn.append(task_id)
            self.jobs = [job for job in self.jobs if job.task_id != task_id]

    def take(self, queue: str | None = None) -> FakeJob | None:
        """The waiting job of highest priority (the oldest among equals) in ``queue`` (any
        queue when None), removed from :attr:`jobs`; None when none waits."""
        waiting = [job for job in self.jobs if queue is None or job.queue == queue]
        if not waiting:
            return None
        job = max(waiting, key=lambda job: job.priority)  # max keeps the first of equals
        self.jobs.remove(job)
        return job

    async def aclose(self) -> None:
        self.closed = True
