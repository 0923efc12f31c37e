"""How tasks look to a person: the short repr, the HTML tables Jupyter shows, rich's tables,
and an output shown in place. Commands, URLs and errors come from strangers: nothing they hold
may become markup."""

from __future__ import annotations

import base64
import html
import io
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest
from IPython.display import HTML, Audio, FileLink, Image, Video
from rich.console import Console

from ffmpeg_tasks import (
    ConfigurationError,
    InvalidTransitionError,
    Output,
    SyncTaskManager,
    Task,
    TaskList,
    TaskManager,
    TaskPhase,
    TaskStatus,
)
from ffmpeg_tasks.storage import MemoryStore
from ffmpeg_tasks.testing import FakeFetcher, FakeRunner, FakeUploader

URL = "https://media.example/a.mp4"
HOSTILE = '<script>alert("x")</script> & [bold red]not markup[/] \x1b[31m'
#: A PNG of one transparent pixel.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def make_task(**changes: object) -> Task:
    task = Task(
        command="-i a.mp4 -c copy out.mp4", input_files={"a.mp4": URL}, output_filename="out.mp4"
    )
    return attrs.evolve(task, **changes)  # type: ignore[arg-type]


def rendered(renderable: object) -> str:
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(renderable)
    output = console.file
    assert isinstance(output, io.StringIO)
    return output.getvalue()


def completed(tmp_path: Path, name: str = "out.mp4", body: bytes = b"video") -> Task:
    path = tmp_path / name
    path.write_bytes(body)
    output = Output(name=name, url=path.as_uri(), size=len(body), content_type=None)
    now = datetime.now(UTC)
    return make_task(
        output_filename=name,
        status=TaskStatus.COMPLETED,
        progress=1.0,
        overall_progress=1.0,
        speed=3.5,
        outputs=(output,),
        started_at=now - timedelta(seconds=75),
        finished_at=now,
    )


# -- repr ----------------------------------------------------------------------------------


def test_the_repr_is_short_and_says_what_tells_tasks_apart() -> None:
    pending = make_task(owner="secret-owner", log="raw stderr")
    assert repr(pending) == f"Task(id={pending.id!r}, status=pending, output_filename='out.mp4')"
    running = attrs.evolve(
        pending,
        status=TaskStatus.RUNNING,
        phase=TaskPhase.ENCODING,
        progress=0.5,
        overall_progress=0.5,
        speed=2.0,
        eta=12.4,
    )
    assert repr(running) == (
        f"Task(id={running.id!r}, status=running, phase=encoding, progress=50%, overall=50%, "
        "speed=2x, eta='12 s', output_filename='out.mp4')"
    )
    failed = attrs.evolve(
        pending, status=TaskStatus.FAILED, error="ffmpeg failed: exit status 1\nlast lines"
    )
    assert repr(failed).endswith("status=failed, error='ffmpeg failed: exit status 1')")
    for task in (pending, running, failed):
        assert "secret-owner" not in repr(task)
        assert "raw stderr" not in repr(task)
        assert "-c copy" not in repr(task)


def test_the_repr_of_a_completed_task_names_its_output(tmp_path: Path) -> None:
    done = completed(tmp_path)
    assert repr(done) == f"Task(id={done.id!r}, status=completed, output_url={done.output_url!r})"


def test_a_hostile_error_stays_one_escaped_line_in_the_repr() -> None:
    task = make_task(status=TaskStatus.FAILED, error=HOSTILE + "x" * 200)
    text = repr(task)
    assert "\x1b" not in text
    assert "\\x1b" in text
    assert len(text) < 250


def test_display_methods_leave_equality_and_hash_alone() -> None:
    task = make_task()
    assert task == attrs.evolve(task)
    assert hash(task) == hash(attrs.evolve(task))
    assert attrs.fields_dict(Task).keys() == Task.from_dict(task.to_dict()).to_dict().keys() - {
        "output_url"
    }


# -- HTML ----------------------------------------------------------------------------------


def test_the_html_of_a_task_escapes_what_strangers_sent() -> None:
    task = make_task(
        command=f"-i a.mp4 -vf drawtext=text='{HOSTILE}' out.mp4",
        input_files={"a.mp4": f"https://media.example/a.mp4?q={HOSTILE}"},
        status=TaskStatus.FAILED,
        error=f"ffmpeg failed: {HOSTILE}",
    )
    page = task._repr_html_()
    assert "<script>" not in page
    assert html.escape('<script>alert("x")</script>') in page
    assert page.count("<table") == 1
    assert "failed" in page
    assert "[bold red]not markup[/]" in page


def test_the_html_of_a_task_links_only_http_download_urls(tmp_path: Path) -> None:
    done = completed(tmp_path)
    outputs = (
        Output(name="a.mp4", url="s3://b/a.mp4", download_url='https://b.example/a.mp4?x="1"&y=2'),
        Output(name="b.mp4", url="s3://b/b.mp4", download_url="javascript:alert(1)"),
        Output(name="c.mp4", url="s3://b/c.mp4"),
    )
    page = attrs.evolve(done, output_filename="a.mp4", outputs=outputs)._repr_html_()
    assert '<a href="https://b.example/a.mp4?x=&quot;1&quot;&amp;y=2" target="_blank">' in page
    assert 'href="javascript' not in page
    assert "s3://b/c.mp4" in page
    assert "1 min 15 s" in page  # how long it took
    assert "3.5x real time" in page


def test_the_html_shows_a_queue_only_when_one_was_chosen() -> None:
    assert ">queue<" not in make_task()._repr_html_()
    assert "gpu, priority 5" in make_task(queue="gpu", priority=5)._repr_html_()
    assert "default, priority -1" in make_task(priority=-1)._repr_html_()


