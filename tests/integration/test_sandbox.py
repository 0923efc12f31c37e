"""The bubblewrap sandbox and the resource limits, against the real ffmpeg and the real bwrap.

The attacks run ffmpeg through the runner directly, bypassing any command policy: the sandbox
is the defence behind the policy and must hold on its own. Each attack also runs once without
the sandbox (the control), which proves the attack is real and that the sandbox is what stops it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Container, Iterator, MutableMapping
from pathlib import Path
from typing import Self

import anyio
import psutil
import pytest

from ffmpeg_tasks import ConfigurationError, Progress, RunError
from ffmpeg_tasks.runners import ResourceLimits, SandboxMode, SubprocessRunner
from ffmpeg_tasks.runners._exit import exit_signal, failure_message
from ffmpeg_tasks.runners._limits import describe_limits, format_bytes, rlimits
from ffmpeg_tasks.runners._sandbox import bwrap_args
from tests.fixtures.media import DecodedDuration
from tests.fixtures.services import require

#: Bytes that must never leave the host's files.
SECRET = b"TOP-SECRET-7f3a9c"
#: A live source that would run a minute at real-time speed, if nothing stopped it.
ENDLESS = [
    *("-stats_period", "0.1", "-re", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25"),
    *("-t", "60", "out.mp4"),
]
#: Where the stand-in programs' interpreter lives: bound read-only into the sandbox for them.
PYTHON_PATHS = sorted({sys.prefix, sys.base_prefix})


def copy_out(source: str, name: str = "stolen.bin") -> list[str]:
    """Arguments that copy any readable file, byte for byte, into ``name`` in the folder."""
    return ["-f", "data", "-i", source, "-map", "0", "-c", "copy", "-f", "data", name]


@pytest.fixture
def bwrap() -> Path:
    """The bwrap binary; the test skips without it (fails under FFMPEG_TASKS_REQUIRE_SERVICES)."""
    found = shutil.which("bwrap")
    require(found, "bubblewrap is not installed: apt-get install bubblewrap")
    assert found is not None
    return Path(found)


@pytest.fixture
def sandboxed(bwrap: Path) -> SubprocessRunner:
    return SubprocessRunner(sandbox="bubblewrap", bwrap=bwrap)


@pytest.fixture
def workdir(tmp_path: Path, media_dir: Path) -> Path:
    """The task's folder: the one place the sandboxed ffmpeg may read and write."""
    folder = tmp_path / "work"
    folder.mkdir()
    shutil.copyfile(media_dir / "clip.mp4", folder / "clip.mp4")
    return folder


@pytest.fixture
def control(tmp_path: Path) -> Path:
    """A folder for the unsandboxed control runs."""
    folder = tmp_path / "control"
    folder.mkdir()
    return folder


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A file outside the task's folder that the sandboxed ffmpeg must not read."""
    path = tmp_path / "secret.txt"
    path.write_bytes(SECRET)
    return path


