"""The allow-lists name things this ffmpeg has, and positional values map as ffmpeg maps them.

A typo in a table would either refuse legitimate work or, worse, give a positional value to the
wrong option. These tests read the real ffmpeg's own help (``-h filter=NAME``, ``-muxers``,
``-demuxers``, ``-codecs``) and compare.
"""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

from ffmpeg_tasks import CommandPolicy
from ffmpeg_tasks._policy.filters import FILTERS

# "   w                 <string>     ..FV....... Output video width" (the description may be
# missing; a list type reads "[<sample_fmt>]..F.A......").
_OPTION_LINE = re.compile(r"^ {2,3}(\S+)\s+\[?<[^>]*>\s*\]?\s*[.A-Z]{8,}\s*(.*)$")


def _help(ffmpeg: Path, *args: str) -> str:
    result = subprocess.run(
        [str(ffmpeg), "-hide_banner", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return result.stdout


@cache
def _filter_options(ffmpeg: Path, name: str) -> list[list[str]]:
    """The filter's options in declaration order, aliases (same description) grouped."""
    groups: list[list[str]] = []
    last = None
    for line in _help(ffmpeg, "-h", f"filter={name}").splitlines():
        match = _OPTION_LINE.match(line)
        if not match:
            continue
        option, description = match.groups()
        if description == last and groups:
            groups[-1].append(option)
        else:
            groups.append([option])
        last = description
    return groups


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_each_allowed_filter_and_option_exists(ffmpeg_exe: Path, name: str) -> None:
    assert f"Filter {name}\n" in _help(ffmpeg_exe, "-h", f"filter={name}")
    known = {option for group in _filter_options(ffmpeg_exe, name) for option in group}
    for key in FILTERS[name].options:
        if key != "enable":  # the timeline option, listed in prose rather than as an option
            assert key in known, f"{name} has no option {key!r}"


@pytest.mark.parametrize("name", sorted(n for n, rule in FILTERS.items() if rule.positional))
def test_positional_values_fill_the_options_ffmpeg_fills(ffmpeg_exe: Path, name: str) -> None:
    groups = _filter_options(ffmpeg_exe, name)
    for index, key in enumerate(FILTERS[name].positional):
        assert key in groups[index], f"{name}: positional value {index} sets {groups[index]}"


def _names(listing: str, flag: str) -> set[str]:
    names: set[str] = set()
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) >= 2 and flag in parts[0] and "=" not in line:
            names.update(parts[1].split(","))
    return names


def test_formats_exist(ffmpeg_exe: Path) -> None:
    policy = CommandPolicy.strict()
    muxers = _names(_help(ffmpeg_exe, "-muxers"), "E")
    demuxers = _names(_help(ffmpeg_exe, "-demuxers"), "D")
    assert policy.muxers <= muxers, policy.muxers - muxers
    assert policy.demuxers <= demuxers, policy.demuxers - demuxers


def test_codecs_exist(ffmpeg_exe: Path) -> None:
    listing = _help(ffmpeg_exe, "-codecs")
    known = {"copy"}
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) >= 2 and re.fullmatch(r"[D.][E.][VAS.][I.][L.][S.]", parts[0]):
            known.add(parts[1])
            known.update(
                re.findall(r"[\w-]+", " ".join(re.findall(r"\((?:de|en)coders:([^)]*)\)", line)))
            )
    policy = CommandPolicy.strict()
    assert policy.codecs <= known, policy.codecs - known
