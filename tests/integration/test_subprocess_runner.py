"""SubprocessRunner against the real ffmpeg: output, progress, failures, cancellation, isolation.

Every test runs twice: inside the bubblewrap sandbox and without it (``sandbox`` fixture), since
the runner must behave the same in both. The sandbox's own promises are in test_sandbox.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Container, MutableMapping
from pathlib import Path
from typing import Any, Protocol

import anyio
import psutil
import pytest

from ffmpeg_tasks import ConfigurationError, Progress, RunError
from ffmpeg_tasks.runners import SandboxMode, SubprocessRunner
from ffmpeg_tasks.runners._launcher import launcher_argv
from tests.fixtures.media import DecodedDuration
from tests.fixtures.services import require

#: Fast, small H.264 + AAC: these tests are about the runner, not about encoding.
ENCODE = ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"]
#: A live source that would run a minute at real-time speed, if nothing stopped it.
ENDLESS = [
    *("-stats_period", "0.1", "-re", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25"),
    *("-t", "60", "out.mp4"),
]


#: Where the stand-in programs' interpreter lives: bound read-only into the sandbox for them.
PYTHON_PATHS = sorted({sys.prefix, sys.base_prefix})


class MakeRunner(Protocol):
    """Type of the ``make_runner`` fixture."""

    def __call__(self, ffmpeg: Path | None = None, **options: Any) -> SubprocessRunner: ...


@pytest.fixture(params=["bubblewrap", "none"], ids=["sandboxed", "unsandboxed"])
def sandbox(request: pytest.FixtureRequest) -> SandboxMode:
    """Each test once inside the sandbox (where bwrap is installed) and once without it."""
    mode: SandboxMode = request.param
    if mode == "bubblewrap":
        require(shutil.which("bwrap"), "bubblewrap is not installed: apt-get install bubblewrap")
    return mode


@pytest.fixture
def make_runner(sandbox: SandboxMode) -> MakeRunner:
    """Runners in the test's sandbox mode, able to start the Python stand-ins too."""

    def make(ffmpeg: Path | None = None, **options: Any) -> SubprocessRunner:
        return SubprocessRunner(ffmpeg, sandbox=sandbox, sandbox_paths=PYTHON_PATHS, **options)

    return make


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


def python_program(folder: Path, body: str, *, answers_version: bool = True) -> Path:
    """An executable Python script standing in for ffmpeg (a real process, not a mock).

    Unless told otherwise it answers ``-version`` like ffmpeg, as the sandbox's start-up probe
    (``ffmpeg -version`` inside bwrap) expects.
    """
    path = folder / "fake-ffmpeg"
    version = (
        "import sys\nif sys.argv[1:] == ['-version']: sys.exit(print('ffmpeg version 0-fake'))"
    )
    path.write_text(f"#!{sys.executable}\n{version if answers_version else ''}\n{body}\n")
    path.chmod(0o755)
    return path


def group_members(pgid: int) -> list[psutil.Process]:
    """Live (not zombie) processes whose process group is ``pgid``."""
    members = []
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == pgid and process.status() != psutil.STATUS_ZOMBIE:
                members.append(process)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return members