class Listener:
    """A TCP server on 127.0.0.1 that counts the connections it accepts (and closes them)."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.accepted = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}/x.mp4"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            connection.close()

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self._socket.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    with Listener() as server:
        yield server


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


def still_running(processes: dict[str, psutil.Process]) -> list[str]:
    """The names of those that are neither gone nor zombies."""
    running = []
    for name, process in processes.items():
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                running.append(name)
        except psutil.NoSuchProcess:
            continue
    return running


def stand_in(folder: Path, body: str) -> Path:
    """A Python program standing in for ffmpeg that answers ``-version`` (the probe) like it."""
    path = folder / "fake-ffmpeg"
    path.write_text(
        f"#!{sys.executable}\nimport sys\n"
        "if sys.argv[1:] == ['-version']: sys.exit(print('ffmpeg version 0-fake'))\n"
        f"{body}\n"
    )
    path.chmod(0o755)
    return path


class Recorder:
    def __init__(self) -> None:
        self.reports: list[Progress] = []

    async def __call__(self, progress: Progress) -> None:
        self.reports.append(progress)


# -- it works ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_transcode_runs_in_the_sandbox_and_reports_progress(
    sandboxed: SubprocessRunner, workdir: Path, decoded_duration: DecodedDuration
) -> None:
    health = await sandboxed.health()
    assert health.sandbox is not None
    assert health.sandbox.startswith("bubblewrap ")
    assert health.details["sandbox"].startswith(f"on: {health.sandbox}")

    recorder = Recorder()
    args = ["-readrate", "4", "-stats_period", "0.1", "-i", "clip.mp4", "-c:v", "libx264"]
    await sandboxed.run(
        [*args, "-preset", "ultrafast", "out.mp4"], workdir=workdir, on_progress=recorder
    )

    assert decoded_duration(workdir / "out.mp4") == pytest.approx(2.0, abs=0.05)
    assert len(recorder.reports) >= 3
    assert recorder.reports[-1].done
    assert recorder.reports[-1].fraction == 1.0


# -- what the sandboxed ffmpeg cannot reach ---------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("form", ["{path}", "file:{path}"])
async def test_a_file_outside_the_folder_cannot_be_read(
    sandboxed: SubprocessRunner, workdir: Path, control: Path, secret: Path, form: str
) -> None:
    source = form.format(path=secret)
    await SubprocessRunner(sandbox="none").run(copy_out(source), workdir=control)
    assert (control / "stolen.bin").read_bytes() == SECRET  # the attack works without it

    with pytest.raises(RunError, match="No such file or directory"):
        await sandboxed.run(copy_out(source), workdir=workdir)
    assert not (workdir / "stolen.bin").exists()


@pytest.mark.anyio
async def test_the_hosts_etc_is_not_there(
    sandboxed: SubprocessRunner, workdir: Path, control: Path
) -> None:
    await SubprocessRunner(sandbox="none").run(copy_out("/etc/passwd"), workdir=control)
    assert b"root:" in (control / "stolen.bin").read_bytes()

    with pytest.raises(RunError, match="No such file or directory"):
        await sandboxed.run(copy_out("/etc/passwd"), workdir=workdir)
    assert not (workdir / "stolen.bin").exists()


@pytest.mark.anyio
async def test_a_movie_filter_cannot_open_a_file_outside_the_folder(
    sandboxed: SubprocessRunner, workdir: Path, control: Path, media_dir: Path, tmp_path: Path
) -> None:
    picture = tmp_path / "secret.png"
    shutil.copyfile(media_dir / "still.png", picture)
    args = ["-f", "lavfi", "-i", f"movie=filename={picture}", "-frames:v", "1", "stolen.png"]
    await SubprocessRunner(sandbox="none").run(args, workdir=control)
    assert (control / "stolen.png").stat().st_size > 0

    with pytest.raises(RunError, match="No such file or directory"):
        await sandboxed.run(args, workdir=workdir)
    assert not (workdir / "stolen.png").exists()


@pytest.mark.anyio
async def test_there_is_no_network(
    sandboxed: SubprocessRunner, workdir: Path, control: Path, listener: Listener
) -> None:
    args = ["-rw_timeout", "2000000", "-i", listener.url, "-c", "copy", "out.mp4"]
    with pytest.raises(RunError):  # the listener hangs up at once: but it was reached
        await SubprocessRunner(sandbox="none").run(args, workdir=control)
    assert listener.accepted == 1

    with pytest.raises(RunError, match="Connection refused"):
        await sandboxed.run(args, workdir=workdir)
    assert listener.accepted == 1  # nothing more: the sandbox's loopback is its own


@pytest.mark.anyio
@pytest.mark.parametrize("where", ["beside the folder", "in /tmp"])
async def test_nothing_can_be_written_outside_the_folder(
    sandboxed: SubprocessRunner, workdir: Path, control: Path, tmp_path: Path, where: str
) -> None:
    name = f"ffmpeg-tasks-escape-{uuid.uuid4().hex}.mp4"
    target = tmp_path / name if where == "beside the folder" else Path("/tmp") / name
    shutil.copyfile(workdir / "clip.mp4", control / "clip.mp4")
    args = ["-i", "clip.mp4", "-c", "copy", str(target)]
    try:
        await SubprocessRunner(sandbox="none").run(args, workdir=control)
        assert target.stat().st_size > 0
    finally:
        target.unlink(missing_ok=True)

    with pytest.raises(RunError, match="Read-only file system"):
        await sandboxed.run(args, workdir=workdir)
    assert not target.exists()


@pytest.mark.anyio
async def test_no_secret_from_the_environment_is_visible(
    sandboxed: SubprocessRunner,
    workdir: Path,
    control: Path,
    clean_env: MutableMapping[str, str],
) -> None:
    clean_env["AWS_SECRET_ACCESS_KEY"] = SECRET.decode()
    # The parent's environment as it started (what /proc shows), readable without the sandbox.
    parents = f"/proc/{os.getpid()}/environ"
    await SubprocessRunner(sandbox="none").run(copy_out(parents), workdir=control)
    assert (control / "stolen.bin").read_bytes() == Path(parents).read_bytes()

    with pytest.raises(RunError, match="No such file or directory"):
        await sandboxed.run(copy_out(parents, "parent.bin"), workdir=workdir)
    await sandboxed.run(copy_out("/proc/self/environ"), workdir=workdir)
    own = (workdir / "stolen.bin").read_bytes()
    assert SECRET not in own
    assert sorted(own.split(b"\0")[:-1]) == sorted(
        f"{key}={value}".encode()
        for key, value in [
            ("PATH", os.environ["PATH"]),
            ("LANG", "C.UTF-8"),
            ("HOME", workdir),
            ("PWD", workdir),  # set by bwrap itself
        ]
    )


@pytest.mark.anyio
async def test_other_processes_are_not_visible(
    sandboxed: SubprocessRunner, workdir: Path, control: Path
) -> None:
    await SubprocessRunner(sandbox="none").run(copy_out("/proc/self/stat"), workdir=control)
    assert not (control / "stolen.bin").read_bytes().startswith(b"1 ")

    await sandboxed.run(copy_out("/proc/self/stat"), workdir=workdir)
    assert (workdir / "stolen.bin").read_bytes().startswith(b"1 (")  # pid 1: a namespace alone
    with pytest.raises(RunError, match="No such file or directory"):
        await sandboxed.run(copy_out(f"/proc/{os.getpid()}/cmdline", "ours.bin"), workdir=workdir)


# -- resource limits --------------------------------------------------------------------------


@pytest.fixture(params=["bubblewrap", "none"], ids=["sandboxed", "unsandboxed"])
def mode(request: pytest.FixtureRequest) -> SandboxMode:
    """Limits hold with and without the sandbox."""
    chosen: SandboxMode = request.param
    if chosen == "bubblewrap":
        require(shutil.which("bwrap"), "bubblewrap is not installed: apt-get install bubblewrap")
    return chosen


@pytest.mark.anyio
async def test_a_cpu_limit_stops_ffmpeg_with_a_clear_message(
    mode: SandboxMode, workdir: Path
) -> None:
    runner = SubprocessRunner(sandbox=mode, limits=ResourceLimits(cpu_seconds=1))
    await runner.health()  # the sandbox probe, outside the timing below
    args = ["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25", "-t", "60"]
    begun = time.monotonic()
    with pytest.raises(RunError) as caught:
        await runner.run(
            [*args, "-c:v", "libx264", "-preset", "ultrafast", "out.mp4"], workdir=workdir
        )
    assert str(caught.value).startswith(
        "ffmpeg was stopped by SIGXCPU: the CPU time limit of 1 s was reached; raise "
        "ResourceLimits(cpu_seconds=...)"
    )
    assert time.monotonic() - begun < 10  # a minute of 720p would take far longer


@pytest.mark.anyio
async def test_a_cpu_limit_stops_an_ffmpeg_stuck_in_a_filter(
    mode: SandboxMode, workdir: Path
) -> None:
    """An endless expression never lets ffmpeg reach its main loop: the SIGXCPU signals pile
    up until its handler gives up (status 123). The message still names the limit."""
    runner = SubprocessRunner(sandbox=mode, limits=ResourceLimits(cpu_seconds=1))
    args = ["-f", "lavfi", "-i", "nullsrc=s=16x16:d=1", "-vf", "select='while(1,1)'"]
    with anyio.fail_after(30), pytest.raises(RunError) as caught:
        await runner.run([*args, "-f", "null", "-"], workdir=workdir)
    assert str(caught.value).startswith(
        "ffmpeg was stopped by SIGXCPU: the CPU time limit of 1 s was reached"
    ), str(caught.value)


@pytest.mark.anyio
async def test_a_file_size_limit_stops_ffmpeg_with_a_clear_message(
    mode: SandboxMode, workdir: Path
) -> None:
    runner = SubprocessRunner(sandbox=mode, limits=ResourceLimits(file_size_bytes=100_000))
    args = ["-f", "lavfi", "-i", "testsrc2=size=640x480:rate=25", "-t", "30", "-c:v", "libx264"]
    with pytest.raises(RunError, match=r"the file size limit of 97\.7 KiB was reached; raise"):
        await runner.run([*args, "-preset", "ultrafast", "out.mp4"], workdir=workdir)
    assert (workdir / "out.mp4").stat().st_size <= 100_000


@pytest.mark.anyio
async def test_a_memory_limit_stops_ffmpeg_with_a_clear_message(
    mode: SandboxMode, workdir: Path
) -> None:
    runner = SubprocessRunner(sandbox=mode, limits=ResourceLimits(memory_bytes=400_000_000))
    # One 12000x12000 frame needs more than the whole limit.
    args = ["-f", "lavfi", "-i", "testsrc2=size=160x120:duration=1", "-vf", "scale=12000:12000"]
    with pytest.raises(RunError) as caught:
        await runner.run([*args, "-f", "null", "-"], workdir=workdir)
    assert str(caught.value) == (
        "ffmpeg ran out of memory: the address space limit of 381.5 MiB was reached; raise "
        "ResourceLimits(memory_bytes=...) for bigger inputs"
    )


@pytest.mark.anyio
async def test_the_program_runs_with_exactly_the_limits_asked_for(
    mode: SandboxMode, tmp_path: Path
) -> None:
    dumper = stand_in(
        tmp_path,
        "import json, resource\n"
        "names = ['RLIMIT_CORE', 'RLIMIT_CPU', 'RLIMIT_AS', 'RLIMIT_FSIZE', 'RLIMIT_NOFILE']\n"
        "json.dump({n: resource.getrlimit(getattr(resource, n)) for n in names}, "
        "open('limits.json', 'w'))",
    )
    limits = ResourceLimits(
        cpu_seconds=100, memory_bytes=3 << 30, file_size_bytes=5 << 20, open_files=64
    )
    runner = SubprocessRunner(dumper, sandbox=mode, sandbox_paths=PYTHON_PATHS, limits=limits)
    await runner.run([], workdir=tmp_path)
    assert json.loads((tmp_path / "limits.json").read_text()) == {
        "RLIMIT_CORE": [0, 0],
        "RLIMIT_CPU": [100, 105],
        "RLIMIT_AS": [3 << 30, 3 << 30],
        "RLIMIT_FSIZE": [5 << 20, 5 << 20],
        "RLIMIT_NOFILE": [64, 64],
    }


@pytest.mark.anyio
async def test_the_wall_clock_timeout_stops_ffmpeg_gracefully(
    mode: SandboxMode, workdir: Path, decoded_duration: DecodedDuration
) -> None:
    runner = SubprocessRunner(sandbox=mode, timeout=1)
    await runner.health()  # the sandbox probe, outside the timing below
    begun = time.monotonic()
    with pytest.raises(RunError) as caught:
        await runner.run(ENDLESS, workdir=workdir)
    assert time.monotonic() - begun < 2
    assert str(caught.value) == (
        "ffmpeg did not finish within the timeout of 1 s and was stopped; "
        "raise timeout= for longer jobs"
    )
    assert 0 < decoded_duration(workdir / "out.mp4") < 2  # stopped by SIGINT, file closed


# -- stopping ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_cancelling_leaves_no_process_and_a_removable_folder(
    sandboxed: SubprocessRunner, workdir: Path
) -> None:
    before = set(descendants())
    running: dict[str, psutil.Process] = {}
    started = anyio.Event()

    async def on_progress(progress: Progress) -> None:
        running.update(descendants(besides=before))
        started.set()

    async with anyio.create_task_group() as group:
        group.start_soon(lambda: sandboxed.run(ENDLESS, workdir=workdir, on_progress=on_progress))
        with anyio.fail_after(10):
            await started.wait()
        group.cancel_scope.cancel()

    assert any(name.startswith("bwrap ") for name in running)
    assert any("ffmpeg" in name for name in running)
    assert still_running(running) == []
    assert still_running(descendants(besides=before)) == []
    shutil.rmtree(workdir)
    await anyio.sleep(0.2)
    assert not workdir.exists()  # nothing is left to write into it again


def test_the_sandbox_dies_with_an_asyncio_worker(bwrap: Path, tmp_path: Path) -> None:
    # --die-with-parent: a worker killed outright does not leave ffmpeg running (asyncio only;
    # see _sandbox.py for why not under trio).
    kill_a_worker_mid_run(tmp_path, sandbox="bubblewrap")


def test_an_unsandboxed_ffmpeg_dies_with_an_asyncio_worker(tmp_path: Path) -> None:
    # The launcher's PR_SET_PDEATHSIG does for a plain ffmpeg what --die-with-parent does above.
    kill_a_worker_mid_run(tmp_path, sandbox="none")


def kill_a_worker_mid_run(tmp_path: Path, *, sandbox: str) -> None:
    """SIGKILL a Python process while its runner encodes; nothing it started may survive it."""
    script = tmp_path / "worker.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import asyncio, sys
            from pathlib import Path
            from ffmpeg_tasks.runners import SubprocessRunner

            async def report(progress):
                print("started", flush=True)

            asyncio.run(SubprocessRunner(sandbox={sandbox!r}).run(
                {ENDLESS!r}, workdir=Path({str(tmp_path)!r}), on_progress=report
            ))
            """
        )
    )
    with subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True
    ) as worker:
        assert worker.stdout is not None
        assert worker.stdout.readline() == "started\n"
        started = {
            f"{child.name()} ({child.pid})": child
            for child in psutil.Process(worker.pid).children(recursive=True)
        }
        assert any("ffmpeg" in name for name in started)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    deadline = time.monotonic() + 3
    while still_running(started) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert still_running(started) == []


