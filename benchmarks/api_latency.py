"""Latency of ``GET /ffmpeg/status/{id}`` while encodes run (a benchmark, not a test).

``ffmpeg-tasks serve`` runs in a subprocess on a loopback port, configured by environment
variables only (its input comes from a stdlib HTTP server in this process, so private networks
are allowed). Status polls are sent open-loop at a fixed rate (each at its scheduled time,
whether or not earlier ones answered; latency counts from the scheduled time, so a stalled
server cannot hide its stalls), first with no encode running, then with two real encodes of a
720p clip running for the whole window. Target: p99 under 20 ms in both.

The encodes run as the service runs them: ``SubprocessRunner``'s defaults, so at ``nice`` 10
(process and autogroup; the niceness seen is printed). To tell CPU contention from a blocked
event loop, each window also reports how long the server's threads and this load generator
waited on the kernel's run queue (``/proc/<pid>/task/*/schedstat``): time a thread was ready
to run but had no CPU.

    uv run --all-extras python benchmarks/api_latency.py [--rate 50] [--seconds 10]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx
import psutil

from ffmpeg_tasks.runners import find_ffmpeg

#: What the two background tasks do: slow enough to keep both cores busy for the window.
ENCODE = "-i input.mp4 -c:v libx264 -preset medium -crf 23 -c:a aac output.mp4"
#: The target p99, in milliseconds.
TARGET_P99_MS = 20.0


def make_input(folder: Path, seconds: int) -> Path:
    path = folder / "input.mp4"
    subprocess.run(
        [str(find_ffmpeg()), "-v", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate=30:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-shortest", str(path)],
        check=True,
    )  # fmt: skip
    return path


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log on the terminal."""


@contextmanager
def file_server(folder: Path) -> Iterator[str]:
    """Serve ``folder`` over HTTP on a free loopback port; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def api_server(folder: Path, key: str) -> Iterator[tuple[str, int]]:
    """``ffmpeg-tasks serve --port 0`` with the service's variables; yields its URL and pid."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("FFMPEG_TASKS_", "S3_"))},
        "FFMPEG_TASKS_API_KEYS": key,
        "FFMPEG_TASKS_OUTPUT_DIR": str(folder / "outputs"),
        "FFMPEG_TASKS_ALLOW_PRIVATE_NETWORKS": "1",
    }
    log = folder / "serve.log"
    command = [str(Path(sys.executable).with_name("ffmpeg-tasks")), "serve", "--port", "0"]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not (found := re.search(r"running on (http://\S+)", log.read_text())):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not start:\n{log.read_text()}")
            time.sleep(0.05)
        yield found.group(1), process.pid
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(30)


def run_queue_ms(pid: int) -> float:
    """Milliseconds the threads of ``pid`` have waited for a CPU so far (ready, not running)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[1])
        except (FileNotFoundError, ProcessLookupError):
            continue  # a thread that ended meanwhile
    return total / 1e6


@attrs.define
class Window:
    """What one measuring window saw, in milliseconds."""

    #: Scheduled send -> response, per request.
    latencies: list[float]
    #: Actual send -> response (the round trip alone, without this client's own delays).
    round_trips: list[float]
    #: Scheduled send -> actual send: this client's own delay (high means the load generator
    #: itself was starved of CPU).
    lateness: list[float]
    #: Run-queue wait over the window, all threads: the server's, and this load generator's.
    server_waited: float = 0.0
    client_waited: float = 0.0


async def poll_at_fixed_rate(
    client: httpx.AsyncClient, paths: list[str], *, rate: float, seconds: float, server_pid: int
) -> Window:
    """GET ``paths`` in turn at ``rate`` per second, open-loop."""
    window = Window([], [], [])
    count = int(rate * seconds)
    start = anyio.current_time() + 0.1

    async def one(index: int) -> None:
        scheduled = start + index / rate
        await anyio.sleep_until(scheduled)
        sent = anyio.current_time()
        window.lateness.append((sent - scheduled) * 1000)
        response = await client.get(paths[index % len(paths)])
        response.raise_for_status()
        window.latencies.append((anyio.current_time() - scheduled) * 1000)
        window.round_trips.append((anyio.current_time() - sent) * 1000)

    gc.collect()
    gc.disable()  # the load generator's pauses must not count against the server
    server_before, client_before = run_queue_ms(server_pid), run_queue_ms(os.getpid())
    try:
        async with anyio.create_task_group() as group:
            for index in range(count):
                group.start_soon(one, index)
    finally:
        gc.enable()
    window.server_waited = run_queue_ms(server_pid) - server_before
    window.client_waited = run_queue_ms(os.getpid()) - client_before
    return window


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def encoders(server_pid: int) -> list[psutil.Process]:
    """The server's ffmpeg processes."""
    children = psutil.Process(server_pid).children(recursive=True)
    return [child for child in children if "ffmpeg" in child.name()]


def autogroup(pid: int) -> str:
    """``/autogroup-123 nice 10``: the session's scheduling group, or why there is none."""
    try:
        return Path(f"/proc/{pid}/autogroup").read_text().strip()
    except OSError:
        return "no autogroup"