def ffmpeg_children(workdir: Path) -> list[psutil.Process]:
    """Our ffmpeg processes running in ``workdir`` (not the bwrap in front of a sandboxed one)."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if Path(child.cwd()) == workdir and "ffmpeg" in child.name():
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def descendants(besides: Container[str] = ()) -> dict[str, psutil.Process]:
    """Our child processes and theirs, by ``name (pid)``, except those named in ``besides``.

    Pass what existed before the run: session fixtures (servers) are descendants too.
    """
    found = {}
    for process in psutil.Process().children(recursive=True):
        try:
            name = f"{process.name()} ({process.pid})"
        except psutil.NoSuchProcess:
            continue
        if name not in besides:
            found[name] = process
    return found


def autogroup(pid: int) -> str:
    """``/autogroup-42 nice 10``: the scheduling group of the process's session; "" without."""
    try:
        return Path(f"/proc/{pid}/autogroup").read_text().strip()
    except FileNotFoundError:
        return ""


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Those still running: neither gone nor a zombie."""
    running = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                running.append(process)
        except psutil.NoSuchProcess:
            continue
    return running


# -- success ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_transcode_writes_a_playable_file_and_reports_progress(
    make_runner: MakeRunner, workdir: Path, decoded_duration: DecodedDuration
) -> None:
    recorder = Recorder()
    args = ["-readrate", "4", "-stats_period", "0.1", "-i", "clip.mp4", *ENCODE, "out.mp4"]
    tail = await make_runner().run(args, workdir=workdir, on_progress=recorder)

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
    make_runner: MakeRunner, workdir: Path, decoded_duration: DecodedDuration
) -> None:
    recorder = Recorder()
    args = ["-i", "clip.mp4", "-t", "1", *ENCODE, "cut.mp4"]
    await make_runner().run(args, workdir=workdir, on_progress=recorder)
    assert recorder.reports[-1].duration == 1.0
    assert recorder.reports[-1].out_time == pytest.approx(1.0, abs=0.05)
    assert decoded_duration(workdir / "cut.mp4") == pytest.approx(1.0, abs=0.05)


@pytest.mark.anyio
async def test_the_returned_tail_is_bounded(make_runner: MakeRunner, workdir: Path) -> None:
    args = ["-i", "clip.mp4", *ENCODE, "out.mp4"]
    tail = await make_runner(stderr_tail_lines=3).run(args, workdir=workdir)
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
    async def test_cut(self, make_runner: MakeRunner, workdir: Path, cut: str) -> None:
        recorder = Recorder()
        args = [*cut.split(), *ENCODE, "cut.mp4"]
        await make_runner().run(args, workdir=workdir, on_progress=recorder)
        final = recorder.reports[-1]
        assert final.duration is not None
        assert final.out_time == pytest.approx(final.duration, abs=0.05)


# -- failures ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_failing_command_raises_run_error_with_status_and_tail(
    make_runner: MakeRunner, workdir: Path
) -> None:
    with pytest.raises(RunError) as caught:
        await make_runner().run(["-i", "missing.mp4", "out.mp4"], workdir=workdir)
    error = caught.value
    assert error.returncode not in (None, 0)
    assert f"status {error.returncode}" in str(error)
    assert "No such file or directory" in str(error)
    assert "missing.mp4" in error.stderr_tail


@pytest.mark.anyio
async def test_an_unknown_encoder_is_named_in_the_error(
    make_runner: MakeRunner, workdir: Path
) -> None:
    args = ["-i", "clip.mp4", "-c:v", "nosuchcodec", "out.mp4"]
    with pytest.raises(RunError, match="ffmpeg exited with status") as caught:
        await make_runner().run(args, workdir=workdir)
    assert "Unknown encoder 'nosuchcodec'" in caught.value.stderr_tail


@pytest.mark.anyio
async def test_a_silent_failure_says_so(make_runner: MakeRunner, workdir: Path) -> None:
    args = ["-loglevel", "quiet", "-i", "missing.mp4", "out.mp4"]
    with pytest.raises(RunError, match="without printing an error"):
        await make_runner().run(args, workdir=workdir)


@pytest.mark.anyio
async def test_death_by_a_signal_is_named(make_runner: MakeRunner, tmp_path: Path) -> None:
    # A crash rather than kill(getpid(), SIGKILL): in the sandbox the program is pid 1 of its
    # namespace, which the kernel protects from its own signals but not from its own faults.
    crashing = python_program(tmp_path, "import ctypes\nctypes.string_at(0)")
    with pytest.raises(RunError, match="ffmpeg was killed by SIGSEGV") as caught:
        await make_runner(crashing, limits=None).run([], workdir=tmp_path)
    assert caught.value.returncode == -11


@pytest.mark.anyio
async def test_a_binary_that_cannot_start_is_a_configuration_error(
    make_runner: MakeRunner, tmp_path: Path
) -> None:
    garbage = tmp_path / "ffmpeg"
    garbage.write_bytes(b"\x00\x01 not a program")
    garbage.chmod(0o755)
    # Unsandboxed, starting it fails; sandboxed, the start-up probe already finds it broken.
    with pytest.raises(ConfigurationError, match=r"could not (start|run) .*Exec format error"):
        await make_runner(garbage).run(["-version"], workdir=tmp_path)


@pytest.mark.anyio
async def test_a_missing_binary_is_a_configuration_error(
    make_runner: MakeRunner, tmp_path: Path
) -> None:
    runner = make_runner(tmp_path / "nope")
    with pytest.raises(ConfigurationError, match="does not exist"):
        await runner.run(["-version"], workdir=tmp_path)


@pytest.mark.anyio
async def test_a_missing_workdir_is_a_run_error(make_runner: MakeRunner, tmp_path: Path) -> None:
    with pytest.raises(RunError, match="does not exist"):
        await make_runner().run(["-version"], workdir=tmp_path / "gone")


@pytest.mark.anyio
async def test_a_failing_progress_callback_stops_ffmpeg_and_propagates(
    make_runner: MakeRunner, workdir: Path
) -> None:
    before = set(descendants())
    running: dict[str, psutil.Process] = {}

    async def explode(progress: Progress) -> None:
        running.update(descendants(besides=before))
        raise LookupError("store is gone")

    with pytest.raises(LookupError, match="store is gone"):
        await make_runner().run(ENDLESS, workdir=workdir, on_progress=explode)
    assert any("ffmpeg" in name for name in running)
    assert alive(list(running.values())) == []


# -- cancellation -----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_cancelling_stops_ffmpeg_quickly_and_gracefully(
    make_runner: MakeRunner, workdir: Path, decoded_duration: DecodedDuration
) -> None:
    pids: list[int] = []
    started = anyio.Event()

    async def on_progress(progress: Progress) -> None:
        if not pids:
            pids.extend(child.pid for child in ffmpeg_children(workdir))
            pids.append(os.getpgid(pids[0]))
        started.set()

    runner = make_runner()
    async with anyio.create_task_group() as group:
        group.start_soon(lambda: runner.run(ENDLESS, workdir=workdir, on_progress=on_progress))
        with anyio.fail_after(10):
            await started.wait()
        cancelled_at = time.monotonic()
        group.cancel_scope.cancel()
    stopped_in = time.monotonic() - cancelled_at

    assert stopped_in < 1.5  # SIGINT sufficed: no waiting for kill_grace
    pid, pgid = pids  # unsandboxed ffmpeg leads its group; sandboxed, bwrap does
    assert not psutil.pid_exists(pid)
    assert group_members(pgid) == []
    # SIGINT is ffmpeg's graceful stop: the file it was writing is finished and playable.
    assert 0 < decoded_duration(workdir / "out.mp4") < 10


@pytest.mark.anyio
async def test_a_timeout_escalates_to_sigkill_for_the_whole_group(
    make_runner: MakeRunner, tmp_path: Path
) -> None:
    # Ignores SIGINT and SIGTERM, and so does the child it starts (ignored signals are
    # inherited): only SIGKILL to the process group ends both.
    stubborn = python_program(
        tmp_path,
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "child = subprocess.Popen(['sleep', '60'])\n"
        "print('progress=continue', flush=True)\n"
        "time.sleep(60)\n",
    )
    started = anyio.Event()
    before = set(descendants())
    running: dict[str, psutil.Process] = {}

    async def on_progress(progress: Progress) -> None:
        running.update(descendants(besides=before))
        started.set()

    runner = make_runner(stubborn, kill_grace=0.2)
    begun = time.monotonic()
    with anyio.move_on_after(5) as scope:
        async with anyio.create_task_group() as group:
            group.start_soon(lambda: runner.run([], workdir=tmp_path, on_progress=on_progress))
            await started.wait()
            group.cancel_scope.cancel()
    assert not scope.cancelled_caught
    assert time.monotonic() - begun < 3
    assert any(name.startswith("sleep ") for name in running)
    assert alive(list(running.values())) == []


# -- priority ---------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("nice", [None, 0, 19], ids=["default", "unchanged", "lowest"])
async def test_ffmpeg_runs_below_the_service_cpu_priority(
    make_runner: MakeRunner, workdir: Path, nice: int | None
) -> None:
    """The real ffmpeg process (inside the sandbox too) has the niceness asked for, and so has
    its session's autogroup, without which the niceness would not rank it below the service."""
    seen: list[int] = []
    groups: list[str] = []
    found = anyio.Event()

    async def on_progress(progress: Progress) -> None:
        if not seen:
            for child in ffmpeg_children(workdir):
                seen.append(child.nice())
                groups.append(autogroup(child.pid))
        if seen:
            found.set()

    runner = make_runner() if nice is None else make_runner(nice=nice)
    async with anyio.create_task_group() as group:
        group.start_soon(lambda: runner.run(ENDLESS, workdir=workdir, on_progress=on_progress))
        with anyio.fail_after(10):
            await found.wait()
        group.cancel_scope.cancel()
    step = 10 if nice is None else nice
    expected = min(psutil.Process().nice() + step, 19)
    assert seen == [expected]  # added to ours, as nice -n does
    if step and autogroup(os.getpid()):  # its session's scheduling group is reniced too
        assert groups[0].endswith(f" nice {expected}")
    assert (await runner.health()).details["nice"].startswith(f"{step}: ffmpeg runs at ")


