"""The ``ffmpeg-tasks`` command: a demo on embedded defaults, one-off runs, health, the HTTP API,
workers, and the task database."""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit
from urllib.request import url2pathname

import anyio
import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from ._config import Settings, build_fetcher, build_runner, build_uploader
from ._defaults import DEFAULT_OUTPUT_DIR
from ._errors import FfmpegTasksError
from ._manager import TaskManager
from ._models import Task, TaskStatus
from ._policy import CommandPolicy

__all__ = ["main"]

#: Task text (commands, errors, paths) is never rich markup: it goes through ``escape``, and
#: emoji codes are off so ``-map 0:v:0`` prints as written.
console = Console(stderr=True, soft_wrap=True, emoji=False)
T = TypeVar("T")

#: What ``demo`` asks ffmpeg to do with the clip it makes.
DEMO_COMMAND = (
    "-i input.mp4 -vf scale=640:360 -c:v libx264 -preset veryfast -crf 28 -c:a aac output.mp4"
)


@click.group()
@click.version_option(package_name="ffmpeg-tasks")
def main() -> None:
    """Run ffmpeg jobs through an ffmpeg-tasks TaskManager."""


@main.command()
@click.option(
    "--dest",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("ffmpeg-tasks-demo"),
    show_default=True,
    help="Folder the output is written to.",
)
@click.option(
    "--seconds",
    type=click.IntRange(1, 60),
    default=5,
    show_default=True,
    help="Length of the generated test clip.",
)
def demo(dest: Path, seconds: int) -> None:
    """Make a test clip with ffmpeg's lavfi source and transcode it through a TaskManager."""
    _exit_on_error(lambda: anyio.run(_demo, dest, seconds))


async def _demo(dest: Path, seconds: int) -> None:
    runner = build_runner(Settings(output_dir=dest))
    health = await runner.health()
    if not health.ffmpeg_found:
        raise click.ClickException(health.error or "ffmpeg was not found")
    console.print(escape(f"ffmpeg {health.ffmpeg_version} at {health.ffmpeg_path}"))
    with tempfile.TemporaryDirectory(prefix="ffmpeg-tasks-demo-") as folder:
        source = Path(folder)
        console.print(f"making a {seconds} s test clip with ffmpeg's lavfi source...")
        await runner.run(
            [
                "-f",
                "lavfi",
                "-i",
                f"testsrc2=size=1280x720:rate=30:duration={seconds}",
                "-f",
                "lavfi",
                "-i",
                f"sine=frequency=440:duration={seconds}",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p",
                "-c:a",
                "aac",
                "-shortest",
                "input.mp4",
            ],
            workdir=source,
        )
        settings = Settings(output_dir=dest, local_input_roots=[source])
        manager = TaskManager(
            fetcher=build_fetcher(settings), runner=runner, uploader=build_uploader(settings)
        )
        async with manager:
            task = await manager.register(
                DEMO_COMMAND, {"input.mp4": (source / "input.mp4").as_uri()}, "output.mp4"
            )
            console.print(escape(f"registered task {task.id}: ffmpeg {task.command}"))
            done = await _run_with_progress(manager, task)
    _report(done)


# The COMMAND argument starts with "-i ...": unknown options are passed through as arguments.
@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("command")
@click.option(
    "--input",
    "inputs",
    multiple=True,
    metavar="NAME=URL",
    required=True,
    help="An input the command reads: its file name and where to get it "
    "(http(s) URL, file:// URL or local path). Repeat for each input.",
)
@click.option(
    "--output", "output", required=True, metavar="NAME", help="The file name the command writes."
)
@click.option(
    "--dest",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(DEFAULT_OUTPUT_DIR),
    show_default=True,
    help="Folder the output is written to.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Give up after this many seconds.",
)
@click.option(
    "--trusted", is_flag=True, help="Accept any ffmpeg arguments (skip the strict command policy)."
)
@click.option(
    "--allow-private-networks",
    is_flag=True,
    help="Allow inputs from loopback and private addresses.",
)
def run(
    command: str,
    inputs: Sequence[str],
    output: str,
    dest: Path,
    timeout: float | None,
    trusted: bool,
    allow_private_networks: bool,
) -> None:
    """Run one ffmpeg COMMAND (its arguments, quoted) with a progress bar."""
    input_files, local_roots = _parse_inputs(inputs)
    settings = Settings(
        output_dir=dest,
        allow_private_networks=allow_private_networks,
        local_input_roots=local_roots,  # only the folders of the files named here
    )
    policy = CommandPolicy.trusted() if trusted else CommandPolicy.strict()
    manager = TaskManager(
        fetcher=build_fetcher(settings), uploader=build_uploader(settings), policy=policy
    )

    async def main_async() -> Task:
        async with manager:
            task = await manager.register(command, input_files, output, timeout=timeout)
            return await _run_with_progress(manager, task)

    done: Task = _exit_on_error(lambda: anyio.run(main_async))
    _report(done)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def health(as_json: bool) -> None:
    """Say whether ffmpeg was found, where, and its version."""

    async def check() -> dict[str, object]:
        async with TaskManager() as manager:
            return (await manager.health()).to_dict()

    report = anyio.run(check)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            click.echo(f"{key}: {value}")
    if not report["ok"]:
        sys.exit(1)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="TCP port."
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
    help="uvicorn's log level.",
)
@click.option(
    "--shutdown-timeout",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="Seconds requests in flight get to finish on SIGINT/SIGTERM before they are cancelled.",
)
def serve(host: str, port: int, log_level: str, shutdown_timeout: int) -> None:
    """Run the HTTP API (the FFmpeg API service) with uvicorn; needs the 'fastapi' extra.

    Configured by environment variables as the original service was: S3_BUCKET and AWS_* for
    outputs, FFMPEG_TASKS_DATABASE for a task store that survives restarts,
    FFMPEG_TASKS_API_KEYS (comma-separated) to require API keys; FFMPEG_TASKS_WORKERS=
    procrastinate hands the tasks to `ffmpeg-tasks worker` processes instead of running them.
    """
    from .integrations._serve import serve as run_server

    _exit_on_error(
        lambda: run_server(
            host=host, port=port, log_level=log_level, shutdown_timeout=shutdown_timeout
        )
    )