def renice_ffmpeg(server_pid: int, niceness: int) -> int:
    """Give the server's ffmpeg processes ``niceness``, every thread and the autogroup (as
    ``SubprocessRunner(nice=...)`` does from the start); returns how many there were."""
    found = encoders(server_pid)
    for encoder in found:
        for thread in encoder.threads():
            os.setpriority(os.PRIO_PROCESS, thread.id, niceness)
        with contextlib.suppress(OSError):  # no autogroups here: the niceness alone counts
            Path(f"/proc/{encoder.pid}/autogroup").write_text(str(niceness))
            time.sleep(0.1)  # the kernel takes one autogroup change per 100 ms from non-root
    return len(found)


async def measure(
    base: str,
    input_url: str,
    key: str,
    *,
    rate: float,
    seconds: float,
    server_pid: int,
    ffmpeg_nice: int | None,
) -> int:
    headers = {"X-API-Key": key}
    body = {
        "command": ENCODE,
        "input_files": {"input.mp4": input_url},
        "output_filename": "output.mp4",
    }
    limits = httpx.Limits(max_connections=20, max_keepalive_connections=20)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits) as client:
        idle_id = (await client.post("/ffmpeg/register", json=body)).json()["task_id"]
        await poll_at_fixed_rate(
            client, [f"/ffmpeg/status/{idle_id}"], rate=rate, seconds=1, server_pid=server_pid
        )
        rows = [("0 encodes", await poll_at_fixed_rate(
            client, [f"/ffmpeg/status/{idle_id}"], rate=rate, seconds=seconds,
            server_pid=server_pid))]  # fmt: skip

        busy = [(await client.post("/ffmpeg/register", json=body)).json()["task_id"] for _ in "ab"]
        for task_id in busy:
            started = await client.post(f"/ffmpeg/execute/{task_id}", params={"wait": "false"})
            assert started.status_code == 202, started.text
        paths = [f"/ffmpeg/status/{task_id}" for task_id in busy]
        while True:
            phases = [(await client.get(path)).json()["phase"] for path in paths]
            if phases == ["encoding", "encoding"]:
                break
            await anyio.sleep(0.1)
        if ffmpeg_nice is not None:
            reniced = renice_ffmpeg(server_pid, ffmpeg_nice)
            print(f"ffmpeg processes reniced to {ffmpeg_nice}: {reniced}")
        for encoder in encoders(server_pid):
            print(
                f"ffmpeg pid {encoder.pid}: nice {encoder.nice()}, {autogroup(encoder.pid)}; "
                f"server: nice {psutil.Process(server_pid).nice()}, {autogroup(server_pid)}"
            )
        window = await poll_at_fixed_rate(
            client, paths, rate=rate, seconds=seconds, server_pid=server_pid
        )
        rows.append(("2 encodes", window))
        states = [(await client.get(path)).json() for path in paths]
        for task_id in busy:
            await client.post(f"/ffmpeg/cancel/{task_id}")

    print(f"GET /ffmpeg/status/{{id}} at {rate:g} req/s for {seconds:g} s (ms, from schedule)")
    print(
        f"{'':>10} {'requests':>9} {'p50':>7} {'p99':>7} {'max':>7} "
        f"{'rtt p50':>8} {'rtt p99':>8} {'client late p99':>16} "
        f"{'server runq':>12} {'client runq':>12}"
    )
    missed = 0
    for label, window in rows:
        p50, p99 = percentile(window.latencies, 0.5), percentile(window.latencies, 0.99)
        missed += p99 >= TARGET_P99_MS
        print(
            f"{label:>10} {len(window.latencies):>9} {p50:7.2f} {p99:7.2f} "
            f"{max(window.latencies):7.2f} {percentile(window.round_trips, 0.5):8.2f} "
            f"{percentile(window.round_trips, 0.99):8.2f} {percentile(window.lateness, 0.99):16.2f} "
            f"{window.server_waited:12.0f} {window.client_waited:12.0f}"
        )
    print("(runq: ms the process's threads waited for a CPU during the window, all threads summed)")
    print(f"load average (1 min) now: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    progress = ", ".join(f"{s['status']} {s['phase']} {s['progress'] or 0:.0%}" for s in states)
    print(f"the encodes at the end of the window: {progress}")
    if any(state["status"] != "running" for state in states):
        print("WARNING: an encode ended inside the window; use a longer --clip")
        missed += 1
    print(f"target p99 < {TARGET_P99_MS:g} ms: {'met' if not missed else 'MISSED'}")
    return missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each window")
    parser.add_argument("--clip", type=int, default=30, help="seconds of 720p input to encode")
    parser.add_argument(
        "--client-priority",
        type=int,
        default=None,
        help="run this load generator at this nice value (e.g. -10, needs root), so its own "
        "starvation does not count against the server",
    )
    parser.add_argument(
        "--ffmpeg-nice",
        type=int,
        default=None,
        help="renice the running encodes to this value (what-if: ffmpeg at a lower priority)",
    )
    options = parser.parse_args()
    key = "benchmark-key-0f1e2d3c4b5a"
    with tempfile.TemporaryDirectory(prefix="ffmpeg-tasks-api-bench-") as scratch:
        folder = Path(scratch)
        make_input(folder, options.clip)
        with file_server(folder) as files, api_server(folder, key) as (base, pid):
            if options.client_priority is not None:  # after the server started: not inherited
                os.setpriority(os.PRIO_PROCESS, 0, options.client_priority)
            missed = anyio.run(
                functools.partial(
                    measure,
                    base,
                    f"{files}/input.mp4",
                    key,
                    rate=options.rate,
                    seconds=options.seconds,
                    server_pid=pid,
                    ffmpeg_nice=options.ffmpeg_nice,
                )
            )
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
