"""What a person wants to know of a run beside the encode's fraction: how far the whole run
is (fetch, encode and upload weighted), how fast ffmpeg goes, and when the encode ends.

Pure functions of the phase and ffmpeg's reports; ``docs/concepts/progress.md`` explains them.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ._models import Progress, TaskPhase

__all__ = ["PHASE_WEIGHTS", "encode_eta", "overall_fraction"]

#: The share of ``Task.overall_progress`` each phase counts for, in the order they run.
PHASE_WEIGHTS: Mapping[TaskPhase, float] = MappingProxyType(
    {TaskPhase.FETCHING: 0.1, TaskPhase.ENCODING: 0.8, TaskPhase.UPLOADING: 0.1}
)


def overall_fraction(phase: TaskPhase, done: float) -> float:
    """The run's overall fraction when every phase before ``phase`` is done and ``done``
    (0.0-1.0) of ``phase`` is."""
    before = 0.0
    for each, weight in PHASE_WEIGHTS.items():
        if each is phase:
            return min(1.0, before + weight * max(0.0, min(1.0, done)))
        before += weight
    raise AssertionError(f"no weight for phase {phase!r}")  # pragma: no cover


def encode_eta(progress: Progress) -> float | None:
    """Seconds until ffmpeg reaches the expected output duration at the speed it reports;
    0.0 on its final report, None while the position, the duration or the speed is unknown."""
    if progress.done:
        return 0.0
    speed, position, duration = progress.speed, progress.out_time, progress.duration
    if speed is None or speed <= 0 or position is None or not duration:
        return None
    return max(0.0, (duration - position) / speed)