# -- choosing and reporting the sandbox -------------------------------------------------------


@pytest.mark.anyio
async def test_bubblewrap_required_but_missing_is_a_configuration_error(
    workdir: Path, tmp_path: Path
) -> None:
    runner = SubprocessRunner(sandbox="bubblewrap", bwrap=tmp_path / "nowhere" / "bwrap")
    with pytest.raises(ConfigurationError, match="apt-get install bubblewrap") as caught:
        await runner.run(["-i", "clip.mp4", "out.mp4"], workdir=workdir)
    assert str(caught.value).startswith("sandbox='bubblewrap' but the sandbox cannot be used")
    assert not (workdir / "out.mp4").exists()
    health = await runner.health()
    assert not health.ok
    assert health.error == str(caught.value)


@pytest.mark.anyio
async def test_bubblewrap_missing_from_path_is_named(
    clean_env: MutableMapping[str, str], workdir: Path, tmp_path: Path, ffmpeg_exe: Path
) -> None:
    clean_env["PATH"] = str(tmp_path / "empty")
    runner = SubprocessRunner(ffmpeg_exe, sandbox="bubblewrap")
    with pytest.raises(ConfigurationError, match="bwrap was not found on PATH; install"):
        await runner.run(["-i", "clip.mp4", "out.mp4"], workdir=workdir)


