"""SubprocessRunner against the real ffmpeg: output, progress, failures, cancellation, isolation."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import MutableMapping
from pathlib import Path

import anyio
import psutil
import pytest

from ffmpeg_tasks import ConfigurationError, Progress, RunError
from ffmpeg_tasks.runners import SubprocessRunner
from tests.fixtures.media import DecodedDuration

#: Fast, small H.264 + AAC: these tests are about the runner, not about encoding.
ENCODE = ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"]
#: A live source that would run a minute at real-time speed, if nothing stopped it.
ENDLESS = [
    *("-stats_period", "0.1", "-re", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25"),
    *("-t", "60", "out.mp4"),
]


@pytest.fixture
def workdir(tmp_path: Path, media_dir: Path) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    for name in ["clip.mp4", "tone.wav"]:
        shutil.copyfile(media_dir / name, folder / name)
    return folder


class Recorder:
    """An on_progress callback that keeps every report."""

    def __init__(self) -> None:
        self.reports: list[Progress] = []

    async def __call__(self, progress: Progress) -> None:
        self.reports.append(progress)


def python_program(folder: Path, body: str) -> Path:
    """An executable Python script standing in for ffmpeg (a real process, not a mock)."""
    path = folder / "fake-ffmpeg"
    path.write_text(f"#!{sys.executable}\n{body}\n")
    path.chmod(0o755)
    return path


def group_members(pgid: int) -> list[psutil.Process]:
    """Live processes whose process group is ``pgid``."""
    members = []
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == pgid and process.status() != psutil.STATUS_ZOMBIE:
                members.append(process)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return members


def ffmpeg_children(workdir: Path) -> list[psutil.Process]:
    """Our child processes running in ``workdir``."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if Path(child.cwd()) == workdir:
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


# -- success ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_transcode_writes_a_playable_file_and_reports_progress(
    workdir: Path, decoded_duration: DecodedDuration
) -> None:
    recorder = Recorder()
    args = ["-readrate", "4", "-stats_period", "0.1", "-i", "clip.mp4", *ENCODE, "out.mp4"]
    tail = await SubprocessRunner().run(args, workdir=workdir, on_progress=recorder)

    output = workdir / "out.mp4"
    assert output.stat().st_size > 0
    assert decoded_duration(output) == pytest.approx(2.0, abs=0.05)
    assert "libx264" in tail

    reports = recorder.reports
    assert len(reports) >= 3
    fractions = [r.fraction for r in reports if r.fraction is not None]
    assert len(fractions) >= len(reports) - 1  # at most one report before any position
    assert all(0.0 <= f <= 1.0 for f in fractions)
    assert fractions == sorted(fractions)
    assert fractions[-1] == 1.0
    assert reports[-1].done
    assert [r.done for r in reports].count(True) == 1
    # Nothing in the arguments says 2 s: it came from the input's Duration line on stderr,
    # which -hide_banner leaves in place.
    durations = [r.duration for r in reports if r.out_time is not None]
    assert durations == [pytest.approx(2.0)] * len(durations)


@pytest.mark.anyio
async def test_a_cut_sets_the_expected_duration(
    workdir: Path, decoded_duration: DecodedDuration
) -> None:
    recorder = Recorder()
    args = ["-i", "clip.mp4", "-t", "1", *ENCODE, "cut.mp4"]
    await SubprocessRunner().run(args, workdir=workdir, on_progress=recorder)
    assert recorder.reports[-1].duration == 1.0
    assert recorder.reports[-1].out_time == pytest.approx(1.0, abs=0.05)
    assert decoded_duration(workdir / "cut.mp4") == pytest.approx(1.0, abs=0.05)


@pytest.mark.anyio
async def test_the_returned_tail_is_bounded(workdir: Path) -> None:
    args = ["-i", "clip.mp4", *ENCODE, "out.mp4"]
    tail = await SubprocessRunner(stderr_tail_lines=3).run(args, workdir=workdir)
    assert 1 <= len(tail.splitlines()) <= 3


class TestPredictedDurationMatchesFfmpeg:
    """The duration predicted from the arguments is where the real ffmpeg stops."""

    @pytest.fixture
    def anyio_backend(self) -> str:
        return "asyncio"  # pure arithmetic being checked: one backend is enough

    @pytest.mark.anyio
    @pytest.mark.parametrize(
        "cut",
        [
            "-i clip.mp4 -ss 0.5 -to 1.5",
            "-ss 0.5 -i clip.mp4 -t 1",
            "-sseof -0.5 -i clip.mp4",
            "-stream_loop 1 -i clip.mp4",
            "-i clip.mp4 -i tone.wav -map 0:v -map 1:a -shortest",
        ],
    )
    async def test_cut(self, workdir: Path, cut: str) -> None:
        recorder = Recorder()
        args = [*cut.split(), *ENCODE, "cut.mp4"]
        await SubprocessRunner().run(args, workdir=workdir, on_progress=recorder)
        final = recorder.reports[-1]
        assert final.duration is not None
        assert final.out_time == pytest.approx(final.duration, abs=0.05)


