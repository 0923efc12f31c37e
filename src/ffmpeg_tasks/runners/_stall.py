"""Telling a stuck ffmpeg from a slow one: no new progress and no CPU time for a while.

ffmpeg 7 and later run every stage in a thread of its own, and a rare scheduling deadlock
leaves them all waiting on each other (measured with the 9.0.2 build: about one run in 350 of
``-ss 0.5 -i clip.mp4 -t 1``). Such a run prints the same progress block forever and uses no
CPU, so without a watchdog it would hold its slot until the wall-clock limit.
"""

from __future__ import annotations

import os
from pathlib import Path

import anyio

__all__ = ["DEFAULT_STALL_TIMEOUT", "StallWatch", "group_cpu_seconds"]

#: Seconds without progress and without CPU use after which ffmpeg counts as stuck.
DEFAULT_STALL_TIMEOUT = 60.0
#: Below this share of one CPU, a process that reports no progress is idle, not busy.
IDLE_CPU_SHARE = 0.01


class StallWatch:
    """Watches one process group; :meth:`wait` returns once it is stuck.

    Args:
        pgid: The process group ffmpeg (and its sandbox) runs in.
        timeout: Seconds of no activity and no CPU use that make a run stuck.
    """

    def __init__(self, pgid: int, timeout: float) -> None:
        self._pgid = pgid
        self._timeout = timeout
        self._last_activity = anyio.current_time()

    def activity(self) -> None:
        """ffmpeg said something new (a progress block that moved, a line of stderr)."""
        self._last_activity = anyio.current_time()

    async def wait(self) -> None:
        """Return when the group has been idle for the timeout: no activity, no CPU."""
        check_every = self._timeout / 4
        since: tuple[float, float] | None = None  # (when, the group's CPU seconds then)
        while True:
            await anyio.sleep(check_every)
            now = anyio.current_time()
            quiet = now - self._last_activity
            if quiet < self._timeout / 2:
                since = None
                continue
            cpu = await anyio.to_thread.run_sync(group_cpu_seconds, self._pgid)
            if cpu is None:
                await anyio.sleep_forever()  # cannot tell busy from stuck: never call it stuck
                return
            if since is None or cpu - since[1] > IDLE_CPU_SHARE * (now - since[0]):
                since = (now, cpu)  # busy (or the first look): measure from here
            elif quiet >= self._timeout and now - since[0] >= self._timeout / 2:
                return


def group_cpu_seconds(pgid: int) -> float | None:
    """CPU seconds used so far by the live processes of a group; None where ``/proc`` cannot say."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # gone meanwhile, or hidden
        # The command name (field 2) is in parentheses and may hold spaces: split after it.
        fields = stat.rpartition(")")[2].split()
        if len(fields) > 12 and fields[2] == str(pgid):
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks
