"""Kernel resource limits for one ffmpeg run, and the words for a run that hit one.

The limits are ``setrlimit`` values, inherited by ffmpeg from the small launcher in
``_launcher.py``. Each limit announces itself differently, so each gets its own detection:

- ``RLIMIT_CPU``: at the soft limit the kernel sends ``SIGXCPU``, which ffmpeg treats like
  Ctrl-C (it stops, closes the output and says ``received signal 24``); a program that does not
  stop gets ``SIGKILL`` at the hard limit, :data:`CPU_GRACE_SECONDS` later.
- ``RLIMIT_FSIZE``: a write beyond it raises ``SIGXFSZ``, which kills ffmpeg; in the sandbox,
  where ffmpeg is pid 1 and the kernel drops that signal, the write fails with ``EFBIG`` and
  ffmpeg says ``File too large``.
- ``RLIMIT_AS``: allocations fail; ffmpeg says ``Cannot allocate memory`` or cannot start a
  thread, and sometimes crashes outright (``SIGSEGV``) when an unchecked allocation fails: a
  crash is reported with the limit as a possible cause, not as a certain one.
"""

from __future__ import annotations

import resource
import signal
from collections.abc import Sequence
from typing import Any

import attrs

from .._errors import ConfigurationError

__all__ = [
    "CPU_GRACE_SECONDS",
    "DEFAULT_LIMITS",
    "ResourceLimits",
    "describe_limits",
    "format_bytes",
    "limit_hint",
    "limit_reached",
    "rlimits",
]

_KIB = 1024
_GIB = _KIB**3

#: CPU seconds between ``SIGXCPU`` (ffmpeg stops cleanly) and ``SIGKILL`` (anything stops).
CPU_GRACE_SECONDS = 5

#: What ffmpeg prints when a fourth signal arrives before it could stop (``exit(123)``).
_SIGNALS_PILED_UP = "Received > 3 system signals"
#: Lines ffmpeg prints when an allocation fails under ``RLIMIT_AS``.
_OUT_OF_MEMORY = ("Cannot allocate memory", "pthread_create() failed")
#: Signals a failed allocation may end in, when the code that made it did not check.
_CRASHES = frozenset({signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT})


def _positive(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(
            f"ResourceLimits.{attribute.name} must be a whole number of 1 or more, or None "
            f"for no limit; got {value!r}"
        )


@attrs.frozen(kw_only=True)
class ResourceLimits:
    """Kernel limits (``setrlimit``) every ffmpeg run gets; ``None`` lifts one limit.

    The defaults stop runaway jobs (a decoding bomb, an endless filter graph, a file that
    grows without end) long before they hurt the host, and leave ordinary jobs alone: a
    1080p H.264 encode peaks near 1 GB of address space on two cores. Raise them for long
    jobs or many-core machines. Core dumps are always off. The limits apply with and without
    the sandbox; pass ``limits=None`` to the runner to set none at all.

    A run that reaches a limit fails with a :class:`~ffmpeg_tasks.RunError` naming it, e.g.
    ``ffmpeg was stopped by SIGXCPU: the CPU time limit of 3600 s was reached``.
    """

    #: CPU time in seconds, all of ffmpeg's threads together (``RLIMIT_CPU``): an encode on
    #: 8 cores uses up to 8 CPU seconds per second. Default: one CPU hour.
    cpu_seconds: int | None = attrs.field(default=3600, validator=_positive)
    #: Address space in bytes (``RLIMIT_AS``). Virtual, not resident, memory: thread stacks
    #: and allocator arenas count, so leave room above what ``top`` shows. Default: 8 GiB.
    memory_bytes: int | None = attrs.field(default=8 * _GIB, validator=_positive)
    #: Largest file ffmpeg may write, in bytes (``RLIMIT_FSIZE``). Default: 16 GiB.
    file_size_bytes: int | None = attrs.field(default=16 * _GIB, validator=_positive)
    #: Open file descriptors (``RLIMIT_NOFILE``). Default: 1024.
    open_files: int | None = attrs.field(default=1024, validator=_positive)


#: What a runner uses unless told otherwise.
DEFAULT_LIMITS = ResourceLimits()


def rlimits(limits: ResourceLimits) -> list[tuple[str, int, int]]:
    """``(name, soft, hard)`` for each limit to set, core dumps (always 0) first."""
    unlimited = resource.RLIM_INFINITY
    chosen = [("RLIMIT_CORE", 0, 0)]
    if limits.cpu_seconds is not None:
        hard = limits.cpu_seconds + CPU_GRACE_SECONDS
        chosen.append(("RLIMIT_CPU", limits.cpu_seconds, hard))
    for name, value in (
        ("RLIMIT_AS", limits.memory_bytes),
        ("RLIMIT_FSIZE", limits.file_size_bytes),
        ("RLIMIT_NOFILE", limits.open_files),
    ):
        if value is not None and value != unlimited:
            chosen.append((name, value, value))
    return chosen


def format_bytes(count: int) -> str:
    """``8 GiB``, ``97.7 KiB``, ``512 bytes``: sizes as people read them."""
    if count < _KIB:
        return f"{count} bytes"
    value = count / _KIB
    units = ["KiB", "MiB", "GiB", "TiB"]
    while value >= _KIB and len(units) > 1:
        value /= _KIB
        units.pop(0)
    return f"{value:.1f}".removesuffix(".0") + f" {units[0]}"


def describe_limits(limits: ResourceLimits | None) -> str:
    """One line for ``Health.details``, e.g. ``cpu 3600 s, memory 8 GiB, ..., core dumps off``."""
    if limits is None:
        return "none (limits=None)"

    def show(value: int | None, text: str) -> str:
        return "unlimited" if value is None else text

    return ", ".join(
        [
            f"cpu {show(limits.cpu_seconds, f'{limits.cpu_seconds} s')}",
            f"memory {show(limits.memory_bytes, format_bytes(limits.memory_bytes or 0))}",
            f"file size {show(limits.file_size_bytes, format_bytes(limits.file_size_bytes or 0))}",
            f"open files {show(limits.open_files, str(limits.open_files))}",
            "core dumps off",
        ]
    )


def limit_reached(
    limits: ResourceLimits | None, signum: int | None, tail: Sequence[str]
) -> str | None:
    """The message for a run that ended on one of ``limits``; None when none explains it.

    Args:
        limits: The limits the run had.
        signum: The signal that ended ffmpeg, when one did.
        tail: The last lines of its stderr.
    """
    if limits is None:
        return None
    text = "\n".join(tail)
    cpu = limits.cpu_seconds
    if cpu is not None and (
        signum == signal.SIGXCPU
        or f"received signal {int(signal.SIGXCPU)}." in text
        # A thread that never returns to ffmpeg's main loop (a looping expression) lets the
        # repeated SIGXCPU pile up: ffmpeg's handler then exits on its own, status 123.
        or _SIGNALS_PILED_UP in text
    ):
        how = "killed" if signum == signal.SIGXCPU else "stopped"
        return (
            f"ffmpeg was {how} by SIGXCPU: the CPU time limit of {cpu} s was reached; "
            "raise ResourceLimits(cpu_seconds=...) for longer jobs"
        )
    size = limits.file_size_bytes
    if size is not None and (signum == signal.SIGXFSZ or "File too large" in text):
        how = "was killed by SIGXFSZ" if signum == signal.SIGXFSZ else "failed to write"
        return (
            f"ffmpeg {how}: the file size limit of {format_bytes(size)} was reached; "
            "raise ResourceLimits(file_size_bytes=...) for bigger outputs"
        )
    memory = limits.memory_bytes
    if memory is not None and any(words in text for words in _OUT_OF_MEMORY):
        return (
            f"ffmpeg ran out of memory: the address space limit of {format_bytes(memory)} was "
            "reached; raise ResourceLimits(memory_bytes=...) for bigger inputs"
        )
    return None


def limit_hint(limits: ResourceLimits | None, signum: int | None) -> str | None:
    """A limit that may explain a death by ``signum`` without proving it, as advice; else None."""
    if limits is None or signum is None:
        return None
    if limits.memory_bytes is not None and signum in _CRASHES:
        return (
            f"if the input is large, the address space limit of "
            f"{format_bytes(limits.memory_bytes)} may be too low: raise "
            "ResourceLimits(memory_bytes=...)"
        )
    if limits.cpu_seconds is not None and signum == signal.SIGKILL:
        return (
            f"the CPU time limit of {limits.cpu_seconds} s plus {CPU_GRACE_SECONDS} s of grace "
            "may have been reached, or the system ran out of memory"
        )
    return None