# -- failures ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_failing_command_raises_run_error_with_status_and_tail(workdir: Path) -> None:
    with pytest.raises(RunError) as caught:
        await SubprocessRunner().run(["-i", "missing.mp4", "out.mp4"], workdir=workdir)
    error = caught.value
    assert error.returncode not in (None, 0)
    assert f"status {error.returncode}" in str(error)
    assert "No such file or directory" in str(error)
    assert "missing.mp4" in error.stderr_tail


@pytest.mark.anyio
async def test_an_unknown_encoder_is_named_in_the_error(workdir: Path) -> None:
    args = ["-i", "clip.mp4", "-c:v", "nosuchcodec", "out.mp4"]
    with pytest.raises(RunError, match="ffmpeg exited with status") as caught:
        await SubprocessRunner().run(args, workdir=workdir)
    assert "Unknown encoder 'nosuchcodec'" in caught.value.stderr_tail


@pytest.mark.anyio
async def test_a_silent_failure_says_so(workdir: Path) -> None:
    args = ["-loglevel", "quiet", "-i", "missing.mp4", "out.mp4"]
    with pytest.raises(RunError, match="without printing an error"):
        await SubprocessRunner().run(args, workdir=workdir)


@pytest.mark.anyio
async def test_death_by_a_signal_is_named(tmp_path: Path) -> None:
    suicidal = python_program(tmp_path, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    with pytest.raises(RunError, match="ffmpeg was killed by SIGKILL") as caught:
        await SubprocessRunner(suicidal).run([], workdir=tmp_path)
    assert caught.value.returncode == -9


@pytest.mark.anyio
async def test_a_binary_that_cannot_start_is_a_configuration_error(tmp_path: Path) -> None:
    garbage = tmp_path / "ffmpeg"
    garbage.write_bytes(b"\x00\x01 not a program")
    garbage.chmod(0o755)
    with pytest.raises(ConfigurationError, match="could not start ffmpeg"):
        await SubprocessRunner(garbage).run(["-version"], workdir=tmp_path)


@pytest.mark.anyio
async def test_a_missing_binary_is_a_configuration_error(tmp_path: Path) -> None:
    runner = SubprocessRunner(tmp_path / "nope")
    with pytest.raises(ConfigurationError, match="does not exist"):
        await runner.run(["-version"], workdir=tmp_path)


@pytest.mark.anyio
async def test_a_missing_workdir_is_a_run_error(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="does not exist"):
        await SubprocessRunner().run(["-version"], workdir=tmp_path / "gone")


@pytest.mark.anyio
async def test_a_failing_progress_callback_stops_ffmpeg_and_propagates(workdir: Path) -> None:
    pids: list[int] = []

    async def explode(progress: Progress) -> None:
        pids.extend(child.pid for child in ffmpeg_children(workdir))
        raise LookupError("store is gone")

    with pytest.raises(LookupError, match="store is gone"):
        await SubprocessRunner().run(ENDLESS, workdir=workdir, on_progress=explode)
    assert pids
    assert not any(psutil.pid_exists(pid) for pid in pids)


# -- cancellation -----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_cancelling_stops_ffmpeg_quickly_and_gracefully(
    workdir: Path, decoded_duration: DecodedDuration
) -> None:
    pids: list[int] = []
    started = anyio.Event()

    async def on_progress(progress: Progress) -> None:
        if not pids:
            pids.extend(child.pid for child in ffmpeg_children(workdir))
        started.set()

    runner = SubprocessRunner()
    async with anyio.create_task_group() as group:
        group.start_soon(lambda: runner.run(ENDLESS, workdir=workdir, on_progress=on_progress))
        with anyio.fail_after(10):
            await started.wait()
        cancelled_at = time.monotonic()
        group.cancel_scope.cancel()
    stopped_in = time.monotonic() - cancelled_at

    assert stopped_in < 1.5  # SIGINT sufficed: no waiting for kill_grace
    (pid,) = pids
    assert not psutil.pid_exists(pid)
    assert group_members(pid) == []
    # SIGINT is ffmpeg's graceful stop: the file it was writing is finished and playable.
    assert 0 < decoded_duration(workdir / "out.mp4") < 10


