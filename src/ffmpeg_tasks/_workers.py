"""Which process runs a task, so that a restarted service can tell a dead run from a live one.

A task claimed by a process that was then killed (``kill -9``, a crash, a reboot) would stay
``running`` forever in a store that outlives processes (SQLite). Each claim therefore records
its worker: ``host/machine id/boot id/pid namespace/pid/start time#claim``. A run is judged
only when that is certain:

- same host name and machine id, other boot id: the machine rebooted, the run is gone;
- same boot and pid namespace: gone when no process has that pid, or the one that has it
  started at another time (a reused pid).

Anything else (another machine, another container's pid namespace, a ``/proc`` that hides
other users' processes) is left alone. The ``#claim`` part is random per claim: it tells one
claim from another of the same process.
"""

from __future__ import annotations

import os
import secrets
import socket
from functools import cache
from pathlib import Path

__all__ = ["this_worker", "worker_is_gone"]

_UNKNOWN = "-"


def this_worker() -> str:
    """This process as a worker string, with a fresh claim token."""
    return _this_process(os.getpid()) + "#" + secrets.token_hex(4)


@cache
def _this_process(pid: int) -> str:
    """Read once per process (keyed by pid, so a forked child reads its own)."""
    return "/".join((_host(), *_machine(), str(pid), _start_time(pid) or _UNKNOWN))


def worker_is_gone(worker: str | None) -> bool:
    """True only when ``worker`` is certainly a process of this host that no longer runs."""
    if worker is None:
        return False
    parts = worker.partition("#")[0].split("/")
    if len(parts) != 6 or not parts[4].isdigit() or parts[5] == _UNKNOWN:
        return False  # not written by this version, or by a process that could not say
    host, machine, boot, namespace, pid, started = parts
    our_machine, our_boot, our_namespace = _machine()
    if host != _host() or machine != our_machine:
        return False  # another machine
    if boot != our_boot:
        # Rebooted since, if we know it is this machine (a container may have no machine id).
        return _UNKNOWN not in (machine, boot, our_boot)
    if _UNKNOWN in (boot, namespace) or namespace != our_namespace:
        return False  # another container's processes: their pids mean nothing here
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, another user's
    now = _start_time(int(pid))
    return now is not None and now != started  # None: hidden from us (hidepid), so alive


@cache
def _host() -> str:
    return socket.gethostname().replace("/", "_").replace("#", "_")


@cache
def _machine() -> tuple[str, str, str]:
    """(machine id, boot id, pid namespace), each ``-`` where this system cannot say."""
    machine = _read("/etc/machine-id") or _read("/var/lib/dbus/machine-id")
    boot = _read("/proc/sys/kernel/random/boot_id")
    try:
        namespace = os.readlink("/proc/self/ns/pid").removeprefix("pid:").strip("[]")
    except OSError:
        namespace = None
    return (machine or _UNKNOWN, boot or _UNKNOWN, namespace or _UNKNOWN)


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip().replace("/", "_") or None
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
