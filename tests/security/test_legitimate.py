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
from ffmpeg_tasks._policy.command import split_command
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


# -- tasks that write several files ---------------------------------------------------------

LADDER = (
    "-i clip.mp4 -filter_complex '[0:v]split=3[a][b][c];[b]scale=80:-2[b2];[c]scale=40:-2[c2]' "
    "-map '[a]' -map '[b2]' -map '[c2]' -map 0:a -c:v libx264 -preset ultrafast -g 25 "
    "-c:a aac -f hls -hls_time 1 -hls_playlist_type vod -master_pl_name master.m3u8 "
    "-hls_segment_filename 'seg_%v_%03d.ts' -var_stream_map 'v:0,a:0 v:1 v:2' 'stream_%v.m3u8'"
)

#: (command, inputs, main output, declared outputs): each must pass the strict policy.
SEVERAL: list[tuple[str, list[str], str, list[str]]] = [
    (LADDER, ["clip.mp4"], "master.m3u8", ["stream_*.m3u8", "seg_*.ts"]),
    (("-i clip.mp4 -map 0:v -map 0:v -map 0:a -c:v libx264 -c:a aac -f hls -hls_segment_type "
      "fmp4 -var_stream_map 'v:0,a:0,name:hi v:1,name:lo' -master_pl_name master.m3u8 "
      "'out_%v.m3u8'"), ["clip.mp4"], "master.m3u8", ["out_*.m3u8", "*.m4s", "init_*.mp4"]),
    ("-i clip.mp4 -c:v libx264 -c:a aac -hls_time 1 out.m3u8", ["clip.mp4"], "out.m3u8",
     ["out*.ts"]),
    ("-i clip.mp4 -vf fps=2,scale=80:-1 thumb_%03d.jpg", ["clip.mp4"], "thumb_001.jpg",
     ["thumb_%03d.jpg"]),
    ("-i clip.mp4 -vf fps=1 -frames:v 4 -start_number 0 -q:v 3 t%02d.jpg", ["clip.mp4"], "t00.jpg",
     ["t%02d.jpg"]),
    (("-i clip.mp4 -c:v libx264 -preset ultrafast -c:a aac out.mp4 -map 0:v -ss 1 -frames:v 1 "
      "poster.jpg"), ["clip.mp4"], "out.mp4", ["poster.jpg"]),
    ("-i clip.mp4 -vf \"select='not(mod(n\\,10))',scale=80:-1,tile=3x1\" -frames:v 1 sheet.png",
     ["clip.mp4"], "sheet.png", ["*.png"]),
    ("-i clip.mp4 -f dash -seg_duration 1 out.mpd", ["clip.mp4"], "out.mpd", ["*.m4s", "*.webm"]),
    (("-i clip.mp4 -map 0:v -map 0:a -c:v libx264 -c:a aac -f dash -dash_segment_type mp4 "
      "-adaptation_sets 'id=0,streams=v id=1,streams=a' -init_seg_name 'init_$RepresentationID$.m4s' "
      "-media_seg_name 'chunk_$RepresentationID$_$Number%05d$.m4s' out.mpd"), ["clip.mp4"],
     "out.mpd", ["init_*.m4s", "chunk_*.m4s"]),
    (("-i clip.mp4 -c copy -f segment -segment_time 1 -segment_list list.m3u8 "
      "-reset_timestamps 1 seg%03d.ts"), ["clip.mp4"], "list.m3u8", ["seg%03d.ts"]),
    (("-i clip.mp4 -map 0:v -s 80x60 -c:v libx264 small.mp4 -map 0:v -c:v libx264 big.mp4 "
      "-map 0:a -c:a libmp3lame audio.mp3"), ["clip.mp4"], "big.mp4", ["small.mp4", "audio.mp3"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("command", "inputs", "output", "outputs"), SEVERAL, ids=[f"{c[2]} {c[3]}" for c in SEVERAL]
)
def test_commands_writing_several_files_are_accepted(
    command: str, inputs: list[str], output: str, outputs: list[str]
) -> None:
    files = {name: f"https://media.example/{name}" for name in inputs}
    args = CommandPolicy.strict().prepare(
        command, input_files=files, output_filename=output, outputs=outputs
    )
    assert args.count("-fs") == len([a for a in split_command(command) if a in _NAMES])


_NAMES = {"'stream_%v.m3u8'", "stream_%v.m3u8", "out_%v.m3u8", "out.m3u8", "thumb_%03d.jpg",
          "t%02d.jpg", "out.mp4", "poster.jpg", "sheet.png", "out.mpd", "seg%03d.ts",
          "small.mp4", "big.mp4", "audio.mp3"}  # fmt: skip


#: Run for real: (command, main output, declared outputs, the names stored).
SEVERAL_END_TO_END = [
    (LADDER, "master.m3u8", ["stream_*.m3u8", "seg_*.ts"],
     {"master.m3u8", *(f"stream_{v}.m3u8" for v in range(3)),
      *(f"seg_{v}_{n:03d}.ts" for v in range(3) for n in range(2))}),
    ("-i clip.mp4 -vf fps=2,scale=80:-1 thumb_%03d.jpg", "thumb_001.jpg", ["thumb_%03d.jpg"],
     {f"thumb_{n:03d}.jpg" for n in range(1, 5)}),
    (("-i clip.mp4 -c:v libx264 -preset ultrafast -c:a aac out.mp4 -map 0:v -ss 1 -frames:v 1 "
      "poster.jpg"), "out.mp4", ["poster.jpg"], {"out.mp4", "poster.jpg"}),
    (("-i clip.mp4 -c:v libx264 -preset ultrafast -g 25 -c:a copy -f segment -segment_time 1 "
      "-segment_list list.m3u8 -reset_timestamps 1 seg%03d.ts"), "list.m3u8", ["seg%03d.ts"],
     {"list.m3u8", "seg000.ts", "seg001.ts"}),
    ("-i clip.mp4 -c:v libx264 -preset ultrafast -g 25 -f dash -seg_duration 1 out.mpd", "out.mpd",
     ["*.m4s", "*.webm"], {"out.mpd", "init-stream0.m4s", "init-stream1.m4s",
                           "chunk-stream0-00001.m4s", "chunk-stream1-00001.m4s",
                           "chunk-stream0-00002.m4s", "chunk-stream1-00002.m4s"}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("command", "output", "outputs", "names"),
    SEVERAL_END_TO_END,
    ids=[c[1] for c in SEVERAL_END_TO_END],
)
def test_commands_writing_several_files_run_with_the_guards(
    command: str,
    output: str,
    outputs: list[str],
    names: set[str],
    media_dir: Path,
    tmp_path: Path,
) -> None:
    stored = tmp_path / "outputs"
    (tmp_path / "work").mkdir()

    async def run() -> Task:
        manager = TaskManager(
            MemoryStore(),
            LocalFetcher([media_dir]),
            SubprocessRunner(),
            LocalUploader(stored),
            workdir_root=tmp_path / "work",
        )
        async with manager:
            files = {"clip.mp4": (media_dir / "clip.mp4").as_uri()}
            task = await manager.register(command, files, output, outputs=outputs)
            return await manager.execute(task.id)

    done = anyio.run(run)
    assert done.status is TaskStatus.COMPLETED, done.error
    assert {o.name for o in done.outputs} == names
    assert done.outputs[0].name == output
    assert {p.name for p in (stored / done.id).iterdir()} == names
    for item in done.outputs:
        assert item.size == (stored / done.id / item.name).stat().st_size > 0
