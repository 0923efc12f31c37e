"""Speed, ETA and the overall progress of a real ffmpeg run, as stored and as its progress bar
draws them."""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

from ffmpeg_tasks import CommandPolicy, Delivery, Task, TaskManager, TaskPhase, TaskStatus
from ffmpeg_tasks.fetchers import LocalFetcher
from ffmpeg_tasks.runners import SubprocessRunner
from ffmpeg_tasks.storage import MemoryStore
from ffmpeg_tasks.uploaders import LocalUploader

pytestmark = pytest.mark.anyio

#: Reads its two-second input at real-time speed: several reports, at about 1x.
REALTIME = "-re -i input.mp4 -c:v libx264 -preset ultrafast -c:a aac output.mp4"


class RecordingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[Task] = []

    async def update(
        self,
        task: Task,
        *,
        expected: TaskStatus,
        expected_worker: str | None = None,
        deliveries: Sequence[Delivery] = (),
    ) -> Task:
        stored = await super().update(
            task, expected=expected, expected_worker=expected_worker, deliveries=deliveries
        )
        self.writes.append(task)
        return stored


async def test_a_real_encode_reports_speed_and_eta_and_its_bar_shows_them(
    tmp_path: Path, media_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs, outputs = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    outputs.mkdir()
    shutil.copyfile(media_dir / "clip.mp4", inputs / "clip.mp4")
    store = RecordingStore()
    manager = TaskManager(
        store,
        LocalFetcher([inputs]),
        SubprocessRunner(),
        LocalUploader(outputs),
        policy=CommandPolicy.trusted(),  # -re is not among the strict policy's options
        progress_interval=0.0,
    )
    task = await manager.register(
        REALTIME, {"input.mp4": (inputs / "clip.mp4").as_uri()}, "output.mp4"
    )
    done = await manager.execute(task.id, progress=True)
    await manager.aclose()
    assert done.status is TaskStatus.COMPLETED, done.error
    assert (done.progress, done.overall_progress, done.eta) == (1.0, 1.0, None)
    assert done.speed is not None
    assert 0.3 < done.speed < 3  # -re reads at real time
    encoding = [t for t in store.writes if t.phase is TaskPhase.ENCODING and t.eta is not None]
    assert len(encoding) >= 2, store.writes
    etas = [t.eta for t in encoding if t.eta is not None]
    assert etas == sorted(etas, reverse=True)
    assert etas[0] <= 2.5  # a two-second clip at about real time
    overall = [t.overall_progress or 0.0 for t in store.writes if t.status is TaskStatus.RUNNING]
    assert overall == sorted(overall)
    bar = capsys.readouterr().err
    assert re.search(r"\d+%\|.*\| \d\d:\d\d, encoding [\d.]+x ETA \d+ s", bar), bar
    assert bar.rstrip().endswith(", completed")
