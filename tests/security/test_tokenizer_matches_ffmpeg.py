"""Differential test: our filtergraph reader and the real ffmpeg read the same graph the same way.

ffmpeg logs every filter option it parses at debug level ("Setting 'key' to value 'v'") and
names a filter it cannot find ("No such filter: 'name'"). Graphs made of the characters that
matter to its tokeniser (quotes, backslashes, separators, '@') must give the same filter names
and the same (key, value) pairs in both readers; a graph ours refuses must fail in ffmpeg too.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from ffmpeg_tasks._policy.filtergraph import FiltergraphError, parse_filtergraph
from ffmpeg_tasks._policy.filters import FILTERS

_SETTING = re.compile(r"\] Setting '([^']*)' to value '(.*)'$")
#: drawbox's options in declaration order (ffmpeg 9), which positional values fill.
_DRAWBOX_ORDER = (*FILTERS["drawbox"].positional, "replace", "box_source")
_NAMES = ["drawbox", "'drawbox'", "draw\\box", "drawbox@i", "'draw'box", " drawbox ", "drawbo"]
_PIECES = ["1", "x", "y", "'", "\\", ":", "=", "red", " ", "a b", "@", "/", "c", "2"]


def _ffmpeg_reading(ffmpeg: Path, graph: str) -> tuple[int, str]:
    result = subprocess.run(
        [
            *(str(ffmpeg), "-hide_banner", "-nostdin", "-loglevel", "repeat+debug"),
            *("-f", "lavfi", "-i", "nullsrc=s=16x16:d=0.04", "-vf", graph, "-f", "null", "-"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return result.returncode, result.stderr


def _settings_after_vf(stderr: str) -> list[tuple[str, str]]:
    lines = stderr.splitlines()
    start = next(i for i, line in enumerate(lines) if "Applying option vf" in line)
    return [(m.group(1), m.group(2)) for line in lines[start:] if (m := _SETTING.search(line))]


def test_ffmpeg_reads_graphs_as_we_do(ffmpeg_exe: Path) -> None:
    outcomes = {"refused": 0, "unknown": 0, "compared": 0}

    @settings(max_examples=120, deadline=None)
    @example([("drawbo", [])])  # an unknown filter
    @example([("drawbox", ["x", "=", "1", ":", "2"])])  # positional after named
    @example([("'draw'box@i", ["'", "1", ":", "2", "'", ":", "red"])])
    @given(
        st.lists(
            st.tuples(
                st.sampled_from(_NAMES),
                st.lists(st.sampled_from(_PIECES), max_size=8),
            ),
            min_size=1,
            max_size=2,
        )
    )
    def compare(filters: list[tuple[str, list[str]]]) -> None:
        graph = ",".join(f"{name}={''.join(args)}" for name, args in filters)
        assume("\n" not in graph)
        returncode, stderr = _ffmpeg_reading(ffmpeg_exe, graph)
        try:
            chains = parse_filtergraph(graph)
        except FiltergraphError:
            assert returncode != 0, f"ffmpeg accepted {graph!r}, which we refuse"
            outcomes["refused"] += 1
            return
        specs = [spec for chain in chains for spec in chain]
        # Positional values fill a filter's options in order; an unknown filter has none,
        # and drawbox has len(_DRAWBOX_ORDER): ffmpeg refuses any more while parsing.
        room = {"drawbox": len(_DRAWBOX_ORDER)}
        if any(
            sum(arg.key is None for arg in spec.args) > room.get(spec.name, 0) for spec in specs
        ):
            assert "No option name near" in stderr, (graph, stderr[-500:])
            outcomes["refused"] += 1
            return
        unknown = [spec.name for spec in specs if spec.name != "drawbox"]
        if unknown:
            assert f"No such filter: '{unknown[0]}'" in stderr, (graph, stderr[-500:])
            outcomes["unknown"] += 1
            return
        ours: list[tuple[str, str]] = []
        for spec in specs:
            ours += [
                (arg.key if arg.key is not None else _DRAWBOX_ORDER[index], arg.value)
                for index, arg in enumerate(spec.args)
            ]
        theirs = _settings_after_vf(stderr)
        if "Error applying option" in stderr:
            # ffmpeg stops at the first unknown key: what it read so far must agree.
            assert theirs, (graph, stderr[-500:])
            assert ours[: len(theirs)] == theirs, (graph, theirs)
        else:
            assert theirs[: len(ours)] == ours, (graph, theirs)
        outcomes["compared"] += 1

    compare()
    assert outcomes["compared"] >= 30, outcomes
    assert outcomes["refused"] >= 1, outcomes
    assert outcomes["unknown"] >= 1, outcomes