@pytest.mark.anyio
async def test_auto_falls_back_and_health_says_why(
    workdir: Path, tmp_path: Path, decoded_duration: DecodedDuration
) -> None:
    runner = SubprocessRunner(bwrap=tmp_path / "nowhere" / "bwrap")
    await runner.run(["-i", "clip.mp4", "-c", "copy", "out.mp4"], workdir=workdir)
    assert decoded_duration(workdir / "out.mp4") == pytest.approx(2.0, abs=0.05)
    health = await runner.health()
    assert health.ok
    assert health.sandbox is None
    assert health.details["sandbox"].startswith("off: bwrap ")
    assert health.details["sandbox"].endswith("install bubblewrap: apt-get install bubblewrap")


@pytest.mark.anyio
async def test_a_bwrap_that_cannot_create_namespaces_is_explained(
    workdir: Path, tmp_path: Path
) -> None:
    # What bwrap says in a container that forbids user namespaces; a real process, not a mock.
    broken = tmp_path / "bwrap"
    broken.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = --version ]; then echo "bubblewrap 0.8.0"; exit 0; fi\n'
        "echo 'bwrap: Creating new namespace failed: Operation not permitted' >&2\n"
        "exit 1\n"
    )
    broken.chmod(0o755)
    health = await SubprocessRunner(bwrap=broken).health()
    assert health.ok  # "auto": runs go on unsandboxed
    assert health.sandbox is None
    assert health.details["sandbox"] == (
        "off: bwrap cannot create the sandbox here (bwrap: Creating new namespace failed: "
        "Operation not permitted); allow user namespaces (a container needs e.g. docker run "
        "--security-opt seccomp=unconfined --security-opt apparmor=unconfined), or set "
        "sandbox='none' and make the container itself the sandbox"
    )
    with pytest.raises(ConfigurationError, match="Operation not permitted"):
        await SubprocessRunner(bwrap=broken, sandbox="bubblewrap").run([], workdir=workdir)