def test_encodes_started_together_all_get_their_autogroup_niceness() -> None:
    """Without CAP_SYS_ADMIN the kernel takes one autogroup change per 100 ms, machine-wide:
    the launcher waits its turn instead of leaving later encodes at the service's priority."""
    if not autogroup(os.getpid()):
        pytest.skip("the kernel does not group processes by session here (no autogroups)")
    prefix: list[str] = []
    if os.geteuid() == 0:  # root may change autogroups at any rate: run without that right
        setpriv = shutil.which("setpriv")
        require(setpriv, "setpriv (util-linux) is needed to drop CAP_SYS_ADMIN for this test")
        prefix = [str(setpriv), "--bounding-set=-sys_admin"]
    cat = shutil.which("cat")
    assert cat is not None
    argv = launcher_argv([cat, "/proc/self/autogroup"], rlimits=(), env_keys=(), nice=10)
    processes = [
        subprocess.Popen(
            [*prefix, *argv], start_new_session=True, stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    groups = [process.communicate(timeout=10)[0].strip() for process in processes]
    expected = min(psutil.Process().nice() + 10, 19)
    assert [group.rpartition(" nice ")[2] for group in groups] == [str(expected)] * 4, groups
    assert len(set(groups)) == 4  # each its own session, so its own autogroup


@pytest.mark.parametrize("die_with_parent", [True, False])
def test_the_launcher_ties_its_program_to_the_thread_that_started_it(
    die_with_parent: bool,
) -> None:
    """PR_SET_PDEATHSIG follows the starting thread, not the process: trio's short-lived
    worker threads are why the runner asks for it only on asyncio (see _launcher.py)."""
    sleep = shutil.which("sleep")
    assert sleep is not None
    argv = launcher_argv([sleep, "30"], rlimits=(), env_keys=(), die_with_parent=die_with_parent)
    started: list[subprocess.Popen[bytes]] = []

    def start_then_end() -> None:
        started.append(subprocess.Popen(argv))
        time.sleep(0.5)  # the launcher sets itself up meanwhile, then the thread ends

    thread = threading.Thread(target=start_then_end)
    thread.start()
    thread.join()  # the thread that started it has ended; this process lives on
    (program,) = started
    try:
        returncode = program.wait(timeout=3) if die_with_parent else program.poll()
        assert returncode == (-9 if die_with_parent else None)
    finally:
        program.kill()
        program.wait()


# -- isolation --------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_the_environment_is_scrubbed(
    make_runner: MakeRunner,
    sandbox: SandboxMode,
    clean_env: MutableMapping[str, str],
    tmp_path: Path,
) -> None:
    clean_env.update({"AWS_SECRET_ACCESS_KEY": "s3cr3t", "HTTPS_PROXY": "http://proxy:3128"})
    dumper = python_program(
        tmp_path,
        "import json, os, sys\njson.dump([sys.argv, dict(os.environ)], open('env.json', 'w'))",
    )
    workdir = tmp_path / "work"
    workdir.mkdir()
    await make_runner(dumper).run(["-i", "in.mp4", "out.mp4"], workdir=workdir)
    argv, env = json.loads((workdir / "env.json").read_text())
    expected = {"PATH": clean_env["PATH"], "LANG": "C.UTF-8", "HOME": str(workdir)}
    if sandbox == "bubblewrap":
        expected["PWD"] = str(workdir)  # bwrap always sets it, after --chdir
    assert env == expected
    assert argv[1:] == [
        "-nostdin", "-hide_banner", "-nostats", "-progress", "pipe:1", "-i", "in.mp4", "out.mp4"
    ]  # fmt: skip


@pytest.mark.anyio
async def test_an_explicit_environment_is_used_as_given(
    make_runner: MakeRunner, sandbox: SandboxMode, tmp_path: Path
) -> None:
    dumper = python_program(
        tmp_path, "import json, os\njson.dump(dict(os.environ), open('env.json', 'w'))"
    )
    env = {"ONLY": "this", "LANG": "C.UTF-8"}  # a locale, or Python adds LC_CTYPE (PEP 538)
    await make_runner(dumper, env=env).run([], workdir=tmp_path)
    pwd = {"PWD": str(tmp_path)} if sandbox == "bubblewrap" else {}
    assert json.loads((tmp_path / "env.json").read_text()) == env | pwd


@pytest.mark.anyio
@pytest.mark.parametrize("scrubbed", [True, False])
async def test_real_ffmpeg_does_not_see_ffreport(
    make_runner: MakeRunner,
    clean_env: MutableMapping[str, str],
    workdir: Path,
    ffmpeg_exe: Path,
    scrubbed: bool,
) -> None:
    # FFREPORT makes ffmpeg write a log file: proof of what the real ffmpeg sees.
    clean_env["FFREPORT"] = "file=report.log:level=32"
    runner = make_runner() if scrubbed else make_runner(env=dict(clean_env))
    await runner.run(["-i", "tone.wav", "out.wav"], workdir=workdir)
    assert (workdir / "out.wav").is_file()
    assert (workdir / "report.log").exists() is not scrubbed


# -- health -----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_health_reports_the_binary_and_its_version(
    make_runner: MakeRunner, sandbox: SandboxMode, ffmpeg_exe: Path
) -> None:
    runner = make_runner()
    health = await runner.health()
    assert health.ok
    if sandbox == "none":
        assert health.sandbox is None
        assert health.details["sandbox"] == "off: sandbox='none' was chosen"
    else:
        assert health.sandbox is not None
        assert health.sandbox.startswith("bubblewrap ")
    assert health.ffmpeg_path == str(ffmpeg_exe)
    assert health.ffmpeg_version
    assert health.ffmpeg_version[-1].isalnum()
    assert await runner.ffmpeg_path() == ffmpeg_exe
    await runner.aclose()


