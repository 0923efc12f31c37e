"""What a task shows beside the encode's fraction: the phase-weighted overall progress, ffmpeg's
speed and the encode's ETA, as computed and as stored through a run on fakes."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import aclosing
from pathlib import Path

import anyio
import attrs
import pytest

from ffmpeg_tasks import Delivery, Progress, Task, TaskManager, TaskPhase, TaskStatus
from ffmpeg_tasks._changes import ChangeFeed
from ffmpeg_tasks._estimates import PHASE_WEIGHTS, encode_eta, overall_fraction
from ffmpeg_tasks._transitions import Transitions
from ffmpeg_tasks.storage import MemoryStore
from ffmpeg_tasks.testing import FakeFetcher, FakeRunner, FakeUploader

pytestmark = pytest.mark.anyio

URLS = [f"https://media.example/{n}.mp4" for n in range(3)]
COMMAND = "-i 0.mp4 -i 1.mp4 -i 2.mp4 -map 0 -map 1 -map 2 -c copy out.mp4"


class RecordingStore(MemoryStore):
    """Keeps every state a run stored, in order."""

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


def test_the_phases_weigh_ten_eighty_ten_in_the_order_they_run() -> None:
    assert list(PHASE_WEIGHTS) == [TaskPhase.FETCHING, TaskPhase.ENCODING, TaskPhase.UPLOADING]
    assert sum(PHASE_WEIGHTS.values()) == pytest.approx(1.0)
    assert overall_fraction(TaskPhase.FETCHING, 0.0) == 0.0
    assert overall_fraction(TaskPhase.FETCHING, 0.5) == pytest.approx(0.05)
    assert overall_fraction(TaskPhase.ENCODING, 0.0) == pytest.approx(0.1)
    assert overall_fraction(TaskPhase.ENCODING, 0.5) == pytest.approx(0.5)
    assert overall_fraction(TaskPhase.UPLOADING, 0.0) == pytest.approx(0.9)
    assert overall_fraction(TaskPhase.UPLOADING, 1.0) == 1.0


@pytest.mark.parametrize("done", [-1.0, 2.0])
def test_the_overall_fraction_is_clamped(done: float) -> None:
    assert 0.1 <= overall_fraction(TaskPhase.ENCODING, done) <= 0.9


@pytest.mark.parametrize(
    ("progress", "eta"),
    [
        (Progress(out_time=2.0, duration=10.0, speed=2.0), 4.0),  # 8 s of output at 2x
        (Progress(out_time=2.0, duration=10.0, speed=0.5), 16.0),  # slower than real time
        (Progress(out_time=12.0, duration=10.0, speed=1.0), 0.0),  # past the estimate
        (Progress(out_time=2.0, duration=10.0, speed=None), None),  # ffmpeg said N/A
        (Progress(out_time=2.0, duration=10.0, speed=0.0), None),
        (Progress(out_time=None, duration=10.0, speed=1.0), None),
        (Progress(out_time=2.0, duration=None, speed=1.0), None),  # a live source
        (Progress(out_time=2.0, duration=None, speed=None, done=True), 0.0),
    ],
)
def test_the_eta_comes_from_the_speed_position_and_duration(
    progress: Progress, eta: float | None
) -> None:
    assert encode_eta(progress) == (None if eta is None else pytest.approx(eta))


def test_old_rows_without_the_fields_load() -> None:
    task = Task(command="-i a.mp4 out.mp4", input_files={"a.mp4": URLS[0]}, output_filename="o")
    full = attrs.evolve(task, overall_progress=0.5, speed=1.5, eta=3.0)
    assert Task.from_dict(full.to_dict()) == full
    old = full.to_dict()
    for key in ("overall_progress", "speed", "eta"):
        del old[key]
    loaded = Task.from_dict(old)
    assert (loaded.overall_progress, loaded.speed, loaded.eta) == (None, None, None)


def _running(writes: Sequence[Task]) -> list[Task]:
    return [t for t in writes if t.status is TaskStatus.RUNNING]


async def test_a_run_stores_overall_progress_speed_and_eta() -> None:
    store = RecordingStore()
    fetcher = FakeFetcher(dict.fromkeys(URLS, b"x"), delay=0.05)
    runner = FakeRunner(duration=0.4, steps=8)  # a 10-second output at 25x
    manager = TaskManager(store, fetcher, runner, FakeUploader(), progress_interval=0.0)
    task = await manager.register(
        COMMAND, {f"{n}.mp4": url for n, url in enumerate(URLS)}, "out.mp4"
    )
    done = await manager.execute(task.id)
    assert done.status is TaskStatus.COMPLETED
    running = _running(store.writes)
    overall = [t.overall_progress or 0.0 for t in running]
    assert overall == sorted(overall), "the overall progress went back"
    fetching = [t.overall_progress for t in running if t.phase is TaskPhase.FETCHING]
    # the claim, then the first two inputs of three (the third is the start of encoding)
    assert fetching[1:] == [pytest.approx(0.1 / 3), pytest.approx(0.2 / 3)]
    encoding = [t for t in running if t.phase is TaskPhase.ENCODING]
    assert encoding[0].overall_progress == pytest.approx(0.1)
    assert (encoding[0].progress, encoding[0].speed, encoding[0].eta) == (None, None, None)
    reports = [t for t in encoding if t.progress is not None]
    assert [t.progress for t in reports] == [pytest.approx(n / 8) for n in range(1, 9)]
    assert all(t.speed == pytest.approx(25.0) for t in reports)
    assert [t.eta for t in reports] == [pytest.approx(10 * (1 - n / 8) / 25) for n in range(1, 9)]
    assert reports[-1].overall_progress == pytest.approx(0.9)
    uploading = [t for t in running if t.phase is TaskPhase.UPLOADING]
    assert [t.overall_progress for t in uploading] == [pytest.approx(0.9)]
    assert [t.eta for t in uploading] == [None]
    # the end: complete, no ETA any more, the encode's speed kept
    assert (done.progress, done.overall_progress, done.eta) == (1.0, 1.0, None)
    assert done.speed == pytest.approx(25.0)
    assert await manager.get(task.id) == done


async def test_uploads_report_their_share_by_bytes() -> None:
    class SegmentingRunner(FakeRunner):
        """Writes the main output and three segments of 100, 200 and 300 bytes."""

        async def run(
            self, args: Sequence[str], *, workdir: Path, on_progress: object = None
        ) -> str:
            await anyio.Path(workdir / "out.m3u8").write_text("#EXTM3U\n")
            for index in range(3):
                await anyio.Path(workdir / f"seg{index}.ts").write_bytes(b"s" * 100 * (index + 1))
            return "done"

    store = RecordingStore()
    manager = TaskManager(
        store,
        FakeFetcher({URLS[0]: b"x"}),
        SegmentingRunner(),
        FakeUploader(),
        progress_interval=0.0,
        max_concurrency=1,
    )
    task = await manager.register(
        "-i 0.mp4 -c copy -f hls -hls_segment_filename seg%d.ts out.m3u8",
        {"0.mp4": URLS[0]},
        "out.m3u8",
        outputs=["seg*.ts"],
    )
    done = await manager.execute(task.id)
    assert done.status is TaskStatus.COMPLETED, done.error
    uploading = [
        t.overall_progress or 0.0 for t in _running(store.writes) if t.phase is TaskPhase.UPLOADING
    ]
    assert uploading[0] == pytest.approx(0.9)
    assert uploading == sorted(uploading)
    assert len(uploading) == 4  # entering the phase, then after each output but the last
    assert all(0.9 < share < 1.0 for share in uploading[1:])
    assert done.overall_progress == 1.0


async def test_a_failure_keeps_how_far_it_got_and_drops_the_eta() -> None:
    store = RecordingStore()
    runner = FakeRunner(duration=0.2, steps=4, fail_with=1)
    manager = TaskManager(
        store, FakeFetcher({URLS[0]: b"x"}), runner, FakeUploader(), progress_interval=0.0
    )
    task = await manager.register("-i 0.mp4 -c copy out.mp4", {"0.mp4": URLS[0]}, "out.mp4")
    done = await manager.execute(task.id)
    assert done.status is TaskStatus.FAILED
    assert done.overall_progress == pytest.approx(0.9)  # it encoded all before failing
    assert done.eta is None
    assert done.speed == pytest.approx(50.0)


async def test_a_cancelled_run_drops_the_eta() -> None:
    manager = TaskManager(
        MemoryStore(), FakeFetcher({URLS[0]: b"x"}), FakeRunner(duration=30, steps=300),
        FakeUploader(), progress_interval=0.0,
    )  # fmt: skip
    async with manager:
        task = await manager.register("-i 0.mp4 -c copy out.mp4", {"0.mp4": URLS[0]}, "out.mp4")
        await manager.start(task.id)
        with anyio.fail_after(5):
            async with aclosing(manager.watch(task.id)) as states:
                async for state in states:
                    if state.eta is not None:
                        break
        done = await manager.cancel(task.id)
    assert done.status is TaskStatus.CANCELLED
    assert done.eta is None
    assert done.overall_progress is not None
    assert 0.1 < done.overall_progress < 0.9


async def test_a_retry_starts_the_figures_afresh() -> None:
    store = MemoryStore()
    transitions = Transitions(store, ChangeFeed(store.get, poll_interval=0.1))
    task = Task(command="-i a.mp4 out.mp4", input_files={"a.mp4": URLS[0]}, output_filename="o")
    await store.create(task)
    claimed = await transitions.claim(task.id, worker="w#1")
    reported = attrs.evolve(claimed, progress=0.5, overall_progress=0.5, speed=2.0, eta=2.5)
    assert await transitions.save_running(reported)
    again = await transitions.retry(reported, at=claimed.started_at or claimed.created_at)
    assert (again.progress, again.overall_progress, again.speed, again.eta) == (None,) * 4
    assert await store.get(task.id) == again