def test_the_html_shows_progress_speed_and_eta_while_running() -> None:
    task = make_task(
        status=TaskStatus.RUNNING,
        phase=TaskPhase.ENCODING,
        progress=0.25,
        overall_progress=0.3,
        speed=1.25,
        eta=200.0,
    )
    page = task._repr_html_()
    assert '<progress value="0.3000" max="1"></progress> 30% overall; encode 25%' in page
    assert "1.25x real time" in page
    assert "3 min 20 s (encode)" in page
    assert "running, encoding" in page


def test_a_list_of_tasks_is_a_list_and_an_html_table(tmp_path: Path) -> None:
    hostile = make_task(status=TaskStatus.FAILED, error=HOSTILE)
    tasks = TaskList([completed(tmp_path), hostile, make_task()])
    assert tasks == list(tasks)
    assert isinstance(tasks, list)
    page = tasks._repr_html_()
    assert page.count("<tr>") == 4  # the head and a row each
    assert "3 tasks: 1 completed, 1 failed, 1 pending" in page
    assert "<script>" not in page
    assert f'title="{hostile.id}"' in page
    assert TaskList()._repr_html_().count("<tr>") == 1
    assert "0 tasks" in TaskList()._repr_html_()


@pytest.mark.anyio
async def test_list_returns_a_task_list() -> None:
    manager = TaskManager(MemoryStore(), FakeFetcher({URL: b"a"}), FakeRunner(), FakeUploader())
    task = await manager.register("-i a.mp4 -c copy out.mp4", {"a.mp4": URL}, "out.mp4")
    listed = await manager.list()
    assert isinstance(listed, TaskList)
    assert listed == [task]
    assert "1 task: 1 pending" in listed._repr_html_()
    await manager.aclose()


def test_the_blocking_facade_lists_a_task_list_too() -> None:
    with SyncTaskManager(
        TaskManager(MemoryStore(), FakeFetcher(), FakeRunner(), FakeUploader())
    ) as m:
        assert isinstance(m.list(), TaskList)


# -- rich ----------------------------------------------------------------------------------


def test_rich_shows_a_task_as_plain_text_never_markup() -> None:
    task = make_task(status=TaskStatus.FAILED, error=f"ffmpeg failed: {HOSTILE}")
    text = rendered(task)
    assert "[bold red]not markup[/]" in text
    assert "failed" in text
    assert task.id in text


def test_rich_shows_a_list_of_tasks_as_a_table(tmp_path: Path) -> None:
    tasks = TaskList([completed(tmp_path), make_task(status=TaskStatus.FAILED, error=HOSTILE)])
    text = rendered(tasks)
    assert "2 tasks: 1 completed, 1 failed" in text
    assert "[bold red]not markup[/]" in text
    assert re.search(r"completed\s.*100%", text)
    assert "3.5x" in text


# -- an output in place --------------------------------------------------------------------


def test_a_local_video_is_embedded(tmp_path: Path) -> None:
    shown = completed(tmp_path).display()
    assert isinstance(shown, Video)
    page = shown._repr_html_()
    assert f'src="data:video/mp4;base64,{base64.b64encode(b"video").decode()}"' in page


def test_a_local_video_can_be_linked_instead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    shown = completed(tmp_path).display(embed=False)
    assert isinstance(shown, Video)
    assert '<video src="out.mp4"' in shown._repr_html_()


def test_audio_images_and_other_files_by_their_type(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert isinstance(completed(tmp_path, "out.mp3", b"ID3").display(), Audio)
    image = completed(tmp_path, "poster.png", PIXEL).display()
    assert isinstance(image, Image)
    assert image.data == PIXEL
    playlist = completed(tmp_path, "master.m3u8", b"#EXTM3U\n").display()
    assert isinstance(playlist, FileLink)
    assert "master.m3u8" in playlist._repr_html_()


def test_a_remote_output_is_shown_from_its_download_url() -> None:
    url = "https://bucket.example/out.mp4?X-Amz-Signature=abc"
    video = Output(
        name="out.mp4", url="s3://bucket/out.mp4", download_url=url, content_type="video/mp4"
    )
    shown = video.display()
    assert isinstance(shown, Video)
    assert html.escape(url) in shown._repr_html_()
    link = Output(name="out.m3u8", url="s3://bucket/out.m3u8", download_url=url).display()
    assert isinstance(link, HTML)
    assert f'href="{html.escape(url)}"' in str(link.data)


def test_a_remote_output_without_a_download_url_says_what_to_do() -> None:
    output = Output(name="out.mp4", url="s3://bucket/out.mp4", download_url="javascript:alert(1)")
    with pytest.raises(ConfigurationError, match=r"presign_expires"):
        output.display()
    with pytest.raises(ConfigurationError, match=r"no download URL"):
        Output(name="out.mp4", url="memory://t/out.mp4").display()


def test_a_moved_local_output_is_not_found(tmp_path: Path) -> None:
    done = completed(tmp_path)
    (tmp_path / "out.mp4").unlink()
    with pytest.raises(FileNotFoundError, match="no longer at"):
        done.display()


def test_a_task_without_an_output_cannot_be_shown() -> None:
    with pytest.raises(InvalidTransitionError, match="only a completed task has an output"):
        make_task(status=TaskStatus.RUNNING).display()


def test_without_ipython_the_error_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "IPython.display", None)
    with pytest.raises(ConfigurationError, match=re.escape('pip install "ffmpeg-tasks[notebook]"')):
        completed(tmp_path).display()