@pytest.mark.anyio
async def test_health_reports_the_limits_and_the_timeout() -> None:
    health = await SubprocessRunner(sandbox="none", timeout=90).health()
    assert health.sandbox is None
    assert health.details["sandbox"] == "off: sandbox='none' was chosen"
    assert health.details["limits"] == (
        "cpu 3600 s, memory 8 GiB, file size 16 GiB, open files 1024, core dumps off"
    )
    assert health.details["timeout"] == "90 s"
    unlimited = await SubprocessRunner(sandbox="none", limits=None).health()
    assert unlimited.details["limits"] == "none (limits=None)"
    assert unlimited.details["timeout"] == "none"


# -- the pure parts ---------------------------------------------------------------------------


def test_limits_refuse_nonsense() -> None:
    with pytest.raises(
        ConfigurationError, match=r"ResourceLimits.cpu_seconds must be a whole number"
    ):
        ResourceLimits(cpu_seconds=0)
    with pytest.raises(ConfigurationError, match="memory_bytes"):
        ResourceLimits(memory_bytes=1.5)  # type: ignore[arg-type]
    assert rlimits(ResourceLimits(cpu_seconds=None, memory_bytes=None, open_files=None)) == [
        ("RLIMIT_CORE", 0, 0),
        ("RLIMIT_FSIZE", 16 << 30, 16 << 30),
    ]
    assert describe_limits(ResourceLimits(cpu_seconds=None, memory_bytes=1000)).startswith(
        "cpu unlimited, memory 1000 bytes, "
    )


