"""Reading a filtergraph as libavfilter does, both levels of unescaping included, so the policy
checks the filters and options ffmpeg will actually run (``m\\ovie`` is ``movie``)."""

from __future__ import annotations

import attrs

__all__ = ["FilterArg", "FilterSpec", "FiltergraphError", "get_token", "parse_filtergraph"]

#: What ``av_get_token`` and the graph parser skip (libavutil/avstring.c, graphparser.c).
WHITESPACES = " \n\t\r"


class FiltergraphError(ValueError):
    """The text is not a filtergraph ffmpeg would accept; the message says where."""


@attrs.frozen(kw_only=True)
class FilterArg:
    """One argument of a filter, after both levels of unescaping."""

    #: The option name, or None for a positional (shorthand) value.
    key: str | None
    #: The value exactly as the filter receives it.
    value: str


@attrs.frozen(kw_only=True)
class FilterSpec:
    """One filter of a graph: ``[in]name@instance=args[out]``."""

    #: The filter's name, the part before ``@`` (what ``avfilter_get_by_name`` looks up).
    name: str
    #: The instance name after ``@``, or None.
    instance: str | None
    #: Its arguments in order; positional ones first (anything else is refused).
    args: tuple[FilterArg, ...]
    #: Labels of its input pads (``[0:v]``, ``[a]``), unescaped.
    inputs: tuple[str, ...]
    #: Labels of its output pads.
    outputs: tuple[str, ...]


def get_token(text: str, pos: int, term: str) -> tuple[str, int]:
    """``av_get_token``: read up to an unescaped, unquoted character of ``term``.

    Leading white space is skipped; ``\\x`` yields ``x``; ``'...'`` yields its content
    verbatim (an unterminated quote runs to the end); trailing white space that was neither
    escaped nor quoted is dropped.

    Returns:
        The token and the index of the character that stopped it (or ``len(text)``).
    """
    size = len(text)
    while pos < size and text[pos] in WHITESPACES:
        pos += 1
    out: list[str] = []
    end = 0  # characters before this index were escaped or quoted: never trimmed
    while pos < size and text[pos] not in term:
        char = text[pos]
        pos += 1
        if char == "\\" and pos < size:
            out.append(text[pos])
            pos += 1
            end = len(out)
        elif char == "'":
            while pos < size and text[pos] != "'":
                out.append(text[pos])
                pos += 1
            if pos < size:
                pos += 1
                end = len(out)
        else:
            out.append(char)
    while len(out) > end and out[-1] in WHITESPACES:
        out.pop()
    return "".join(out), pos


def _skip_spaces(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in WHITESPACES:
        pos += 1
    return pos


def _parse_labels(text: str, pos: int) -> tuple[tuple[str, ...], int]:
    """``linklabels_parse``: ``[a][b]`` with white space allowed after each label."""
    labels: list[str] = []
    while pos < len(text) and text[pos] == "[":
        label, pos = get_token(text, pos + 1, "]")
        if not label:
            raise FiltergraphError(f"empty link label near {text[pos - 1 :][:40]!r}")
        if pos >= len(text):
            raise FiltergraphError(f"link label '[{label}' is not closed with ']'")
        pos = _skip_spaces(text, pos + 1)
        labels.append(label)
    return tuple(labels), pos


def _is_key_char(char: str) -> bool:
    """``is_key_char`` of libavutil/opt.c: ASCII letters, digits and ``-_/.``."""
    return (char.isascii() and char.isalnum()) or char in "-_/."


def _get_key(text: str, pos: int) -> tuple[str, int] | None:
    """``get_key``: a run of key characters followed (after white space) by ``=``."""
    pos = _skip_spaces(text, pos)
    start = pos
    while pos < len(text) and _is_key_char(text[pos]):
        pos += 1
    key = text[start:pos]
    pos = _skip_spaces(text, pos)
    if pos >= len(text) or text[pos] != "=":
        return None
    return key, pos + 1


def parse_filter_args(text: str) -> tuple[FilterArg, ...]:
    """Split a filter's argument string as ``ff_filter_opt_parse``/``process_options`` do.

    A positional value after a named one is refused: ffmpeg 7 refuses it too, and older
    releases silently gave it to whichever option came next.

    Raises:
        FiltergraphError: a positional value follows a named one.
    """
    args: list[FilterArg] = []
    pos = 0
    named = False
    while pos < len(text):
        found = _get_key(text, pos)
        if found is None:
            if named:
                raise FiltergraphError(
                    f"positional value near {text[pos:][:40]!r} follows a named option; "
                    "name every option after the first named one (key=value)"
                )
            value, pos = get_token(text, pos, ":")
            args.append(FilterArg(key=None, value=value))
        else:
            key, pos = found
            value, pos = get_token(text, pos, ":")
            args.append(FilterArg(key=key, value=value))
            named = True
        if pos < len(text):
            pos += 1  # the ':' that ended the value
    return tuple(args)


def _parse_filter(text: str, pos: int) -> tuple[FilterSpec, int]:
    """``filter_parse``: input labels, ``name[@inst]``, ``=args``, output labels."""
    inputs, pos = _parse_labels(text, pos)
    full_name, pos = get_token(text, pos, "=,;[")
    name, at, instance = full_name.partition("@")
    if not name:
        raise FiltergraphError(f"missing filter name near {text[pos:][:40]!r}")
    args: tuple[FilterArg, ...] = ()
    if pos < len(text) and text[pos] == "=":
        raw_args, pos = get_token(text, pos + 1, "[],;")
        args = parse_filter_args(raw_args)
    outputs, pos = _parse_labels(text, pos)
    pos = _skip_spaces(text, pos)
    spec = FilterSpec(
        name=name, instance=instance if at else None, args=args, inputs=inputs, outputs=outputs
    )
    return spec, pos


def parse_filtergraph(text: str) -> tuple[tuple[FilterSpec, ...], ...]:
    """Split a filtergraph into chains (``;``) of filters (``,``).

    Raises:
        FiltergraphError: the text is empty, starts with ``sws_flags=``, or has characters
            ffmpeg would refuse after a filter.
    """
    pos = _skip_spaces(text, 0)
    if text.startswith("sws_flags=", pos):
        raise FiltergraphError("a graph-wide 'sws_flags=' prefix is not supported")
    chains: list[tuple[FilterSpec, ...]] = []
    while pos < len(text):
        chain: list[FilterSpec] = []
        while pos < len(text):
            spec, pos = _parse_filter(text, pos)
            chain.append(spec)
            if pos >= len(text):
                break
            separator = text[pos]
            if separator not in ",;":
                raise FiltergraphError(f"unexpected text after a filter: {text[pos:][:40]!r}")
            pos = _skip_spaces(text, pos + 1)
            if separator == ";":
                break
        chains.append(tuple(chain))
        pos = _skip_spaces(text, pos)
    if not chains:
        raise FiltergraphError("the filtergraph is empty")
    return tuple(chains)