@main.command()
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Tasks run at once.",
)
@click.option(
    "--queue",
    "queues",
    multiple=True,
    metavar="NAME",
    help="Take tasks of this queue only; repeat for several (default: every queue).",
)
@click.option(
    "--grace",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Seconds the running tasks get to finish on SIGTERM/SIGINT before they are handed "
    "back to the queue for another worker.",
)
@click.option("--name", default=None, help="The worker's name in logs (default: host-pid).")
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
    help="Log level.",
)
def worker(
    concurrency: int, queues: Sequence[str], grace: float, name: str | None, log_level: str
) -> None:
    """Run the tasks `serve` hands out (FFMPEG_TASKS_WORKERS=procrastinate); needs the
    'workers' extra.

    Configured by the same environment variables as `serve`: FFMPEG_TASKS_DATABASE (the
    PostgreSQL database of the API), S3_BUCKET and AWS_* for inputs and outputs,
    FFMPEG_TASKS_RETRIES and FFMPEG_TASKS_LEASE for interrupted runs.
    """
    import logging

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    from .integrations._work import work

    _exit_on_error(
        lambda: anyio.run(
            lambda: work(concurrency=concurrency, queues=queues, grace=grace, name=name)
        )
    )


@main.group()
def db() -> None:
    """The task database named by FFMPEG_TASKS_DATABASE."""


@db.command()
@click.option(
    "--database",
    envvar="FFMPEG_TASKS_DATABASE",
    required=True,
    metavar="URL",
    help="postgresql://user:password@host:port/database, or a SQLite file "
    "(default: $FFMPEG_TASKS_DATABASE).",
)
@click.option(
    "--workers",
    envvar="FFMPEG_TASKS_WORKERS",
    type=click.Choice(["in-process", "procrastinate"]),
    default="in-process",
    show_default=True,
    help="procrastinate: make procrastinate's tables too, for `ffmpeg-tasks worker` "
    "(default: $FFMPEG_TASKS_WORKERS).",
)
def migrate(database: str, workers: str) -> None:
    """Create or upgrade the task database's tables; safe to run again, and from many hosts."""
    _exit_on_error(lambda: anyio.run(_migrate, database, workers))


async def _migrate(database: str, workers: str) -> None:
    from ._config import build_dispatcher, settings_from_env
    from .storage import PostgresStore, SqliteStore

    settings = settings_from_env(
        {"FFMPEG_TASKS_DATABASE": database, "FFMPEG_TASKS_WORKERS": workers}
    )
    if settings.postgres_dsn is not None:
        store = PostgresStore(settings.postgres_dsn)
        try:
            version = await store.migrate()
        finally:
            await store.aclose()
        console.print(escape(f"{store!r}: schema version {version}, up to date"))
        dispatcher = build_dispatcher(settings)
        if dispatcher is not None:
            from .integrations.procrastinate import ProcrastinateDispatcher

            assert isinstance(dispatcher, ProcrastinateDispatcher)
            made = await dispatcher.migrate()
            state = "made" if made else "present already"
            console.print(escape(f"{dispatcher!r}: procrastinate's tables {state}"))
    else:
        assert settings.database is not None
        await SqliteStore(settings.database).aclose()  # it makes its tables when it opens
        console.print(escape(f"SQLite file {settings.database}: up to date"))


def _parse_inputs(inputs: Sequence[str]) -> tuple[dict[str, str], list[Path]]:
    files: dict[str, str] = {}
    roots: list[Path] = []
    for item in inputs:
        name, sep, location = item.partition("=")
        if not sep or not name or not location:
            raise click.BadParameter(f"{item!r} is not NAME=URL", param_hint="--input")
        if "://" not in location:
            path = Path(location).expanduser().resolve()
            if not path.is_file():
                raise click.BadParameter(f"{location!r} is not a file", param_hint="--input")
            roots.append(path.parent)
            location = path.as_uri()
        elif location.startswith("file://"):
            roots.append(Path(url2pathname(urlsplit(location).path)).parent)
        files[name] = location
    return files, roots


async def _run_with_progress(manager: TaskManager, task: Task) -> Task:
    columns = (
        TextColumn("{task.description:<10}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        row = bar.add_task("pending", total=1.0)
        async with anyio.create_task_group() as group:
            group.start_soon(manager.execute, task.id)
            async for state in manager.watch(task.id):
                label = state.phase.value if state.phase else state.status.value
                bar.update(row, description=label, completed=state.progress or 0.0)
        return await manager.get(task.id)


def _report(task: Task) -> None:
    if task.status is TaskStatus.COMPLETED:
        console.print(f"[green]done[/green]: {escape(str(task.output_url))}")
        click.echo(task.output_url)
        return
    console.print(f"[red]{task.status.value}[/red]: {escape(str(task.error))}")
    sys.exit(1)


def _exit_on_error(action: Callable[[], T]) -> T:
    try:
        return action()
    except FfmpegTasksError as exc:
        raise click.ClickException(str(exc)) from exc