@pytest.mark.parametrize(
    ("count", "text"),
    [(0, "0 bytes"), (1023, "1023 bytes"), (1024, "1 KiB"), (100_000, "97.7 KiB"),
     (8 << 30, "8 GiB"), (3 << 40, "3 TiB"), (5 << 50, "5120 TiB")],
)  # fmt: skip
def test_sizes_read_like_people_write_them(count: int, text: str) -> None:
    assert format_bytes(count) == text


@pytest.mark.parametrize(
    ("status", "tail", "sandboxed", "signum"),
    [
        (-9, [], False, 9),
        (137, [], True, 9),  # bwrap: killed by SIGKILL
        (137, [], False, None),  # ffmpeg's own status outside the sandbox
        (153, ["frame=  12"], True, 25),
        # ffmpeg 9 exits with 256 - errno: 134 is EDQUOT when the tail says so, not SIGABRT.
        (134, ["Error writing trailer: Disk quota exceeded"], True, None),
        (134, [], True, 6),
        (145, ["Connection refused"], True, None),  # 128 + SIGCHLD: not a fatal signal
        (254, ["No such file or directory"], True, None),
    ],
)
def test_exit_statuses_from_the_sandbox_are_read_carefully(
    status: int, tail: list[str], sandboxed: bool, signum: int | None
) -> None:
    assert exit_signal(status, tail, sandboxed=sandboxed) == signum


def test_a_crash_under_a_memory_limit_mentions_it_as_a_possibility() -> None:
    message = failure_message(-11, [], signum=11, limits=ResourceLimits())
    assert message == (
        "ffmpeg was killed by SIGSEGV without printing an error (if the input is large, the "
        "address space limit of 8 GiB may be too low: raise ResourceLimits(memory_bytes=...))"
    )
    assert failure_message(-11, [], signum=11, limits=None) == (
        "ffmpeg was killed by SIGSEGV without printing an error (is -loglevel set to quiet?)"
    )


def test_the_sandbox_binds_only_what_ffmpeg_needs(tmp_path: Path) -> None:
    ffmpeg = tmp_path / "bin" / "ffmpeg"
    args = bwrap_args(
        Path("/usr/bin/bwrap"),
        ffmpeg=ffmpeg,
        workdir=tmp_path / "work",
        read_only=[Path("/opt/fonts")],
        die_with_parent=False,
    )
    assert args[:5] == ["/usr/bin/bwrap", "--unshare-all", "--as-pid-1", "--cap-drop", "ALL"]
    assert "--die-with-parent" not in args
    assert "--share-net" not in args
    assert "--new-session" not in args  # it would take ffmpeg out of the group we signal
    writable = [args[i + 2] for i, arg in enumerate(args) if arg == "--bind"]
    assert writable == [str(tmp_path / "work")]
    readable = [args[i + 2] for i, arg in enumerate(args) if arg == "--ro-bind"]
    assert set(readable) <= {
        "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
        "/etc/ld.so.cache", "/etc/alternatives", "/opt/fonts", str(ffmpeg),
    }  # fmt: skip
    assert args[-5:] == ["--remount-ro", "/", "--chdir", str(tmp_path / "work"), "--"]
