"""Which process runs a task, so that a restarted service can tell a dead run from a live one.

A task claimed by a process that was then killed (``kill -9``, a crash, a reboot) would stay
``running`` forever in a store that outlives processes (SQLite). Each claim therefore records
its worker: host name, boot id, pid and the process's start time. On the same host that is
enough to know for certain that the process is gone: the boot id changes with every boot, and a
pid reused by another process has another start time. Runs on other hosts are never judged.
"""

from __future__ import annotations

import os
import socket
from functools import cache
from pathlib import Path

__all__ = ["this_worker", "worker_is_gone"]

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def this_worker() -> str:
    """``host/boot id/pid/start time`` of this process (``host/-/pid/-`` where /proc is absent)."""
    pid = os.getpid()
    return "/".join((_host(), _boot_id() or "-", str(pid), _start_time(pid) or "-"))


def worker_is_gone(worker: str | None) -> bool:
    """True only when ``worker`` is certainly a process of this host that no longer runs."""
    if worker is None:
        return False
    parts = worker.split("/")
    if len(parts) != 4:
        return False  # not written by this version: leave it alone
    host, boot, pid, started = parts
    if host != _host() or boot == "-" or started == "-" or not pid.isdigit():
        return False  # another machine, or one that cannot say: leave it alone
    if boot != _boot_id():
        return True  # this machine has rebooted since
    return _start_time(int(pid)) != started


@cache
def _host() -> str:
    return socket.gethostname().replace("/", "_")


@cache
def _boot_id() -> str | None:
    try:
        return _BOOT_ID.read_text().strip() or None
    except OSError:
        return None


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None
