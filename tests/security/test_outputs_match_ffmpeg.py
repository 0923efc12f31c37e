"""Differential test: every file the real ffmpeg writes for an accepted command is a declared
output, the defaults a muxer falls back to included.

The policy names each file an output can write (``_policy/muxers.py``) from the options and
the muxers' defaults (hls's ``out0.ts`` and ``init_0.mp4``, dash's ``init-stream0.m4s``...).
Here ffmpeg runs each accepted argv, guards included, in an empty folder; whatever it leaves
there must match the main output or a declared pattern, or the model is wrong.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from ffmpeg_tasks import CommandPolicy
from ffmpeg_tasks._patterns import declared_patterns

from .test_legitimate import SEVERAL

#: Commands whose defaults matter most, beyond the legitimate table.
DEFAULTS: list[tuple[str, list[str], str, list[str]]] = [
    ("-i clip.mp4 -c:v libx264 -preset ultrafast -c:a aac -f hls out.m3u8", ["clip.mp4"],
     "out.m3u8", ["out%d.ts"]),
    ("-i clip.mp4 -c:v libx264 -preset ultrafast -c:a aac -f hls -hls_segment_type fmp4 out.m3u8",
     ["clip.mp4"], "out.m3u8", ["out%d.m4s", "init.mp4"]),
    ("-i clip.mp4 -c:v libx264 -preset ultrafast -c:a aac -hls_flags single_file out.m3u8",
     ["clip.mp4"], "out.m3u8", ["out.ts"]),
    (("-i clip.mp4 -map 0:v -map 0:v -map 0:a -c:v libx264 -preset ultrafast -c:a aac -f hls "
      "-hls_segment_type fmp4 -var_stream_map 'v:0,a:0,name:hi v:1,name:lo' 'out_%v.m3u8'"),
     ["clip.mp4"], "out_hi.m3u8", ["out_lo.m3u8", "out_hi%d.m4s", "out_lo%d.m4s", "init_%d.mp4"]),
    (("-i clip.mp4 -c:v libvpx -deadline realtime -c:a libopus -f dash -dash_segment_type webm "
      "out.mpd"), ["clip.mp4"],
     "out.mpd", ["init-stream*.webm", "chunk-stream*.webm"]),
]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(
    ("command", "inputs", "output", "outputs"),
    [*SEVERAL, *DEFAULTS],
    ids=[f"{c[2]} {c[3]}" for c in [*SEVERAL, *DEFAULTS]],
)
def test_ffmpeg_writes_only_declared_files(
    command: str,
    inputs: list[str],
    output: str,
    outputs: list[str],
    ffmpeg_exe: Path,
    media_dir: Path,
    tmp_path: Path,
) -> None:
    files = {name: (media_dir / name).as_uri() for name in inputs}
    args = CommandPolicy.strict().prepare(
        command, input_files=files, output_filename=output, outputs=outputs
    )
    for name in inputs:
        shutil.copy(media_dir / name, tmp_path / name)
    result = subprocess.run(
        [str(ffmpeg_exe), "-nostdin", "-hide_banner", "-loglevel", "error", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    patterns = declared_patterns(output, outputs, files)
    written = {path.name for path in tmp_path.iterdir()} - set(inputs)
    assert output in written
    strays = sorted(n for n in written if not any(p.matches(n) for p in patterns))
    assert strays == [], f"ffmpeg wrote undeclared {strays}"
