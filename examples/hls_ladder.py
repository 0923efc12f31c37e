"""Turn one video into an HLS ladder: three renditions, one-second segments, a master playlist.

    uv run --extra ffmpeg python examples/hls_ladder.py https://example.com/video.mp4

The outputs go to ``./out/<task id>/``; open ``master.m3u8`` there in a player (VLC, mpv) or
serve the folder over HTTP. Each output is listed with its size, hash and probed facts.
Inputs from loopback or private addresses are refused unless you pass --allow-private-networks.
"""

from __future__ import annotations

import argparse
import sys

import anyio

from ffmpeg_tasks import InvalidTaskError, Task, TaskManager
from ffmpeg_tasks.fetchers import HttpFetcher
from ffmpeg_tasks.uploaders import LocalUploader

#: The full size, half and a quarter of it, each with its own playlist, sharing one audio.
LADDER = (
    "-i input.mp4 -filter_complex "
    "'[0:v]split=3[full][half][quarter];[half]scale=iw/2:-2[h];[quarter]scale=iw/4:-2[q]' "
    "-map '[full]' -map '[h]' -map '[q]' -map 0:a "
    "-c:v libx264 -preset veryfast -g 25 -sc_threshold 0 -c:a aac "
    "-f hls -hls_time 1 -hls_playlist_type vod -master_pl_name master.m3u8 "
    "-hls_segment_filename 'seg_%v_%03d.ts' -var_stream_map 'v:0,a:0 v:1 v:2' 'stream_%v.m3u8'"
)


async def ladder(url: str, *, dest: str = "out", allow_private_networks: bool = False) -> Task:
    """Make the ladder of the video at ``url``; return the finished task."""
    manager = TaskManager(
        fetcher=HttpFetcher(allow_private_networks=allow_private_networks),
        uploader=LocalUploader(dest),
    )
    async with manager:
        task = await manager.register(
            LADDER,
            {"input.mp4": url},
            "master.m3u8",  # the main output: output_url points to it
            outputs=["stream_*.m3u8", "seg_*.ts"],
            # the master playlist lasts as long as the input, with three video streams
            expect={"duration": ("input.mp4", 0.5), "video": 3, "video_codec": "h264"},
        )
        return await manager.execute(task.id)


def main() -> None:
    parser = argparse.ArgumentParser(description="Make an HLS ladder with ffmpeg-tasks.")
    parser.add_argument("url")
    parser.add_argument("--dest", default="out")
    parser.add_argument("--allow-private-networks", action="store_true")
    options = parser.parse_args()
    try:
        done = anyio.run(
            lambda: ladder(
                options.url,
                dest=options.dest,
                allow_private_networks=options.allow_private_networks,
            )
        )
    except InvalidTaskError as exc:  # the message says what to change
        print(f"refused: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    for output in done.outputs:
        media = output.media
        facts = "" if media is None else f" {media.format} {media.duration or 0:.2f} s"
        widths = (
            "" if media is None else " " + "/".join(str(s.width) for s in media.of_type("video"))
        )
        print(f"{output.name} {output.size} bytes sha256={output.sha256}{facts}{widths}")
    print(done.output_url if done.output_url else f"failed: {done.error}")
    raise SystemExit(0 if done.output_url else 1)


if __name__ == "__main__":
    main()
