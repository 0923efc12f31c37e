"""The filtergraph reader follows libavfilter's two levels of tokenising exactly."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ffmpeg_tasks._policy.filtergraph import (
    FilterArg,
    FiltergraphError,
    get_token,
    parse_filter_args,
    parse_filtergraph,
)


@pytest.mark.parametrize(
    ("text", "term", "token", "rest"),
    [
        ("scale=1:2", "=,;[", "scale", "=1:2"),
        ("  scale  =1", "=,;[", "scale", "=1"),  # leading and trailing blanks go
        (r"m\ovie=x", "=,;[", "movie", "=x"),  # an escape yields the character
        ("'movie'=x", "=,;[", "movie", "=x"),  # quotes yield their content
        ("'mov''ie'", "=,;[", "movie", ""),
        ("'a,b'c,d", "=,;[", "a,bc", ",d"),  # a quoted terminator is kept
        (r"a\,b,c", "=,;[", "a,b", ",c"),  # so is an escaped one
        ("'unterminated, quote", ",", "unterminated, quote", ""),
        ("' kept '  ", ",", " kept ", ""),  # quoted blanks are kept, trailing ones not
        (r"a\ ", ",", "a ", ""),  # an escaped trailing blank is kept
        ("a \\", ",", "a \\", ""),  # a final lone backslash is a character
        ("", ",", "", ""),
    ],
)
def test_get_token_matches_av_get_token(text: str, term: str, token: str, rest: str) -> None:
    value, pos = get_token(text, 0, term)
    assert (value, text[pos:]) == (token, rest)


def _escape(value: str) -> str:
    """ffmpeg's av_escape in its default mode: a backslash before each special character."""
    return "".join("\\" + char if char in "\\'[],;:= \t\n\r" else char for char in value)


@given(st.text(alphabet=st.sampled_from(list("ab \\'[],;:=@/\t")), max_size=30))
def test_escaped_text_comes_back_whole(value: str) -> None:
    token, pos = get_token(_escape(value), 0, "[],;")
    assert token == value
    assert pos == len(_escape(value))


def test_a_chain_and_its_arguments() -> None:
    (chain,) = parse_filtergraph("scale=640:-2:flags=lanczos,format=yuv420p")
    scale, fmt = chain
    assert scale.name == "scale"
    assert scale.args == (
        FilterArg(key=None, value="640"),
        FilterArg(key=None, value="-2"),
        FilterArg(key="flags", value="lanczos"),
    )
    assert fmt.name == "format"
    assert fmt.args == (FilterArg(key=None, value="yuv420p"),)


def test_labels_chains_and_instances() -> None:
    chains = parse_filtergraph(
        " [0:v] [1:v] overlay@logo = x=10 : y=10 [v] ; [0:a]anull[a] ,\n volume=2"
    )
    assert len(chains) == 2
    overlay = chains[0][0]
    assert overlay.name == "overlay"
    assert overlay.instance == "logo"
    assert overlay.inputs == ("0:v", "1:v")
    assert overlay.outputs == ("v",)
    assert overlay.args == (FilterArg(key="x", value="10"), FilterArg(key="y", value="10"))
    assert [f.name for f in chains[1]] == ["anull", "volume"]
    assert chains[1][0].outputs == ("a",)


@pytest.mark.parametrize(
    ("graph", "name", "args"),
    [
        (r"m\ovie=/etc/passwd", "movie", (FilterArg(key=None, value="/etc/passwd"),)),
        ("'movie'=a.mp4", "movie", (FilterArg(key=None, value="a.mp4"),)),
        ("movie@x=a.mp4", "movie", (FilterArg(key=None, value="a.mp4"),)),
        ("movie@=a.mp4", "movie", (FilterArg(key=None, value="a.mp4"),)),
        # The second level unescapes again: the key is '/color'.
        ("drawbox='/color'=/etc/hosts", "drawbox", (FilterArg(key="/color", value="/etc/hosts"),)),
        (r"drawbox=\/color=x", "drawbox", (FilterArg(key="/color", value="x"),)),
        ("drawbox= /color =x", "drawbox", (FilterArg(key="/color", value="x"),)),
        # A value quoted at the graph level keeps its separators for the option level.
        (r"select='eq(pict_type\,I)'", "select", (FilterArg(key=None, value="eq(pict_type,I)"),)),
        (r"select=eq(pict_type\,I)", "select", (FilterArg(key=None, value="eq(pict_type,I)"),)),
        (
            "scale='w=1':h=2",
            "scale",
            (FilterArg(key="w", value="1"), FilterArg(key="h", value="2")),
        ),
        ("scale=w=\\'1:2\\'", "scale", (FilterArg(key="w", value="1:2"),)),
        ("scale=", "scale", ()),
        ("scale=:", "scale", (FilterArg(key=None, value=""),)),
        ("pan=stereo|c0=c0|c1=c1", "pan", (FilterArg(key=None, value="stereo|c0=c0|c1=c1"),)),
    ],
)
def test_names_keys_and_values_are_unescaped_like_ffmpeg(
    graph: str, name: str, args: tuple[FilterArg, ...]
) -> None:
    ((spec,),) = parse_filtergraph(graph)
    assert spec.name == name
    assert spec.args == args


def test_positional_after_named_is_refused() -> None:
    # ffmpeg 7 refuses it too; 5.1 gave the value to whichever option came next.
    with pytest.raises(FiltergraphError, match="positional value near '720'"):
        parse_filter_args("w=1280:720")
    with pytest.raises(FiltergraphError, match="follows a named option"):
        parse_filtergraph("scale=w='1:2'")  # the graph level removed the quotes


@pytest.mark.parametrize(
    ("graph", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("sws_flags=lanczos;scale=2:2", "sws_flags"),
        ("scale=1:2[out] x", "unexpected text"),
        ("scale=1:2]", "unexpected text"),
        ("[]scale", "empty link label"),
        ("[in", "not closed"),
        (",scale", "missing filter name"),
        ("=1", "missing filter name"),
    ],
)
def test_malformed_graphs_are_refused(graph: str, message: str) -> None:
    with pytest.raises(FiltergraphError, match=message):
        parse_filtergraph(graph)


def test_a_trailing_separator_ends_the_chain() -> None:
    ((spec,),) = parse_filtergraph("hflip,")
    assert spec.name == "hflip"