@pytest.mark.anyio
async def test_a_timeout_escalates_to_sigkill_for_the_whole_group(tmp_path: Path) -> None:
    # Ignores SIGINT and SIGTERM, and so does the child it starts (ignored signals are
    # inherited): only SIGKILL to the process group ends both.
    stubborn = python_program(
        tmp_path,
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "child = subprocess.Popen(['sleep', '60'])\n"
        "open('pids', 'w').write(f'{child.pid}')\n"
        "print('progress=continue', flush=True)\n"
        "time.sleep(60)\n",
    )
    started = anyio.Event()

    async def on_progress(progress: Progress) -> None:
        started.set()

    runner = SubprocessRunner(stubborn, kill_grace=0.2)
    begun = time.monotonic()
    with anyio.move_on_after(5) as scope:
        async with anyio.create_task_group() as group:
            group.start_soon(lambda: runner.run([], workdir=tmp_path, on_progress=on_progress))
            await started.wait()
            group.cancel_scope.cancel()
    assert not scope.cancelled_caught
    assert time.monotonic() - begun < 3
    child = int((tmp_path / "pids").read_text())
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE


# -- isolation --------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_the_environment_is_scrubbed(
    clean_env: MutableMapping[str, str], tmp_path: Path
) -> None:
    clean_env.update({"AWS_SECRET_ACCESS_KEY": "s3cr3t", "HTTPS_PROXY": "http://proxy:3128"})
    dumper = python_program(
        tmp_path,
        "import json, os, sys\njson.dump([sys.argv, dict(os.environ)], open('env.json', 'w'))",
    )
    workdir = tmp_path / "work"
    workdir.mkdir()
    await SubprocessRunner(dumper).run(["-i", "in.mp4", "out.mp4"], workdir=workdir)
    argv, env = json.loads((workdir / "env.json").read_text())
    assert env == {"PATH": clean_env["PATH"], "LANG": "C.UTF-8", "HOME": str(workdir)}
    assert argv[1:] == [
        "-nostdin", "-hide_banner", "-nostats", "-progress", "pipe:1", "-i", "in.mp4", "out.mp4"
    ]  # fmt: skip


@pytest.mark.anyio
async def test_an_explicit_environment_is_used_as_given(tmp_path: Path) -> None:
    dumper = python_program(
        tmp_path, "import json, os\njson.dump(dict(os.environ), open('env.json', 'w'))"
    )
    env = {"ONLY": "this", "LANG": "C.UTF-8"}  # a locale, or Python adds LC_CTYPE (PEP 538)
    await SubprocessRunner(dumper, env=env).run([], workdir=tmp_path)
    assert json.loads((tmp_path / "env.json").read_text()) == env


@pytest.mark.anyio
@pytest.mark.parametrize("scrubbed", [True, False])
async def test_real_ffmpeg_does_not_see_ffreport(
    clean_env: MutableMapping[str, str], workdir: Path, ffmpeg_exe: Path, scrubbed: bool
) -> None:
    # FFREPORT makes ffmpeg write a log file: proof of what the real ffmpeg sees.
    clean_env["FFREPORT"] = "file=report.log:level=32"
    runner = SubprocessRunner() if scrubbed else SubprocessRunner(env=dict(clean_env))
    await runner.run(["-i", "tone.wav", "out.wav"], workdir=workdir)
    assert (workdir / "out.wav").is_file()
    assert (workdir / "report.log").exists() is not scrubbed


# -- health -----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_health_reports_the_binary_and_its_version(ffmpeg_exe: Path) -> None:
    runner = SubprocessRunner()
    health = await runner.health()
    assert health.ok
    assert health.ffmpeg_path == str(ffmpeg_exe)
    assert health.ffmpeg_version
    assert health.ffmpeg_version[-1].isalnum()
    assert await runner.ffmpeg_path() == ffmpeg_exe
    await runner.aclose()


@pytest.mark.anyio
async def test_health_reports_a_missing_binary_without_raising(tmp_path: Path) -> None:
    health = await SubprocessRunner(tmp_path / "nope").health()
    assert not health.ffmpeg_found
    assert health.ffmpeg_path is None
    assert health.error is not None
    assert str(tmp_path / "nope") in health.error


@pytest.mark.anyio
async def test_health_reports_a_broken_binary_without_raising(tmp_path: Path) -> None:
    broken = python_program(tmp_path, "raise SystemExit(3)")
    health = await SubprocessRunner(broken).health()
    assert not health.ffmpeg_found
    assert health.ffmpeg_path == str(broken)
    assert health.error is not None
    assert "status 3" in health.error


@pytest.mark.anyio
async def test_repr_names_the_binary_once_found(ffmpeg_exe: Path) -> None:
    runner = SubprocessRunner()
    assert repr(runner) == "SubprocessRunner(ffmpeg=None)"
    await runner.ffmpeg_path()
    assert repr(runner) == f"SubprocessRunner(ffmpeg={str(ffmpeg_exe)!r})"


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="stderr_tail_lines"):
        SubprocessRunner(stderr_tail_lines=0)
    with pytest.raises(ValueError, match="kill_grace"):
        SubprocessRunner(kill_grace=-1)