@pytest.mark.anyio
async def test_health_reports_a_missing_binary_without_raising(
    make_runner: MakeRunner, tmp_path: Path
) -> None:
    health = await make_runner(tmp_path / "nope").health()
    assert not health.ffmpeg_found
    assert health.ffmpeg_path is None
    assert health.error is not None
    assert str(tmp_path / "nope") in health.error


@pytest.mark.anyio
async def test_health_reports_a_broken_binary_without_raising(
    make_runner: MakeRunner, tmp_path: Path
) -> None:
    broken = python_program(tmp_path, "raise SystemExit(3)", answers_version=False)
    health = await make_runner(broken).health()
    assert not health.ffmpeg_found
    assert health.ffmpeg_path == str(broken)
    assert health.error is not None
    assert "status 3" in health.error


@pytest.mark.anyio
async def test_health_runs_ffmpeg_again_only_when_the_binary_changed(tmp_path: Path) -> None:
    """A health endpoint polled by strangers must not start a process per request."""
    calls = tmp_path / "calls"

    def install(version: str) -> Path:
        path = tmp_path / "fake-ffmpeg"
        path.write_text(
            f"#!{sys.executable}\n"
            f"open({str(calls)!r}, 'a').write('x')\n"
            f"print('ffmpeg version {version} Copyright (c) the fakes')\n"
        )
        path.chmod(0o755)
        return path

    runner = SubprocessRunner(install("1.0"), sandbox="none")
    versions = [(await runner.health()).ffmpeg_version for _ in range(3)]
    assert versions == ["1.0"] * 3
    assert calls.read_text() == "x"  # asked once
    install("2.0-upgraded")  # a new binary at the same path
    assert (await runner.health()).ffmpeg_version == "2.0-upgraded"
    assert calls.read_text() == "xx"


@pytest.mark.anyio
async def test_repr_names_the_binary_once_found(ffmpeg_exe: Path) -> None:
    runner = SubprocessRunner()
    assert repr(runner) == "SubprocessRunner(ffmpeg=None)"
    await runner.ffmpeg_path()
    assert repr(runner) == f"SubprocessRunner(ffmpeg={str(ffmpeg_exe)!r})"


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="stderr_tail_lines"):
        SubprocessRunner(stderr_tail_lines=0)
    with pytest.raises(ConfigurationError, match="kill_grace"):
        SubprocessRunner(kill_grace=-1)
    with pytest.raises(
        ConfigurationError, match="sandbox must be one of 'auto', 'bubblewrap', 'none'"
    ):
        SubprocessRunner(sandbox="bwrap")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="timeout"):
        SubprocessRunner(timeout=0)
    with pytest.raises(ConfigurationError, match="sandbox_paths must be absolute, got 'lib'"):
        SubprocessRunner(sandbox_paths=["lib"])
    for nice in (-1, 20, True, 2.5):
        with pytest.raises(
            ConfigurationError, match=r"nice must be a whole number from 0 .* to 19"
        ):
            SubprocessRunner(nice=nice)  # type: ignore[arg-type]
