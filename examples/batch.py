"""Many tasks at once: every video in several widths, a few encodes at a time, a live progress
bar for each (one summary bar beyond ten tasks), then a table of how each one ended.

    uv run --extra ffmpeg python examples/batch.py https://example.com/a.mp4 https://example.com/b.mp4 \\
        --widths 640,320 --concurrency 2 [--dest out]

The bars go to standard error, the table to standard output. Inputs from loopback or private
addresses are refused unless you pass --allow-private-networks.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import anyio
from rich.console import Console

from ffmpeg_tasks import InvalidTaskError, Task, TaskList, TaskManager, TaskStatus
from ffmpeg_tasks.fetchers import HttpFetcher
from ffmpeg_tasks.uploaders import LocalUploader

COMMAND = (
    "-i input.mp4 -vf scale={width}:-2 -c:v libx264 -preset veryfast -c:a aac video_{width}.mp4"
)


async def transcode_all(
    urls: Sequence[str],
    widths: Sequence[int],
    *,
    concurrency: int,
    dest: str = "out",
    allow_private_networks: bool = False,
) -> TaskList:
    """Scale every video at ``urls`` to every width, at most ``concurrency`` at once, showing
    their progress; return the finished tasks."""
    manager = TaskManager(
        fetcher=HttpFetcher(allow_private_networks=allow_private_networks),
        uploader=LocalUploader(dest),
        max_concurrency=concurrency,  # the others wait, pending, for a free slot
    )
    async with manager:
        tasks = [
            await manager.register(
                COMMAND.format(width=width), {"input.mp4": url}, f"video_{width}.mp4"
            )
            for url in urls
            for width in widths
        ]
        for task in tasks:
            await manager.start(task.id)
        return await manager.show_progress([task.id for task in tasks])


def most_at_once(tasks: Sequence[Task]) -> int:
    """How many of the tasks ran at the same time, at most, from their start and end times."""
    events = sorted(
        (when, step)
        for task in tasks
        if task.started_at is not None and task.finished_at is not None
        for when, step in ((task.started_at, 1), (task.finished_at, -1))
    )
    running = most = 0
    for _, step in events:
        running += step
        most = max(most, running)
    return most


def main() -> None:
    parser = argparse.ArgumentParser(description="Transcode many videos with ffmpeg-tasks.")
    parser.add_argument("urls", nargs="+")
    parser.add_argument("--widths", default="640,320", help="comma-separated widths in pixels")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--dest", default="out")
    parser.add_argument("--allow-private-networks", action="store_true")
    options = parser.parse_args()
    widths = [int(width) for width in options.widths.split(",")]
    started = time.monotonic()
    try:
        done = anyio.run(
            lambda: transcode_all(
                options.urls,
                widths,
                concurrency=options.concurrency,
                dest=options.dest,
                allow_private_networks=options.allow_private_networks,
            )
        )
    except InvalidTaskError as exc:  # the message says what to change
        print(f"refused: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    Console(width=160).print(done)  # a TaskList shows as a table
    print(
        f"{len(done)} tasks in {time.monotonic() - started:.1f} s, "
        f"at most {most_at_once(done)} at once"
    )
    raise SystemExit(0 if all(task.status is TaskStatus.COMPLETED for task in done) else 1)


if __name__ == "__main__":
    main()
