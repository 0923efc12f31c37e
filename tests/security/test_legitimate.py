"""Real-world commands strict mode must keep accepting, and running, guards included.

The list covers what people ask ffmpeg for every day: scaling, trimming, overlays, the concat
filter, audio extraction, thumbnails, GIFs with a generated palette, loudness normalisation,
stacking, stream selection, stream copy, rate control and metadata. A handful of them then run
end to end through a TaskManager with the real ffmpeg on the test clips: the server-placed
guards must not break legitimate work.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from ffmpeg_tasks import CommandPolicy, Task, TaskManager, TaskStatus
from ffmpeg_tasks.fetchers.local import LocalFetcher
from ffmpeg_tasks.runners import SubprocessRunner
from ffmpeg_tasks.storage import MemoryStore
from ffmpeg_tasks.uploaders import LocalUploader
from tests.fixtures.media import DecodedDuration

from ._support import accepts

#: (command, inputs, output): each must pass the strict policy unchanged.
LEGITIMATE: list[tuple[str, list[str], str]] = [
    ("-i clip.mp4 -vf scale=80:-2 -c:v libx264 -preset veryfast -crf 28 -c:a copy out.mp4",
     ["clip.mp4"], "out.mp4"),
    ("-i clip.mp4 -ss 0.5 -t 1 -c copy out.mp4", ["clip.mp4"], "out.mp4"),
    ("-ss 0.5 -i clip.mp4 -to 1 -c:v libx264 -preset ultrafast out.mp4", ["clip.mp4"], "out.mp4"),
    (("-i clip.mp4 -i clip2.mp4 -filter_complex '[0:v][1:v]overlay=10:10:shortest=1[v]' "
     "-map '[v]' -map 0:a? -c:v libx264 -preset ultrafast out.mp4"),
     ["clip.mp4", "clip2.mp4"], "out.mp4"),
    (("-i clip.mp4 -i clip2.mp4 -filter_complex '[0:v][0:a][1:v][1:a]concat=n=2:v=1:a=1[v][a]' "
     "-map '[v]' -map '[a]' -c:v libx264 -preset ultrafast out.mp4"),
     ["clip.mp4", "clip2.mp4"], "out.mp4"),
    ("-i clip.mp4 -vn -c:a libmp3lame -q:a 4 out.mp3", ["clip.mp4"], "out.mp3"),
    ("-i clip.mp4 -vn -acodec copy out.m4a", ["clip.mp4"], "out.m4a"),
    ("-i clip.mp4 -frames:v 1 -q:v 2 thumb.jpg", ["clip.mp4"], "thumb.jpg"),
    ("-i clip.mp4 -vf thumbnail,scale=80:-1 -frames:v 1 thumb.png", ["clip.mp4"], "thumb.png"),
    ("-ss 1 -i clip.mp4 -vframes 1 -s 80x60 thumb.jpg", ["clip.mp4"], "thumb.jpg"),
    ("-i clip.mp4 -map 0:v:0 -map 0:a:0 -c copy -movflags +faststart out.mp4",
     ["clip.mp4"], "out.mp4"),
    ("-i clip.mp4 -af loudnorm=I=-16:TP=-1.5:LRA=11 -ar 48000 -ac 2 -c:v copy out.mp4",
     ["clip.mp4"], "out.mp4"),
    (("-i clip.mp4 -filter_complex "
     "'[0:v]fps=10,scale=80:-1:flags=lanczos,split[a][b];[a]palettegen[p];[b][p]paletteuse' "
     "-loop 0 out.gif"), ["clip.mp4"], "out.gif"),
    (("-i clip.mp4 -i clip2.mp4 -filter_complex '[0:v][1:v]hstack=inputs=2[v]' -map '[v]' -t 1 "
     "out.mp4"), ["clip.mp4", "clip2.mp4"], "out.mp4"),
    ("-i clip.mp4 -vf 'crop=120:90:10:10,pad=160:120:(ow-iw)/2:(oh-ih)/2:black' out.mp4",
     ["clip.mp4"], "out.mp4"),
    ("-i clip.mp4 -vf fps=12 -an -c:v libvpx -deadline realtime -cpu-used 8 -b:v 200k out.webm",
     ["clip.mp4"], "out.webm"),
    (("-i clip.mp4 -an -c:v libx264 -b:v 300k -maxrate 400k -bufsize 800k -pix_fmt yuv420p "
     "-g 50 out.mp4"), ["clip.mp4"], "out.mp4"),
    ("-i clip.mp4 -metadata title='My clip' -metadata:s:a:0 language=eng -c copy out.mkv",
     ["clip.mp4"], "out.mkv"),
    ("-i tone.wav -ar 22050 -ac 1 -c:a aac -b:a 64k out.m4a", ["tone.wav"], "out.m4a"),
    (("-loop 1 -i still.png -i tone.wav -c:v libx264 -tune stillimage -pix_fmt yuv420p "
     "-shortest out.mp4"), ["still.png", "tone.wav"], "out.mp4"),
    ("-i clip.mp4 -vf setpts=0.5*PTS -af atempo=2.0 out.mp4", ["clip.mp4"], "out.mp4"),
    (("-i clip.mp4 -vf 'trim=start=0.5:end=1.5,setpts=PTS-STARTPTS' "
     "-af 'atrim=start=0.5:end=1.5,asetpts=PTS-STARTPTS' out.mp4"), ["clip.mp4"], "out.mp4"),
    ("-i clip.mp4 -vf hflip,vflip,transpose=1 -c:a copy out.mov", ["clip.mp4"], "out.mov"),
    ("-i clip.mp4 -vf drawbox=x=10:y=10:w=50:h=30:color=red@0.5:t=fill out.mp4",
     ["clip.mp4"], "out.mp4"),
    ("-i clip.mp4 -vf \"select='not(mod(n\\,10))',scale=80:-1,tile=3x1\" -frames:v 1 sheet.png",
     ["clip.mp4"], "sheet.png"),
    (("-i clip.mp4 -i tone.wav -filter_complex '[0:a][1:a]amix=inputs=2:duration=shortest[a]' "
     "-map 0:v -map '[a]' -c:v copy out.mp4"), ["clip.mp4", "tone.wav"], "out.mp4"),
    (("-y -i clip.mp4 -vf scale=w=iw/2:h=ih/2,format=yuv420p -c:v libx264 -crf 30 -c:a aac "
     "-b:a 96k -ac 2 out.mp4"), ["clip.mp4"], "out.mp4"),
    (("-i clip.mp4 -vf fade=t=in:st=0:d=0.5,eq=brightness=0.05 "
     "-af afade=t=out:st=1.5:d=0.5,volume=0.8 out.mp4"), ["clip.mp4"], "out.mp4"),
    ("-i clip.mp4 -vcodec libx264 -acodec aac -ab 128k out.mp4", ["clip.mp4"], "out.mp4"),
    ("-i clip.mp4 -vf \"scale='min(1280,iw)':-2\" -c:v libx264 out.mp4", ["clip.mp4"], "out.mp4"),
    ("-i clip.mp4 -s 80x60 -r 15 out.mp4", ["clip.mp4"], "out.mp4"),
    (("-i clip.mp4 -c:v libvpx-vp9 -b:v 0 -crf 40 -deadline realtime -cpu-used 8 -row-mt 1 "
     "-c:a libopus out.webm"), ["clip.mp4"], "out.webm"),
    (("-i clip.mp4 -c:v libx264 -preset veryfast -profile:v high -level 4.0 -pix_fmt yuv420p "
     "-c:a aac -b:a 128k -movflags +faststart out.mp4"), ["clip.mp4"], "out.mp4"),
    ("-hide_banner -loglevel error -i clip.mp4 -t 1 -c:v mpeg4 -q:v 5 -c:a copy out.mkv",
     ["clip.mp4"], "out.mkv"),
    (("ffmpeg -i clip.mp4 -threads 2 -c:v libx264 -an -sn -dn -disposition:v:0 default "
     "-map_metadata -1 -fflags +genpts out.mp4"), ["clip.mp4"], "out.mp4"),
]  # fmt: skip


def test_there_are_enough_legitimate_commands() -> None:
    assert len(LEGITIMATE) >= 20


@pytest.mark.parametrize(
    ("command", "inputs", "output"), LEGITIMATE, ids=[c[0][:60] for c in LEGITIMATE]
)
def test_legitimate_commands_are_accepted(command: str, inputs: list[str], output: str) -> None:
    args = accepts(CommandPolicy.strict(), command, inputs, output)
    assert args[-1] == output
    assert args.count("-protocol_whitelist") == len([a for a in args if a == "-i"])


#: Run for real: one per kind of work, small enough for two cores.
END_TO_END = [
    ("-i clip.mp4 -vf scale=80:-2 -c:v libx264 -preset ultrafast -c:a copy out.mp4",
     ["clip.mp4"], "out.mp4", 2.0),
    (("-i clip.mp4 -i clip2.mp4 -filter_complex '[0:v][1:v]overlay=10:10:shortest=1[v]' "
     "-map '[v]' -c:v libx264 -preset ultrafast out.mp4"), ["clip.mp4", "clip2.mp4"], "out.mp4", 1.0),
    (("-i clip.mp4 -i clip2.mp4 -filter_complex '[0:v][0:a][1:v][1:a]concat=n=2:v=1:a=1[v][a]' "
     "-map '[v]' -map '[a]' -c:v libx264 -preset ultrafast out.mp4"),
     ["clip.mp4", "clip2.mp4"], "out.mp4", 3.0),
    ("-i clip.mp4 -ss 0.5 -t 1 -vn -c:a libmp3lame -q:a 4 out.mp3", ["clip.mp4"], "out.mp3", 1.0),
    ("-i clip.mp4 -vf thumbnail,scale=80:-1 -frames:v 1 thumb.png", ["clip.mp4"], "thumb.png", None),
    (("-i clip.mp4 -t 1 -filter_complex "
     "'[0:v]fps=10,scale=80:-1:flags=lanczos,split[a][b];[a]palettegen[p];[b][p]paletteuse' "
     "-loop 0 out.gif"), ["clip.mp4"], "out.gif", 1.0),
    (("-loop 1 -i still.png -i tone.wav -c:v libx264 -preset ultrafast -tune stillimage "
     "-pix_fmt yuv420p -shortest out.mp4"), ["still.png", "tone.wav"], "out.mp4", 1.0),
    (("-i clip.mp4 -af loudnorm=I=-16:TP=-1.5:LRA=11 -ar 48000 -c:v copy -movflags +faststart "
     "out.mp4"), ["clip.mp4"], "out.mp4", 2.0),
]  # fmt: skip


@pytest.mark.parametrize(
    ("command", "inputs", "output", "seconds"), END_TO_END, ids=[c[0][:50] for c in END_TO_END]
)
def test_legitimate_commands_run_with_the_guards(
    command: str,
    inputs: list[str],
    output: str,
    seconds: float | None,
    media_dir: Path,
    tmp_path: Path,
    decoded_duration: DecodedDuration,
) -> None:
    # ffmpeg's work does not depend on the event loop (the manager's tests run on both), so
    # this runs once, on asyncio.
    outputs = tmp_path / "outputs"
    (tmp_path / "work").mkdir()

    async def run() -> Task:
        manager = TaskManager(
            MemoryStore(),
            LocalFetcher([media_dir]),
            SubprocessRunner(),
            LocalUploader(outputs),
            workdir_root=tmp_path / "work",
        )
        async with manager:
            files = {name: (media_dir / name).as_uri() for name in inputs}
            task = await manager.register(command, files, output)
            return await manager.execute(task.id)

    done = anyio.run(run)
    assert done.status is TaskStatus.COMPLETED, done.error
    task = done
    produced = outputs / task.id / output
    assert produced.stat().st_size > 0
    if seconds is not None:
        assert decoded_duration(produced) == pytest.approx(seconds, abs=0.15)
